"""Acknowledged bitrate: what the receiver says it got (libwebrtc's robust throughput estimator).

The last acknowledged packets are kept in a preallocated ring (arrival time, size); the rate is
the bytes received over the most recent ``window`` of arrivals, excluding the first packet's
bytes (they arrived at the window's start). It follows a capacity drop within one window, which
the multiplicative decrease needs (gcc-02 §6: ``beta x`` the received rate).
"""

from __future__ import annotations

from array import array

#: packets needed before there is a rate
MIN_PACKETS = 10
#: shortest span of arrivals (ms) a rate is computed over
MIN_SPAN_MS = 100.0


class AckedBitrateEstimator:
    """Received rate from acknowledged packets (bit/s)."""

    __slots__ = ("_arrivals", "_count", "_head", "_mask", "_sizes", "_sum", "_window_ms")

    def __init__(self, window: float = 0.5, capacity: int = 1024) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError("acked bitrate capacity is not a power of two")
        self._window_ms = window * 1000
        self._mask = capacity - 1
        self._arrivals = array("d", [0.0]) * capacity
        self._sizes = array("l", [0]) * capacity
        self._head = 0  # index of the next write
        self._count = 0
        self._sum = 0

    @property
    def bitrate(self) -> int | None:
        count = self._count
        if count < MIN_PACKETS:
            return None
        mask = self._mask
        newest = (self._head - 1) & mask
        oldest = (self._head - count) & mask
        span = self._arrivals[newest] - self._arrivals[oldest]
        if span < MIN_SPAN_MS:
            return None
        return int((self._sum - self._sizes[oldest]) * 8000 / span)

    def peak_bitrate(self, span_ms: float = 150.0) -> int | None:
        """The highest rate over any ``span_ms`` of arrivals in the window (bit/s).

        While the bottleneck's queue grows, it is busy: what it delivers over a short span
        is its capacity, even when the sender is application-limited and its rate over the
        whole window is far lower. The decrease on overuse starts from this (libwebrtc
        gets the same from its short rate window, whose samples under the estimate count
        little while application-limited)."""
        count = self._count
        if count < MIN_PACKETS:
            return None
        mask = self._mask
        arrivals = self._arrivals
        sizes = self._sizes
        first = (self._head - count) & mask
        best = 0.0
        start = 0  # offset (from the oldest) of the span's first packet
        total = 0  # bytes of the span's packets after its first
        for offset in range(1, count):
            i = (first + offset) & mask
            total += sizes[i]
            while arrivals[i] - arrivals[(first + start) & mask] > span_ms:
                start += 1
                total -= sizes[(first + start) & mask]
            elapsed = arrivals[i] - arrivals[(first + start) & mask]
            if elapsed >= span_ms / 2 and offset - start >= MIN_PACKETS // 2:
                best = max(best, total * 8000 / elapsed)
        return int(best) if best else None

    def update(self, arrival_ms: float, size: int) -> None:
        """One acknowledged packet of ``size`` bytes received at ``arrival_ms`` (receiver clock)."""
        mask = self._mask
        arrivals = self._arrivals
        sizes = self._sizes
        head = self._head
        if self._count == mask + 1:  # full: forget the oldest
            self._sum -= sizes[head]
            self._count -= 1
        arrivals[head] = arrival_ms
        sizes[head] = size
        self._sum += size
        self._count += 1
        self._head = (head + 1) & mask
        # forget what fell out of the window (arrivals are nearly in order)
        horizon = arrival_ms - self._window_ms
        while self._count > MIN_PACKETS:
            oldest = (self._head - self._count) & mask
            if arrivals[oldest] >= horizon:
                break
            self._sum -= sizes[oldest]
            self._count -= 1
