#!/bin/sh
# Generate the French IVR prompts of the SIP gateway ONCE; the WAV files are committed and
# shipped as package data (src/snapconf/dialin/prompts/), so no text-to-speech runs at run time.
#
# Needs: espeak-ng (with the French voice) and sox.   Usage: scripts/make_prompts.sh
# Output: 16 kHz, mono, signed 16-bit WAV, normalised to -3 dBFS, 150 ms of silence at the end.
set -eu
command -v espeak-ng >/dev/null || { echo "espeak-ng is required" >&2; exit 1; }
command -v sox >/dev/null || { echo "sox is required" >&2; exit 1; }
out="$(cd "$(dirname "$0")/.." && pwd)/src/snapconf/dialin/prompts"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() {  # say NAME TEXT
    espeak-ng -v fr -s 150 -w "$tmp/$1.raw.wav" "$2"
    sox "$tmp/$1.raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$out/$1.wav" \
        norm -3 pad 0 0.15
}

say welcome "Bienvenue sur la conférence téléphonique. Tapez le code de la conférence, suivi de dièse."
say enter_code "Tapez le code de la conférence, suivi de dièse."
say wrong_code "Code incorrect."
say too_many "Trop de tentatives. Au revoir."
say first "Vous êtes le premier participant."
say count_prefix "Il y a"
say count_suffix "participants dans la conférence."
say many "plus de vingt"
say not_started "La conférence n'a pas encore commencé. Rappelez plus tard. Au revoir."
say ended "La conférence est terminée. Au revoir."
say muted "Micro coupé."
say unmuted "Micro rétabli."
say hand_raised "Main levée."
say hand_lowered "Main baissée."
say unavailable "Le service est momentanément indisponible. Au revoir."
say lobby_wait "Veuillez patienter, un modérateur va vous faire entrer dans la conférence."
say locked "La conférence est verrouillée par un modérateur. Au revoir."
say refused "Un modérateur n'a pas accepté votre entrée. Au revoir."
say removed "Vous avez été retiré de cette conférence. Au revoir."
say muted_by_moderator "Un modérateur a coupé votre micro. Tapez étoile six pour le rétablir."
say unmute_requested "Un modérateur vous demande de rétablir votre micro. Tapez étoile six."
n=2
while [ "$n" -le 20 ]; do
    say "n_$n" "$n"
    n=$((n + 1))
done
echo "prompts written to $out"
