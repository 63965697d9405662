"""What idle mix listeners cost: one browser in "mix" mode alone in each of many rooms.

Every anonymous ``setAudioMode: "mix"`` in a new room makes an audio bridge with one
listener and (usually) no input. Before, each such bridge ticked every 20 ms and encoded a
frame of silence for its listener; now a stream whose listeners take silence as a gap
(``silent_when_idle``, what the conference sets for browsers) is not encoded while nobody
speaks, and a bridge with no input at all does not tick.

Three set-ups, each with the same bridges (one Opus listener):

- **before**: ``silent_when_idle=False``, which is the previous behaviour exactly (encoded
  silence every tick, as phones still get);
- **after, silent input**: ``silent_when_idle=True`` and one input that sends packets with
  RFC 6464 level 127 (a listener that also publishes a muted or silent microphone);
- **after, no input**: ``silent_when_idle=True`` and no input (the bridge sleeps).

Two measurements:

1. CPU per bridge tick, in process: ``tick()`` called directly, ``time.process_time``,
   median of ``--runs`` runs (no input set-up: the tick the bridge no longer runs).
2. Real time: ``--bridges`` bridges on their own tick tasks with the real clock for
   ``--seconds``, plus a probe task that wakes every 20 ms like a live call's packets: CPU
   share of the process and the probe's longest lateness.

Run: ``python benchmarks/idle_mixers.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

import _repo_root  # noqa: F401  (tests.support below)
import numpy as np
from tests.support.clock import FakeClock

from snapconf.clock import SYSTEM_CLOCK
from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig

SETUPS = ("before", "after, silent input", "after, no input")


def _silent_packet() -> bytes:
    spec = get_codec("opus")
    return spec.new_encoder().encode(np.zeros(spec.frame_samples(20), np.int16))


def _bridge(setup: str, clock: object, packet: bytes) -> tuple[Mixer, list[int]]:
    mixer = Mixer(MixerConfig(), clock)  # type: ignore[arg-type]
    mixer.add_output(
        "listener", "opus", 111, 0x1234, lambda p: None, silent_when_idle=setup != "before"
    )
    seq = [0]
    if setup != "after, no input":
        mixer.add_input("own-mic", "opus", 48000, 111)
    return mixer, seq


def _push(mixer: Mixer, seq: list[int], packet: bytes) -> None:
    inp = mixer.inputs.get("own-mic")
    if inp is not None:
        n = seq[0]
        inp.push(n & 0xFFFF, (n * 960) & 0xFFFFFFFF, 111, packet, 127)
        seq[0] = n + 1


def cpu_per_tick(setup: str, ticks: int, runs: int, bridges: int) -> tuple[float, int]:
    packet = _silent_packet()
    costs = []
    encodes = 0
    for _ in range(runs):
        pool = [_bridge(setup, FakeClock(), packet) for _ in range(bridges)]
        start = time.process_time()
        for _ in range(ticks):
            for mixer, seq in pool:
                _push(mixer, seq, packet)
                mixer.tick()
        costs.append((time.process_time() - start) / (ticks * bridges) * 1e6)
        encodes = sum(m.stats.encodes for m, _ in pool)
        for mixer, _ in pool:
            mixer.close()
    return statistics.median(costs), encodes


async def real_time(setup: str, bridges: int, seconds: float) -> tuple[float, float, int, int]:
    packet = _silent_packet()
    pool = [_bridge(setup, SYSTEM_CLOCK, packet) for _ in range(bridges)]
    loop = asyncio.get_running_loop()
    for i, (mixer, _) in enumerate(pool):  # rooms start at any time: spread the ticks
        loop.call_later(0.02 * i / bridges, mixer.start)
    await asyncio.sleep(0.5)  # warm-up: every bridge has made its plan and encoder
    stop = loop.time() + seconds
    worst = 0.0

    async def feed() -> None:
        deadline = loop.time()
        while loop.time() < stop:
            deadline += 0.02
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            for mixer, seq in pool:
                _push(mixer, seq, packet)

    async def probe() -> None:  # a live call's packets: what matters is their lateness
        nonlocal worst
        deadline = loop.time()
        while loop.time() < stop:
            deadline += 0.02
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            worst = max(worst, loop.time() - deadline)

    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    await asyncio.gather(feed(), probe())
    share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    ticks = sum(m.stats.ticks for m, _ in pool)
    encodes = sum(m.stats.encodes for m, _ in pool)
    for mixer, _ in pool:  # the warm-up's share is small: reported as measured
        mixer.close()
    for mixer, _ in pool:
        with contextlib.suppress(asyncio.CancelledError):
            await mixer.wait_closed()
    return share, worst, ticks, encodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bridges", type=int, default=150)
    parser.add_argument("--ticks", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    print(f"{args.bridges} bridges, one Opus mix listener each")
    print(
        "| set-up | CPU per bridge tick (in process) | encodes | real time: CPU share | "
        "probe's longest lateness | ticks run | encodes |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setup in SETUPS:
        cost, encodes = cpu_per_tick(setup, args.ticks, args.runs, 10)
        share, worst, ticks, rt_encodes = asyncio.run(real_time(setup, args.bridges, args.seconds))
        print(
            f"| {setup} | {cost:.1f} µs | {encodes} | {share * 100:.0f} % | "
            f"{worst * 1000:.1f} ms | {ticks} | {rt_encodes} |"
        )


if __name__ == "__main__":
    main()
