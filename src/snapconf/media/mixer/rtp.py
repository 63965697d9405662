"""The little RTP the mixer needs on its own (it does not depend on the SFU's ``rtp`` package).

- :func:`pack_header`: the fixed 12-byte header of RFC 3550 §5.1, no CSRC, no extension.
- :func:`parse_audio_packet`: the fields an input needs from a whole RTP packet, with the
  RFC 6464 client-to-mixer audio level found in an RFC 8285 header extension.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!BBHII")
"""V=2 P X CC | M PT | sequence number | timestamp | SSRC (RFC 3550 §5.1)."""


def pack_header(marker: bool, payload_type: int, seq: int, timestamp: int, ssrc: int) -> bytes:
    """A 12-byte RTP header, version 2, no padding, extension or CSRC."""
    return HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, seq, timestamp, ssrc)


class AudioPacket(NamedTuple):
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    audio_level: int | None
    """RFC 6464 §3 level, 0..127 meaning -0..-127 dBov, if the extension was present."""


def parse_audio_packet(data: bytes, audio_level_id: int | None = None) -> AudioPacket:
    """Parse an RTP packet; ``ValueError`` with an exact message if it is malformed.

    ``audio_level_id`` is the negotiated extension id of
    ``urn:ietf:params:rtp-hdrext:ssrc-audio-level`` (RFC 6464), looked for in one-byte
    (``0xBEDE``) and two-byte (``0x100x``) RFC 8285 extension blocks.
    """
    if len(data) < 12:
        raise ValueError("RTP packet is shorter than its 12-byte header")
    b0, b1, seq, timestamp, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError(f"RTP version is {b0 >> 6}, expected 2")
    pos = 12 + 4 * (b0 & 0x0F)
    end = len(data)
    if b0 & 0x20:  # padding: the last byte counts the padding bytes (RFC 3550 §5.1)
        pad = data[-1]
        if pad == 0 or pad > end - pos:
            raise ValueError("RTP padding length is invalid")
        end -= pad
    level: int | None = None
    if b0 & 0x10:
        if pos + 4 > end:
            raise ValueError("RTP header extension is truncated")
        profile, words = struct.unpack_from("!HH", data, pos)
        ext_start = pos + 4
        pos = ext_start + 4 * words
        if pos > end:
            raise ValueError("RTP header extension is truncated")
        if audio_level_id is not None:
            level = _find_level(data, ext_start, pos, profile, audio_level_id)
    if pos > end:
        raise ValueError("RTP CSRC list is truncated")
    return AudioPacket(b1 & 0x7F, bool(b1 & 0x80), seq, timestamp, ssrc, data[pos:end], level)


def _find_level(data: bytes, start: int, stop: int, profile: int, wanted: int) -> int | None:
    i = start
    if profile == 0xBEDE:  # one-byte header elements (RFC 8285 §4.2)
        while i < stop:
            b = data[i]
            if b == 0:  # padding
                i += 1
                continue
            ext_id, length = b >> 4, (b & 0x0F) + 1
            if ext_id == 15:
                return None
            if i + 1 + length > stop:
                raise ValueError("RTP header extension element is truncated")
            if ext_id == wanted:
                return data[i + 1] & 0x7F
            i += 1 + length
    elif profile >> 4 == 0x100:  # two-byte header elements (RFC 8285 §4.3)
        while i < stop:
            if data[i] == 0:
                i += 1
                continue
            if i + 2 > stop:
                raise ValueError("RTP header extension element is truncated")
            ext_id, length = data[i], data[i + 1]
            if i + 2 + length > stop:
                raise ValueError("RTP header extension element is truncated")
            if ext_id == wanted and length >= 1:
                return data[i + 2] & 0x7F
            i += 2 + length
    return None
