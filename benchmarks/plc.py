"""G.711 loss concealment (issue 15): what one lost frame costs the mixer, engine-only.

The mixer conceals a lost G.711 frame at 8 kHz with
:class:`snapconf.media.mixer.plc.PitchConcealer` (ITU-T G.711 Appendix I style pitch
repetition), before resampling. This measures, on a voiced signal (a 150 Hz vowel-like wave)
decoded from PCMU, in-process and without sockets:

- **normal frame**: :meth:`PitchConcealer.good` on a decoded 20 ms frame with no loss (the cost
  added to every decoded G.711 frame: keeping 48.75 ms of history);
- **a 20 ms loss**: :meth:`PitchConcealer.conceal_into` for the lost frame (the pitch search,
  the loops, the synthesis) then :meth:`PitchConcealer.good` on the next, cross-faded in;
- **a 40 ms loss**: the same with two lost frames; the difference is what a further lost
  frame costs (the two- and three-period loops, the attenuation);
- **old fade**: the decoder's fade-out concealment the mixer used before, for comparison;
- **decode**: a PCMU decode of one frame (``G711Decoder.decode_into``), for scale.

Each figure is the median over ``--runs`` runs of the mean over ``--iterations`` calls, in
CPU time (:func:`time.process_time_ns`) so that other processes on a shared machine count
less. Run: ``python benchmarks/plc.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from collections.abc import Callable

import _repo_root  # noqa: F401  (the same imports as the other benchmarks)
import numpy as np

from snapconf.media.codecs import get_codec
from snapconf.media.mixer.plc import PitchConcealer

RATE = 8000
FRAME = 160


def vowel(seconds: float = 1.0, f0: float = 150.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(3)
    x = np.zeros(len(t))
    for k in range(1, int(3800 / f0) + 1):
        fk = k * f0
        amp = sum(
            1 / (1 + ((fk - f) / bw) ** 2) for f, bw in ((700, 130), (1200, 150), (2600, 250))
        )
        x += (amp + 0.05) / k * np.sin(2 * np.pi * fk * t + rng.uniform(0, 2 * np.pi))
    pcm: np.ndarray = np.rint(x / np.abs(x).max() * 16000).astype(np.int16)
    return pcm


def per_call_us(fn: Callable[[], None], iterations: int, runs: int) -> float:
    results = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        t0 = time.process_time_ns()
        for _ in range(iterations):
            fn()
        t1 = time.process_time_ns()
        gc.enable()
        results.append((t1 - t0) / iterations / 1000)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    it, runs = args.iterations, args.runs

    spec = get_codec("PCMU")
    enc, dec = spec.new_encoder(), spec.new_decoder()
    x = vowel()
    payloads = [enc.encode(x[i : i + FRAME]) for i in range(0, len(x) - FRAME + 1, FRAME)]
    frames = [np.empty(FRAME, np.int16) for _ in payloads]
    for p, f in zip(payloads, frames, strict=True):
        dec.decode_into(p, f)
    history = frames[:20]
    out = np.empty(FRAME, np.int16)
    good = np.empty(FRAME, np.int16)

    def primed() -> PitchConcealer:
        plc = PitchConcealer()
        for f in history:
            plc.good(f.copy())
        return plc

    plc = primed()

    def normal() -> None:
        plc.good(good)

    good[:] = frames[21]

    frame_a, frame_b = frames[21], frames[22]

    def one_lost() -> None:  # a 20 ms loss: conceal, then the good frame cross-faded in
        plc.conceal_into(out)
        good[:] = frame_a
        plc.good(good)

    def two_lost() -> None:  # a 40 ms loss
        plc.conceal_into(out)
        plc.conceal_into(out)
        good[:] = frame_b
        plc.good(good)

    fade_dec = spec.new_decoder()
    fade_dec.decode_into(payloads[20], out)

    def old_fade() -> None:
        fade_dec.decode_into(payloads[20], good)  # the fade restarts from a good frame
        fade_dec.decode_into(None, out)

    def decode_only() -> None:
        dec.decode_into(payloads[20], out)

    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"{'engine-only, per call':56} {'µs (median of runs)':>20}")
    results = {}
    for key, name, fn in (
        ("normal", "normal frame: history kept (every G.711 frame)", normal),
        ("one", "20 ms loss: conceal + cross-fade into the good frame", one_lost),
        ("two", "40 ms loss: conceal x 2 + cross-fade", two_lost),
        ("fade", "old: decode + the decoder's fade-out, one frame", old_fade),
        ("decode", "PCMU decode of one frame, for scale", decode_only),
    ):
        plc = primed()
        results[key] = per_call_us(fn, it, runs)
        print(f"{name:56} {results[key]:20.1f}")
    extra = results["two"] - results["one"]
    print(f"{'=> a further lost 20 ms frame (two - one)':56} {extra:20.1f}")
    net = results["one"] - results["normal"]
    print(f"{'=> first lost frame, net of the normal path':56} {net:20.1f}")


if __name__ == "__main__":
    main()
