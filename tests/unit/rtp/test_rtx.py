import struct

import pytest
from aiortc.rtp import RtpPacket
from aiortc.rtp import unwrap_rtx as aiortc_unwrap_rtx
from tests.support.video import encoded_frames

from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header
from snapconf.rtp.rtx import rtx_prefix, unwrap_rtx, wrap_rtx

MEDIA_PT, RTX_PT = 96, 97
MEDIA_SSRC, RTX_SSRC = 0x11223344, 0x55667788
# transport-cc sequence number (id 3) and mid "1" (id 4), as Chrome sends on video
EXTENSIONS = [(3, b"\x01\x02"), (4, b"1")]


def media_packet(payload: bytes, *, sequence_number: int = 0xFFF0, marker: bool = True) -> bytes:
    return build_rtp_packet(
        payload_type=MEDIA_PT,
        sequence_number=sequence_number,
        timestamp=0xCAFEBABE,
        ssrc=MEDIA_SSRC,
        payload=payload,
        marker=marker,
        extensions=EXTENSIONS,
    )


def with_csrcs_and_padding(packet: bytes, csrcs: tuple[int, ...], padding: int) -> bytes:
    """``packet`` (no CSRCs, no padding) with a CSRC list and ``padding`` bytes of padding."""
    b0 = packet[0] | len(csrcs) | (0x20 if padding else 0)
    body = packet[12:] + (b"\x00" * (padding - 1) + bytes((padding,)) if padding else b"")
    return bytes((b0,)) + packet[1:12] + struct.pack(f"!{len(csrcs)}I", *csrcs) + body


def test_the_osn_prefix_is_the_original_sequence_number_in_network_order():
    assert rtx_prefix(0x1234) == b"\x12\x34"
    assert rtx_prefix(65536 + 7) == b"\x00\x07"


def test_unwrapping_a_wrapped_real_vp8_packet_gives_back_the_original_bytes():
    for payload in encoded_frames("VP8")[0][:3]:
        original = media_packet(payload)
        header = parse_rtp_header(original)
        rtx = wrap_rtx(original, header, RTX_PT, 500, RTX_SSRC)
        rtx_header = parse_rtp_header(rtx)
        assert (rtx_header.payload_type, rtx_header.sequence_number) == (RTX_PT, 500)
        assert (rtx_header.ssrc, rtx_header.timestamp) == (RTX_SSRC, 0xCAFEBABE)
        assert rtx_header.marker and rtx_header.extensions == dict(EXTENSIONS)
        assert rtx[rtx_header.payload_offset :] == rtx_prefix(0xFFF0) + payload
        assert unwrap_rtx(rtx, rtx_header, MEDIA_PT, MEDIA_SSRC) == original


def test_unwrapping_agrees_with_aiortc_on_an_rtx_packet_built_by_hand():
    payload = encoded_frames("H264")[1][0]
    rtx = build_rtp_packet(
        payload_type=RTX_PT,
        sequence_number=9,
        timestamp=1000,
        ssrc=RTX_SSRC,
        payload=rtx_prefix(4242) + payload,
        extensions=EXTENSIONS,
    )
    ours = unwrap_rtx(rtx, parse_rtp_header(rtx), MEDIA_PT, MEDIA_SSRC)
    theirs = aiortc_unwrap_rtx(RtpPacket.parse(rtx), MEDIA_PT, MEDIA_SSRC)
    parsed = RtpPacket.parse(ours)
    assert (parsed.payload_type, parsed.sequence_number, parsed.ssrc) == (
        MEDIA_PT,
        4242,
        MEDIA_SSRC,
    )
    assert (parsed.timestamp, parsed.marker) == (theirs.timestamp, theirs.marker) == (1000, 0)
    assert parsed.payload == theirs.payload == payload


def test_unwrapping_keeps_csrcs_and_extensions_and_removes_the_rtx_padding():
    payload = encoded_frames("VP8")[1][0]
    original = with_csrcs_and_padding(media_packet(payload, marker=False), (1, 2), 0)
    rtx_plain = wrap_rtx(original, parse_rtp_header(original), RTX_PT, 77, RTX_SSRC)
    rtx = with_csrcs_and_padding(
        bytes((rtx_plain[0] & 0xF0,)) + rtx_plain[1:12] + rtx_plain[20:], (1, 2), 5
    )
    header = parse_rtp_header(rtx)
    assert header.csrcs == (1, 2) and header.padding_length == 5
    unwrapped = unwrap_rtx(rtx, header, MEDIA_PT, MEDIA_SSRC)
    assert unwrapped == original
    back = parse_rtp_header(unwrapped)
    assert back.csrcs == (1, 2) and back.padding_length == 0 and not back.marker
    assert back.extensions == dict(EXTENSIONS)
    assert unwrapped[back.payload_offset :] == payload


def test_wrapping_a_padded_packet_does_not_carry_its_padding():
    original = with_csrcs_and_padding(media_packet(b"\x90\x80\x01abc"), (), 4)
    rtx = wrap_rtx(original, parse_rtp_header(original), RTX_PT, 1, RTX_SSRC)
    header = parse_rtp_header(rtx)
    assert header.padding_length == 0
    assert rtx[header.payload_offset :] == b"\xff\xf0\x90\x80\x01abc"


def test_an_rtx_payload_of_one_byte_or_only_padding_has_no_original_sequence_number():
    short = build_rtp_packet(
        payload_type=RTX_PT, sequence_number=1, timestamp=1, ssrc=RTX_SSRC, payload=b"\x01"
    )
    padding_only = with_csrcs_and_padding(short[:12], (), 8)
    for packet in (short, padding_only):
        with pytest.raises(ValueError, match=r"^RTX packet has no original sequence number$"):
            unwrap_rtx(packet, parse_rtp_header(packet), MEDIA_PT, MEDIA_SSRC)


def test_an_rtx_payload_of_exactly_the_osn_unwraps_to_an_empty_payload():
    rtx = build_rtp_packet(
        payload_type=RTX_PT, sequence_number=1, timestamp=5, ssrc=RTX_SSRC, payload=b"\x00\x2a"
    )
    unwrapped = unwrap_rtx(rtx, parse_rtp_header(rtx), MEDIA_PT, MEDIA_SSRC)
    header = parse_rtp_header(unwrapped)
    assert header.sequence_number == 42 and header.payload_offset == len(unwrapped) == 12
