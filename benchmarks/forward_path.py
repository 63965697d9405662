"""The forwarding path in-process, hot: receive (SRTP unprotect, parse, account) and per
consumer (rewrite, SRTP protect, queue; one sendmmsg per packet on a real loopback
socket), µs per packet.

The lower bound of what `sfu_forward.py` measures end to end, without wake-ups; with
``--idle-ms`` (default 9, about the gap between packets at 500 kbit/s) the same path is also
timed with the process idle between packets, which is what a real server sees: caches and
branch predictors go cold while it waits.
``--instructions`` counts instead, with valgrind's callgrind, the user-space instructions
per forwarded packet (the difference between two runs of different lengths, so start-up
is not counted): a figure that does not move with the machine's load, for comparing two
versions of the path. The kernel's share (sendmmsg on loopback) is not in it.

``--network`` turns on what real networks need: the publisher stamps transport-wide
sequence numbers (the server records them for its feedback), the producer is a 3-layer VP8
simulcast whose top layer is forwarded (picture ids rewritten, temporal layers read), and
every consumer stamps its transport's sequence numbers, feeds its send-side estimator and
has an RTX stream.

    python benchmarks/forward_path.py --consumers 20 --packets 20000
    python benchmarks/forward_path.py --consumers 20 --instructions
    python benchmarks/forward_path.py --consumers 20 --instructions --network
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from pylibsrtp import Policy, Session

from snapconf.media.config import MediaConfig
from snapconf.media.egress import Egress, srtp_context
from snapconf.media.router import (
    EXT_MID,
    HISTORY_SIZE,
    Codec,
    ConsumerExtensions,
    Producer,
    Router,
)
from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport
from snapconf.rtp.packet import build_rtp_packet

#: what Chromium and aiortc negotiate with the server (its DTLS prefers AEAD, RFC 7714)
PROFILE = Policy.SRTP_PROFILE_AEAD_AES_128_GCM
KEY_LENGTH = 16 + 12  # key and salt


def _connected_transport(
    server: MediaServer, egress: Egress, addr: tuple[str, int]
) -> WebRtcTransport:
    """A transport as DTLS leaves it: an SRTP session, its egress and its destination."""
    transport = WebRtcTransport(server, server.certificate, transport_id=f"c{addr[1]}")
    policy = Policy(
        key=os.urandom(KEY_LENGTH), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE
    )
    policy.allow_repeat_tx = True  # as DtlsSession sets up srtp_tx
    policy.window_size = HISTORY_SIZE
    transport.srtp_tx = Session(policy)
    transport.addr = addr
    transport._srtp_out = srtp_context(transport.srtp_tx)
    transport._egress = egress
    transport._dest = transport.destination(addr)
    transport._update_sender()
    return transport


class _Bench:
    """One publisher's transport and producer, and ``consumers`` connected transports."""

    def __init__(self, consumers: int, network: bool = False) -> None:
        key = os.urandom(KEY_LENGTH)
        self.tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
        rx_policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE)
        rx_policy.window_size = 1024
        self.server = server = MediaServer(MediaConfig(), clock=time.monotonic)
        transport = WebRtcTransport(server, server.certificate, transport_id="bench")
        transport.srtp_rx = Session(rx_policy)
        self.addr = ("192.0.2.1", 5000)
        server.by_addr[self.addr] = (transport, None)  # type: ignore[assignment]
        self.network = network
        self.producer = Producer(
            producer_id="video",
            kind="video",
            source="camera",
            codec=Codec("VP8", 90000, 1, (), ("nack", "nack pli")),
            payload_type=96,
            ssrc=5,
            mid="1",
            extension_ids={4: EXT_MID},
            sink=transport,
            owner_id="p",
            clock=time.monotonic,
            rids=("q", "h", "f") if network else (),
            rtx_payload_type=97 if network else None,
        )
        stream = self.producer.streams[-1]
        stream.ssrc = 5
        transport.streams_by_ssrc[5] = stream
        if network:
            transport.enable_transport_cc_feedback(3)
        self.consumers = consumers
        self.seq = 0
        #: the next packet starts a keyframe (consumers take a simulcast layer at one)
        self.keyframe = True

    def connect_consumers(self) -> None:
        self.keyframe = True
        self.receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.receiver.bind(("127.0.0.1", 0))
        self.receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server = self.server
        egress = Egress(self.sender, on_first=server._egress_queued, on_drop=server.count_drops)
        router = Router()
        for i in range(self.consumers):
            sink = _connected_transport(server, egress, self.receiver.getsockname())
            consumer = router.consume(
                self.producer,
                sink=sink,
                mid=f"r{i}",
                payload_types={96: 96},
                cname="p",
                clock=time.monotonic,
                paused=False,
            )
            if self.network:
                consumer.set_extensions(ConsumerExtensions(mid=1, transport_cc=3))
                consumer.transport_cc = sink.enable_estimation()
                if sink.pacer is not None:
                    # the pacer's common case, its budget allowing each packet at once
                    # (this loop sends far faster than any estimate)
                    sink.pacer.set_rate(1e12)
                consumer.rtx_payload_type, consumer.rtx_ssrc = 97, 1000 + i
                consumer.set_target(2)

    def packets(self, count: int) -> list[bytes]:
        """``count`` SRTP video packets of 1100 bytes of payload, as a browser sends them."""
        out = []
        for _ in range(count):
            seq = self.seq
            self.seq += 1
            payload = os.urandom(1100)
            extensions = [(4, b"1")]
            if self.network:
                # a VP8 frame per packet (RFC 7741 §4.2: S, 15-bit picture id, TL0PICIDX,
                # TID cycling 0 2 1 2), the first a keyframe (payload header P bit clear)
                tid = (0, 2, 1, 2)[seq % 4]
                descriptor = bytes(
                    (0x90, 0xE0, 0x80 | (seq >> 8) & 0x7F, seq & 0xFF, seq // 4 & 0xFF, tid << 6)
                )
                keyframe, self.keyframe = self.keyframe, False
                frame = (b"\x10\x00\x00\x9d\x01\x2a" if keyframe else b"\x11") + payload[:1000]
                payload = descriptor + frame
                extensions.append((3, (seq & 0xFFFF).to_bytes(2, "big")))
            rtp = build_rtp_packet(
                payload_type=96,
                sequence_number=seq & 0xFFFF,
                timestamp=seq * 3000,
                ssrc=5,
                payload=payload,
                extensions=extensions,
            )
            out.append(self.tx.protect(rtp))
        return out

    def forward(self, packets: list[bytes], idle: float = 0.0) -> float:
        """Feed ``packets`` to the server as datagrams, ``idle`` seconds apart; CPU µs per
        packet (with ``idle``, this includes the sleep's own system calls)."""
        server, addr = self.server, self.addr
        start = time.process_time()
        for data in packets:
            server.datagram_received(None, data, addr)  # type: ignore[arg-type]
            if idle:
                time.sleep(idle)
        return (time.process_time() - start) / len(packets) * 1e6


def _instructions(consumers: int, network: bool) -> None:
    """Run this script under callgrind for two lengths; print instructions per forward."""
    counts = []
    lengths = (200, 600)
    for length in lengths:
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={tmp}/out",
                    sys.executable,
                    __file__,
                    "--consumers",
                    str(consumers),
                    "--forward-only",
                    str(length),
                    *(["--network"] if network else []),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            raise SystemExit(f"callgrind printed no count:\n{run.stderr}")
        counts.append(int(found.group(1)))
    per_forward = (counts[1] - counts[0]) / ((lengths[1] - lengths[0]) * max(1, consumers))
    print(
        f"user-space instructions per forwarded packet with {consumers} consumers"
        f"{' (transport-cc, simulcast, RTX)' if network else ''} "
        f"(callgrind, {lengths[1] - lengths[0]} packets): {per_forward:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consumers", type=int, default=20)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument(
        "--idle-ms",
        type=float,
        default=9.0,
        help="also forward with this idle time between packets (cold caches, as a real "
        "server waiting for the next packet); 0 skips it",
    )
    parser.add_argument(
        "--network",
        action="store_true",
        help="transport-cc both ways, 3-layer VP8 simulcast, RTX (see the docstring)",
    )
    parser.add_argument("--forward-only", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        _instructions(args.consumers, args.network)
        return
    bench = _Bench(args.consumers, args.network)
    if args.forward_only:  # under callgrind: set up, then forward this many packets
        bench.connect_consumers()
        bench.forward(bench.packets(args.forward_only))
        return
    receive = bench.forward(bench.packets(args.packets))
    bench.connect_consumers()
    total = bench.forward(bench.packets(args.packets // 10))
    per_consumer = (total - receive) / args.consumers
    print(
        f"receive path: {receive:.1f} µs per packet; per consumer (rewrite, protect, send): "
        f"{per_consumer:.1f} µs; per forwarded packet with {args.consumers} consumers: "
        f"{total / args.consumers:.1f} µs"
    )
    if args.idle_ms:
        cold = bench.forward(bench.packets(300), idle=args.idle_ms / 1000)
        print(
            f"with {args.idle_ms:g} ms idle between packets: {cold / args.consumers:.1f} µs "
            "per forwarded packet (cold caches, and the sleep's wake-up)"
        )


if __name__ == "__main__":
    main()
