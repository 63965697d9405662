"""The mixer's own RTP header writer and audio packet parser (RFC 3550, 8285, 6464)."""

from __future__ import annotations

import struct

import pytest

from snapconf.media.mixer import MixerConfig, pack_header, parse_audio_packet


def test_pack_header() -> None:
    assert pack_header(True, 111, 0x1234, 0xDEADBEEF, 0x01020304) == bytes.fromhex(
        "80ef1234deadbeef01020304"
    )
    assert pack_header(False, 0, 65535, 0, 0xFFFFFFFF)[:2] == b"\x80\x00"


def test_parse_plain() -> None:
    p = parse_audio_packet(pack_header(True, 8, 7, 160, 99) + b"\xd5" * 160)
    assert (p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc) == (8, True, 7, 160, 99)
    assert p.payload == b"\xd5" * 160 and p.audio_level is None


def test_parse_one_byte_extension_with_audio_level_and_csrc_and_padding() -> None:
    header = bytearray(pack_header(False, 111, 1, 2, 3))
    header[0] |= 0x10 | 0x20 | 0x01  # extension, padding, one CSRC
    csrc = struct.pack("!I", 0xCAFE)
    # RFC 8285 one-byte elements: id 3 (2 bytes), then id 1 = audio level (V=1, level 42)
    ext = struct.pack("!HH", 0xBEDE, 2) + bytes([0x31, 0xAA, 0xBB, 0x10, 0x80 | 42, 0, 0, 0])
    data = bytes(header) + csrc + ext + b"opus" + b"\x00\x00\x03"
    p = parse_audio_packet(data, audio_level_id=1)
    assert p.payload == b"opus"
    assert p.audio_level == 42
    assert parse_audio_packet(data, audio_level_id=5).audio_level is None


def test_parse_two_byte_extension() -> None:
    header = bytearray(pack_header(False, 111, 1, 2, 3))
    header[0] |= 0x10
    ext = struct.pack("!HH", 0x1000, 1) + bytes([7, 1, 0x80 | 90, 0])
    p = parse_audio_packet(bytes(header) + ext + b"x", audio_level_id=7)
    assert p.audio_level == 90 and p.payload == b"x"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00", "RTP packet is shorter than its 12-byte header"),
        (b"\x40" + bytes(11), "RTP version is 1, expected 2"),
        (b"\x81" + bytes(11), "RTP CSRC list is truncated"),
        (b"\x90" + bytes(11) + b"\xbe\xde", "RTP header extension is truncated"),
        (b"\x90" + bytes(11) + b"\xbe\xde\x00\x05", "RTP header extension is truncated"),
        (b"\xa0" + bytes(11) + b"\x00", "RTP padding length is invalid"),
        (
            b"\x90" + bytes(11) + b"\xbe\xde\x00\x01\x1f\x00\x00\x00",
            "RTP header extension element is truncated",
        ),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_audio_packet(data, audio_level_id=1)


def test_config_defaults_and_validation() -> None:
    c = MixerConfig()
    assert (c.talkers, c.hold_ms, c.jitter_initial_ms) == (3, 400, 40)
    with pytest.raises(ValueError, match=r"^mixer.talkers must be a positive integer, got 0$"):
        MixerConfig(talkers=0)
    with pytest.raises(ValueError, match=r"^mixer.silence_dbov must be within -127..0, got 3$"):
        MixerConfig(silence_dbov=3)
    with pytest.raises(ValueError, match=r"^mixer.volume is not a mixer setting$"):
        MixerConfig.from_dict({"volume": 3})
    assert MixerConfig.from_dict({"talkers": 5}).talkers == 5
