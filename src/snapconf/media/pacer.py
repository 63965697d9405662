"""Pacer: what one receive transport sends, spread at a multiple of its estimate.

A forwarding server sends what publishers send, when they send it: a keyframe of ten
kilobytes arrives as a burst of packets and leaves as one. A home link of 600 kbit/s
with a 60 ms queue holds 4.5 kB: the burst fills it, its tail is dropped, and the
queueing delay it built reads as overuse to the delay-based estimator (gcc-02 §5), which
then backs off below what the link carries. libwebrtc's sender avoids this with a pacer
(``PacingController``): packets leave at ``pacing_factor`` times the target rate, in
order, in 5 ms bursts at most (here 10 ms: see :class:`PacerConfig`).

This pacer does the same for what the SFU forwards to one receiver. While its queue is
empty and its budget allows, a packet goes at once (the common case costs one clock read
and a few additions); otherwise it waits in a FIFO queue that a timer drains at the pace
rate. A packet that has waited ``max_queue_time`` leaves at the next drain whatever the
budget (libwebrtc's queue time limit), so that pacing never adds more than that delay.

The transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2)
is stamped before a packet reaches the pacer, so the pacer keeps the send-time log honest:
a packet that waited gets its departure time written in the :class:`SentLog`, and
:attr:`SentLog.held` keeps the estimator from reading a packet that has not left yet. The
estimator thus measures the network's queue, not ours.

Synchronous: the timer is a ``schedule(delay, callback)`` given by the owner (the event
loop's ``call_later`` in the server, a fake in tests).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from snapconf.media.bwe.sent import SentLog

Schedule = Callable[[float, Callable[[], None]], Any]


class PacedSender(Protocol):
    """What the pacer paces: :class:`snapconf.media.egress.SrtpSender` keeps the budget."""

    budget: float
    over_budget: Callable[[bytes, bytes], None] | None

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None: ...


@dataclass(slots=True)
class PacerConfig:
    """Pacing settings of the receive transports (``[media]`` ``pacing_*``)."""

    #: packets leave at this multiple of the send-side estimate (libwebrtc: 2.5 for an
    #: encoder that already keeps to its target; a forwarder's bursts are the publisher's)
    factor: float = 1.2
    #: the pace rate never goes below this (bit/s)
    min_rate: int = 300_000
    #: the most the budget may save up while idle: this many seconds at the pace rate (what
    #: leaves back to back; it may build that much queue at a bottleneck of the pace rate)
    burst: float = 0.01
    #: seconds a packet may wait; then it leaves at the next drain, whatever the budget
    max_queue_time: float = 0.25
    #: packets the queue holds at most; a packet beyond is dropped (and counted)
    max_queue_packets: int = 2048
    #: seconds between drains while the queue is not empty
    interval: float = 0.005


@dataclass(slots=True)
class PacerStats:
    #: packets that waited in the queue, and those dropped because it was full
    queued: int = 0
    dropped: int = 0
    #: packets the send function refused when they left the queue
    errors: int = 0
    #: the most seconds a packet waited
    max_delay: float = 0.0


class Pacer:
    """Paces one transport's RTP at ``factor`` times its estimate (module docstring).

    The budget of the common case lives in the sender (:attr:`PacedSender.budget`, bytes):
    the sender spends it packet by packet and calls :meth:`over_budget` when a packet does
    not fit. While packets wait here the sender's budget is minus infinity, so that nothing
    overtakes them, and the budget is kept in :attr:`_budget`.
    """

    __slots__ = (
        "_budget",
        "_cap",
        "_clock",
        "_handle",
        "_last",
        "_log",
        "_queue",
        "_rate",
        "_schedule",
        "_seen",
        "closed",
        "config",
        "sender",
        "stats",
    )

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        schedule: Schedule,
        log: SentLog | None = None,
        config: PacerConfig | None = None,
        rate: float = 1_000_000,
    ) -> None:
        self.config = config or PacerConfig()
        #: where packets go (None while the transport is not connected: they are dropped)
        self.sender: PacedSender | None = None
        self.stats = PacerStats()
        self.closed = False
        self._clock = clock
        self._schedule = schedule
        self._log = log
        self._seen = log.value if log is not None else 0
        #: (head, body, transport-wide number or -1, enqueue time)
        self._queue: deque[tuple[bytes, bytes, int, float]] = deque()
        self._rate = 0.0  # bytes per second
        self._cap = 0.0
        self._budget = 0.0
        self._last = clock()
        self._handle: Any = None
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        """The pace rate, bit/s."""
        return self._rate * 8

    @property
    def queued(self) -> int:
        return len(self._queue)

    def attach(self, sender: PacedSender | None) -> None:
        """Pace what ``sender`` sends from now on (the transport's new SRTP sender)."""
        old = self.sender
        budget = 0.0 if old is None else old.budget
        if old is not None:
            old.over_budget = None
            old.budget = math.inf
        self.sender = sender
        if sender is not None:
            sender.over_budget = self.over_budget
            sender.budget = -math.inf if self._queue else max(budget, 0.0)

    def set_rate(self, estimate: float) -> None:
        """Pace at ``factor`` times ``estimate`` (bit/s), at least ``min_rate``."""
        config = self.config
        rate = max(config.min_rate, estimate * config.factor) / 8
        self._rate = rate
        self._cap = rate * config.burst

    def allow(self, size: int) -> bool:
        """Let ``size`` more bytes go at once if nothing waits (a probe train, which must
        leave as one to measure the path); False when packets wait."""
        sender = self.sender
        if self._queue or sender is None:
            return False
        sender.budget = max(sender.budget, 0.0) + size
        return True

    # -- the forwarding path -------------------------------------------------------------
    def over_budget(self, head: bytes, body: bytes) -> None:
        """A packet the sender's budget had no room for: refill the budget from the time
        elapsed and send it, or queue it."""
        sender = self.sender
        if not self._queue and sender is not None:
            now = self._clock()
            budget = sender.budget + (now - self._last) * self._rate
            self._last = now
            if budget > self._cap:
                budget = self._cap
            if budget >= 0:  # the packet goes, and may leave the budget in debt
                sender.budget = math.inf
                try:
                    sender.send_rtp(head, body)
                finally:
                    sender.budget = budget - len(head) - len(body)
                return
            self._budget = budget
            sender.budget = -math.inf
        self._enqueue(head, body)

    def _enqueue(self, head: bytes, body: bytes) -> None:
        queue = self._queue
        if len(queue) >= self.config.max_queue_packets:
            self.stats.dropped += 1
            return
        number = -1
        log = self._log
        if log is not None and log.value != self._seen:
            # the log's newest number is not a queued packet's: it is this packet's (every
            # consumer of a transport with an estimator stamps one), whose send time is not
            # known yet
            self._seen = number = log.value
            if log.held < 0:
                log.held = number
        queue.append((head, body, number, self._clock()))
        self.stats.queued += 1
        if self._handle is None and not self.closed:
            self._arm()

    def _arm(self) -> None:
        """Drain again once the budget has room for the next packet."""
        wait = self.config.interval
        if self._rate > 0 and self._budget < 0:
            wait = max(wait, -self._budget / self._rate)
        self._handle = self._schedule(wait, self.drain)
        if self._handle is None:  # no timer to be had: nothing may wait
            self.flush()

    def flush(self) -> None:
        """Send everything queued now, whatever the budget."""
        self._budget = 0.0
        self._last = now = self._clock()
        self._release(len(self._queue), now)

    def drain(self) -> None:
        """Send what the budget allows now, oldest first; re-arm while packets wait."""
        self._handle = None
        if self.closed:
            return
        queue = self._queue
        now = self._clock()
        rate = self._rate
        budget = self._budget + (now - self._last) * rate
        self._last = now
        cap = max(self._cap, rate * self.config.interval)
        if budget > cap:
            budget = cap
        # what the budget allows, then whatever has waited max_queue_time: pacing bounds
        # the delay it adds (libwebrtc's queue time limit)
        late = now - self.config.max_queue_time
        count = 0
        for head, body, _, queued_at in queue:
            if budget < 0 and queued_at > late:
                break
            budget -= len(head) + len(body)
            count += 1
        self._budget = max(budget, -cap)  # what was forced out is not owed later
        self._release(count, now)
        if queue:
            self._arm()

    def _release(self, count: int, now: float) -> None:
        """Send the ``count`` oldest packets, writing their departure in the sent log."""
        queue = self._queue
        log = self._log
        stats = self.stats
        sender = self.sender
        if sender is not None:
            sender.budget = math.inf  # these were paced here
        for _ in range(count):
            head, body, number, queued_at = queue.popleft()
            delay = now - queued_at
            if delay > stats.max_delay:
                stats.max_delay = delay
            if number >= 0 and log is not None:
                log.times[number & log.mask] = now
            if sender is None:
                stats.errors += 1
                continue
            try:
                sender.send_rtp(head, body)
            except Exception:
                stats.errors += 1
        if log is not None and log.held >= 0:
            log.held = next((entry[2] for entry in queue if entry[2] >= 0), -1)
        if sender is not None:
            # the budget goes back to the sender once nothing waits
            sender.budget = -math.inf if queue else self._budget

    def close(self) -> None:
        """Drop what waits, stop the timer and leave the sender unpaced; idempotent."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        if self._log is not None:
            self._log.held = -1
        self.attach(None)
        handle, self._handle = self._handle, None
        if handle is not None and hasattr(handle, "cancel"):
            handle.cancel()
