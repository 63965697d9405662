"""Baseline: CPU of a bare uvloop UDP receiver woken N times a second, on this machine.

Whatever a server does per datagram comes on top of this: waking an idle process, epoll,
recvmsg and one Python callback. Compare with `sfu_forward.py --subscribers 0`.

    python benchmarks/udp_baseline.py --rate 116 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import uvloop


def _cpu_seconds(pid: int) -> float:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


class _Sink(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        pass


async def _receive(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(_Sink, local_addr=("127.0.0.1", port))
    await asyncio.sleep(3600)


def measure(rate: float, seconds: float) -> float:
    """CPU µs per datagram of a bare uvloop receiver fed ``rate`` datagrams a second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, __file__, "--receive", str(port)])
    try:
        time.sleep(1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            data = os.urandom(1000)
            cpu0, start, sent = _cpu_seconds(receiver.pid), time.monotonic(), 0
            while time.monotonic() - start < seconds:
                sender.sendto(data, ("127.0.0.1", port))
                sent += 1
                time.sleep(max(0.0, start + sent / rate - time.monotonic()))
            return (_cpu_seconds(receiver.pid) - cpu0) / sent * 1e6
    finally:
        receiver.kill()
        receiver.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=116.0, help="datagrams per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        uvloop.run(_receive(args.receive))
        return
    per_datagram = measure(args.rate, args.seconds)
    print(
        f"bare uvloop UDP receiver: {args.rate:.0f} datagrams/s, "
        f"{per_datagram:.1f} µs of CPU per datagram"
    )


if __name__ == "__main__":
    main()
