"""Keyframe detection by codec, for switching simulcast layers at a keyframe.

One entry point over the codec modules: VP8 (RFC 7741 §4.3) and H.264 (RFC 6184). Pure
code, no I/O.
"""

from __future__ import annotations

from snapconf.rtp.h264 import h264_keyframe
from snapconf.rtp.vp8 import parse_vp8


def is_keyframe(codec_name: str, payload: bytes) -> bool:
    """True when the RTP ``payload`` of codec ``codec_name`` starts a keyframe.

    ``codec_name`` is the rtpmap encoding name, in any case ("VP8", "H264"); other codecs
    answer False. Malformed payloads raise ``ValueError`` with the codec parser's exact
    message (callers drop and count them); an empty payload (padding only) raises too.
    """
    name = codec_name.upper()
    if name == "VP8":
        return parse_vp8(payload).keyframe
    if name == "H264":
        return h264_keyframe(payload)
    return False
