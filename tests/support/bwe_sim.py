"""A discrete-time simulation of one send-side estimated path, for tests and benchmarks.

A sender paces packets at ``min(demand, estimate)`` (plus the estimator's probe padding)
into a bottleneck link of a scheduled capacity with a bounded queue (drop-tail, measured in
seconds of queueing delay), random loss and a one-way delay; the receiver records arrivals
with :class:`snapconf.rtp.twcc.TransportCcRecorder` and sends its feedback every 50-100 ms,
which reaches the sender after ``feedback_delay`` and goes through ``parse_rtcp`` into
:class:`snapconf.media.bwe.SendSideEstimator`. Deterministic for a given seed.
"""

from __future__ import annotations

import math
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


class FeedbackPath:
    """The link, the receiver's transport-cc recorder, and its feedback on the way back to
    the estimator: what both simulations share."""

    def __init__(
        self,
        link: BottleneckLink,
        estimator: SendSideEstimator,
        rng: random.Random,
        *,
        feedback_delay: float,
        feedback_interval: tuple[float, float],
    ) -> None:
        self.link = link
        self.estimator = estimator
        self.recorder = TransportCcRecorder(0x1111, 0x2222)
        self.rng = rng
        self.feedback_delay = feedback_delay
        self.feedback_interval = feedback_interval
        self.arrivals: deque[tuple[float, int]] = deque()
        self.feedbacks: deque[tuple[float, bytes]] = deque()
        self.next_feedback = rng.uniform(*feedback_interval)

    def send(self, number: int, size: int, now: float) -> None:
        """Packet ``number`` (16 bits) of ``size`` bytes enters the link at ``now``."""
        arrival = self.link.send(size, now)
        if arrival is not None:
            self.arrivals.append((arrival, number))

    def step(self, now: float) -> None:
        """Record what arrived, send feedback when due, and hand the estimator what came
        back by ``now``."""
        arrivals, feedbacks = self.arrivals, self.feedbacks
        while arrivals and arrivals[0][0] <= now:
            at, number = arrivals.popleft()
            self.recorder.record(number, at)
        if now >= self.next_feedback:
            for packet in self.recorder.feedback():
                feedbacks.append((now + self.feedback_delay, packet))
            self.next_feedback = now + self.rng.uniform(*self.feedback_interval)
        while feedbacks and feedbacks[0][0] <= now:
            _, data = feedbacks.popleft()
            for parsed in parse_rtcp(data):
                assert isinstance(parsed, RtcpTransportCc)
                self.estimator.on_feedback(parsed, now)


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
    link = BottleneckLink(capacity, queue=queue, delay=delay, loss=loss, rng=rng)
    path = FeedbackPath(
        link, estimator, rng, feedback_delay=feedback_delay, feedback_interval=feedback_interval
    )
    result = SimResult(estimator=estimator, link=link, recorder=path.recorder)
    sequence = 0
    budget = 0.0
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
        path.send(seq16, size, now)

    for step in range(steps + 1):
        now = step * tick
        path.step(now)
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


class BudgetedSender:
    """A sender that keeps a pacer's budget as :class:`snapconf.media.egress.SrtpSender`
    does, and hands what it sends to ``send``."""

    def __init__(self, send: Callable[[bytes, bytes], None]) -> None:
        self.budget = math.inf
        self.over_budget: Callable[[bytes, bytes], None] | None = None
        self._send = send

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        budget = self.budget - len(packet) - len(body)
        if budget < 0 and self.over_budget is not None:
            self.over_budget(packet, body)
            return
        self.budget = budget
        self._send(packet, body)


@dataclass
class ForwardingResult(SimResult):
    """:class:`SimResult` plus what a forwarding server chose to send."""

    #: (time, video bit/s allocated) at each sample
    video: list[tuple[float, int]] = field(default_factory=list)
    keyframes: int = 0
    pacer_max_delay: float = 0.0


