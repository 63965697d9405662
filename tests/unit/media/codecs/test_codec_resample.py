"""Polyphase resampler: tones kept, out-of-band energy removed, no clicks between frames."""

from __future__ import annotations

import numpy as np
import pytest

from snapconf.media.codecs import Resampler


def tone(freq: float, rate: int, n: int, amp: float = 10000) -> np.ndarray:
    return np.rint(amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def band_level_db(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    """Energy in [lo, hi) Hz relative to the whole signal, in dB."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = spectrum[(freqs >= lo) & (freqs < hi)].sum()
    return float(10 * np.log10(band / spectrum.sum() + 1e-30))


def run(r: Resampler, x: np.ndarray, frame: int) -> np.ndarray:
    return np.concatenate([r.process(x[i : i + frame]) for i in range(0, len(x), frame)])


PAIRS = [(8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000), (8000, 16000), (16000, 8000)]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_tone_in_band_is_kept(src: int, dst: int) -> None:
    x = tone(1000, src, src)  # one second
    y = run(Resampler(src, dst), x, src // 50)
    assert len(y) == dst
    steady = y[dst // 4 :]
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    assert abs(np.argmax(spectrum) * dst / len(steady) - 1000) < 5
    assert abs(rms(steady) / rms(x) - 1) < 0.02  # unit gain in the passband


@pytest.mark.parametrize(("src", "dst"), [(48000, 8000), (48000, 16000), (16000, 8000)])
def test_down_attenuates_above_target_nyquist(src: int, dst: int) -> None:
    freq = dst / 2 * 1.25  # would alias to 0.75 of the target Nyquist if not filtered
    y = run(Resampler(src, dst), tone(freq, src, src), src // 50)
    assert 20 * np.log10(rms(y[dst // 4 :]) / rms(tone(freq, src, src))) < -50


@pytest.mark.parametrize(("src", "dst"), [(8000, 48000), (16000, 48000), (8000, 16000)])
def test_up_has_no_images(src: int, dst: int) -> None:
    # sample repetition would leave images of a 1 kHz tone at src - 1 kHz, src + 1 kHz...
    y = run(Resampler(src, dst), tone(1000, src, src), src // 50)
    assert band_level_db(y[dst // 4 :], dst, src / 2, dst / 2) < -50


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_frames_join_without_clicks(src: int, dst: int) -> None:
    x = tone(440, src, src // 2)
    whole = Resampler(src, dst).process(x)
    framed = run(Resampler(src, dst), x, src // 50)
    assert np.array_equal(whole, framed)  # frame boundaries are invisible


def test_same_rate_copies() -> None:
    x = tone(440, 48000, 960)
    assert np.array_equal(Resampler(48000, 48000).process(x), x)


def test_invalid_input() -> None:
    with pytest.raises(
        ValueError, match=r"^in_rate must be one of \(8000, 16000, 24000, 48000\), got 44100$"
    ):
        Resampler(44100, 48000)
    with pytest.raises(
        ValueError, match=r"^cannot resample 16000 Hz to 24000 Hz by an integer factor$"
    ):
        Resampler(16000, 24000)
    with pytest.raises(
        ValueError, match=r"^frame of 100 samples is not a multiple of the decimation factor 6$"
    ):
        Resampler(48000, 8000).process(np.zeros(100, dtype=np.int16))
