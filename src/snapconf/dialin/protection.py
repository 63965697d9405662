"""Protection against floods and PIN guessing.

- :class:`RateLimiter`: one token bucket per source address (and a tighter one for INVITE);
- :class:`Allowlist`: trunk addresses; others are silently dropped;
- :class:`PinFailures`: failed PIN attempts per caller and per conference, with a delay growing
  with recent failures and a temporary lock-out.

Everything takes the time as an argument (``now``), so tests need no clock.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable

__all__ = ["Allowlist", "PinFailures", "RateLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends one if available."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False


class RateLimiter:
    """Token buckets keyed by source (host string); the least recently used are forgotten
    beyond ``max_sources`` so a spoofed-address flood cannot grow memory."""

    def __init__(self, rate: float, burst: float, max_sources: int = 10000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.dropped = 0

    def allow(self, source: str, now: float) -> bool:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            self._buckets[source] = bucket
            if len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        ok = bucket.take(now)
        if not ok:
            self.dropped += 1
        return ok


class Allowlist:
    """Addresses and networks of trusted peers (trunks). Empty means: everyone may call."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    @property
    def enabled(self) -> bool:
        return bool(self._networks)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self._networks)

    def admits(self, host: str) -> bool:
        """True if ``host`` may talk to us (always, when the list is empty)."""
        return not self._networks or host in self


class PinFailures:
    """Failed PIN attempts per key (``caller:<number>``, ``conf:<id>``) in a sliding window.

    :meth:`delay` grows by ``step`` seconds per recent failure of the caller; :meth:`locked`
    says the key reached ``threshold`` failures and stays locked for ``lockout`` seconds after
    the last one.
    """

    def __init__(
        self,
        *,
        threshold: int = 10,
        lockout: float = 300.0,
        step: float = 1.0,
        window: float = 600.0,
        max_keys: int = 10000,
    ) -> None:
        self.threshold = threshold
        self.lockout = lockout
        self.step = step
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and now - q[0] > max(self.window, self.lockout):
            q.popleft()
        return q

    def record(self, key: str, now: float) -> None:
        q = self._failures.get(key)
        if q is None:
            q = deque()
            self._failures[key] = q
            if len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        self._failures.move_to_end(key)
        q.append(now)
        self._recent(key, now)

    def count(self, key: str, now: float) -> int:
        q = self._recent(key, now)
        return sum(1 for t in q if now - t <= self.window)

    def delay(self, key: str, now: float) -> float:
        """Seconds to wait before answering the next attempt of ``key``."""
        return self.step * self.count(key, now)

    def locked(self, key: str, now: float) -> bool:
        q = self._recent(key, now)
        if len(q) < self.threshold:
            return False
        return now - q[-1] < self.lockout
