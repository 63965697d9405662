"""Whole RTP packets into a mixer input, parsed by snapconf.rtp (RFC 3550, 8285, 6464)."""

from __future__ import annotations

import struct

import pytest
from tests.support.clock import FakeClock

from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig, MixerInput, MixerStats
from snapconf.rtp.packet import FIXED_HEADER, parse_rtp_header


def pack_header(marker: bool, payload_type: int, seq: int, timestamp: int, ssrc: int) -> bytes:
    return FIXED_HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, seq, timestamp, ssrc)


class _Recording(MixerInput):
    """A mixer input whose :meth:`MixerInput.push` records what it was given."""

    calls: list[tuple[int, int, int, bytes, int | None, bool]]

    def push(
        self, *args: int | bytes | bool | None
    ) -> None:
        self.calls.append(args)  # type: ignore[arg-type]


class Pushed:
    def __init__(self, codec: str = "opus", rate: int = 48000, pt: int = 111) -> None:
        self.input = _Recording("i", get_codec(codec), rate, pt, MixerConfig(), MixerStats())
        self.calls: list[tuple[int, int, int, bytes, int | None, bool]] = []
        self.input.calls = self.calls


def test_the_fixed_header_packs_as_rfc_3550_says() -> None:
    assert pack_header(True, 111, 0x1234, 0xDEADBEEF, 0x01020304) == bytes.fromhex(
        "80ef1234deadbeef01020304"
    )
    assert pack_header(False, 0, 65535, 0, 0xFFFFFFFF)[:2] == b"\x80\x00"


def test_a_plain_packet_is_pushed_with_its_fields() -> None:
    p = Pushed("PCMA", 8000, 8)
    p.input.push_rtp(pack_header(True, 8, 7, 160, 99) + b"\xd5" * 160)
    assert p.calls == [(7, 160, 8, b"\xd5" * 160, None, True)]


def test_audio_level_is_read_from_a_one_byte_extension_past_csrcs_and_padding() -> None:
    header = bytearray(pack_header(False, 111, 1, 2, 3))
    header[0] |= 0x10 | 0x20 | 0x01  # extension, padding, one CSRC
    csrc = struct.pack("!I", 0xCAFE)
    # RFC 8285 one-byte elements: id 3 (2 bytes), then id 1 = audio level (V=1, level 42)
    ext = struct.pack("!HH", 0xBEDE, 2) + bytes([0x31, 0xAA, 0xBB, 0x10, 0x80 | 42, 0, 0, 0])
    data = bytes(header) + csrc + ext + b"opus" + b"\x00\x00\x03"
    p = Pushed()
    p.input.push_rtp(data, audio_level_id=1)
    p.input.push_rtp(data, audio_level_id=5)
    assert p.calls == [(1, 2, 111, b"opus", 42, False), (1, 2, 111, b"opus", None, False)]


def test_audio_level_is_read_from_a_two_byte_extension() -> None:
    header = bytearray(pack_header(False, 111, 1, 2, 3))
    header[0] |= 0x10
    ext = struct.pack("!HH", 0x1000, 1) + bytes([7, 1, 0x80 | 90, 0])
    p = Pushed()
    p.input.push_rtp(bytes(header) + ext + b"x", audio_level_id=7)
    assert p.calls == [(1, 2, 111, b"x", 90, False)]


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x00",  # shorter than the fixed header
        b"\x40" + bytes(11),  # version 1
        b"\x81" + bytes(11),  # CSRC list truncated
        b"\x90" + bytes(11) + b"\xbe\xde",  # extension header truncated
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x05",  # extension truncated
        b"\xa0" + bytes(11) + b"\x00",  # padding length 0
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x01\x1f\x00\x00\x00",  # element truncated
    ],
)
def test_a_malformed_packet_is_counted_and_not_pushed(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^RTP "):
        parse_rtp_header(data)
    mixer = Mixer(MixerConfig(), FakeClock())
    inp = mixer.add_input("i", "opus", 48000, 111)
    inp.push_rtp(data, audio_level_id=1)
    assert (mixer.stats.packets_in, mixer.stats.dropped_malformed) == (1, 1)


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
