"""Phone audio under packet loss (issue 15): PESQ NB of G.711 concealment, offline.

French speech made by espeak-ng (about 10 s, resampled to 8 kHz) is cut into 20 ms PCMU
packets; 5 % of them, at random (``--seeds`` patterns), are lost; the receiver's 8 kHz signal
is scored with ITU-T P.862 narrowband (the ``pesq`` package) against the speech before
μ-law. Ways of filling the lost packets, all at 8 kHz, as the mixer does before resampling:

- **silence**: zeros (what Janus' AudioBridge does);
- **repetition**: the previous frame again;
- **fade** (the mixer before issue 15): ``G711Decoder``'s fade-out concealment, the last frame
  repeated with a gain falling to zero over 40 ms, no cross-fade into the next good frame;
- **plc**: :class:`snapconf.media.mixer.plc.PitchConcealer`, the mixer's G.711 concealment
  now (ITU-T G.711 Appendix I style pitch repetition).

No SIP, no sockets, no mixer tick: the concealment alone. With ``--through-mixer``, the same
lossy packet streams go instead through a real :class:`~snapconf.media.mixer.Mixer` input
(jitter buffer, decode, concealment, resampling to 48 kHz: :attr:`MixerInput.pcm` tick after
tick), brought back to 8 kHz with the project's resampler: the talker's side of the bridge,
without the listener's re-encode. Run it with ``PYTHONPATH`` pointing at another tree's
``src`` to compare two versions of the mixer. Needs ``espeak-ng`` on the PATH and
``pip install -e .[bench]`` (the ``pesq`` package). Run:
``python benchmarks/phone_quality.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import subprocess
import wave
from collections.abc import Callable

import _repo_root  # noqa: F401  (the same imports as the other benchmarks)
import numpy as np
from numpy.typing import NDArray

from snapconf.media.codecs import Resampler, get_codec

RATE = 8000
FRAME = 160
I16 = NDArray[np.int16]

TEXT = (
    "Bonjour à tous, nous allons commencer la réunion du conseil municipal. "
    "Le budget de la commune pour l'année prochaine sera présenté par madame la maire, "
    "puis nous passerons aux questions diverses. Merci de couper votre micro "
    "lorsque vous ne parlez pas."
)


def speech(text: str, voice: str = "fr", speed: int = 150) -> I16:
    """espeak-ng's speech of ``text`` at 8 kHz (an FFT resampler: offline, exact band limit)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        raw = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    n = len(raw) * RATE // rate
    spectrum = np.fft.rfft(raw)[: n // 2 + 1]
    y = np.fft.irfft(spectrum, n) * n / len(raw)
    y = y[: n // FRAME * FRAME]
    out: I16 = np.rint(np.clip(y, -32768, 32767)).astype(np.int16)
    return out


Filler = Callable[[list[bytes], set[int]], I16]


def fill_silence(payloads: list[bytes], lost: set[int]) -> I16:
    dec = get_codec("PCMU").new_decoder()
    out = [
        np.zeros(FRAME, np.int16) if k in lost else dec.decode(p, FRAME)
        for k, p in enumerate(payloads)
    ]
    return np.concatenate(out)


def fill_repetition(payloads: list[bytes], lost: set[int]) -> I16:
    dec = get_codec("PCMU").new_decoder()
    out: list[I16] = []
    for k, p in enumerate(payloads):
        out.append(out[-1].copy() if k in lost else dec.decode(p, FRAME))
    return np.concatenate(out)


def fill_fade(payloads: list[bytes], lost: set[int]) -> I16:
    dec = get_codec("PCMU").new_decoder()
    return np.concatenate(
        [dec.decode(None if k in lost else p, FRAME) for k, p in enumerate(payloads)]
    )


def fill_plc(payloads: list[bytes], lost: set[int]) -> I16:
    from snapconf.media.mixer.plc import PitchConcealer  # not in trees before issue 15

    dec = get_codec("PCMU").new_decoder()
    plc = PitchConcealer()
    out = []
    for k, p in enumerate(payloads):
        frame = np.zeros(FRAME, np.int16)
        if k in lost:
            plc.conceal_into(frame)
        else:
            dec.decode_into(p, frame)
            plc.good(frame)
        out.append(frame)
    return np.concatenate(out)


def through_mixer(payloads: list[bytes], lost: set[int]) -> NDArray[np.float64]:
    from tests.support.clock import FakeClock

    from snapconf.media.mixer import Mixer, MixerConfig

    mixer = Mixer(MixerConfig(), FakeClock())
    inp = mixer.add_input("phone", "PCMU", RATE, 0)
    down = Resampler(48000, RATE)
    out = []
    for k, p in enumerate(payloads + [payloads[-1]] * 4):  # then flush the delays
        if k not in lost:
            inp.push(k & 0xFFFF, 1000 + k * FRAME, 0, p, None)
        mixer.tick()
        frame = np.zeros(FRAME, np.int16)
        if "phone" in mixer.talkers:
            down.process_into(inp.pcm, frame)
        else:
            down.process_into(np.zeros(len(inp.pcm), np.int16), frame)
        out.append(frame)
    # delayed by the playout delay (40 ms) and the two resamplers: see best_lag
    x: NDArray[np.float64] = np.concatenate(out).astype(np.float64)
    return x


def align(ref: I16, x: NDArray[np.float64], lag: int) -> I16:
    y: I16 = np.rint(np.clip(x[lag : lag + len(ref)], -32768, 32767)).astype(np.int16)
    return y


def best_lag(ref: I16, x: NDArray[np.float64]) -> int:
    r = ref.astype(np.float64)
    n = len(r)
    spectrum = np.fft.rfft(x[: n + 4 * FRAME], 2 * n + 8 * FRAME)
    corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(r, 2 * n + 8 * FRAME)))
    return int(np.argmax(corr[: 8 * FRAME]))


