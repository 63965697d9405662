"""Delay-based rate control: AIMD (draft-ietf-rmcat-gcc-02 §6, as libwebrtc's AimdRateControl).

The detector's signal drives a three-state machine: overuse -> decrease to ``beta`` times the
acknowledged bitrate, then hold; normal -> increase; underuse -> hold (the queues drain).
The increase is multiplicative (8 %/s) while the link capacity is unknown or far, and additive
(about one packet per response time) near the capacity measured at the last decreases. An
increase never takes the estimate above 1.5 x the acknowledged bitrate + 10 kbit/s, so an
application-limited sender does not grow an estimate it never tested.
"""

from __future__ import annotations

import math

from snapconf.media.bwe.config import BweConfig
from snapconf.media.bwe.delay import NORMAL, OVERUSING, UNDERUSING

HOLD = 0
INCREASE = 1
DECREASE = 2

_FRAME_RATE = 30.0
_MTU_BITS = 1200 * 8
_MIN_ADDITIVE_BPS = 4000.0
_MIN_MULTIPLICATIVE_BPS = 1000.0


class LinkCapacity:
    """Average (kbit/s) and normalised variance of the acknowledged rate at overuse."""

    __slots__ = ("_deviation", "estimate")

    def __init__(self) -> None:
        self.estimate: float | None = None
        self._deviation = 0.4

    def on_overuse(self, acked_kbps: float) -> None:
        if self.estimate is None:
            self.estimate = acked_kbps
        else:
            self.estimate = 0.95 * self.estimate + 0.05 * acked_kbps
        norm = max(self.estimate, 1.0)
        error = self.estimate - acked_kbps
        self._deviation = 0.95 * self._deviation + 0.05 * error * error / norm
        self._deviation = min(max(self._deviation, 0.4), 2.5)

    def upper_bound(self) -> float:
        if self.estimate is None:
            return math.inf
        return self.estimate + 3 * math.sqrt(self.estimate * self._deviation)

    def lower_bound(self) -> float:
        if self.estimate is None:
            return 0.0
        return max(0.0, self.estimate - 3 * math.sqrt(self.estimate * self._deviation))

    def reset(self) -> None:
        self.estimate = None


class AimdRateControl:
    """The delay-based estimate (bit/s)."""

    __slots__ = ("_beta", "_increase", "_last_change", "_max", "_min", "bitrate", "link", "state")

    def __init__(self, config: BweConfig) -> None:
        self._min = float(config.min_bitrate)
        self._max = float(config.max_bitrate)
        self._beta = config.beta
        self._increase = config.increase_per_second
        self.bitrate = float(config.start_bitrate)
        self.state = HOLD
        self.link = LinkCapacity()
        self._last_change = -1.0

    def set_estimate(self, bitrate: float, now: float) -> None:
        """Jump to ``bitrate`` (a probe result)."""
        self.bitrate = min(max(bitrate, self._min), self._max)
        self._last_change = now

    def time_to_reduce_further(self, now: float, rtt: float, acked: float) -> bool:
        """A second decrease waits one round trip, unless the path took much less."""
        interval = min(max(rtt, 0.01), 0.2)
        if now - self._last_change >= interval:
            return True
        return acked < 0.5 * self.bitrate

    def update(
        self, signal: int, acked: int | None, rtt: float, now: float, delivered: int | None = None
    ) -> bool:
        """Apply one detector signal; returns whether a decrease happened.

        ``delivered`` is what the path delivered while it was busy (the acknowledged peak
        rate): a decrease starts from it when known, from ``acked`` otherwise."""
        if self._last_change < 0:
            self._last_change = now
        if signal == OVERUSING:
            self.state = DECREASE
        elif signal == UNDERUSING:
            self.state = HOLD
        elif signal == NORMAL and self.state == HOLD:
            self.state = INCREASE
            self._last_change = now  # the increase starts now, not at the last decrease
        decreased = False
        if self.state == INCREASE:
            self._do_increase(acked, rtt, now)
        elif self.state == DECREASE:
            decreased = self._do_decrease(acked if delivered is None else delivered, now)
        self.bitrate = min(max(self.bitrate, self._min), self._max)
        return decreased

    def _do_increase(self, acked: int | None, rtt: float, now: float) -> None:
        dt = min(max(now - self._last_change, 0.0), 1.0)
        if acked is not None and acked / 1000 > self.link.upper_bound():
            self.link.reset()  # the path now takes much more than it did
        if self.link.estimate is not None:
            bits_per_frame = self.bitrate / _FRAME_RATE
            packets_per_frame = math.ceil(bits_per_frame / _MTU_BITS)
            packet_bits = bits_per_frame / max(packets_per_frame, 1)
            per_second = max(_MIN_ADDITIVE_BPS, packet_bits / (rtt + 0.1))
            increase = per_second * dt
        else:
            increase = max(self.bitrate * ((1 + self._increase) ** dt - 1), _MIN_MULTIPLICATIVE_BPS)
        target = self.bitrate + increase
        if acked is not None:
            limit = 1.5 * acked + 10_000
            target = self.bitrate if self.bitrate >= limit else min(target, limit)
        self.bitrate = target
        self._last_change = now

    def _do_decrease(self, acked: int | None, now: float) -> bool:
        base = self.bitrate if acked is None else float(acked)
        decreased = self._beta * base
        if decreased > self.bitrate and self.link.estimate is not None:
            decreased = self._beta * self.link.estimate * 1000
        if acked is not None:
            if acked / 1000 < self.link.lower_bound():
                self.link.reset()
            self.link.on_overuse(acked / 1000)
        changed = decreased < self.bitrate
        if changed:
            self.bitrate = decreased
        self.state = HOLD
        self._last_change = now
        return changed
