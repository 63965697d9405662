"""The forwarding path in-process, hot: receive (SRTP unprotect, parse, account) and per
consumer (rewrite, SRTP protect, queue; one sendmmsg per packet on a real loopback
socket), µs per packet.

The lower bound of what `sfu_forward.py` measures end to end, without wake-ups.

    python benchmarks/forward_path.py --consumers 20 --packets 20000
"""

from __future__ import annotations

import argparse
import os
import socket
import time

from pylibsrtp import Policy, Session

from snapconf.media.egress import Egress, srtp_context
from snapconf.media.router import EXT_MID, Codec, Producer, Router
from snapconf.media.server import MediaConfig, MediaServer
from snapconf.media.transport import WebRtcTransport
from snapconf.rtp.packet import build_rtp_packet

PROFILE = Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def _connected_transport(
    server: MediaServer, egress: Egress, addr: tuple[str, int]
) -> WebRtcTransport:
    """A transport as DTLS leaves it: an SRTP session, its egress and its destination."""
    transport = WebRtcTransport(server, server.certificate, transport_id=f"c{addr[1]}")
    policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE)
    policy.allow_repeat_tx = True
    transport.srtp_tx = Session(policy)
    transport.addr = addr
    transport._srtp_out = srtp_context(transport.srtp_tx)
    transport._egress = egress
    transport._dest = transport.destination(addr)
    return transport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consumers", type=int, default=20)
    parser.add_argument("--packets", type=int, default=20000)
    args = parser.parse_args()
    key = os.urandom(30)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
    rx_policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE)
    rx_policy.window_size = 1024
    server = MediaServer(MediaConfig(), clock=time.monotonic)
    transport = WebRtcTransport(server, server.certificate, transport_id="bench")
    transport.srtp_rx = Session(rx_policy)
    addr = ("192.0.2.1", 5000)
    server.by_addr[addr] = (transport, None)  # type: ignore[assignment]
    producer = Producer(
        producer_id="video",
        kind="video",
        source="camera",
        codec=Codec("VP8", 90000),
        payload_type=96,
        ssrc=5,
        mid="1",
        extension_ids={4: EXT_MID},
        sink=transport,
        owner_id="p",
        clock=time.monotonic,
    )
    transport.producers_by_ssrc[5] = producer
    packets = [
        tx.protect(
            build_rtp_packet(
                payload_type=96,
                sequence_number=i & 0xFFFF,
                timestamp=i * 3000,
                ssrc=5,
                payload=os.urandom(1100),
                extensions=[(4, b"1")],
            )
        )
        for i in range(args.packets)
    ]
    start = time.process_time()
    for data in packets:
        server.datagram_received(None, data, addr)  # type: ignore[arg-type]
    receive = (time.process_time() - start) / args.packets * 1e6
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    egress = Egress(sender, on_first=server._egress_queued, on_drop=server.count_drops)
    router = Router()
    for i in range(args.consumers):
        router.consume(
            producer,
            sink=_connected_transport(server, egress, receiver.getsockname()),
            mid=f"r{i}",
            payload_types={96: 96},
            cname="p",
            clock=time.monotonic,
            paused=False,
        )
    fresh = [
        tx.protect(
            build_rtp_packet(
                payload_type=96,
                sequence_number=(args.packets + i) & 0xFFFF,
                timestamp=i * 3000,
                ssrc=5,
                payload=os.urandom(1100),
                extensions=[(4, b"1")],
            )
        )
        for i in range(args.packets // 10)
    ]
    start = time.process_time()
    for data in fresh:
        server.datagram_received(None, data, addr)  # type: ignore[arg-type]
    total = (time.process_time() - start) / len(fresh) * 1e6
    per_consumer = (total - receive) / args.consumers
    print(
        f"receive path: {receive:.1f} µs per packet; per consumer (rewrite, protect, send): "
        f"{per_consumer:.1f} µs; per forwarded packet with {args.consumers} consumers: "
        f"{total / args.consumers:.1f} µs"
    )


if __name__ == "__main__":
    main()
