"""Sample-rate conversion by integer factors with a polyphase FIR low-pass filter.

The mixer works at 48 kHz; phones speak 8 kHz (G.711) or 16 kHz (G.722). Converting by
repeating or dropping samples would mirror the spectrum (imaging when going up, aliasing when
going down), so both directions go through one linear-phase, Kaiser-windowed sinc filter
designed at the higher rate:

- passband flat to 85 % of the lower rate's Nyquist frequency (3.4 kHz for 8 kHz: the
  telephone band), stopband from that Nyquist frequency on, at least ``stopband_db`` down;
- *up* by ``L``: each input sample feeds ``L`` polyphase branches (no zero-stuffed products);
- *down* by ``M``: only every ``M``-th output is computed.

The filter history is kept between calls, so consecutive frames join without a click; the
price is a constant delay of ``(taps - 1) / 2`` samples at the higher rate (about 3.6 ms for
8 <-> 48 kHz). Frames for a downsampler must be a multiple of ``M`` samples long.
"""

from __future__ import annotations

import functools
import math
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from snapconf.media.codecs.base import PCM, check_pcm

RATES: Final = (8000, 16000, 24000, 48000)

F32 = NDArray[np.float32]


@functools.lru_cache(maxsize=32)
def design_lowpass(rate: int, passband_hz: float, stopband_hz: float, stopband_db: float) -> F32:
    """A Kaiser-windowed sinc low-pass filter at ``rate`` (unit DC gain, odd length).

    Cached: every resampler between the same rates shares one (read-only) design.
    """
    if not 0 < passband_hz < stopband_hz <= rate / 2:
        raise ValueError("filter edges must satisfy 0 < passband < stopband <= rate / 2")
    width = 2 * math.pi * (stopband_hz - passband_hz) / rate
    taps = math.ceil((stopband_db - 7.95) / (2.285 * width)) + 1
    taps |= 1
    if stopband_db > 50:
        beta = 0.1102 * (stopband_db - 8.7)
    elif stopband_db >= 21:
        beta = 0.5842 * (stopband_db - 21) ** 0.4 + 0.07886 * (stopband_db - 21)
    else:
        beta = 0.0
    cutoff = (passband_hz + stopband_hz) / 2 / rate  # cycles per sample
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, beta)
    h /= h.sum()
    kernel: F32 = h.astype(np.float32)
    kernel.flags.writeable = False
    return kernel


class Resampler:
    """Stateful ``in_rate`` -> ``out_rate`` converter for mono int16 frames.

    Rates must be among :data:`RATES` and one must divide the other.
    """

    __slots__ = (
        "_buf",
        "_factor",
        "_hist",
        "_kernel",
        "_views",
        "in_rate",
        "out_rate",
        "taps",
    )

    def __init__(self, in_rate: int, out_rate: int, stopband_db: float = 60.0) -> None:
        if in_rate not in RATES:
            raise ValueError(f"in_rate must be one of {RATES}, got {in_rate}")
        if out_rate not in RATES:
            raise ValueError(f"out_rate must be one of {RATES}, got {out_rate}")
        if max(in_rate, out_rate) % min(in_rate, out_rate):
            raise ValueError(f"cannot resample {in_rate} Hz to {out_rate} Hz by an integer factor")
        self.in_rate = in_rate
        self.out_rate = out_rate
        high, low = max(in_rate, out_rate), min(in_rate, out_rate)
        self._factor = high // low
        if self._factor == 1:
            self.taps = 0
            self._hist = 0
            self._kernel: F32 = np.zeros((0, 0), dtype=np.float32)
        else:
            h = design_lowpass(high, 0.85 * low / 2, low / 2, stopband_db)
            if out_rate > in_rate:
                # up by L: pad to a multiple of L, split into L branches of T taps
                lf = self._factor
                padded = np.zeros(-(-len(h) // lf) * lf, dtype=np.float32)
                padded[: len(h)] = h * lf  # the branches share the gain of L
                t = len(padded) // lf
                branches = padded.reshape(t, lf).T  # branches[p, j] = h[j * L + p]
                # reversed along j so a sliding window (oldest first) is a plain dot product
                self._kernel = np.ascontiguousarray(branches[:, ::-1].T)  # shape (T, L)
                self._hist = t - 1
                self.taps = len(padded)
            else:
                self._kernel = np.ascontiguousarray(h[::-1])  # shape (N,)
                self._hist = len(h) - 1
                self.taps = len(h)
        self._buf: F32 = np.zeros(self._hist + 4096, dtype=np.float32)
        self._views: dict[int, tuple[F32, F32]] = {}

    @property
    def delay(self) -> float:
        """Group delay in seconds."""
        return (self.taps - 1) / 2 / max(self.in_rate, self.out_rate) if self.taps else 0.0

    def output_length(self, n: int) -> int:
        """Number of output samples for ``n`` input samples."""
        if self.out_rate >= self.in_rate:
            return n * (self.out_rate // self.in_rate)
        if n % self._factor:
            raise ValueError(
                f"frame of {n} samples is not a multiple of the decimation factor {self._factor}"
            )
        return n // self._factor

    def process(self, pcm: PCM) -> PCM:
        """Convert one frame, returning a new array."""
        out = np.empty(self.output_length(len(check_pcm(pcm))), dtype=np.int16)
        self.process_into(pcm, out)
        return out

    def process_into(self, pcm: PCM, out: PCM) -> int:
        """Convert one frame into ``out`` (at least :meth:`output_length` long)."""
        n = len(pcm)
        m = self.output_length(n)
        if len(out) < m:
            raise ValueError(f"output buffer of {len(out)} samples is shorter than {m}")
        if self._factor == 1:
            out[:n] = pcm
            return n
        hist = self._hist
        if len(self._buf) < hist + n:
            grown = np.zeros(hist + n, dtype=np.float32)
            grown[:hist] = self._buf[:hist]
            self._buf = grown
            self._views.clear()
        buf = self._buf
        buf[hist : hist + n] = pcm
        views = self._views.get(n)
        if views is None:
            views = self._make_views(n)
        windows, y = views
        if self.out_rate > self.in_rate:
            np.matmul(windows, self._kernel, out=y)  # (n, L): y[m, p] is output m * L + p
        else:
            np.dot(windows, self._kernel, out=y)  # (n / M,)
        flat = y.reshape(-1)
        np.rint(flat, out=flat)
        np.maximum(flat, -32768, out=flat)
        np.minimum(flat, 32767, out=out[:m], casting="unsafe")
        buf[:hist] = buf[n : n + hist]
        return m

    def _make_views(self, n: int) -> tuple[F32, F32]:
        # the strided windows over the persistent buffer are made once per frame size:
        # building them costs more than the filtering itself
        windows = sliding_window_view(self._buf[: self._hist + n], self._hist + 1)
        if self.out_rate > self.in_rate:
            y: F32 = np.empty((n, self._factor), dtype=np.float32)
        else:
            windows = windows[:: self._factor]
            y = np.empty(n // self._factor, dtype=np.float32)
        self._views[n] = (windows, y)
        return windows, y

    def reset(self) -> None:
        """Forget the history (silence before the next frame)."""
        self._buf[:] = 0
