"""Helpers that look at decoded media: dominant tone frequency, mean colour."""

from __future__ import annotations

from typing import Any

import numpy as np


def dominant_frequency(frames: list[Any]) -> float:
    """Peak of the spectrum of the concatenated audio frames (first channel)."""
    chunks = []
    rate = 48000
    for frame in frames:
        samples = frame.to_ndarray()
        channels = len(frame.layout.channels)
        mono = samples.reshape(-1)[::channels] if samples.shape[0] == 1 else samples[0]
        chunks.append(mono.astype(np.float64))
        rate = frame.sample_rate
    signal = np.concatenate(chunks)
    signal = signal * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal))
    spectrum[:5] = 0
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])


def mean_colour(frame: Any) -> tuple[float, float, float]:
    image = frame.to_ndarray(format="rgb24").reshape(-1, 3).astype(np.float64)
    r, g, b = image.mean(axis=0)
    return float(r), float(g), float(b)
