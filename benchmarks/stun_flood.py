"""The media port's STUN path in-process, hot: CPU µs per Binding request.

What one wrong-password Binding request costs the server (parse, HMAC, a 401 built, queued
and sent with ``sendmmsg`` to a real loopback socket) with the per-source failure budget off
(``media.stun_failures_per_second = 0``, the behaviour before the budget) and on, once the
source has spent its burst (dropped before parsing); beside it, the cost of a peer's correct
consent check with the budget off and on. An in-process engine figure: no event loop, no
kernel receive, the datagrams are handed to ``MediaServer.datagram_received``.

    python benchmarks/stun_flood.py --requests 20000 --runs 5
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from typing import Any

from aioice import stun as aiostun

from snapconf.media.config import MediaConfig
from snapconf.media.egress import Egress
from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport


class _Endpoint:
    """What the server needs of a listening socket: where its replies go out."""

    def __init__(self, egress: Egress, sock: socket.socket) -> None:
        self.egress = egress
        self.transport: Any = None
        self.sock = sock


def _binding(ufrag: str, pwd: str) -> bytes:
    """A Binding request as Chromium sends it (USERNAME, PRIORITY, ICE-CONTROLLING, ...)."""
    msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
    msg.attributes["USERNAME"] = f"{ufrag}:Zx9q"
    msg.attributes["PRIORITY"] = 1853824767
    msg.attributes["ICE-CONTROLLING"] = 0x1234567890ABCDEF
    msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(pwd.encode())
    return bytes(msg)


def _server(limit: bool) -> tuple[MediaServer, _Endpoint, WebRtcTransport, socket.socket]:
    config = MediaConfig(stun_failures_per_second=5.0 if limit else 0.0)
    server = MediaServer(config, clock=time.monotonic)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    egress = Egress(sender, on_first=server._egress_queued, on_drop=server.count_drops)
    endpoint = _Endpoint(egress, sender)
    server.endpoints.append(endpoint)  # type: ignore[arg-type]
    transport = WebRtcTransport(server, server.certificate, transport_id="bench")
    transport.set_remote("Zx9q", [])
    return server, endpoint, transport, sender


def _feed(server: MediaServer, endpoint: _Endpoint, datagrams: list[bytes], addr: Any) -> float:
    start = time.process_time()
    for data in datagrams:
        server.datagram_received(endpoint, data, addr)  # type: ignore[arg-type]
    return (time.process_time() - start) / len(datagrams) * 1e6


def _run(limit: bool, requests: int) -> tuple[float, float, dict[str, int]]:
    """µs per wrong-password request from one source, and per correct consent check."""
    server, endpoint, transport, sender = _server(limit)
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the 401s go
    flooder.bind(("127.0.0.1", 0))
    flooder.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the answers go
    peer.bind(("127.0.0.3", 0))  # another source than the flooder
    wrong = _binding(transport.ice_ufrag, "not-the-ice-password-!!!")
    burst = [wrong] * (server.config.stun_failure_burst + 1)
    _feed(server, endpoint, burst, flooder.getsockname())  # spend the burst (if any)
    flood = _feed(server, endpoint, [wrong] * requests, flooder.getsockname())
    checks = [_binding(transport.ice_ufrag, transport.ice_pwd) for _ in range(requests // 4)]
    check = _feed(server, endpoint, checks, peer.getsockname())
    for sock in (sender, flooder, peer):
        sock.close()
    return flood, check, dict(server.drops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    drops: dict[bool, dict[str, int]] = {}
    for _ in range(args.runs):
        for limit in (False, True):  # alternate, so a change in the host's load hits both
            flood, check, drops[limit] = _run(limit, args.requests)
            results[limit].append((flood, check))
    print("in-process engine figure (MediaServer.datagram_received, no event loop), "
          f"median of {args.runs} runs, CPU µs per datagram")
    for limit, label in ((False, "before: budget off"), (True, "after: budget on  ")):
        flood = statistics.median(r[0] for r in results[limit])
        check = statistics.median(r[1] for r in results[limit])
        print(
            f"{label}  wrong-password request {flood:6.2f} µs   "
            f"correct consent check {check:6.2f} µs   drops (last run) {drops[limit]}"
        )


if __name__ == "__main__":
    main()
