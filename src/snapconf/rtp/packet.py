"""RTP fixed header and header extensions: parse once, rewrite cheaply.

Implements the fixed header of RFC 3550 §5.1 and the one-byte and two-byte header
extension forms of RFC 8285 §4.2 and §4.3. Nothing here does I/O or touches asyncio:
the forwarding path calls these functions synchronously once per packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
FIXED_HEADER_LENGTH = 12
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

FIXED_HEADER = struct.Struct("!BBHII")
"""V=2 P X CC | M PT | sequence number | timestamp | SSRC (RFC 3550 §5.1)."""
_FIXED = FIXED_HEADER
_EXT_HEADER = struct.Struct("!HH")


def is_rtcp(data: bytes) -> bool:
    """Tell RTCP from RTP on an rtcp-mux port by payload type (RFC 5761 §4).

    RTCP packet types 192-223 occupy the range that, with the marker bit, would be RTP
    payload types 64-95, which dynamic RTP payload types do not use.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(slots=True)
class RtpHeader:
    """The parsed fixed header of one RTP packet and the location of its parts.

    ``extensions`` maps each header extension id to its value (RFC 8285); the payload
    starts at ``payload_offset`` and ends ``padding_length`` bytes before the packet's end.
    """

    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...] = ()
    extension_profile: int = 0
    extensions: dict[int, bytes] = field(default_factory=dict)
    payload_offset: int = FIXED_HEADER_LENGTH
    padding_length: int = 0


def parse_rtp_header(data: bytes) -> RtpHeader:
    """Parse the fixed header, CSRC list, header extensions and padding of an RTP packet.

    Raises :class:`ValueError` with an exact message for anything that is not a whole,
    well-formed RTP version 2 packet.
    """
    length = len(data)
    if length < FIXED_HEADER_LENGTH:
        raise ValueError("RTP packet length is less than 12 bytes")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
    if b0 >> 6 != RTP_VERSION:
        raise ValueError("RTP packet has invalid version")
    cc = b0 & 0x0F
    pos = FIXED_HEADER_LENGTH + 4 * cc
    if pos > length:
        raise ValueError("RTP packet has truncated CSRC")
    csrcs = struct.unpack_from(f"!{cc}I", data, FIXED_HEADER_LENGTH) if cc else ()
    profile = 0
    extensions: dict[int, bytes] = {}
    if b0 & 0x10:
        if pos + 4 > length:
            raise ValueError("RTP packet has truncated extension header")
        profile, words = _EXT_HEADER.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if end > length:
            raise ValueError("RTP packet has truncated extension")
        extensions = parse_header_extensions(profile, data[pos:end])
        pos = end
    padding = 0
    if b0 & 0x20:
        if length <= pos:
            raise ValueError("RTP packet has padding but no payload")
        padding = data[-1]
        if padding == 0 or pos + padding > length:
            raise ValueError("RTP packet padding length is invalid")
    return RtpHeader(
        payload_type=b1 & 0x7F,
        marker=bool(b1 & 0x80),
        sequence_number=seq,
        timestamp=ts,
        ssrc=ssrc,
        csrcs=csrcs,
        extension_profile=profile,
        extensions=extensions,
        payload_offset=pos,
        padding_length=padding,
    )


def parse_header_extensions(profile: int, block: bytes) -> dict[int, bytes]:
    """Parse the elements of a header extension block (RFC 8285 §4.2, §4.3).

    Unknown profiles (neither one-byte nor two-byte) yield no elements: their contents
    are opaque to us and are not forwarded.
    """
    extensions: dict[int, bytes] = {}
    n = len(block)
    pos = 0
    if profile == ONE_BYTE_PROFILE:
        while pos < n:
            b = block[pos]
            if b == 0:  # padding byte
                pos += 1
                continue
            ext_id = b >> 4
            if ext_id == 15:  # reserved: stop parsing (RFC 8285 §4.2)
                break
            ext_len = (b & 0x0F) + 1
            pos += 1
            if pos + ext_len > n:
                raise ValueError("RTP one-byte header extension is truncated")
            extensions[ext_id] = block[pos : pos + ext_len]
            pos += ext_len
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while pos < n:
            ext_id = block[pos]
            if ext_id == 0:
                pos += 1
                continue
            if pos + 2 > n:
                raise ValueError("RTP two-byte header extension is truncated")
            ext_len = block[pos + 1]
            pos += 2
            if pos + ext_len > n:
                raise ValueError("RTP two-byte header extension is truncated")
            extensions[ext_id] = block[pos : pos + ext_len]
            pos += ext_len
    return extensions


def serialize_header_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """Build a header extension block with its 4-byte header, padded to 32 bits.

    Uses the one-byte form when every id is 1-14 and every value is 1-16 bytes long,
    the two-byte form otherwise (RFC 8285 §4.2, §4.3). Returns ``b""`` for no elements.
    """
    if not elements:
        return b""
    one_byte = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in elements)
    if one_byte:
        body = b"".join(bytes(((i << 4) | (len(v) - 1),)) + v for i, v in elements)
        profile = ONE_BYTE_PROFILE
    else:
        for i, v in elements:
            if not 1 <= i <= 255 or len(v) > 255:
                raise ValueError("RTP header extension id or length out of range")
        body = b"".join(bytes((i, len(v))) + v for i, v in elements)
        profile = TWO_BYTE_PROFILE
    pad = -len(body) % 4
    return _EXT_HEADER.pack(profile, (len(body) + pad) // 4) + body + b"\x00" * pad


def build_rtp_packet(
    *,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
    extensions: list[tuple[int, bytes]] | None = None,
) -> bytes:
    """Serialise an RTP packet without CSRCs or padding (RFC 3550 §5.1)."""
    ext = serialize_header_extensions(extensions or [])
    b0 = 0x80 | (0x10 if ext else 0)
    b1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    return (
        _FIXED.pack(b0, b1, sequence_number & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + ext + payload
    )


def rewrite_rtp_header(
    data: bytes,
    header: RtpHeader,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    extension_block: bytes,
) -> bytes:
    """The header of ``data`` rewritten: new fixed header, same CSRCs, a new extension block.

    The rewritten packet is this followed by ``data[header.payload_offset:]`` (payload and
    padding, unchanged). ``extension_block`` is a whole block as made by
    :func:`serialize_header_extensions` (empty for none). This is the per-consumer step of
    the forwarding path, so the payload is not copied here: a fan-out slices it once.
    """
    b0 = 0x80 | (data[0] & 0x2F) | (0x10 if extension_block else 0)
    fixed = _FIXED.pack(b0, (data[1] & 0x80) | payload_type, sequence_number, timestamp, ssrc)
    if data[0] & 0x0F:
        return fixed + data[FIXED_HEADER_LENGTH : FIXED_HEADER_LENGTH + 4 * (data[0] & 0x0F)] + (
            extension_block
        )
    return fixed + extension_block


def audio_level(value: bytes) -> tuple[bool, int]:
    """Decode an RFC 6464 §3 client-to-mixer audio level: (voice activity, -dBov 0..127)."""
    if not value:
        raise ValueError("RTP audio level extension is empty")
    return bool(value[0] & 0x80), value[0] & 0x7F
