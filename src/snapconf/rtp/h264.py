"""H.264 RTP payloads: tell whether a packet starts a keyframe (RFC 6184).

A WebRTC H.264 stream (packetization-mode 1) carries single NAL unit packets, STAP-A
aggregates and FU-A fragments (RFC 6184 §5.6, §5.7.1, §5.8). A packet starts a keyframe when
it carries an IDR slice (NAL unit type 5) or a sequence parameter set (type 7), which
encoders send just before an IDR, as libwebrtc's depacketizer and mediasoup's H.264
handler read it.

Pure code, no I/O: it runs synchronously once per video packet of a producer.
"""

from __future__ import annotations

NAL_IDR = 5
NAL_SPS = 7
NAL_STAP_A = 24
NAL_FU_A = 28
_KEY_TYPES = (NAL_IDR, NAL_SPS)


def h264_keyframe(payload: bytes) -> bool:
    """True when ``payload`` carries an IDR slice (5) or an SPS (7): in a single NAL unit,
    in any NAL unit of a STAP-A aggregate (24), or in the first fragment of an FU-A (28)
    (RFC 6184 §5.6, §5.7.1, §5.8). Other packet types (STAP-B, MTAP, FU-B, of the
    interleaved mode WebRTC does not use) are not keyframes.

    Raises ``ValueError`` with an exact message: ``"H264 payload is empty"``,
    ``"H264 FU-A packet has no FU header"``, ``"H264 STAP-A packet is truncated"`` and
    ``"H264 STAP-A packet has an empty NAL unit"``.
    """
    if not payload:
        raise ValueError("H264 payload is empty")
    nal_type = payload[0] & 0x1F
    if nal_type == NAL_FU_A:
        if len(payload) < 2:
            raise ValueError("H264 FU-A packet has no FU header")
        fu = payload[1]
        return bool(fu & 0x80) and (fu & 0x1F) in _KEY_TYPES
    if nal_type == NAL_STAP_A:
        n = len(payload)
        pos = 1
        found = False
        if n == 1:
            raise ValueError("H264 STAP-A packet is truncated")
        while pos < n:
            if pos + 2 > n:
                raise ValueError("H264 STAP-A packet is truncated")
            size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if size == 0:
                raise ValueError("H264 STAP-A packet has an empty NAL unit")
            if pos + size > n:
                raise ValueError("H264 STAP-A packet is truncated")
            if (payload[pos] & 0x1F) in _KEY_TYPES:
                found = True
            pos += size
        return found
    return nal_type in _KEY_TYPES
