import struct

import pytest

from snapconf.rtp.packet import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    audio_level,
    build_rtp_packet,
    is_rtcp,
    parse_header_extensions,
    parse_rtp_header,
    rewrite_rtp_header,
    serialize_header_extensions,
)

# An Opus packet shaped as Chrome sends it: one-byte extensions 1 (audio level),
# 2 (abs-send-time), 4 (mid "0"); payload type 111.
CHROME_OPUS = bytes.fromhex("906f1a2b0001e24091c2a1b3bede000310ff2204b3f5403000000000fcfffe")


def test_a_chrome_opus_packet_parses_with_its_extensions():
    h = parse_rtp_header(CHROME_OPUS)
    assert (h.payload_type, h.marker, h.sequence_number) == (111, False, 0x1A2B)
    assert (h.timestamp, h.ssrc) == (0x0001E240, 0x91C2A1B3)
    assert h.extension_profile == ONE_BYTE_PROFILE
    assert h.extensions == {1: b"\xff", 2: b"\x04\xb3\xf5", 4: b"0"}
    assert CHROME_OPUS[h.payload_offset :] == b"\xfc\xff\xfe"
    assert audio_level(h.extensions[1]) == (True, 127)


def test_build_then_parse_round_trips_one_and_two_byte_extensions():
    for exts in ([(1, b"\x85"), (3, b"abc")], [(1, b"x" * 17)], [(20, b"yy")]):
        packet = build_rtp_packet(
            payload_type=96,
            sequence_number=65535,
            timestamp=0xFFFFFFFF,
            ssrc=42,
            payload=b"payload",
            marker=True,
            extensions=exts,
        )
        h = parse_rtp_header(packet)
        assert h.extensions == dict(exts)
        assert h.marker and h.sequence_number == 65535 and h.timestamp == 0xFFFFFFFF
        assert packet[h.payload_offset :] == b"payload"
    long_profile = struct.unpack_from(
        "!H",
        build_rtp_packet(
            payload_type=96,
            sequence_number=1,
            timestamp=1,
            ssrc=1,
            payload=b"",
            extensions=[(1, b"x" * 17)],
        ),
        12,
    )[0]
    assert long_profile == TWO_BYTE_PROFILE


def test_rewrite_changes_header_keeps_payload_csrcs_and_padding():
    base = build_rtp_packet(
        payload_type=111,
        sequence_number=10,
        timestamp=960,
        ssrc=1,
        payload=b"abc",
        marker=True,
        extensions=[(1, b"\x10")],
    )
    # add one CSRC and 3 bytes of padding by hand
    b0 = base[0] | 0x01 | 0x20
    data = bytes([b0]) + base[1:12] + struct.pack("!I", 0xCAFE) + base[12:] + b"\x00\x00\x03"
    h = parse_rtp_header(data)
    assert h.csrcs == (0xCAFE,) and h.padding_length == 3
    block = serialize_header_extensions([(5, b"7"), (2, b"\x10")])
    out = rewrite_rtp_header(data, h, 100, 7, 123, 99, block) + data[h.payload_offset :]
    o = parse_rtp_header(out)
    assert (o.payload_type, o.sequence_number, o.timestamp, o.ssrc) == (100, 7, 123, 99)
    assert o.marker and o.csrcs == (0xCAFE,) and o.padding_length == 3
    assert o.extensions == {5: b"7", 2: b"\x10"}
    assert out.endswith(b"abc\x00\x00\x03")
    without = rewrite_rtp_header(data, h, 100, 7, 123, 99, b"") + data[h.payload_offset :]
    assert parse_rtp_header(without).extensions == {}
    assert without[0] & 0x10 == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x60\x00", "RTP packet length is less than 12 bytes"),
        (b"\x40" + bytes(11), "RTP packet has invalid version"),
        (b"\x82" + bytes(11) + bytes(4), "RTP packet has truncated CSRC"),
        (b"\x90" + bytes(11) + b"\xbe\xde", "RTP packet has truncated extension header"),
        (
            b"\x90" + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4),
            "RTP packet has truncated extension",
        ),
        (
            b"\x90" + bytes(11) + b"\xbe\xde\x00\x01\x13\x00\x00\x00",
            "RTP one-byte header extension is truncated",
        ),
        (
            b"\x90" + bytes(11) + b"\x10\x00\x00\x01\x01\x09\x00\x00",
            "RTP two-byte header extension is truncated",
        ),
        (b"\xa0" + bytes(11), "RTP packet has padding but no payload"),
        (b"\xa0" + bytes(11) + b"\x01\x05", "RTP packet padding length is invalid"),
        (b"\xa0" + bytes(11) + b"\x01\x00", "RTP packet padding length is invalid"),
    ],
)
def test_truncated_or_invalid_packets_raise_exact_errors(data, message):
    with pytest.raises(ValueError) as info:
        parse_rtp_header(data)
    assert str(info.value) == message


def test_one_byte_padding_and_stop_id_are_honoured():
    assert parse_header_extensions(ONE_BYTE_PROFILE, b"\x00\x00\x10\x05\xf0\x00") == {1: b"\x05"}
    assert parse_header_extensions(0x1234, b"\x10\x05\x00\x00") == {}


def test_rtcp_is_told_from_rtp_by_packet_type():
    assert is_rtcp(b"\x80\xc8") and is_rtcp(b"\x81\xce")
    assert not is_rtcp(b"\x80\x6f") and not is_rtcp(b"\x80\xe0") and not is_rtcp(b"\x80")
