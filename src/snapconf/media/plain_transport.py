"""Plain RTP transport: RTP and RTCP over UDP with no ICE, DTLS or SRTP (RFC 3550).

The sibling of :class:`~snapconf.media.transport.WebRtcTransport` for peers that speak plain
RTP, as mediasoup's PlainTransport is beside its WebRtcTransport: a phone call owns one. RTP
uses an even port from a configured range and RTCP the odd port above it (RFC 3550 section
11). Media goes to the address the SDP gave until the first packet arrives, then to that
packet's source (symmetric RTP, RFC 4961), which is what gets calls through NATs.

Each received datagram is parsed once, by :func:`snapconf.rtp.packet.parse_rtp_header`, and
the packet and its header go on unchanged: audio of the negotiated payload type to the
:attr:`PlainTransport.receiver` (the participant's :class:`~snapconf.media.router.Producer`,
which forwards it to browsers and into the mix), telephone events to ``on_dtmf``. What the
mixer sends back is a payload that :meth:`PlainTransport.send` stamps with the transport's
own SSRC, sequence number and timestamp: one header made per packet sent. Everything from
``datagram_received`` to the receiver is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from snapconf.clock import Clock
from snapconf.rtp.packet import FIXED_HEADER, RtpHeader, parse_rtp_header
from snapconf.rtp.rtcp import (
    ReportBlock,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    serialize_rtcp,
)

__all__ = ["PlainTransport", "PlainTransportStats", "PortAllocator", "RtpReceiver"]

log = logging.getLogger(__name__)

#: RFC 3389 comfort noise: accepted and ignored
COMFORT_NOISE_PT = 13
#: seconds between 1900 (NTP) and 1970 (Unix) epochs
_NTP_EPOCH = 2208988800


class RtpReceiver(Protocol):
    """Where a transport's audio goes (a :class:`~snapconf.media.router.Producer`)."""

    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None: ...


DtmfCallback = Callable[[bool, int, bytes], None]
"""``on_dtmf(marker, timestamp, payload)`` for each packet of the telephone-event type."""


