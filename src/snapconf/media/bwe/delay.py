"""Delay-based overuse detection (draft-ietf-rmcat-gcc-02 §5, with libwebrtc's trendline filter).

Packets are grouped by send time into bursts (§5.2); between consecutive groups the one-way
delay variation is ``arrival delta - send delta``. Instead of the draft's Kalman filter, the
accumulated and smoothed delay is regressed over the last ``trendline_window`` groups (as
libwebrtc's ``TrendlineEstimator``); the slope, scaled by the number of samples and a gain, is
compared with an adaptive threshold (§5.4) to say overuse, underuse or normal (§5.5).
"""

from __future__ import annotations

from collections import deque

from snapconf.media.bwe.config import BweConfig

NORMAL = 0
OVERUSING = 1
UNDERUSING = 2

_MAX_DELTAS = 60
_MAX_THRESHOLD_STEP_MS = 100.0
_THRESHOLD_OUTLIER_MS = 15.0
_MAX_BURST_DURATION_MS = 100.0


class TrendlineDetector:
    """Inter-arrival grouping, trendline slope and adaptive threshold; all times in ms."""

    __slots__ = (
        "_accumulated",
        "_burst_ms",
        "_first_arrival",
        "_first_send",
        "_gain",
        "_group_first_arrival",
        "_group_first_send",
        "_group_last_arrival",
        "_group_last_send",
        "_k_down",
        "_k_up",
        "_last_threshold_update",
        "_num_deltas",
        "_overuse_counter",
        "_overuse_time",
        "_prev_group_arrival",
        "_prev_group_send",
        "_prev_trend",
        "_smoothed",
        "_smoothing",
        "_threshold_max",
        "_threshold_min",
        "_time_over_using",
        "_window",
        "_window_size",
        "state",
        "threshold",
        "trend",
    )

    def __init__(self, config: BweConfig) -> None:
        self._burst_ms = config.burst_interval * 1000
        self._window_size = config.trendline_window
        self._smoothing = config.trendline_smoothing
        self._gain = config.trendline_gain
        self._threshold_min = config.threshold_min
        self._threshold_max = config.threshold_max
        self._k_up = config.threshold_k_up
        self._k_down = config.threshold_k_down
        self._overuse_time = config.overuse_time
        self.threshold = config.threshold_initial
        self.state = NORMAL
        self.trend = 0.0
        self._window: deque[tuple[float, float]] = deque(maxlen=self._window_size)
        self._group_first_send = -1.0
        self._group_first_arrival = -1.0
        self._group_last_send = -1.0
        self._group_last_arrival = -1.0
        self._first_send = -1.0
        self._prev_group_send = -1.0
        self._prev_group_arrival = -1.0
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._first_arrival = -1.0
        self._num_deltas = 0
        self._prev_trend = 0.0
        self._time_over_using = -1.0
        self._overuse_counter = 0
        self._last_threshold_update = -1.0

    def packet(self, send_ms: float, arrival_ms: float) -> None:
        """One received packet, in send order. Updates :attr:`state` when a group completes."""
        if self._group_first_send < 0:
            self._group_first_send = self._group_last_send = send_ms
            self._group_first_arrival = self._group_last_arrival = arrival_ms
            return
        if send_ms < self._group_first_send:
            return  # reordered across groups: ignored, as in libwebrtc
        if send_ms - self._group_first_send <= self._burst_ms or self._in_burst(
            send_ms, arrival_ms
        ):
            if send_ms > self._group_last_send:
                self._group_last_send = send_ms
            if arrival_ms > self._group_last_arrival:
                self._group_last_arrival = arrival_ms
            return
        # the current group is complete: compare it with the previous one
        if self._prev_group_send >= 0:
            send_delta = self._group_last_send - self._prev_group_send
            arrival_delta = self._group_last_arrival - self._prev_group_arrival
            if arrival_delta - send_delta > 3000 or arrival_delta < 0:
                self._reset_groups()  # clock jump or reordering at the receiver
            else:
                self._update(arrival_delta - send_delta, send_delta, self._group_last_arrival)
        self._prev_group_send = self._group_last_send
        self._prev_group_arrival = self._group_last_arrival
        self._group_first_send = self._group_last_send = send_ms
        self._group_first_arrival = self._group_last_arrival = arrival_ms

    def _in_burst(self, send_ms: float, arrival_ms: float) -> bool:
        """Packets that arrive back to back (queued together) join the current group."""
        arrival_delta = arrival_ms - self._group_last_arrival
        propagation = arrival_delta - (send_ms - self._group_last_send)
        return (
            propagation < 0
            and arrival_delta <= self._burst_ms
            and arrival_ms - self._group_first_arrival < _MAX_BURST_DURATION_MS
        )

    def _reset_groups(self) -> None:
        self._prev_group_send = -1.0
        self._prev_group_arrival = -1.0

    def _update(self, delay_ms: float, send_delta: float, arrival_ms: float) -> None:
        if self._num_deltas < 1000:
            self._num_deltas += 1
        self._accumulated += delay_ms
        alpha = self._smoothing
        self._smoothed = alpha * self._smoothed + (1 - alpha) * self._accumulated
        if self._first_arrival < 0:
            self._first_arrival = arrival_ms
        self._window.append((arrival_ms - self._first_arrival, self._smoothed))
        trend = self._prev_trend
        if len(self._window) == self._window_size:
            trend = _slope(self._window, trend)
        self._detect(trend, send_delta, arrival_ms)

    def _detect(self, trend: float, send_delta: float, now_ms: float) -> None:
        if self._num_deltas < 2:
            self.state = NORMAL
            return
        modified = min(self._num_deltas, _MAX_DELTAS) * trend * self._gain
        self.trend = modified
        if modified > self.threshold:
            if self._time_over_using < 0:
                self._time_over_using = send_delta / 2
            else:
                self._time_over_using += send_delta
            self._overuse_counter += 1
            if (
                self._time_over_using > self._overuse_time
                and self._overuse_counter > 1
                and trend >= self._prev_trend
            ):
                self._time_over_using = 0.0
                self._overuse_counter = 0
                self.state = OVERUSING
        elif modified < -self.threshold:
            self._time_over_using = -1.0
            self._overuse_counter = 0
            self.state = UNDERUSING
        else:
            self._time_over_using = -1.0
            self._overuse_counter = 0
            self.state = NORMAL
        self._prev_trend = trend
        self._update_threshold(modified, now_ms)

    def _update_threshold(self, modified: float, now_ms: float) -> None:
        """gcc-02 §5.4: the threshold follows |trend| slowly up and faster down."""
        if self._last_threshold_update < 0:
            self._last_threshold_update = now_ms
        magnitude = abs(modified)
        if magnitude > self.threshold + _THRESHOLD_OUTLIER_MS:
            self._last_threshold_update = now_ms  # a spike: do not adapt to it
            return
        k = self._k_down if magnitude < self.threshold else self._k_up
        step = min(now_ms - self._last_threshold_update, _MAX_THRESHOLD_STEP_MS)
        threshold = self.threshold + k * (magnitude - self.threshold) * step
        self.threshold = min(max(threshold, self._threshold_min), self._threshold_max)
        self._last_threshold_update = now_ms


def _slope(window: deque[tuple[float, float]], fallback: float) -> float:
    """Least-squares slope of (x, y) points; ``fallback`` when all x are equal."""
    n = len(window)
    sum_x = sum_y = 0.0
    for x, y in window:
        sum_x += x
        sum_y += y
    mean_x = sum_x / n
    mean_y = sum_y / n
    numerator = denominator = 0.0
    for x, y in window:
        dx = x - mean_x
        numerator += dx * (y - mean_y)
        denominator += dx * dx
    return numerator / denominator if denominator else fallback