FILLERS: dict[str, Filler] = {
    "silence": fill_silence,
    "repetition": fill_repetition,
    "fade": fill_fade,
    "plc": fill_plc,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loss", type=float, default=0.05, help="random loss rate")
    parser.add_argument("--seeds", type=int, default=7, help="loss patterns")
    parser.add_argument(
        "--through-mixer", action="store_true", help="conceal in a real mixer input instead"
    )
    args = parser.parse_args()
    from pesq import pesq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    ref = speech(TEXT)
    enc = get_codec("PCMU").new_encoder()
    payloads = [enc.encode(ref[i : i + FRAME]) for i in range(0, len(ref), FRAME)]
    clean = fill_silence(payloads, set())
    ceiling = pesq(RATE, ref, clean, "nb")
    print(
        f"speech: espeak-ng fr, {len(ref) / RATE:.1f} s; PESQ NB of μ-law, no loss: {ceiling:.3f}"
    )
    fillers = FILLERS
    lag = 0
    if args.through_mixer:
        lag = best_lag(ref, through_mixer(payloads, set()))
        clean_mixer = align(ref, through_mixer(payloads, set()), lag)
        score = pesq(RATE, ref, clean_mixer, "nb")
        print(
            f"through a mixer input (8 -> 48 -> 8 kHz), delay {lag} samples, no loss: {score:.3f}"
        )
        fillers = {"mixer": lambda p, lost: align(ref, through_mixer(p, lost), lag)}
    scores: dict[str, list[float]] = {name: [] for name in fillers}
    for seed in range(1, args.seeds + 1):
        rng = random.Random(seed)
        lost = {k for k in range(1, len(payloads)) if rng.random() < args.loss}
        row = []
        for name, fill in fillers.items():
            score = float(pesq(RATE, ref, fill(payloads, lost), "nb"))
            scores[name].append(score)
            row.append(f"{name} {score:.3f}")
        print(f"seed {seed}: {len(lost)} lost  " + "  ".join(row))
    print(f"{args.loss:.0%} random loss, {args.seeds} patterns: median (min-max)")
    for name, values in scores.items():
        med = statistics.median(values)
        print(f"  {name:11} {med:.3f} ({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