class PortAllocator:
    """Hands out even RTP ports from ``[low, high]`` round-robin, never one in use."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low + (low & 1)
        self.high = high
        self._next = self.low
        self.in_use: set[int] = set()

    def candidates(self) -> list[int]:
        ports = list(range(self.low, self.high, 2))
        start = (self._next - self.low) // 2
        ordered = ports[start:] + ports[:start]
        return [p for p in ordered if p not in self.in_use]

    def take(self, port: int) -> None:
        self.in_use.add(port)
        self._next = port + 2 if port + 2 < self.high else self.low

    def release(self, port: int) -> None:
        self.in_use.discard(port)


@dataclass
class PlainTransportStats:
    """Counters of one transport (in, out, dropped by reason)."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0
    dropped_malformed: int = 0
    dropped_unknown_pt: int = 0
    dropped_foreign_ssrc: int = 0
    #: audio that arrived before anything received it (the caller still in the IVR)
    dropped_no_receiver: int = 0
    #: mix packets not sent while the transport's output is held (a prompt is playing)
    dropped_output_held: int = 0
    dtmf_packets: int = 0


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_data: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_data = on_data
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._on_data(data, addr)
        except Exception:  # one bad packet never stops the transport
            log.exception("RTP handler failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


def _factory(endpoint: _Endpoint) -> Callable[[], _Endpoint]:
    return lambda: endpoint


class PlainTransport:
    """The RTP and RTCP sockets of one plain RTP peer, with one audio stream each way.

    Received audio of ``audio_pt`` goes to :attr:`receiver` (``dropped_no_receiver`` while it
    is None); packets of ``dtmf_pt`` go to ``on_dtmf``. :meth:`send` stamps payloads with the
    transport's SSRC, sequence number and a timestamp that follows the clock across pauses;
    :meth:`send_mix` does the same unless :attr:`output_held`.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        clock_rate: int,
        audio_pt: int,
        dtmf_pt: int | None,
        remote: tuple[str, int] | None,
        remote_rtcp: tuple[str, int] | None,
        on_dtmf: DtmfCallback,
        rtcp_interval: float = 5.0,
    ) -> None:
        self.clock = clock
        self.clock_rate = clock_rate
        self.audio_pt = audio_pt
        self.dtmf_pt = dtmf_pt
        #: where media goes; None until known (an INVITE without SDP: the ACK's answer)
        self.remote = remote
        self.remote_rtcp = remote_rtcp
        self.latched = False
        #: the audio's destination (set when the peer joins a conference)
        self.receiver: RtpReceiver | None = None
        #: mix packets are dropped while True (the owner plays something else)
        self.output_held = False
        self.on_dtmf = on_dtmf
        self.stats = PlainTransportStats()
        self.rtcp_interval = rtcp_interval
        self.ssrc = random.getrandbits(32)
        self.port = 0
        self.last_received: float | None = None
        self.started_at = clock.now()
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._last_send: float | None = None
        self._remote_ssrc: int | None = None
        self._highest_seq = 0
        self._first_seq: int | None = None
        self._cycles = 0
        self._rtp: _Endpoint | None = None
        self._rtcp: _Endpoint | None = None
        self._rtcp_task: asyncio.Task[None] | None = None
        self._allocator: PortAllocator | None = None
        self.closed = False

    async def open(self, host: str, allocator: PortAllocator) -> int:
        """Bind RTP and RTCP on the first free even/odd port pair; return the RTP port."""
        loop = asyncio.get_running_loop()
        for port in allocator.candidates():
            rtp = _Endpoint(self._on_rtp)
            try:
                await loop.create_datagram_endpoint(_factory(rtp), local_addr=(host, port))
            except OSError:
                continue
            rtcp = _Endpoint(self._on_rtcp)
            try:
                await loop.create_datagram_endpoint(_factory(rtcp), local_addr=(host, port + 1))
            except OSError:
                assert rtp.transport is not None
                rtp.transport.close()
                continue
            allocator.take(port)
            self._allocator = allocator
            self._rtp, self._rtcp, self.port = rtp, rtcp, port
            self._rtcp_task = asyncio.create_task(self._rtcp_loop())
            return port
        raise OSError("no free RTP port in the configured range")

    # -- receive ---------------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            h = parse_rtp_header(data)
        except ValueError:
            self.stats.dropped_malformed += 1
            return
        if (
            self.latched
            and h.ssrc != self._remote_ssrc
            and self._remote_ssrc is not None
            and addr != self.remote
        ):
            self.stats.dropped_foreign_ssrc += 1
            return
        if not self.latched:
            # RFC 4961 symmetric RTP: answer to where the media really comes from
            self.latched = True
            self.remote = addr
            self.remote_rtcp = (addr[0], addr[1] + 1)
        self._remote_ssrc = h.ssrc
        stats = self.stats
        stats.packets_in += 1
        stats.bytes_in += len(data)
        now = self.clock.now()
        self.last_received = now
        self._track_seq(h.sequence_number)
        pt = h.payload_type
        if pt == self.audio_pt:
            receiver = self.receiver
            if receiver is None:
                stats.dropped_no_receiver += 1
            else:
                receiver.receive_rtp(data, h, now)
        elif pt == self.dtmf_pt:
            stats.dtmf_packets += 1
            end = len(data) - h.padding_length
            self.on_dtmf(h.marker, h.timestamp, data[h.payload_offset : end])
        elif pt != COMFORT_NOISE_PT:
            stats.dropped_unknown_pt += 1

    def _track_seq(self, seq: int) -> None:
        if self._first_seq is None:
            self._first_seq = seq
            self._highest_seq = seq
            return
        if 0 < (seq - self._highest_seq) & 0xFFFF < 0x8000:
            if seq < self._highest_seq:
                self._cycles += 1
            self._highest_seq = seq

    def _on_rtcp(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 8 or data[0] >> 6 != 2:
            self.stats.dropped_malformed += 1
            return
        self.stats.rtcp_in += 1
        self.remote_rtcp = addr

    # -- send ------------------------------------------------------------------------------

    def send(
        self, payload: bytes, samples: int, payload_type: int | None = None, marker: bool = False
    ) -> None:
        """Send one payload covering ``samples`` RTP clock ticks."""
        rtp = self._rtp
        if self.closed or rtp is None or rtp.transport is None or not self.remote:
            return
        now = self.clock.now()
        if self._last_send is None:
            marker = True
        else:
            gap = (now - self._last_send) * self.clock_rate
            if gap > 3 * samples:  # a pause: jump the timestamp along with the clock
                self._ts = (self._ts + round(gap / samples) * samples) & 0xFFFFFFFF
                marker = True
            else:
                self._ts = (self._ts + samples) & 0xFFFFFFFF
        self._last_send = now
        self._seq = (self._seq + 1) & 0xFFFF
        pt = self.audio_pt if payload_type is None else payload_type
        header = FIXED_HEADER.pack(
            0x80, (0x80 if marker else 0) | pt, self._seq, self._ts, self.ssrc
        )
        rtp.transport.sendto(header + payload, self.remote)
        self.stats.packets_out += 1
        self.stats.bytes_out += len(payload)

    def send_mix(self, payload: bytes, samples: int, marker: bool) -> None:
        """A packet of the conference's mix (a :class:`~snapconf.media.mixer.PayloadSink`)."""
        if self.output_held:
            self.stats.dropped_output_held += 1
            return
        self.send(payload, samples, None, marker)

    # -- RTCP ------------------------------------------------------------------------------

    def build_rtcp(self) -> bytes:
        """A sender report (or receiver report if we sent nothing) with one report block
        about the remote source, and an SDES CNAME (RFC 3550 sections 6.4 and 6.5)."""
        blocks: list[ReportBlock] = []
        if self._remote_ssrc is not None and self._first_seq is not None:
            ext_highest = (self._cycles << 16) | self._highest_seq
            expected = ext_highest - self._first_seq + 1
            lost = max(0, min(expected - self.stats.packets_in, 0x7FFFFF))
            blocks.append(
                ReportBlock(self._remote_ssrc, 0, lost, ext_highest & 0xFFFFFFFF, 0, 0, 0)
            )
        report: RtcpPacket
        if self.stats.packets_out:
            ntp = time.time() + _NTP_EPOCH
            ntp64 = (int(ntp) & 0xFFFFFFFF) << 32 | int((ntp % 1) * (1 << 32)) & 0xFFFFFFFF
            report = RtcpSenderReport(
                self.ssrc, ntp64, self._ts, self.stats.packets_out, self.stats.bytes_out, blocks
            )
        else:
            report = RtcpReceiverReport(self.ssrc, blocks)
        return serialize_rtcp([report, RtcpSdes({self.ssrc: "snapconf"})])

    async def _rtcp_loop(self) -> None:
        deadline = self.clock.now()
        while not self.closed:
            deadline += self.rtcp_interval
            await self.clock.sleep_until(deadline)
            if self.closed or self._rtcp is None or self._rtcp.transport is None:
                return
            if self.remote_rtcp is None:
                continue
            self._rtcp.transport.sendto(self.build_rtcp(), self.remote_rtcp)
            self.stats.rtcp_out += 1

    def set_format(self, clock_rate: int, audio_pt: int, dtmf_pt: int | None) -> None:
        """The codec the answer settled on (an offer of ours answered in the ACK)."""
        self.clock_rate = clock_rate
        self.audio_pt = audio_pt
        self.dtmf_pt = dtmf_pt

    def update_remote(self, host: str, port: int, rtcp_port: int) -> None:
        """New SDP (a re-INVITE, or the answer in an ACK): use it unless media already
        latched elsewhere."""
        if not self.latched and host not in ("0.0.0.0", "::"):
            self.remote = (host, port)
            self.remote_rtcp = (host, rtcp_port)

    def close(self) -> None:
        """Close both sockets and free the port; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.receiver = None
        for ep in (self._rtp, self._rtcp):
            if ep is not None and ep.transport is not None:
                ep.transport.close()
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        if self._allocator is not None:
            self._allocator.release(self.port)