def simulate_forwarding(
    capacity: Capacity,
    duration: float,
    *,
    audio_streams: int = 6,
    audio_packet: int = 110,
    video_layers: Sequence[int] = (50_000, 100_000, 150_000),
    fps: int = 30,
    keyframe_every: float = 3.0,
    keyframe_size: int = 8_000,
    pacing_factor: float = 1.5,
    queue: float = 0.06,
    delay: float = 0.02,
    loss: float = 0.0,
    feedback_delay: float = 0.02,
    feedback_interval: tuple[float, float] = (0.05, 0.1),
    tick: float = 0.005,
    sample_interval: float = 0.1,
    seed: int = 1,
    config: BweConfig | None = None,
) -> ForwardingResult:
    """Run what an SFU sends one receiver for ``duration`` simulated seconds.

    Unlike :func:`simulate`, the sender is application-limited and bursty, as a forwarder
    is: ``audio_streams`` voices (a packet each per 20 ms, always sent), and one video whose
    rate is the highest of ``video_layers`` that fits the estimate beside the audio (none
    when even the lowest does not), sent a frame at a time at ``fps``, with a keyframe of
    ``keyframe_size`` bytes every ``keyframe_every`` seconds and at each layer change. With
    ``pacing_factor`` > 0 everything goes through :class:`snapconf.media.pacer.Pacer` at
    that multiple of ``max(estimate, allocated)``, as the server's receive transports do.
    """
    from snapconf.media.pacer import Pacer, PacerConfig

    rng = random.Random(seed)
    estimator = SendSideEstimator(config)
    log = SentLog()
    estimator.attach(log)
    link = BottleneckLink(capacity, queue=queue, delay=delay, loss=loss, rng=rng)
    path = FeedbackPath(
        link, estimator, rng, feedback_delay=feedback_delay, feedback_interval=feedback_interval
    )
    result = ForwardingResult(estimator=estimator, link=link, recorder=path.recorder)
    timers: list[tuple[float, Callable[[], None]]] = []
    clock = [0.0]

    def to_link(head: bytes, body: bytes) -> None:
        path.send(int.from_bytes(head[:2], "big"), len(head) + len(body), clock[0])

    def schedule(wait: float, callback: Callable[[], None]) -> object:
        timers.append((clock[0] + wait, callback))
        return object()

    sender = BudgetedSender(to_link)
    pacer = None
    if pacing_factor > 0:
        pacer = Pacer(
            clock=lambda: clock[0],
            schedule=schedule,
            log=log,
            config=PacerConfig(factor=pacing_factor),
            rate=estimator.estimate,
        )
        pacer.attach(sender)

    def send(size: int) -> None:
        number = log.record(size, clock[0])
        head = number.to_bytes(2, "big") + bytes(10)
        body = bytes(size - len(head))
        sender.send_rtp(head, body)

    audio_rate = audio_streams * audio_packet * 8 * 50
    layer = -1
    next_keyframe = 0.0
    next_frame = 0.0
    next_audio = 0.0
    next_sample = 0.0
    next_allocation = 0.0
    for step in range(round(duration / tick) + 1):
        now = clock[0] = step * tick
        path.step(now)
        if now >= next_allocation:  # the allocator, every 200 ms
            next_allocation = now + 0.2
            room = estimator.estimate - audio_rate
            chosen = max((i for i, r in enumerate(video_layers) if r <= room), default=-1)
            if chosen != layer:
                layer = chosen
                next_keyframe = now  # a switch starts at a keyframe
            if pacer is not None:
                allocated = audio_rate + (video_layers[layer] if layer >= 0 else 0)
                pacer.set_rate(max(estimator.estimate, allocated))
        if now >= next_audio:
            next_audio += 0.02
            for _ in range(audio_streams):
                send(audio_packet)
        if now >= next_frame:
            next_frame += 1 / fps
            if layer >= 0:
                size = video_layers[layer] // 8 // fps
                if now >= next_keyframe:
                    next_keyframe = now + keyframe_every
                    size = keyframe_size
                    result.keyframes += 1
                while size > 0:
                    part = min(size, 1200)
                    send(part + 12 if part < 1200 else part)
                    size -= part
        due = [entry for entry in timers if entry[0] <= now]
        if due:
            timers[:] = [entry for entry in timers if entry[0] > now]
            for _, callback in due:
                callback()
        if now >= next_sample:
            result.samples.append((round(now, 6), estimator.estimate))
            result.video.append((round(now, 6), video_layers[layer] if layer >= 0 else 0))
            next_sample += sample_interval
    if pacer is not None:
        result.pacer_max_delay = pacer.stats.max_delay
    return result
