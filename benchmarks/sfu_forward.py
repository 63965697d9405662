"""SFU forwarding cost: P publishers x S subscribers through a real `snapconf serve`.

Publishers send pre-encoded VP8 (~500 kbit/s, 30 fps) and Opus; subscribers count RTP
packets without decoding. The server runs in its own process (uvloop), so its CPU time
is measured alone, from /proc/PID/task/*/schedstat. Prints, per run and as the median of
the runs: forwarded packets/s, server CPU µs per forwarded packet, CPU share, and loss.

    python benchmarks/sfu_forward.py --publishers 1 --subscribers 20 --duration 20 --runs 3

The server runs alone on the first CPU and the clients on the others (``--no-pin`` to let
the scheduler place them): the 21 aiortc peers stand for browsers on other machines, and
left on the same CPU they preempt the server hundreds of times a second (it wakes them with
every send), which charges it context switches and caches refilled after the clients' work.

Before and after the runs, a host check measures what a uvloop receiver that does nothing
costs per datagram at the same rate (``udp_baseline.py``): on a shared VM that figure moves
by a factor of 3 to 4 from one hour to the next, and the server's figure with it.

With ``--baseline-src DIR`` (the ``src`` folder of another checkout, e.g. a ``git worktree``
of main), each run measures that server and this one back to back, alternating which goes
first, and the ratio of their medians is printed: on a shared machine, a comparison made
in one sitting is worth more than two figures taken hours apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import sys
import time

import _repo_root  # noqa: F401  (tests.support below)
import aiohttp
from tests.support.serve import wait_healthy
from udp_baseline import measure as measure_wakeups

from snapconf.client import Client, preencoded_audio, preencoded_video


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid``, from the scheduler's nanosecond accounting.

    /proc/PID/stat's utime and stime are sampled at the clock tick, which charges a
    process that wakes hundreds of times a second for short bursts unreliably;
    schedstat's ``sum_exec_runtime`` is exact.
    """
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


async def _metric(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def run_once(
    publishers: int,
    subscribers: int,
    duration: float,
    warmup: float,
    video_bitrate: int = 500_000,
    src: str | None = None,
    cpus: list[int] | None = None,
) -> dict[str, float]:
    http_port = _free_port(socket.SOCK_STREAM)
    media_port = _free_port(socket.SOCK_DGRAM)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "snapconf",
        "serve",
        "--http-port",
        str(http_port),
        "--sip-port",
        "0",
        "--media-port",
        str(media_port),
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": src} if src else None,
    )
    if cpus:  # the server alone on the first CPU, the clients on the others
        os.sched_setaffinity(server.pid, {cpus[0]})
        os.sched_setaffinity(0, set(cpus[1:]))
    url = f"http://127.0.0.1:{http_port}"
    clients: list[Client] = []
    try:
        await wait_healthy(url)
        async with aiohttp.ClientSession() as http:
            subs = []
            for i in range(subscribers):
                c = Client(url, "bench", f"sub{i}", decode=False)
                await c.join()
                subs.append(c)
            pubs = []
            for i in range(publishers):
                c = Client(url, "bench", f"pub{i}", decode=False)
                await c.join()
                await c.publish(
                    [
                        (preencoded_audio(440 + 100 * i), "microphone"),
                        (preencoded_video(bitrate=video_bitrate), "camera"),
                    ]
                )
                pubs.append(c)
            clients = subs + pubs
            await asyncio.sleep(warmup)

            def received() -> int:
                return sum(t.packets for c in subs for t in c.received.values())

            rx0 = received()
            fwd0 = await _metric(http, url, "snapconf_rtp_forwarded_packets_total")
            in0 = await _metric(http, url, "snapconf_media_datagrams_in_total")
            cpu0 = _cpu_seconds(server.pid)
            t0 = time.monotonic()
            await asyncio.sleep(duration)
            cpu1 = _cpu_seconds(server.pid)
            t1 = time.monotonic()
            fwd1 = await _metric(http, url, "snapconf_rtp_forwarded_packets_total")
            in1 = await _metric(http, url, "snapconf_media_datagrams_in_total")
            await asyncio.sleep(0.3)  # let in-flight packets land
            rx1 = received()
            forwarded = fwd1 - fwd0
            expected_tracks = 2 * publishers * subscribers
            got_tracks = sum(len(c.received) for c in subs)
            return {
                "forwarded_pps": forwarded / (t1 - t0),
                "received_pps": (in1 - in0) / (t1 - t0),
                "cpu_us_per_packet": (cpu1 - cpu0) / forwarded * 1e6 if forwarded else float("nan"),
                "cpu_share": (cpu1 - cpu0) / (t1 - t0),
                "loss": max(0.0, 1 - (rx1 - rx0) / forwarded) if forwarded else 1.0,
                "tracks_ok": float(got_tracks == expected_tracks),
            }
    finally:
        for c in clients:
            await c.close()
        server.terminate()
        await server.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--video-bitrate", type=int, default=500_000, help="VP8 target, bit/s")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=len(os.sched_getaffinity(0)) > 1,
        help="server alone on the first CPU, clients on the others (default with 2+ CPUs)",
    )
    parser.add_argument("--baseline-src", help="also measure the server of this src folder")
    args = parser.parse_args()
    # the CPUs as they are before any run pins this process to the clients' share
    cpus = (
        sorted(os.sched_getaffinity(0)) if args.pin and len(os.sched_getaffinity(0)) > 1 else None
    )
    print(
        f"{args.publishers} publisher(s) x {args.subscribers} subscribers, "
        f"{args.duration:.0f} s per run, CPU: {_cpu_model()}, "
        + (f"server pinned to CPU {cpus[0]}, clients to {cpus[1:]}" if cpus else "not pinned")
    )
    host_check = "host check, bare uvloop receiver at 116 datagrams/s: {:.1f} µs per datagram"
    print(host_check.format(await asyncio.to_thread(measure_wakeups, 116.0, 5.0)))
    print(ROW.format("run", "in pkt/s", "fwd pkt/s", "µs/pkt", "server CPU", "loss", "tracks"))
    variants: list[tuple[str, str | None]] = [("", None)]
    if args.baseline_src:
        variants = [("this ", None), ("base ", args.baseline_src)]
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in variants}
    for run in range(args.runs):
        order = variants if run % 2 == 0 else variants[::-1]
        for label, src in order:
            r = await run_once(
                args.publishers,
                args.subscribers,
                args.duration,
                args.warmup,
                args.video_bitrate,
                src,
                cpus,
            )
            results[label].append(r)
            print(_row(f"{label}{run + 1}", r, "ok" if r["tracks_ok"] else "MISSING"))
    medians = {}
    for label, runs in results.items():
        medians[label] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(_row(f"{label}med", medians[label], ""))
    if args.baseline_src:
        ratio = medians["this "]["cpu_us_per_packet"] / medians["base "]["cpu_us_per_packet"]
        print(f"this / base, server CPU per forwarded packet: {ratio:.2f}")
    print(host_check.format(await asyncio.to_thread(measure_wakeups, 116.0, 5.0)))


ROW = "{:>9} {:>9} {:>10} {:>8} {:>11} {:>8} {:>7}"


def _row(label: str, r: dict[str, float], tracks: str) -> str:
    return ROW.format(
        label,
        f"{r['received_pps']:.0f}",
        f"{r['forwarded_pps']:.0f}",
        f"{r['cpu_us_per_packet']:.2f}",
        f"{100 * r['cpu_share']:.1f}%",
        f"{100 * r['loss']:.3f}%",
        tracks,
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
