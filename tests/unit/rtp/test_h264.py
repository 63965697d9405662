import struct

import pytest
from tests.support.video import encoded_frames

from snapconf.rtp.h264 import h264_keyframe
from snapconf.rtp.keyframes import is_keyframe

KEYFRAME, DELTA = encoded_frames("H264")[:2]


def stap_a_units(payload: bytes) -> list[bytes]:
    """The NAL units aggregated in a STAP-A payload (RFC 6184 §5.7.1)."""
    assert payload[0] & 0x1F == 24
    units, pos = [], 1
    while pos < len(payload):
        (size,) = struct.unpack_from("!H", payload, pos)
        units.append(payload[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return units


def reassemble_fu_a(packets: tuple[bytes, ...]) -> bytes:
    """The first NAL unit that a run of FU-A packets carries (RFC 6184 §5.8)."""
    fragments = [p for p in packets if p[0] & 0x1F == 28]
    last = next(i for i, p in enumerate(fragments) if p[1] & 0x40)  # E bit
    fragments = fragments[: last + 1]
    nal_header = (fragments[0][0] & 0xE0) | (fragments[0][1] & 0x1F)
    return bytes((nal_header,)) + b"".join(p[2:] for p in fragments)


def stap_a(*units: bytes) -> bytes:
    return b"\x78" + b"".join(struct.pack("!H", len(u)) + u for u in units)


SPS, PPS, SEI = stap_a_units(KEYFRAME[0])  # x264 adds its SEI
IDR = reassemble_fu_a(KEYFRAME)
SLICE = reassemble_fu_a(DELTA)


def test_a_real_keyframe_starts_with_parameter_sets_then_the_idr_first_fragment():
    assert [SPS[0] & 0x1F, PPS[0] & 0x1F, IDR[0] & 0x1F, SLICE[0] & 0x1F] == [7, 8, 5, 1]
    assert h264_keyframe(KEYFRAME[0])  # STAP-A: SPS, PPS, SEI
    assert h264_keyframe(KEYFRAME[1])  # FU-A, S bit, IDR
    idr_starts = [i for i, p in enumerate(KEYFRAME) if p[0] & 0x1F == 28 and p[1] == 0x85]
    assert len(idr_starts) >= 1  # x264 may cut the picture into several IDR slices
    assert [i for i, p in enumerate(KEYFRAME) if h264_keyframe(p)] == [0, *idr_starts]
    assert not any(h264_keyframe(p) for p in DELTA)


def test_single_nal_unit_packets_are_keyframes_for_idr_and_sps_only():
    assert h264_keyframe(SPS) and h264_keyframe(IDR)
    assert not h264_keyframe(PPS) and not h264_keyframe(SLICE)
    assert not h264_keyframe(SEI)  # SEI


def test_a_stap_a_is_a_keyframe_when_any_unit_is_an_idr_or_sps():
    assert h264_keyframe(stap_a(PPS, IDR))
    assert h264_keyframe(stap_a(SEI, SPS))
    assert not h264_keyframe(stap_a(PPS, SEI))
    assert not h264_keyframe(stap_a(SLICE))


def test_fu_a_fragments_other_than_an_idr_or_sps_start_are_not_keyframes():
    fu_indicator = (IDR[0] & 0xE0) | 28
    start, middle, end = 0x80 | 5, 5, 0x40 | 5
    assert h264_keyframe(bytes((fu_indicator, start)) + IDR[1:100])
    assert not h264_keyframe(bytes((fu_indicator, middle)) + IDR[100:200])
    assert not h264_keyframe(bytes((fu_indicator, end)) + IDR[200:300])
    assert h264_keyframe(bytes((fu_indicator, 0x80 | 7)) + SPS[1:])
    assert not h264_keyframe(bytes((fu_indicator, 0x80 | 1)) + SLICE[1:])


def test_the_interleaved_mode_packet_types_are_not_keyframes():
    for nal_type in (25, 26, 27, 29):  # STAP-B, MTAP16, MTAP24, FU-B
        assert not h264_keyframe(bytes((0x60 | nal_type,)) + IDR)


def test_malformed_payloads_raise_the_exact_error():
    with pytest.raises(ValueError, match=r"^H264 payload is empty$"):
        h264_keyframe(b"")
    with pytest.raises(ValueError, match=r"^H264 FU-A packet has no FU header$"):
        h264_keyframe(b"\x7c")
    whole = stap_a(SPS, PPS)
    truncated = (b"\x78", whole[:2], whole[: 3 + len(SPS) - 1], stap_a(SPS) + b"\x00")
    for payload in truncated:
        with pytest.raises(ValueError, match=r"^H264 STAP-A packet is truncated$"):
            h264_keyframe(payload)
    with pytest.raises(ValueError, match=r"^H264 STAP-A packet has an empty NAL unit$"):
        h264_keyframe(stap_a(SPS) + b"\x00\x00")


def test_is_keyframe_chooses_the_parser_by_codec_name():
    vp8_keyframe, vp8_delta = encoded_frames("VP8")[:2]
    assert is_keyframe("VP8", vp8_keyframe[0]) and is_keyframe("vp8", vp8_keyframe[0])
    assert not is_keyframe("VP8", vp8_keyframe[1]) and not is_keyframe("VP8", vp8_delta[0])
    assert is_keyframe("H264", KEYFRAME[0]) and is_keyframe("h264", KEYFRAME[1])
    assert not is_keyframe("H264", DELTA[0])
    assert not is_keyframe("opus", KEYFRAME[0]) and not is_keyframe("VP9", vp8_keyframe[0])
    with pytest.raises(ValueError, match=r"^VP8 payload is empty$"):
        is_keyframe("VP8", b"")
    with pytest.raises(ValueError, match=r"^H264 payload is empty$"):
        is_keyframe("H264", b"")
