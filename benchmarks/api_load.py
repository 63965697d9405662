"""Scheduling API load: bookings/s and reads/s against a real `snapconf serve` with its
embedded SQLite store (a file, WAL), from C concurrent clients on loopback.

The server runs in its own process; the clients share one aiohttp session per client.
Prints throughput and p50/p99 latency for bookings (POST /conferences) and reads
(GET /conferences/{id}), and the server's CPU time per request from /proc.

    python benchmarks/api_load.py --clients 50 --bookings 2000 --reads 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _repo_root  # noqa: F401  (tests.support below)
import aiohttp
from tests.support.serve import wait_healthy

TICK = os.sysconf("SC_CLK_TCK")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _phase(
    name: str,
    total: int,
    clients: int,
    request: asyncio.Queue[int],
    call: Callable[[aiohttp.ClientSession, int], Awaitable[bool]],
    pid: int,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                i = request.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            ok = await call(session, i)
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1

    for i in range(total):
        request.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(pid) - cpu0
    result = {
        "requests": float(total),
        "per_second": total / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "server_cpu_us": cpu / total * 1e6,
        "errors": float(errors),
    }
    print(
        f"{name:9s} {total:6d} requests  {result['per_second']:8.0f}/s  "
        f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
        f"server CPU {result['server_cpu_us']:6.0f} µs/request  errors {errors}",
        flush=True,
    )
    return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=10000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "snapconf.toml"
        config.write_text(
            f'[store]\npath = "{Path(tmp) / "bench.db"}"\n'
            '[api]\ntoken_secret = "benchmark-secret-0123456789abcdef0123"\n'
            'dialin_numbers = ["+33 1 89 00 00 00"]\n[log]\nlevel = "WARNING"\n'
            # the clients sign in with the development sign-in (loopback only)
            "[organisers]\ndev_login = true\n"
        )
        port = _free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "snapconf",
            "serve",
            "--config",
            str(config),
            "--http-port",
            str(port),
            "--media-port",
            str(_free_port(socket.SOCK_DGRAM)),
            "--sip-port",
            "0",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base)
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    base + "/api/v1/auth/token", json={"email": "bench@numerique.gouv.fr"}
                ) as r,
            ):
                token = (await r.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            ids: list[str] = []

            async def book(session: aiohttp.ClientSession, i: int) -> bool:
                body = {"title": f"Réunion {i}", "start": start, "duration_minutes": 60}
                async with session.post(
                    base + "/api/v1/conferences", json=body, headers=headers
                ) as r:
                    data = await r.json()
                    if r.status == 201:
                        ids.append(data["id"])
                    return r.status == 201

            async def read(session: aiohttp.ClientSession, i: int) -> bool:
                async with session.get(
                    f"{base}/api/v1/conferences/{ids[i % len(ids)]}", headers=headers
                ) as r:
                    await r.read()
                    return r.status == 200

            queue: asyncio.Queue[int] = asyncio.Queue()
            print(
                f"{args.clients} concurrent clients, SQLite WAL file store, server pid "
                f"{process.pid}"
            )
            await _phase("bookings", args.bookings, args.clients, queue, book, process.pid)
            await _phase("reads", args.reads, args.clients, queue, read, process.pid)
        finally:
            process.terminate()
            await process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
