"""Audio bridge benchmark (issue 3): what a 50-participant mixer costs per 20 ms tick.

Each bridge has 50 participants, 3 of them talking (tones at 300, 500 and 700 Hz), the other
47 silent, and 50 listeners (every participant hears the mix, talkers minus themselves).
Packets are encoded beforehand, so only the server's side is measured: ``push`` of 50 packets
(the network path's share) and one ``tick`` (decode, mix, encode, RTP headers, ``send``).
``send`` is a no-op: the socket and SRTP cost per packet belong to the transport.

- **opus**: browsers, Opus in with RFC 6464 audio levels (silent ones send level 127), Opus out.
- **opus-phone**: phones, Opus in *without* audio levels, Opus out; silent ones send what
  libopus makes of digital silence without DTX (a steady stream of identical small packets, as
  SIP softphones and the ``../shared/janus-bench`` load generator do).
- **g711**: phones, PCMU in without audio levels (silent ones send faint noise), PCMU out.

``--noise-dbov X`` makes the silent participants send white noise at X dBov instead (above the
mixer's ``silence_dbov``: every one of them is then a candidate talker whose level must be known
every tick: noisy rooms, open microphones).

Three measurements, for each codec:

1. CPU per bridge per tick: ``M`` bridges driven tick by tick in one process, CPU time from
   :func:`time.process_time`; the median of ``--runs`` runs.
2. The naive cost, in the same run: the same bridge, but one encode per listener (50 encoders)
   instead of one per stream; and the ratio.
3. Real time: ``M`` bridges, each on its own tick task with the real clock, plus one task
   feeding packets every 20 ms, for ``--seconds``: overruns, late and skipped ticks, CPU load.
   Then the most bridges one core holds without overruns: starting from 20 ms divided by the
   cost per bridge, fewer until a run has no overrun.

``--frame-costs`` prints instead what one 20 ms frame costs to decode (Opus through libopus,
with our preallocated buffers and with opuslib's high-level ``Decoder.decode``) and to measure
(the level of a G.711 frame from its codes, alone and 50 at a time, against decoding it).

Run: ``python benchmarks/mixer.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import _repo_root  # noqa: F401  (tests.support below)
import numpy as np
from tests.support.clock import FakeClock

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.media.codecs import AudioEncoder, Resampler, get_codec
from snapconf.media.mixer import FRAME, Mixer, MixerConfig

PARTICIPANTS = 50
TALKERS = 3
CYCLE = 50  # ticks of pre-encoded packets (1 s), replayed with advancing seq and timestamp

CODECS = {
    "opus": ("opus", 111, True),
    "opus-phone": ("opus", 111, False),
    "g711": ("PCMU", 0, False),
}
"""benchmark name -> (codec, payload type, RFC 6464 levels sent)."""

Packet = tuple[bytes, int | None]


def make_packets(codec: str, levels: bool, noise_dbov: float | None = None) -> list[list[Packet]]:
    """Per participant, CYCLE packets (payload, level); silent ones send noise at
    ``noise_dbov`` if given."""
    spec = get_codec(codec)
    frame = spec.frame_samples(20)
    rng = np.random.default_rng(1)
    out = []
    for k in range(PARTICIPANTS):
        enc = spec.new_encoder()
        packets: list[Packet] = []
        for t in range(CYCLE):
            if k < TALKERS:
                n = np.arange(frame) + t * frame
                pcm = 8000 * np.sin(2 * np.pi * (300 + 200 * k) * n / spec.sample_rate)
                level = 18  # -18 dBov
            elif noise_dbov is not None:  # an open microphone in a noisy room
                pcm = rng.normal(0, 32768 * 10 ** (noise_dbov / 20), frame)
                level = min(127, round(-noise_dbov))
            else:  # silence: digital zero from browsers and Opus phones, line noise from G.711
                pcm = np.zeros(frame) if levels or codec == "opus" else rng.normal(0, 8, frame)
                level = 127
            payload = enc.encode(np.rint(pcm).astype(np.int16))
            packets.append((payload, level if levels else None))
        out.append(packets)
    return out


def _discard(data: bytes) -> None:
    pass


@dataclass
class Bridge:
    mixer: Mixer
    feeds: list[tuple[Callable[..., None], list[Packet]]]
    pt: int
    step: int
    t: int = 0

    def push_all(self) -> None:
        t, pt = self.t, self.pt
        seq, ts, i = t & 0xFFFF, (t * self.step) & 0xFFFFFFFF, t % CYCLE
        for push, packets in self.feeds:
            payload, level = packets[i]
            push(seq, ts, pt, payload, level)
        self.t = t + 1


def make_bridge(
    name: str,
    packets: list[list[Packet]],
    clock: Clock,
    outputs: bool = True,
    empty: bool = False,
) -> Bridge:
    codec, pt, _ = CODECS[name]
    spec = get_codec(codec)
    mixer = Mixer(MixerConfig(), clock)
    feeds = []
    for k in range(0 if empty else PARTICIPANTS):
        pid = f"p{k}"
        inp = mixer.add_input(pid, codec, spec.clock_rate, pt)
        feeds.append((inp.push, packets[k]))
        if outputs:
            mixer.add_output(pid, codec, pt, 0x10000 + k, _discard, own_input_id=pid)
    return Bridge(mixer, feeds, pt, spec.timestamp_step(20))


@dataclass
class CpuResult:
    push_us: float
    tick_us: float
    encodes: float
    decodes: float

    @property
    def total_us(self) -> float:
        return self.push_us + self.tick_us


def measure_cpu(name: str, packets: list[list[Packet]], bridges: int, ticks: int) -> CpuResult:
    """CPU per bridge per tick, M bridges driven in lockstep (no event loop)."""
    group = [make_bridge(name, packets, FakeClock()) for _ in range(bridges)]
    for _ in range(25):  # warm up: jitter buffers full, talkers chosen, encoders created
        for b in group:
            b.push_all()
            b.mixer.tick()
    enc0 = sum(b.mixer.stats.encodes for b in group)
    dec0 = sum(b.mixer.stats.decodes for b in group)
    push = tick = 0.0
    gc.collect()
    for _ in range(ticks):
        t0 = time.process_time()
        for b in group:
            b.push_all()
        t1 = time.process_time()
        for b in group:
            b.mixer.tick()
        t2 = time.process_time()
        push += t1 - t0
        tick += t2 - t1
    n = ticks * bridges
    return CpuResult(
        push / n * 1e6,
        tick / n * 1e6,
        (sum(b.mixer.stats.encodes for b in group) - enc0) / n,
        (sum(b.mixer.stats.decodes for b in group) - dec0) / n,
    )


def measure_naive(name: str, packets: list[list[Packet]], ticks: int) -> tuple[float, float]:
    """CPU per tick of the same bridge encoding once per listener: (µs, encodes per tick).

    The mixer still decodes and mixes (it has no outputs); then, as a naive bridge would,
    every listener gets its own mix (minus itself if talking), its own resampler and encoder,
    and its own RTP header.
    """
    codec, pt, _ = CODECS[name]
    spec = get_codec(codec)
    b = make_bridge(name, packets, FakeClock(), outputs=False)
    mixer = b.mixer
    inputs = list(mixer.inputs.values())
    cfg = mixer.config
    encoders: list[AudioEncoder] = []
    for _ in range(PARTICIPANTS):
        if codec == "opus":
            from snapconf.media.codecs import OpusEncoder

            encoders.append(
                OpusEncoder(
                    bitrate=cfg.opus_bitrate,
                    complexity=cfg.opus_complexity,
                    fec=cfg.opus_fec,
                    packet_loss_perc=cfg.opus_packet_loss_perc,
                )
            )
        else:
            encoders.append(spec.new_encoder())
    resamplers = [Resampler(48000, spec.sample_rate) for _ in range(PARTICIPANTS)]
    mix = np.zeros(FRAME, np.int32)
    tmp = np.zeros(FRAME, np.int32)
    pcm48 = np.zeros(FRAME, np.int16)
    pcm = np.zeros(spec.frame_samples(20), np.int16)
    import struct

    header = struct.Struct("!BBHII")
    encodes = 0

    def naive_tick() -> None:
        nonlocal encodes
        mixer.tick()
        talking = {t: mixer.inputs[t].pcm for t in mixer.talkers}
        mix[:] = 0
        for p in talking.values():
            np.add(mix, p, out=mix)
        for k, inp in enumerate(inputs):
            own = talking.get(inp.id)
            if own is None:
                np.clip(mix, -32768, 32767, out=tmp)
            else:
                np.subtract(mix, own, out=tmp)
                np.clip(tmp, -32768, 32767, out=tmp)
            pcm48[:] = tmp
            resamplers[k].process_into(pcm48, pcm)
            payload = encoders[k].encode(pcm)
            encodes += 1
            _discard(header.pack(0x80, pt, b.t & 0xFFFF, b.t * 960, k) + payload)

    for _ in range(25):
        b.push_all()
        naive_tick()
    encodes = 0
    gc.collect()
    t0 = time.process_time()
    for _ in range(ticks):
        b.push_all()
        naive_tick()
    cpu = time.process_time() - t0
    return cpu / ticks * 1e6, encodes / ticks


@dataclass
class RealtimeResult:
    bridges: int
    ticks: int
    overruns: int
    late: int
    skipped: int
    cpu_load: float  # cores

    @property
    def us_per_tick(self) -> float:
        """CPU per bridge per tick, everything included (event loop, feeder)."""
        return self.cpu_load * 20000 / self.bridges


async def _realtime(
    name: str, packets: list[list[Packet]], bridges: int, seconds: float, empty: bool = False
) -> RealtimeResult:
    clock = SYSTEM_CLOCK
    group = [make_bridge(name, packets, clock, empty=empty) for _ in range(bridges)]
    stop = False

    async def feeder() -> None:
        deadline = clock.now()
        while not stop:
            deadline += 0.02
            await clock.sleep_until(deadline - 0.01)  # half a tick before the mixers
            for b in group:
                b.push_all()

    feed = asyncio.get_running_loop().create_task(feeder())
    for b in group:  # conferences start at any time: their ticks are spread over 20 ms
        b.mixer.start()
        await asyncio.sleep(0.02 / bridges)
    await asyncio.sleep(0.5)  # warm up
    base = [
        (
            b.mixer.stats.ticks,
            b.mixer.stats.overruns,
            b.mixer.stats.late_ticks,
            b.mixer.stats.skipped_ticks,
        )
        for b in group
    ]
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, w1 = time.process_time(), time.monotonic()
    stop = True
    result = RealtimeResult(
        bridges,
        sum(b.mixer.stats.ticks - s[0] for b, s in zip(group, base, strict=True)),
        sum(b.mixer.stats.overruns - s[1] for b, s in zip(group, base, strict=True)),
        sum(b.mixer.stats.late_ticks - s[2] for b, s in zip(group, base, strict=True)),
        sum(b.mixer.stats.skipped_ticks - s[3] for b, s in zip(group, base, strict=True)),
        (c1 - c0) / (w1 - w0),
    )
    for b in group:
        b.mixer.close()
        await b.mixer.wait_closed()
    feed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await feed
    return result


def run_realtime(
    name: str, packets: list[list[Packet]], bridges: int, seconds: float, empty: bool = False
) -> RealtimeResult:
    """Run ``bridges`` bridges on the real clock (``empty``: mixers with nothing to do, as a
    control of how punctual this machine's scheduling is right now)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_realtime(name, packets, bridges, seconds, empty))
    return uvloop.run(_realtime(name, packets, bridges, seconds, empty))


def _per_call_us(fn: Callable[[int], object], calls: int, runs: int) -> tuple[float, list[float]]:
    """CPU µs per call of ``fn(i)``: the median of ``runs`` runs of ``calls`` calls."""
    results = []
    for _ in range(runs):
        t0 = time.process_time()
        for i in range(calls):
            fn(i)
        results.append((time.process_time() - t0) / calls * 1e6)
    return statistics.median(results), results


def frame_costs(runs: int) -> None:
    """What one 20 ms frame costs to decode or to measure, each the median of ``runs`` runs."""
    import opuslib

    from snapconf.media.codecs.g711 import mean_square, ulaw_decode
    from snapconf.media.mixer.levels import dbov, g711_levels

    opus = make_packets("opus", False)[0]  # a 300 Hz tone, 20 ms packets
    payloads = [p for p, _ in opus]
    ours = get_codec("opus").new_decoder()
    out = np.zeros(5760, np.int16)
    high = opuslib.Decoder(48000, 1)
    n = len(payloads)
    for name, fn in (
        (
            "Opus decode, libopus into a preallocated buffer (the mixer's)",
            lambda i: ours.decode_into(payloads[i % n], out),
        ),
        (
            "Opus decode, opuslib Decoder.decode (bytes out)",
            lambda i: high.decode(payloads[i % n], 960),
        ),
    ):
        med, all_runs = _per_call_us(fn, 2000, runs)
        listed = ", ".join(f"{r:.1f}" for r in all_runs)
        print(f"{name}: {med:.1f} µs per 20 ms frame (runs: {listed})")
    g711 = [p for p, _ in make_packets("PCMU", False)[0]]
    m = len(g711)
    for name, fn in (
        (
            "G.711 level, decode then mean square",
            lambda i: dbov(float(np.mean(ulaw_decode(g711[i % m]).astype(np.float64) ** 2))),
        ),
        ("G.711 level from the codes, one frame", lambda i: dbov(mean_square(g711[i % m], "PCMU"))),
        (
            "G.711 level from the codes, 50 frames together, per frame",
            lambda i: g711_levels("PCMU", g711, 160) if i % 50 == 0 else None,
        ),
    ):
        med, all_runs = _per_call_us(fn, 5000, runs)
        print(f"{name}: {med:.2f} µs (runs: {', '.join(f'{r:.2f}' for r in all_runs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--codec",
        choices=[*CODECS, "both", "all"],
        default="both",
        help="both: opus and g711; all: every scenario",
    )
    parser.add_argument(
        "--noise-dbov",
        type=float,
        default=None,
        help="silent participants send white noise at this level (dBov) instead",
    )
    parser.add_argument("--bridges", type=int, default=10, help="M concurrent bridges")
    parser.add_argument("--ticks", type=int, default=250, help="ticks per CPU run")
    parser.add_argument("--runs", type=int, default=5, help="CPU runs (the median is shown)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="real-time run length (0: skip the real-time runs)",
    )
    parser.add_argument(
        "--frame-costs",
        action="store_true",
        help="print what decoding or measuring one 20 ms frame costs, and stop",
    )
    args = parser.parse_args()
    if args.frame_costs:
        frame_costs(args.runs)
        return
    names = {"both": ["opus", "g711"], "all": list(CODECS)}.get(args.codec, [args.codec])
    print(
        f"{PARTICIPANTS} participants per bridge, {TALKERS} talkers, 20 ms ticks; "
        f"M = {args.bridges} bridges; CPU: median of {args.runs} runs of {args.ticks} ticks"
        + ("" if args.noise_dbov is None else f"; others: noise at {args.noise_dbov:g} dBov")
    )
    for name in names:
        packets = make_packets(CODECS[name][0], CODECS[name][2], args.noise_dbov)
        runs = [measure_cpu(name, packets, args.bridges, args.ticks) for _ in range(args.runs)]
        push = statistics.median(r.push_us for r in runs)
        tick = statistics.median(r.tick_us for r in runs)
        total = statistics.median(r.total_us for r in runs)
        naive_runs = [
            measure_naive(name, packets, max(25, args.ticks // 5))
            for _ in range(max(1, args.runs // 2))
        ]
        naive = statistics.median(r[0] for r in naive_runs)
        print(
            f"\n[{name}] CPU per bridge per tick: {total:7.0f} µs "
            f"(tick {tick:.0f} µs + push of 50 packets {push:.0f} µs; "
            f"runs: {', '.join(f'{r.total_us:.0f}' for r in runs)})"
        )
        print(
            f"[{name}] encodes per tick {runs[0].encodes:.2f}, decodes per tick "
            f"{runs[0].decodes:.2f}"
        )
        print(
            f"[{name}] naive (one encode per listener, {naive_runs[0][1]:.0f} encodes per "
            f"tick): {naive:7.0f} µs per bridge per tick = {naive / total:.1f} x ours"
        )
        projected = int(20000 // total)
        print(f"[{name}] projected bridges per core: {projected} (20 ms / {total:.0f} µs)")
        if args.seconds <= 0:
            continue
        control = run_realtime(name, packets, args.bridges, args.seconds, empty=True)
        print(
            f"[{name}] control, {args.bridges} empty bridges: overruns {control.overruns}, "
            f"late {control.late}, skipped {control.skipped} (non-zero: the machine is busy)"
        )
        rt = run_realtime(name, packets, args.bridges, args.seconds)
        print(
            f"[{name}] real time, {rt.bridges} bridges, {args.seconds:g} s: {rt.ticks} ticks, "
            f"overruns {rt.overruns}, late (>1 ms) {rt.late}, skipped {rt.skipped}, "
            f"CPU {rt.cpu_load * 100:.0f} % of a core = {rt.us_per_tick:.0f} µs per bridge tick"
        )
        # the most bridges without overruns: bisect between M (if it held) and the projection
        good = args.bridges if rt.overruns == 0 and rt.skipped == 0 else 0
        bad = max(projected + 1, args.bridges + 1)
        while bad - good > max(1, good // 20):
            m = (good + bad) // 2
            rt = run_realtime(name, packets, m, args.seconds)
            ok = rt.overruns == 0 and rt.skipped == 0
            print(
                f"[{name}] real time, {m} bridges: overruns {rt.overruns}, late {rt.late}, "
                f"skipped {rt.skipped}, CPU {rt.cpu_load * 100:.0f} % of a core "
                f"({rt.us_per_tick:.0f} µs per bridge tick) -> {'ok' if ok else 'overruns'}"
            )
            if ok:
                good = m
            else:
                bad = m
        print(f"[{name}] most bridges per core without overruns: {good}")


if __name__ == "__main__":
    main()
