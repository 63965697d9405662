"""Fade-out loss concealment for codecs without their own (G.722; G.711 outside the mixer).

A lost frame is replaced by the last good frame repeated, multiplied by a gain that falls
linearly from its current value to zero over ``fade_ms`` of consecutive losses; after that the
output is silence. The next good frame restores full gain. This is the "fade" of the
architecture notes: cheap, and never a buzz, because the repeated frame dies away within a few
tens of milliseconds. The mixer conceals G.711 callers better, by pitch repetition
(:class:`snapconf.media.mixer.plc.PitchConcealer`, G.711 Appendix I style).
"""

from __future__ import annotations

import numpy as np

from snapconf.media.codecs.base import PCM


class FadeConcealer:
    """Remembers the last decoded frame and produces fading repetitions of it."""

    __slots__ = ("_fade_samples", "_gain", "_last", "_last_len", "_ramp", "_work")

    def __init__(self, sample_rate: int, fade_ms: int = 40, max_frame_ms: int = 120) -> None:
        self._fade_samples = max(1, sample_rate * fade_ms // 1000)
        max_frame = sample_rate * max_frame_ms // 1000
        self._last: PCM = np.zeros(max_frame, dtype=np.int16)
        self._last_len = 0
        self._gain = 1.0
        self._ramp = np.empty(max_frame, dtype=np.float32)
        self._work = np.empty(max_frame, dtype=np.float32)

    def remember(self, pcm: PCM) -> None:
        """Record a correctly decoded frame (the source of later concealment)."""
        n = min(len(pcm), len(self._last))
        self._last[:n] = pcm[len(pcm) - n :]
        self._last_len = n
        self._gain = 1.0

    def conceal_into(self, out: PCM) -> int:
        """Fill ``out`` with the faded repetition and return ``len(out)``."""
        n = len(out)
        if n > len(self._ramp):
            raise ValueError(f"concealment of {n} samples exceeds the maximum frame")
        if self._last_len == 0 or self._gain <= 0.0:
            out[:] = 0
            self._gain = 0.0
            return n
        src = self._last[: self._last_len]
        if self._last_len >= n:
            work = self._work[:n]
            work[:] = src[:n]
        else:
            reps = -(-n // self._last_len)
            work = self._work[:n]
            work[:] = np.tile(src, reps)[:n]
        step = 1.0 / self._fade_samples
        ramp = self._ramp[:n]
        # gain, gain - step, ... clipped at zero
        np.multiply(np.arange(n, dtype=np.float32), -step, out=ramp)
        ramp += self._gain
        np.maximum(ramp, 0.0, out=ramp)
        work *= ramp
        np.rint(work, out=work)
        out[:] = work
        self._gain = max(0.0, self._gain - n * step)
        return n

    def reset(self) -> None:
        self._last_len = 0
        self._gain = 1.0
