"""Real VP8 and H.264 RTP payloads, encoded by aiortc's codecs, for the rtp/ tests.

Each call encodes a few frames of a noisy 320x240 picture (keyframe first) and returns, per
frame, the list of RTP payloads aiortc's packetizer made: VP8 with a payload descriptor
carrying a 15-bit picture ID (RFC 7741), H.264 as single NAL units, STAP-A and FU-A
(RFC 6184). Results are cached: encoding is the slow part of these tests.
"""

from __future__ import annotations

import fractions
from functools import cache

import av
import numpy
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

_MIME = {"VP8": "video/VP8", "H264": "video/H264"}


@cache
def encoded_frames(codec: str, count: int = 4) -> tuple[tuple[bytes, ...], ...]:
    """``count`` frames of ``codec`` ("VP8" or "H264"): the first a keyframe, then deltas."""
    encoder = get_encoder(
        RTCRtpCodecParameters(mimeType=_MIME[codec], clockRate=90000, payloadType=96)
    )
    rng = numpy.random.default_rng(7)
    frames: list[tuple[bytes, ...]] = []
    for index in range(count):
        image = rng.integers(0, 255, (240, 320, 3), dtype=numpy.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(tuple(payloads))
    return tuple(frames)
