"""G.711 loss concealment (ITU-T G.711 Appendix I style pitch repetition), through the mixer.

A voiced, vowel-like signal (harmonics of a gliding 150 Hz fundamental shaped by three
formants) is sent as PCMU packets into a real mixer input; what the mixer makes of each tick
(:attr:`MixerInput.pcm`, 48 kHz, after the jitter buffer, the decode, the concealment and the
resampler) is compared with what it makes of the same packets without loss.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.clock import FakeClock

from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig
from snapconf.media.mixer.plc import PitchConcealer

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
FRAME48 = 960  # the same 20 ms as the mixer plays it
MS48 = 48  # samples per ms at 48 kHz
F64 = NDArray[np.float64]
I16 = NDArray[np.int16]


def vowel(seconds: float, f0: float = 150.0, seed: int = 3) -> I16:
    """A harmonic-rich vowel: a fundamental gliding +-5 % around ``f0``, harmonics up to
    3.8 kHz shaped by formants at 700, 1200 and 2600 Hz, a slow swell of the level."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    freq = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    x = np.zeros(n)
    for k in range(1, int(3800 / (f0 * 1.05)) + 1):
        fk = k * f0
        amp = sum(
            1 / (1 + ((fk - f) / bw) ** 2) for f, bw in ((700, 130), (1200, 150), (2600, 250))
        )
        x += (amp + 0.05) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    x *= 0.75 + 0.25 * np.sin(2 * np.pi * 1.3 * t)
    out: I16 = np.rint(x / np.abs(x).max() * 16000).astype(np.int16)
    return out


def packets(pcm: I16, codec: str = "PCMU", size: int = FRAME) -> list[bytes]:
    enc = get_codec(codec).new_encoder()
    return [enc.encode(pcm[i : i + size]) for i in range(0, len(pcm) - size + 1, size)]


def through_mixer(payloads: Sequence[bytes | None], codec: str = "PCMU", size: int = FRAME) -> F64:
    """Packets of ``size`` samples (``None``: lost) into a mixer input, 20 ms of them per
    tick; the input's 48 kHz audio, tick after tick."""
    spec = get_codec(codec)
    pt = spec.static_payload_type
    assert pt is not None
    mixer = Mixer(MixerConfig(), FakeClock())
    inp = mixer.add_input("phone", codec, RATE, pt)
    out = []
    per_tick = FRAME // size
    for k, payload in enumerate(payloads):
        if payload is not None:
            inp.push(1000 + k, 5000 + k * size, pt, payload, None)
        if (k + 1) % per_tick == 0:
            mixer.tick()
            heard = "phone" in mixer.talkers
            out.append(inp.pcm.astype(np.float64) if heard else np.zeros(len(inp.pcm)))
    return np.concatenate(out)


def random_losses(count: int, rate: float, seed: int, warmup: int = 10) -> set[int]:
    rng = random.Random(seed)
    return {k for k in range(warmup, count - 2) if rng.random() < rate}


def snr_db(ref: F64, x: F64) -> float:
    noise = float(np.sum((ref - x) ** 2))
    return 10 * math.log10(float(np.sum(ref**2)) / max(noise, 1e-9))


def segmental_snr_db(ref: F64, x: F64, segments: list[int], seg_len: int) -> float:
    """Mean per-segment SNR over ``segments`` (indexes of ``seg_len`` samples), each clamped
    to -10..35 dB as usual."""
    values = []
    for s in segments:
        a, b = ref[s * seg_len : (s + 1) * seg_len], x[s * seg_len : (s + 1) * seg_len]
        values.append(min(35.0, max(-10.0, snr_db(a, b))))
    return float(np.mean(values))


