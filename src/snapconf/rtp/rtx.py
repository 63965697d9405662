"""RTP retransmission payload format: wrap and unwrap RTX packets (RFC 4588).

An RTX packet (RFC 4588 §4) is sent on its own SSRC (session multiplexing, associated by
``a=ssrc-group:FID`` or by ``rid``/``repaired-rid``) with its own payload type (associated
by ``a=fmtp:<rtx-pt> apt=<media-pt>``) and its own sequence number space. Its payload starts
with the 2-byte original sequence number (OSN) followed by the original payload; timestamp,
marker bit, CSRCs and header extensions are those of the original packet.

Pure functions, no I/O: the forwarding path calls them once per packet.
"""

from __future__ import annotations

import struct

from snapconf.rtp.packet import FIXED_HEADER, FIXED_HEADER_LENGTH, RtpHeader

_OSN = struct.Struct("!H")


def rtx_prefix(original_sequence: int) -> bytes:
    """The 2-byte OSN that starts an RTX payload (RFC 4588 §4)."""
    return _OSN.pack(original_sequence & 0xFFFF)


def unwrap_rtx(data: bytes, header: RtpHeader, payload_type: int, ssrc: int) -> bytes:
    """The original packet carried by the RTX packet ``data`` (RFC 4588 §4).

    ``header`` is ``parse_rtp_header(data)``. The OSN becomes the sequence number,
    ``payload_type`` and ``ssrc`` are those of the media stream (from ``a=fmtp`` ``apt=``
    and the ``ssrc-group`` FID / rid); timestamp, marker, CSRCs and header extensions are
    kept; the payload is what follows the OSN, and the RTX packet's padding is removed.

    Raises ``ValueError("RTX packet has no original sequence number")`` for a payload
    shorter than 2 bytes (padding-only probes are caught earlier by the caller).
    """
    start = header.payload_offset
    end = len(data) - header.padding_length
    if end - start < 2:
        raise ValueError("RTX packet has no original sequence number")
    osn = (data[start] << 8) | data[start + 1]
    fixed = FIXED_HEADER.pack(
        data[0] & 0xDF,  # padding removed: clear P, keep V, X and CC
        (data[1] & 0x80) | (payload_type & 0x7F),
        osn,
        header.timestamp,
        ssrc,
    )
    # slices and one concatenation: fewer instructions in CPython than a memoryview join
    if start == FIXED_HEADER_LENGTH:
        return fixed + data[start + 2 : end]
    return fixed + data[FIXED_HEADER_LENGTH:start] + data[start + 2 : end]


def wrap_rtx(
    data: bytes, header: RtpHeader, payload_type: int, sequence_number: int, ssrc: int
) -> bytes:
    """The RTX packet that retransmits the media packet ``data`` (RFC 4588 §4).

    ``header`` is ``parse_rtp_header(data)``; ``payload_type``, ``sequence_number`` and
    ``ssrc`` are those of the RTX stream. The original sequence number is written as the
    OSN before the payload; timestamp, marker, CSRCs and header extensions are kept; the
    original padding is not carried (an RTX packet pads itself if it needs to).
    """
    start = header.payload_offset
    end = len(data) - header.padding_length
    fixed = FIXED_HEADER.pack(
        data[0] & 0xDF,
        (data[1] & 0x80) | (payload_type & 0x7F),
        sequence_number & 0xFFFF,
        header.timestamp,
        ssrc,
    )
    return b"".join(
        (fixed, data[FIXED_HEADER_LENGTH:start], _OSN.pack(header.sequence_number), data[start:end])
    )
