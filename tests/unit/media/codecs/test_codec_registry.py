"""The codec registry, by SDP encoding name."""

from __future__ import annotations

import numpy as np
import pytest

from snapconf.media.codecs import CODECS, get_codec


@pytest.mark.parametrize(
    ("name", "clock", "rate", "pt", "rtpmap"),
    [
        ("opus", 48000, 48000, None, "opus/48000/2"),
        ("PCMU", 8000, 8000, 0, "PCMU/8000"),
        ("pcma", 8000, 8000, 8, "PCMA/8000"),
        ("G722", 8000, 16000, 9, "G722/8000"),
    ],
)
def test_specs(name: str, clock: int, rate: int, pt: int | None, rtpmap: str) -> None:
    spec = get_codec(name)
    assert (spec.clock_rate, spec.sample_rate, spec.static_payload_type) == (clock, rate, pt)
    assert spec.rtpmap == rtpmap
    enc, dec = spec.new_encoder(), spec.new_decoder()
    assert enc.sample_rate == dec.sample_rate == rate
    frame = spec.frame_samples(20)
    payload = enc.encode(np.zeros(frame, dtype=np.int16))
    assert len(dec.decode(payload, frame)) == frame


def test_all_registered() -> None:
    assert sorted(CODECS) == ["g722", "opus", "pcma", "pcmu"]


def test_unknown_codec() -> None:
    with pytest.raises(ValueError, match=r"^unsupported audio codec: 'G729'$"):
        get_codec("G729")
