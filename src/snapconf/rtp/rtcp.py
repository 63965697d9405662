"""RTCP packets: the ones an SFU reads, rewrites and sends.

Each packet type is a small dataclass with ``parse`` (from its body) and ``__bytes__``;
:func:`parse_rtcp` splits a compound packet (RFC 3550 §6.1). Covered: SR and RR
(RFC 3550 §6.4), SDES CNAME (§6.5), BYE (§6.6), generic NACK (RFC 4585 §6.2.1),
PLI (RFC 4585 §6.3.1), FIR (RFC 5104 §4.3.1), REMB (draft-alvestrand-rmcat-remb) and
transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1, in
:mod:`snapconf.rtp.twcc`). Other types (APP, XR) are kept as :class:`RtcpUnknown` so a
compound packet round-trips.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from snapconf.rtp.twcc import RTPFB_TRANSPORT_CC, RtcpTransportCc

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_RTPFB = 205
RTCP_PSFB = 206

RTPFB_NACK = 1
PSFB_PLI = 1
PSFB_FIR = 4
PSFB_AFB = 15

_HEADER = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IIIII")


def _header(count: int, packet_type: int, body_length: int) -> bytes:
    if body_length % 4:
        raise ValueError("RTCP body length is not a multiple of 4")
    return _HEADER.pack(0x80 | count, packet_type, body_length // 4)


@dataclass(slots=True)
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    @classmethod
    def parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, pos)
        packets_lost = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, packets_lost, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost)).to_bytes(3, "big", signed=True)
        return _REPORT_BLOCK.pack(
            self.ssrc,
            self.fraction_lost,
            lost,
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )


def _parse_reports(data: bytes, pos: int, count: int, end: int, name: str) -> list[ReportBlock]:
    if pos + 24 * count > end:
        raise ValueError(f"RTCP {name} report blocks are truncated")
    return [ReportBlock.parse(data, pos + 24 * i) for i in range(count)]


@dataclass(slots=True)
class RtcpSenderReport:
    """Sender report (RFC 3550 §6.4.1)."""

    packet_type: ClassVar[int] = RTCP_SR
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpSenderReport:
        if len(body) < 24:
            raise ValueError("RTCP sender report length is less than 28 bytes")
        ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body, 0)
        reports = _parse_reports(body, 24, count, len(body), "sender report")
        return cls(ssrc, (ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets, reports)

    def __bytes__(self) -> bytes:
        body = struct.pack(
            "!IIIIII",
            self.ssrc,
            self.ntp_timestamp >> 32,
            self.ntp_timestamp & 0xFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        ) + b"".join(bytes(r) for r in self.reports)
        return _header(len(self.reports), RTCP_SR, len(body)) + body


@dataclass(slots=True)
class RtcpReceiverReport:
    """Receiver report (RFC 3550 §6.4.2)."""

    packet_type: ClassVar[int] = RTCP_RR
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpReceiverReport:
        if len(body) < 4:
            raise ValueError("RTCP receiver report length is less than 8 bytes")
        (ssrc,) = struct.unpack_from("!I", body, 0)
        return cls(ssrc, _parse_reports(body, 4, count, len(body), "receiver report"))

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(bytes(r) for r in self.reports)
        return _header(len(self.reports), RTCP_RR, len(body)) + body


@dataclass(slots=True)
class RtcpSdes:
    """Source description with one CNAME item per chunk (RFC 3550 §6.5)."""

    packet_type: ClassVar[int] = RTCP_SDES
    cnames: dict[int, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpSdes:
        cnames: dict[int, str] = {}
        pos = 0
        for _ in range(count):
            if pos + 4 > len(body):
                raise ValueError("RTCP SDES chunk is truncated")
            (ssrc,) = struct.unpack_from("!I", body, pos)
            pos += 4
            while True:
                if pos >= len(body):
                    raise ValueError("RTCP SDES item is truncated")
                item_type = body[pos]
                if item_type == 0:
                    pos += 4 - pos % 4  # end of chunk, pad to 32 bits
                    break
                if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                    raise ValueError("RTCP SDES item is truncated")
                item_len = body[pos + 1]
                if item_type == 1:
                    cnames[ssrc] = body[pos + 2 : pos + 2 + item_len].decode("utf-8", "replace")
                pos += 2 + item_len
        return cls(cnames)

    def __bytes__(self) -> bytes:
        chunks = b""
        for ssrc, cname in self.cnames.items():
            raw = cname.encode()[:255]
            chunk = struct.pack("!IBB", ssrc, 1, len(raw)) + raw + b"\x00"
            chunks += chunk + b"\x00" * (-len(chunk) % 4)
        return _header(len(self.cnames), RTCP_SDES, len(chunks)) + chunks


@dataclass(slots=True)
class RtcpBye:
    """Goodbye (RFC 3550 §6.6); the optional reason is not kept."""

    packet_type: ClassVar[int] = RTCP_BYE
    sources: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpBye:
        if len(body) < 4 * count:
            raise ValueError("RTCP BYE sources are truncated")
        return cls(list(struct.unpack_from(f"!{count}I", body, 0)))

    def __bytes__(self) -> bytes:
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        return _header(len(self.sources), RTCP_BYE, len(body)) + body


@dataclass(slots=True)
class RtcpNack:
    """Generic NACK (RFC 4585 §6.2.1): lost sequence numbers of ``media_ssrc``."""

    packet_type: ClassVar[int] = RTCP_RTPFB
    sender_ssrc: int
    media_ssrc: int
    lost: list[int] = field(default_factory=list)

    @classmethod
    def parse_fci(cls, sender: int, media: int, fci: bytes) -> RtcpNack:
        if len(fci) % 4:
            raise ValueError("RTCP NACK feedback is truncated")
        lost: list[int] = []
        for pos in range(0, len(fci), 4):
            pid, blp = struct.unpack_from("!HH", fci, pos)
            lost.append(pid)
            lost.extend((pid + i + 1) & 0xFFFF for i in range(16) if blp & (1 << i))
        return cls(sender, media, lost)

    def __bytes__(self) -> bytes:
        fci = b""
        lost = sorted(set(self.lost))
        i = 0
        while i < len(lost):
            pid, blp = lost[i], 0
            i += 1
            while i < len(lost) and 0 < (lost[i] - pid) & 0xFFFF <= 16:
                blp |= 1 << (((lost[i] - pid) & 0xFFFF) - 1)
                i += 1
            fci += struct.pack("!HH", pid, blp)
        body = struct.pack("!II", self.sender_ssrc, self.media_ssrc) + fci
        return _header(RTPFB_NACK, RTCP_RTPFB, len(body)) + body


@dataclass(slots=True)
class RtcpPli:
    """Picture loss indication (RFC 4585 §6.3.1)."""

    packet_type: ClassVar[int] = RTCP_PSFB
    sender_ssrc: int
    media_ssrc: int

    def __bytes__(self) -> bytes:
        return _header(PSFB_PLI, RTCP_PSFB, 8) + struct.pack(
            "!II", self.sender_ssrc, self.media_ssrc
        )


@dataclass(slots=True)
class RtcpFir:
    """Full intra request (RFC 5104 §4.3.1); one FCI entry per target SSRC."""

    packet_type: ClassVar[int] = RTCP_PSFB
    sender_ssrc: int
    entries: list[tuple[int, int]] = field(default_factory=list)  # (ssrc, seq nr)

    @classmethod
    def parse_fci(cls, sender: int, fci: bytes) -> RtcpFir:
        if len(fci) % 8:
            raise ValueError("RTCP FIR feedback is truncated")
        entries = [(struct.unpack_from("!I", fci, p)[0], fci[p + 4]) for p in range(0, len(fci), 8)]
        return cls(sender, entries)

    def __bytes__(self) -> bytes:
        fci = b"".join(struct.pack("!IB3x", s, n & 0xFF) for s, n in self.entries)
        body = struct.pack("!II", self.sender_ssrc, 0) + fci
        return _header(PSFB_FIR, RTCP_PSFB, len(body)) + body


@dataclass(slots=True)
class RtcpRemb:
    """Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb §2.2)."""

    packet_type: ClassVar[int] = RTCP_PSFB
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int] = field(default_factory=list)

    @classmethod
    def parse_fci(cls, sender: int, fci: bytes) -> RtcpRemb:
        if len(fci) < 8 or fci[:4] != b"REMB":
            raise ValueError("RTCP REMB feedback is malformed")
        count = fci[4]
        exp = fci[5] >> 2
        mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
        if len(fci) < 8 + 4 * count:
            raise ValueError("RTCP REMB feedback is truncated")
        ssrcs = list(struct.unpack_from(f"!{count}I", fci, 8))
        return cls(sender, mantissa << exp, ssrcs)

    def __bytes__(self) -> bytes:
        exp, mantissa = 0, self.bitrate
        while mantissa >= 1 << 18:
            mantissa >>= 1
            exp += 1
        fci = (
            b"REMB"
            + bytes((len(self.ssrcs), (exp << 2) | (mantissa >> 16), (mantissa >> 8) & 0xFF))
            + bytes((mantissa & 0xFF,))
            + struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs)
        )
        body = struct.pack("!II", self.sender_ssrc, 0) + fci
        return _header(PSFB_AFB, RTCP_PSFB, len(body)) + body


@dataclass(slots=True)
class RtcpUnknown:
    """Any other RTCP packet, kept whole so that a compound packet round-trips."""

    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        return _header(self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = (
    RtcpSenderReport
    | RtcpReceiverReport
    | RtcpSdes
    | RtcpBye
    | RtcpNack
    | RtcpPli
    | RtcpFir
    | RtcpRemb
    | RtcpTransportCc
    | RtcpUnknown
)


def _parse_feedback(packet_type: int, fmt: int, body: bytes) -> RtcpPacket:
    if len(body) < 8:
        raise ValueError("RTCP feedback length is less than 12 bytes")
    sender, media = struct.unpack_from("!II", body, 0)
    fci = body[8:]
    if packet_type == RTCP_RTPFB and fmt == RTPFB_NACK:
        return RtcpNack.parse_fci(sender, media, fci)
    if packet_type == RTCP_RTPFB and fmt == RTPFB_TRANSPORT_CC:
        return RtcpTransportCc.parse_fci(sender, media, fci)
    if packet_type == RTCP_PSFB:
        if fmt == PSFB_PLI:
            return RtcpPli(sender, media)
        if fmt == PSFB_FIR:
            return RtcpFir.parse_fci(sender, fci)
        if fmt == PSFB_AFB and fci[:4] == b"REMB":
            return RtcpRemb.parse_fci(sender, fci)
    return RtcpUnknown(packet_type, fmt, body)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP packet (RFC 3550 §6.1).

    Raises :class:`ValueError` with an exact message on truncation or a bad version.
    """
    packets: list[RtcpPacket] = []
    pos = 0
    if len(data) < 4:
        raise ValueError("RTCP packet length is less than 4 bytes")
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("RTCP packet header is truncated")
        b0, packet_type, words = _HEADER.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ValueError("RTCP packet has invalid version")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise ValueError("RTCP packet length exceeds the data")
        body = data[pos + 4 : end]
        if b0 & 0x20:  # padding (only allowed on the last packet)
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise ValueError("RTCP packet padding length is invalid")
            body = body[: -body[-1]]
        count = b0 & 0x1F
        packet: RtcpPacket
        if packet_type == RTCP_SR:
            packet = RtcpSenderReport.parse(count, body)
        elif packet_type == RTCP_RR:
            packet = RtcpReceiverReport.parse(count, body)
        elif packet_type == RTCP_SDES:
            packet = RtcpSdes.parse(count, body)
        elif packet_type == RTCP_BYE:
            packet = RtcpBye.parse(count, body)
        elif packet_type in (RTCP_RTPFB, RTCP_PSFB):
            packet = _parse_feedback(packet_type, count, body)
        else:
            packet = RtcpUnknown(packet_type, count, body)
        packets.append(packet)
        pos = end
    return packets


def serialize_rtcp(packets: list[RtcpPacket]) -> bytes:
    """Concatenate packets into one compound RTCP packet."""
    return b"".join(bytes(p) for p in packets)
