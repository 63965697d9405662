"""A discrete-time simulation of one send-side estimated path, for tests and benchmarks.

A sender paces packets at ``min(demand, estimate)`` (plus the estimator's probe padding)
into a bottleneck link of a scheduled capacity with a bounded queue (drop-tail, measured in
seconds of queueing delay), random loss and a one-way delay; the receiver records arrivals
with :class:`snapconf.rtp.twcc.TransportCcRecorder` and sends its feedback every 50-100 ms,
which reaches the sender after ``feedback_delay`` and goes through ``parse_rtcp`` into
:class:`snapconf.media.bwe.SendSideEstimator`. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from snapconf.media.bwe import BweConfig, SendSideEstimator, SentLog
from snapconf.rtp.rtcp import parse_rtcp
from snapconf.rtp.twcc import RtcpTransportCc, TransportCcRecorder

Capacity = float | Sequence[tuple[float, float]] | Callable[[float], float]


def capacity_at(capacity: Capacity, now: float) -> float:
    """The link rate (bit/s) at ``now``: a constant, ``[(from_time, bps), ...]`` steps, or a function."""
    if callable(capacity):
        return capacity(now)
    if isinstance(capacity, int | float):
        return float(capacity)
    rate = capacity[0][1]
    for start, bps in capacity:
        if now >= start:
            rate = bps
    return rate


class BottleneckLink:
    """A FIFO of a given rate with a bounded queue, random loss before it, then a delay."""

    def __init__(
        self,
        capacity: Capacity,
        *,
        queue: float = 0.06,
        delay: float = 0.02,
        loss: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.capacity = capacity
        self.queue = queue
        self.delay = delay
        self.loss = loss
        self.rng = rng or random.Random(0)
        self.busy_until = 0.0
        self.queue_drops = 0
        self.random_drops = 0
        self.sent = 0
        self.delivered_bytes = 0

    def send(self, size: int, now: float) -> float | None:
        """The packet's arrival time at the receiver, or None when it is dropped."""
        self.sent += 1
        if self.loss and self.rng.random() < self.loss:
            self.random_drops += 1
            return None
        start = max(now, self.busy_until)
        if start - now > self.queue:
            self.queue_drops += 1
            return None
        self.busy_until = start + size * 8 / capacity_at(self.capacity, now)
        self.delivered_bytes += size
        return self.busy_until + self.delay


@dataclass
class SimResult:
    """The estimate sampled every ``sample_interval`` seconds, and the parties."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    estimator: SendSideEstimator | None = None
    link: BottleneckLink | None = None
    recorder: TransportCcRecorder | None = None

    def between(self, start: float, end: float) -> list[int]:
        """Estimates sampled in [start, end)."""
        return [e for t, e in self.samples if start <= t < end]

    def first_time(self, start: float, predicate: Callable[[int], bool]) -> float | None:
        """First sample time at or after ``start`` whose estimate satisfies ``predicate``."""
        for t, e in self.samples:
            if t >= start and predicate(e):
                return t
        return None


def simulate(
    capacity: Capacity,
    duration: float,
    *,
    demand: int = 5_000_000,
    loss: float = 0.0,
    queue: float = 0.06,
    delay: float = 0.02,
    feedback_delay: float = 0.02,
    feedback_interval: tuple[float, float] = (0.05, 0.1),
    packet_size: int = 1200,
    tick: float = 0.005,
    sample_interval: float = 0.1,
    seed: int = 1,
    config: BweConfig | None = None,
    probe_every: int = 1,
    padding_size: int = 1200,
    via_log: bool = False,
) -> SimResult:
    """Run the path for ``duration`` simulated seconds.

    The sender asks for probe padding every ``probe_every`` ticks and sends it at once in
    packets of at most ``padding_size`` bytes. With ``via_log`` it writes what it sends to a
    :class:`SentLog` the estimator reads, as the forwarding path does, instead of calling
    ``on_sent``.
    """
    rng = random.Random(seed)
    estimator = SendSideEstimator(config)
    log = SentLog()
    log.value = 0xFFFF  # the first number is 0, as without the log
    if via_log:
        estimator.attach(log)
    recorder = TransportCcRecorder(0x1111, 0x2222)
    link = BottleneckLink(capacity, queue=queue, delay=delay, loss=loss, rng=rng)
    result = SimResult(estimator=estimator, link=link, recorder=recorder)
    arrivals: deque[tuple[float, int]] = deque()
    feedbacks: deque[tuple[float, bytes]] = deque()
    sequence = 0
    budget = 0.0
    next_feedback = rng.uniform(*feedback_interval)
    next_sample = 0.0
    steps = round(duration / tick)

    def send(size: int, now: float, probe: bool) -> None:
        nonlocal sequence
        seq16 = sequence & 0xFFFF
        sequence += 1
        if via_log:
            log.record(size, now, probe)
        else:
            estimator.on_sent(seq16, size, now, probe)
        arrival = link.send(size, now)
        if arrival is not None:
            arrivals.append((arrival, seq16))

    for step in range(steps + 1):
        now = step * tick
        while arrivals and arrivals[0][0] <= now:
            at, seq16 = arrivals.popleft()
            recorder.record(seq16, at)
        if now >= next_feedback:
            for packet in recorder.feedback():
                feedbacks.append((now + feedback_delay, packet))
            next_feedback = now + rng.uniform(*feedback_interval)
        while feedbacks and feedbacks[0][0] <= now:
            _, data = feedbacks.popleft()
            for parsed in parse_rtcp(data):
                assert isinstance(parsed, RtcpTransportCc)
                estimator.on_feedback(parsed, now)
        rate = min(demand, estimator.estimate)
        budget = min(budget + rate * tick / 8, 2 * rate * tick / 8 + packet_size)
        while budget >= packet_size:
            send(packet_size, now, False)
            budget -= packet_size
        padding = estimator.probe_bytes(now, demand) if step % probe_every == 0 else 0
        while padding > 0:
            size = min(padding, padding_size)
            send(size, now, True)
            padding -= size
        if now >= next_sample:
            result.samples.append((round(now, 6), estimator.estimate))
            next_sample += sample_interval
    return result
