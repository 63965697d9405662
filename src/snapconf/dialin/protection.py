"""Protection against floods and PIN guessing.

- :class:`RateLimiter`: one token bucket per source address (and a tighter one for INVITE);
- :class:`Allowlist`: trunk addresses; others are silently dropped;
- :class:`PinFailures`: failed PIN attempts per key in a sliding window, with a delay growing
  with recent failures and a temporary lock-out;
- :class:`PinGuard`: the wrong-PIN budgets, per source address (an IPv6 /64), per trunk
  address and across all sources, built from :class:`PinFailures`;
- :class:`LogThrottle`: at most one log line per kind of refusal and interval.

The caller's number (From, P-Asserted-Identity) is chosen by the caller, so it is never a key:
rotating it gains an attacker nothing, and presenting someone's number locks nobody out.

Everything takes the time as an argument (``now``), so tests need no clock.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable

__all__ = [
    "Allowlist",
    "LogThrottle",
    "PinFailures",
    "PinGuard",
    "RateLimiter",
    "TokenBucket",
    "source_key",
]


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

    def wait(self, cost: float = 1.0) -> float:
        """Seconds from the last :meth:`take` until ``cost`` tokens are there again."""
        return max(0.0, cost - self._tokens) / self.rate


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

    def retry_after(self, source: str) -> int:
        """Whole seconds (at least 1) until ``source`` has a token again: a ``Retry-After``
        value (RFC 3261 section 20.33) for a refusal :meth:`allow` just made."""
        bucket = self._buckets.get(source)
        wait = bucket.wait() if bucket is not None else 0.0
        return max(1, math.ceil(wait))


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
        # a failure still counts while it may be in the window that ends at a failure whose
        # lock-out is not over
        while q and now - q[0] > self.window + self.lockout:
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
        """``threshold`` failures within ``window`` up to the last one, less than
        ``lockout`` seconds ago."""
        q = self._recent(key, now)
        if len(q) < self.threshold or now - q[-1] >= self.lockout:
            return False
        last = q[-1]
        return sum(1 for t in q if last - t <= self.window) >= self.threshold


def source_key(host: str) -> str:
    """The key of a source address for budgets: an IPv4 address itself, an IPv6 address by
    its /64 (one subscriber's prefix, in which a host may pick any address)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


#: what :meth:`PinGuard.refusal` returns: the budget that refuses PIN entry
SOURCE, TRUNK, GLOBAL = "source", "trunk", "global"


class PinGuard:
    """Wrong-PIN budgets. A PIN attempt is refused while any budget it falls under is spent:

    - its source address (:func:`source_key`), when that is not a trunk: ``source_threshold``
      failures within ``window`` lock it for ``source_lockout`` seconds after the last one;
    - its trunk address, when it is one (a trunk carries many real callers, so it has its own,
      larger budget): ``trunk_threshold`` failures within ``window`` refuse PIN entry through
      it for ``trunk_lockout`` seconds;
    - all sources together: ``global_threshold`` failures within a minute refuse PIN entry for
      everyone for ``global_lockout`` seconds.

    :meth:`delay` is the growing pause before "wrong code": ``step`` seconds per recent
    failure of the source, the same pause at the same share of a trunk's budget.
    """

    def __init__(
        self,
        *,
        source_threshold: int = 10,
        source_lockout: float = 300.0,
        trunk_threshold: int = 100,
        trunk_lockout: float = 60.0,
        global_threshold: int = 100,
        global_lockout: float = 60.0,
        window: float = 600.0,
        step: float = 1.0,
        max_keys: int = 10000,
    ) -> None:
        self.sources = PinFailures(threshold=source_threshold, lockout=source_lockout,
                                   step=step, window=window, max_keys=max_keys)
        self.trunks = PinFailures(threshold=trunk_threshold, lockout=trunk_lockout,
                                  step=step * source_threshold / trunk_threshold,
                                  window=window, max_keys=max_keys)
        self.overall = PinFailures(threshold=global_threshold, lockout=global_lockout,
                                   step=0.0, window=60.0, max_keys=1)
        self.lockouts: Counter[str] = Counter()
        """Budgets spent (a failure that made PIN entry refused), by :data:`SOURCE`,
        :data:`TRUNK`, :data:`GLOBAL`."""

    def _own(self, host: str, trunk: bool) -> tuple[PinFailures, str]:
        return (self.trunks, host) if trunk else (self.sources, source_key(host))

    def refusal(self, host: str, trunk: bool, now: float) -> str | None:
        """Which budget refuses a PIN attempt from ``host`` now (None: none does)."""
        if self.overall.locked("*", now):
            return GLOBAL
        failures, key = self._own(host, trunk)
        if failures.locked(key, now):
            return TRUNK if trunk else SOURCE
        return None

    def delay(self, host: str, trunk: bool, now: float) -> float:
        failures, key = self._own(host, trunk)
        return failures.delay(key, now)

    def record(self, host: str, trunk: bool, now: float) -> str | None:
        """Count a wrong PIN from ``host``; return the budget it spent, if it spent one."""
        failures, key = self._own(host, trunk)
        was_locked = failures.locked(key, now)
        globally = self.overall.locked("*", now)
        failures.record(key, now)
        self.overall.record("*", now)
        spent: str | None = None
        if not was_locked and failures.locked(key, now):
            spent = TRUNK if trunk else SOURCE
            self.lockouts[spent] += 1
        if not globally and self.overall.locked("*", now):
            spent = GLOBAL
            self.lockouts[spent] += 1
        return spent


class LogThrottle:
    """At most one log line per kind every ``interval`` seconds; :meth:`ready` says whether
    one may be written now and how many events were held back since the last one."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def ready(self, kind: str, now: float) -> int | None:
        """None: hold this event back; else the number of events held back before it."""
        if now < self._next.get(kind, -math.inf):
            self._held[kind] += 1
            return None
        self._next[kind] = now + self.interval
        return self._held.pop(kind, 0)