def concealments(
    pcm: I16, lost: set[int], codec: str = "PCMU", size: int = FRAME
) -> tuple[F64, dict[str, F64], list[int]]:
    """The lossless mixer output, the outputs for each way of filling the lost packets, and
    the ticks (48 kHz frames of 20 ms) where filling them with silence changed anything."""
    sent = packets(pcm, codec, size)
    silence = get_codec(codec).new_encoder().encode(np.zeros(size, np.int16))
    ref = through_mixer(list(sent), codec, size)
    plc = through_mixer([None if k in lost else p for k, p in enumerate(sent)], codec, size)
    zero = through_mixer([silence if k in lost else p for k, p in enumerate(sent)], codec, size)
    repeat = list(sent)
    for k in sorted(lost):
        repeat[k] = repeat[k - 1]  # the previous packet again (itself a repetition if lost)
    rep = through_mixer(repeat, codec, size)
    touched = [
        s
        for s in range(len(ref) // FRAME48)
        if np.any(ref[s * FRAME48 : (s + 1) * FRAME48] != zero[s * FRAME48 : (s + 1) * FRAME48])
    ]
    return ref, {"plc": plc, "silence": zero, "repetition": rep}, touched


@pytest.mark.parametrize(("codec", "ptime"), [("PCMU", 20), ("PCMA", 20), ("PCMU", 10)])
def test_concealment_of_random_losses_beats_silence_and_repetition(codec: str, ptime: int) -> None:
    pcm = vowel(10.0)
    size = RATE * ptime // 1000
    lost = random_losses(len(pcm) // size, 0.05, seed=11)
    assert len(pcm) // size * 0.03 <= len(lost) <= len(pcm) // size * 0.08
    ref, outs, touched = concealments(pcm, lost, codec, size)
    snr = {name: snr_db(ref, x) for name, x in outs.items()}
    seg = {name: segmental_snr_db(ref, x, touched, FRAME48) for name, x in outs.items()}
    assert snr["plc"] > snr["repetition"] + 3, snr
    assert snr["plc"] > snr["silence"] + 3, snr
    assert seg["plc"] > seg["repetition"] + 4, seg
    assert seg["plc"] > seg["silence"] + 4, seg


def test_a_long_loss_fades_to_silence_within_60_ms() -> None:
    pcm = vowel(3.0)
    burst = set(range(50, 60))  # 200 ms
    ref, outs, _ = concealments(pcm, burst)
    plc, zero = outs["plc"], outs["silence"]
    begin = int(np.flatnonzero(ref != zero)[0])  # where the loss starts to be heard
    delay = 4 * MS48  # the resampler's delay (3.6 ms), rounded up

    def rms(x: F64) -> float:
        return float(np.sqrt(np.mean(x**2)))

    first = slice(begin + delay, begin + delay + 10 * MS48)
    assert rms(plc[first]) > 0.5 * rms(ref[first])  # the first 10 ms are at full level
    fading = [
        rms(plc[begin + delay + i * MS48 : begin + delay + (i + 10) * MS48]) for i in (10, 30)
    ]
    assert fading[0] > fading[1] > 0  # then the level falls...
    muted = plc[begin + 60 * MS48 + 2 * delay : begin + 200 * MS48]
    assert np.abs(muted).max() <= 1.0  # ...to nothing from 60 ms on, until the burst ends
    after = slice(begin + 200 * MS48 + 2 * delay + 10 * MS48, begin + 260 * MS48)
    np.testing.assert_array_equal(plc[after], ref[after])  # and the talker is back as sent


def test_no_jump_at_the_boundaries_of_a_loss_is_larger_than_the_signal_makes() -> None:
    pcm = vowel(10.0)
    lost = random_losses(len(pcm) // FRAME, 0.05, seed=11)
    ref, outs, touched = concealments(pcm, lost)
    steepest = np.abs(np.diff(ref)).max()  # the lossless signal's largest sample-to-sample step

    def worst_jump(x: F64) -> float:
        return max(
            float(np.abs(np.diff(x[s * FRAME48 : (s + 1) * FRAME48 + 1])).max()) for s in touched
        )

    assert worst_jump(outs["plc"]) <= steepest
    # the measure sees the clicks of the naive fills
    assert worst_jump(outs["repetition"]) > steepest
    assert worst_jump(outs["silence"]) > steepest


# ---- the concealer alone, at 8 kHz ------------------------------------------------------


def periodic(period: int, n: int, seed: int = 1) -> I16:
    """A steady pulse-like wave of exactly ``period`` samples (harmonics with random phases)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = np.zeros(n)
    for k in range(1, period // 2):
        x += np.sin(2 * np.pi * k * t / period + rng.uniform(0, 2 * np.pi)) / k
    out: I16 = np.rint(x / np.abs(x).max() * 12000).astype(np.int16)
    return out


def test_at_8_khz_the_boundaries_of_losses_step_no_more_than_the_voice_itself() -> None:
    decoder = get_codec("PCMU").new_decoder()
    decoded = [decoder.decode(p, FRAME) for p in packets(vowel(10.0))]
    lost = random_losses(len(decoded), 0.05, seed=11)
    plc = PitchConcealer()
    filled: dict[str, list[I16]] = {"plc": [], "repetition": [], "silence": []}
    for k, frame in enumerate(decoded):
        if k in lost:
            out = np.zeros(FRAME, np.int16)
            plc.conceal_into(out)
            filled["plc"].append(out)
            filled["repetition"].append(filled["repetition"][-1])
            filled["silence"].append(np.zeros(FRAME, np.int16))
        else:
            good = frame.copy()
            plc.good(good)
            filled["plc"].append(good)
            filled["repetition"].append(frame)
            filled["silence"].append(frame)
    steepest = float(np.abs(np.diff(np.concatenate(decoded).astype(np.float64))).max())
    jumps = {}
    for name, frames in filled.items():
        x = np.concatenate(frames).astype(np.float64)
        edges = [b for k in lost for b in (k * FRAME, (k + 1) * FRAME)]
        jumps[name] = np.array([abs(x[b] - x[b - 1]) for b in edges])
    assert jumps["plc"].max() <= steepest
    typical = {name: float(np.percentile(j, 90)) for name, j in jumps.items()}
    assert typical["plc"] < 0.5 * typical["repetition"], typical
    assert typical["plc"] < 0.5 * typical["silence"], typical


@pytest.mark.parametrize("period", [40, 57, 80, 113])  # 200, 140, 100 and 71 Hz
def test_a_lost_frame_of_a_steady_voice_is_rebuilt_from_its_pitch(period: int) -> None:
    x = periodic(period, 2000)
    plc = PitchConcealer()
    for i in range(0, 1600, FRAME):
        plc.good(x[i : i + FRAME].copy())
    out = np.zeros(80, np.int16)
    plc.conceal_into(out)  # the first 10 ms: not attenuated yet
    assert snr_db(x[1600:1680].astype(np.float64), out.astype(np.float64)) > 25


def test_a_loss_concealed_in_pieces_sounds_the_same_as_in_one_go() -> None:
    x = vowel(0.5)
    whole, pieces = PitchConcealer(), PitchConcealer()
    for i in range(0, 2000, FRAME):
        whole.good(x[i : i + FRAME].copy())
        pieces.good(x[i : i + FRAME].copy())
    a, b = np.zeros(500, np.int16), np.zeros(500, np.int16)
    whole.conceal_into(a)
    for lo, hi in [(0, 7), (7, 80), (80, 95), (95, 170), (170, 240), (240, 500)]:
        pieces.conceal_into(b[lo:hi])
    np.testing.assert_array_equal(a, b)
    assert not a[480:].any()  # silent from 60 ms


def test_without_a_past_a_loss_is_silence_and_nothing_is_faded_in_after_it() -> None:
    plc = PitchConcealer()
    out = np.full(FRAME, 7, np.int16)
    plc.conceal_into(out)
    assert not out.any()
    frame = vowel(0.02)
    got = frame.copy()
    plc.good(got)
    np.testing.assert_array_equal(got, frame)
    plc.good(frame.copy())
    plc.reset()  # the input was not heard for a while: its past is stale
    plc.conceal_into(out)
    assert not out.any()


def test_the_first_good_frame_after_a_muted_loss_fades_in() -> None:
    x = vowel(0.5)
    plc = PitchConcealer()
    for i in range(0, 1600, FRAME):
        plc.good(x[i : i + FRAME].copy())
    out = np.zeros(FRAME, np.int16)
    for _ in range(4):  # 80 ms: beyond 60 ms the concealment is silent
        plc.conceal_into(out)
    assert not out.any()
    frame = x[2240:2400].copy()
    plc.good(frame)
    ramp = np.abs(frame[:80].astype(np.float64)) / np.maximum(1, np.abs(x[2240:2320]))
    assert ramp[:8].max() < 0.15  # starts near silence
    np.testing.assert_array_equal(frame[80:], x[2320:2400])  # 10 ms later: as decoded


def test_rates_that_are_not_multiples_of_8_khz_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be a positive multiple of 8000"):
        PitchConcealer(44100)
