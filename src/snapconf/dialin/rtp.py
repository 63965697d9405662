"""Plain RTP sessions with phones (RFC 3550), symmetric RTP and RFC 4733 DTMF.

One :class:`RtpSession` per call: an RTP socket on an even port from the configured range and
RTCP on the odd port above it (RFC 3550 section 11). Media is sent to the address the SDP gave
until the first packet arrives, then to that packet's source (symmetric RTP, RFC 4961), which
is what gets calls through NATs. Everything from ``datagram_received`` to the callbacks is
synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from snapconf.clock import Clock

__all__ = [
    "DtmfReceiver",
    "PortAllocator",
    "RtpHeader",
    "RtpSession",
    "RtpStats",
    "parse_rtp_header",
]

log = logging.getLogger(__name__)

DTMF_EVENTS = "0123456789*#ABCD"
"""RFC 4733 section 3.2: events 0-15 in this order."""


@dataclass(frozen=True)
class RtpHeader:
    """The fixed RTP header fields (RFC 3550 section 5.1) and where the payload is."""

    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload_offset: int
    payload_end: int


def parse_rtp_header(data: bytes) -> RtpHeader:
    """Parse the fixed header, CSRCs, extension and padding; raise ``ValueError`` if bad."""
    if len(data) < 12:
        raise ValueError("RTP packet is shorter than 12 bytes")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if b0 >> 6 != 2:
        raise ValueError("RTP version is not 2")
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if len(data) < offset + 4:
            raise ValueError("RTP extension header is truncated")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:
        if end == 0 or data[-1] == 0:
            raise ValueError("RTP padding length is zero")
        end -= data[-1]
    if offset > end:
        raise ValueError("RTP header is longer than the packet")
    return RtpHeader(bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc, offset, end)


class DtmfReceiver:
    """RFC 4733 telephone-event decoder: one digit per event, at its end packet.

    The end packet is sent three times (section 2.5.1.4); repeats carry the event's timestamp
    and are dropped. The timestamps of the last few reported events are remembered, so a late
    repeat still counts as one even if the next event's packets came in between (a sender
    whose events overlap). A packet with the marker bit starts a new event (section 2.5.1.2)
    even on a timestamp already seen (a replayed capture).
    """

    HISTORY = 8

    def __init__(self, on_digit: Callable[[str], None]) -> None:
        self._on_digit = on_digit
        self._reported: deque[int] = deque(maxlen=self.HISTORY)

    def receive(self, marker: bool, timestamp: int, payload: bytes) -> None:
        if len(payload) < 4:
            return
        event, flags = payload[0], payload[1]
        if marker and timestamp in self._reported:
            self._reported.remove(timestamp)
        if not flags & 0x80 or timestamp in self._reported:
            return
        self._reported.append(timestamp)
        if event < len(DTMF_EVENTS):
            self._on_digit(DTMF_EVENTS[event])


def parse_dtmf_relay(body: bytes) -> str | None:
    """The digit of a SIP INFO ``application/dtmf-relay`` body (``Signal=5\\r\\nDuration=160``)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal":
            value = value.strip()
            if len(value) == 1 and value.upper() in DTMF_EVENTS:
                return value.upper()
            if value.isdigit() and int(value) < len(DTMF_EVENTS):
                return DTMF_EVENTS[int(value)]
    return None


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
class RtpStats:
    """Counters of one session (jitsi-videobridge style: in, out, dropped by reason)."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0
    dropped_malformed: int = 0
    dropped_unknown_pt: int = 0
    dropped_foreign_ssrc: int = 0
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
        except Exception:  # one bad packet never stops the session
            log.exception("RTP handler failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


def _factory(endpoint: _Endpoint) -> Callable[[], _Endpoint]:
    return lambda: endpoint


AudioCallback = Callable[[int, int, int, bytes], None]


class RtpSession:
    """RTP + RTCP sockets of one call.

    ``on_audio(payload_type, seq, timestamp, payload)`` gets audio packets of ``audio_pt``;
    ``on_digit(digit)`` gets RFC 4733 digits of ``dtmf_pt``. :meth:`send` stamps payloads with
    the session's SSRC, sequence number and a timestamp that follows the clock across pauses.
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
        on_audio: AudioCallback,
        on_digit: Callable[[str], None],
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
        self.on_audio = on_audio
        self.dtmf = DtmfReceiver(on_digit)
        self.stats = RtpStats()
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
        if self._remote_ssrc is not None and h.ssrc != self._remote_ssrc and self.latched and (
            addr != self.remote
        ):
            self.stats.dropped_foreign_ssrc += 1
            return
        if not self.latched:
            # RFC 4961 symmetric RTP: answer to where the media really comes from
            self.latched = True
            self.remote = addr
            self.remote_rtcp = (addr[0], addr[1] + 1)
        self._remote_ssrc = h.ssrc
        self.stats.packets_in += 1
        self.stats.bytes_in += len(data)
        self.last_received = self.clock.now()
        self._track_seq(h.seq)
        payload = data[h.payload_offset : h.payload_end]
        if h.payload_type == self.audio_pt:
            self.on_audio(h.payload_type, h.seq, h.timestamp, payload)
        elif self.dtmf_pt is not None and h.payload_type == self.dtmf_pt:
            self.stats.dtmf_packets += 1
            self.dtmf.receive(h.marker, h.timestamp, payload)
        elif h.payload_type == 13:  # comfort noise (RFC 3389): nothing to do
            pass
        else:
            self.stats.dropped_unknown_pt += 1

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

    def send(self, payload: bytes, samples: int, payload_type: int | None = None,
             marker: bool = False) -> None:
        """Send one payload covering ``samples`` RTP clock ticks."""
        if self.closed or self._rtp is None or self._rtp.transport is None or not self.remote:
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
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, self._seq, self._ts, self.ssrc
        )
        packet = header + payload
        self._rtp.transport.sendto(packet, self.remote)
        self.stats.packets_out += 1
        self.stats.bytes_out += len(payload)

    def forward(self, packet: bytes) -> None:
        """Send an RTP packet built by the bridge, re-stamped into this session's stream."""
        try:
            h = parse_rtp_header(packet)
        except ValueError:
            self.stats.dropped_malformed += 1
            return
        samples = self.clock_rate // 50
        self.send(packet[h.payload_offset : h.payload_end], samples, h.payload_type, h.marker)

    # -- RTCP ------------------------------------------------------------------------------

    def build_rtcp(self) -> bytes:
        """A sender report (or receiver report if we sent nothing) with one report block
        about the remote source, and an SDES CNAME (RFC 3550 sections 6.4 and 6.5)."""
        blocks = b""
        if self._remote_ssrc is not None and self._first_seq is not None:
            ext_highest = (self._cycles << 16) | self._highest_seq
            expected = ext_highest - self._first_seq + 1
            lost = max(0, min(expected - self.stats.packets_in, 0x7FFFFF))
            blocks = struct.pack(
                "!IIIIII", self._remote_ssrc, lost, ext_highest & 0xFFFFFFFF, 0, 0, 0
            )
        count = 1 if blocks else 0
        if self.stats.packets_out:
            ntp = time.time() + 2208988800
            ntp_hi = int(ntp) & 0xFFFFFFFF
            ntp_lo = int((ntp % 1) * (1 << 32)) & 0xFFFFFFFF
            body = struct.pack(
                "!IIIIII", self.ssrc, ntp_hi, ntp_lo, self._ts,
                self.stats.packets_out & 0xFFFFFFFF, self.stats.bytes_out & 0xFFFFFFFF,
            ) + blocks
            pt = 200
        else:
            body = struct.pack("!I", self.ssrc) + blocks
            pt = 201
        report = struct.pack("!BBH", 0x80 | count, pt, (len(body) + 4) // 4 - 1) + body
        cname = b"snapconf"
        chunk = struct.pack("!IBB", self.ssrc, 1, len(cname)) + cname + b"\x00"
        chunk += b"\x00" * (-len(chunk) % 4)
        sdes = struct.pack("!BBH", 0x81, 202, (len(chunk) + 4) // 4 - 1) + chunk
        return report + sdes

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
        for ep in (self._rtp, self._rtcp):
            if ep is not None and ep.transport is not None:
                ep.transport.close()
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        if self._allocator is not None:
            self._allocator.release(self.port)
