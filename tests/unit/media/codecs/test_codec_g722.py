"""G.722 through PyAV: 16 kHz samples, 8 kHz RTP clock (RFC 3551 §4.5.2)."""

from __future__ import annotations

import numpy as np
import pytest

from snapconf.media.codecs import G722Decoder, G722Encoder, get_codec


def tone(freq: float, rate: int, n: int, amp: float = 8000, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_clock_rate_is_not_sample_rate() -> None:
    spec = get_codec("g722")
    assert (spec.clock_rate, spec.sample_rate, spec.static_payload_type) == (8000, 16000, 9)
    assert spec.frame_samples(20) == 320
    assert spec.timestamp_step(20) == 160


@pytest.mark.parametrize("freq", [500, 3000, 6000])  # 6 kHz: only the wideband codec keeps it
def test_round_trip_preserves_tone(freq: int) -> None:
    enc, dec = G722Encoder(), G722Decoder()
    payloads = [enc.encode(tone(freq, 16000, 320, start=i * 320)) for i in range(20)]
    assert all(len(p) == 160 for p in payloads)
    out = np.concatenate([dec.decode(p, 320) for p in payloads])
    assert len(out) == 6400
    assert abs(peak_hz(out[1600:], 16000) - freq) < 10


def test_other_frame_sizes() -> None:
    enc, dec = G722Encoder(), G722Decoder()
    assert len(enc.encode(tone(440, 16000, 160))) == 80  # 10 ms
    assert len(enc.encode(tone(440, 16000, 640))) == 320  # 40 ms
    assert dec.samples_in(b"\x00" * 320) == 640


def test_concealment_length() -> None:
    dec = G722Decoder()
    enc = G722Encoder()
    for i in range(5):
        dec.decode(enc.encode(tone(1000, 16000, 320, start=i * 320)), 320)
    concealed = dec.decode(None, 320)
    assert len(concealed) == 320
    assert np.abs(concealed[:32]).max() > 1000


def test_invalid_input() -> None:
    with pytest.raises(
        ValueError, match=r"^G.722 frame of 321 samples is not a positive even number$"
    ):
        G722Encoder().encode(np.zeros(321, dtype=np.int16))
    with pytest.raises(ValueError, match=r"^G.722 payload is empty$"):
        G722Decoder().decode(b"", 320)
