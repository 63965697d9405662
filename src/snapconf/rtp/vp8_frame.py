"""The VP8 frame header of a keyframe: its picture size (RFC 6386 §9.1).

Pure parsing: the forwarder reads it from the first packet of each simulcast keyframe, so
that the allocator knows each layer's resolution.
"""

from __future__ import annotations


def vp8_keyframe_size(payload: bytes, offset: int) -> tuple[int, int] | None:
    """(width, height) of the keyframe whose VP8 payload starts at ``offset`` of ``payload``.

    RFC 6386 §9.1: a keyframe's 3-byte frame tag (bit 0 clear) is followed by the start
    code 9d 01 2a and two little-endian 16-bit fields whose low 14 bits are the width and
    the height (the top 2 bits are a scaling hint). None when this is not such a header.
    """
    if len(payload) < offset + 10 or payload[offset] & 0x01:
        return None
    if payload[offset + 3 : offset + 6] != b"\x9d\x01\x2a":
        return None
    width = (payload[offset + 6] | (payload[offset + 7] << 8)) & 0x3FFF
    height = (payload[offset + 8] | (payload[offset + 9] << 8)) & 0x3FFF
    return width, height
