"""Opus through libopus: settings really applied, round trips, PLC and FEC."""

from __future__ import annotations

import numpy as np
import pytest

from snapconf.media.codecs import OpusDecoder, OpusEncoder, get_codec
from snapconf.media.codecs.opus import frame_sizes


def tone(freq: float, rate: int, n: int, amp: float = 10000, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def encode_stream(enc: OpusEncoder, freq: float, frames: int, frame: int = 960) -> list[bytes]:
    return [enc.encode(tone(freq, 48000, frame, start=i * frame)) for i in range(frames)]


def test_settings_are_applied_through_ctl() -> None:
    enc = OpusEncoder(bitrate=24000, fec=True, dtx=True, packet_loss_perc=15, complexity=3)
    assert enc.get("bitrate") == 24000
    assert enc.get("inband_fec") == 1
    assert enc.get("dtx") == 1
    assert enc.get("packet_loss_perc") == 15
    assert enc.get("complexity") == 3
    off = OpusEncoder(fec=False, dtx=False)
    assert off.get("inband_fec") == 0
    assert off.get("dtx") == 0


def test_round_trip_preserves_tone() -> None:
    spec = get_codec("OPUS")
    assert (spec.clock_rate, spec.sample_rate, spec.rtpmap) == (48000, 48000, "opus/48000/2")
    enc, dec = spec.new_encoder(), spec.new_decoder()
    packets = encode_stream(enc, 700, 25)  # type: ignore[arg-type]
    assert all(0 < len(p) < 400 for p in packets)
    out = np.concatenate([dec.decode(p, 960) for p in packets])
    assert out.dtype == np.int16 and len(out) == 25 * 960
    steady = out[4800:]
    assert abs(peak_hz(steady, 48000) - 700) < 10
    rms = np.sqrt(np.mean(steady.astype(np.float64) ** 2))
    assert 0.5 * 10000 / np.sqrt(2) < rms < 1.5 * 10000 / np.sqrt(2)


@pytest.mark.parametrize("ms", [10, 20, 40, 60])
def test_frame_durations(ms: int) -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    n = 48 * ms
    payload = enc.encode(tone(440, 48000, n))
    assert dec.samples_in(payload) == n
    assert len(dec.decode(payload, 960)) == n


def test_plc_output_length_and_continuity() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    packets = encode_stream(enc, 500, 10)
    for p in packets:
        dec.decode(p, 960)
    concealed = dec.decode(None, 960)
    assert len(concealed) == 960
    assert np.abs(concealed[:480]).max() > 1000  # continues the voice, not silence
    out = np.zeros(480, dtype=np.int16)
    assert dec.decode_into(None, out) == 480


def test_fec_recovers_lost_frame_better_than_plc() -> None:
    enc = OpusEncoder(bitrate=32000, fec=True, packet_loss_perc=20)
    # a sweep-like signal PLC cannot extrapolate: change frequency every frame
    freqs = [300 + 97 * (i % 9) for i in range(40)]
    pcm = [tone(f, 48000, 960, start=i * 960) for i, f in enumerate(freqs)]
    packets = [enc.encode(x) for x in pcm]
    lost = 30
    clean, fec, plc = OpusDecoder(), OpusDecoder(), OpusDecoder()
    for i in range(lost):
        clean.decode(packets[i], 960)
        fec.decode(packets[i], 960)
        plc.decode(packets[i], 960)
    reference = clean.decode(packets[lost], 960).astype(np.float64)
    recovered = fec.decode(packets[lost + 1], 960, fec=True).astype(np.float64)
    concealed = plc.decode(None, 960).astype(np.float64)
    assert len(recovered) == 960
    err_fec = np.sum((recovered - reference) ** 2)
    err_plc = np.sum((concealed - reference) ** 2)
    assert err_fec < 0.5 * err_plc


def test_dtx_makes_silence_tiny() -> None:
    enc = OpusEncoder(dtx=True)
    sizes = [len(enc.encode(np.zeros(960, dtype=np.int16))) for _ in range(30)]
    assert max(sizes[10:]) <= 2  # DTX payloads: nothing to send (RFC 7587 §3.1.3)


def test_invalid_input() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    with pytest.raises(
        ValueError, match=r"^opus frame of 1000 samples is not 2.5 to 120 ms at 48000 Hz$"
    ):
        enc.encode(np.zeros(1000, dtype=np.int16))
    with pytest.raises(ValueError, match=r"^opus sample_rate must be one of"):
        OpusEncoder(sample_rate=44100)
    with pytest.raises(ValueError, match=r"^opus bitrate must be within 6000..510000, got 100$"):
        OpusEncoder(bitrate=100)
    with pytest.raises(ValueError, match=r"^opus payload is empty$"):
        dec.decode(b"", 960)
    # a TOC announcing code-3 framing with an impossible frame count
    with pytest.raises(ValueError, match=r"^opus decode failed: corrupted stream$"):
        dec.decode(b"\xff\xff\xff\xff", 960)
    with pytest.raises(ValueError, match=r"^opus concealment of 1000 samples is not 2.5 to 120 ms"):
        dec.decode(None, 1000)
    assert 960 in frame_sizes(48000) and 160 in frame_sizes(8000)
