"""The pacer spreads a receiver's packets at a multiple of its estimate, in order, and
keeps the transport-wide send-time log truthful (snapconf.media.pacer)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from tests.support.bwe_sim import BudgetedSender

from snapconf.media.bwe import BweConfig, SendSideEstimator, SentLog
from snapconf.media.pacer import Pacer, PacerConfig


class Timers:
    """A fake clock with ``call_later``: time moves only through :meth:`run_until`."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def clock(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> object:
        self.pending.append((self.now + delay, callback))
        return object()

    def run_until(self, deadline: float) -> None:
        while self.pending:
            self.pending.sort(key=lambda entry: entry[0])
            when, callback = self.pending[0]
            if when > deadline:
                break
            self.pending.pop(0)
            self.now = when
            callback()
        self.now = deadline


def _paced(send: Callable[[bytes, bytes], None], **kwargs: Any) -> tuple[Pacer, BudgetedSender]:
    pacer = Pacer(**kwargs)
    sink = BudgetedSender(send)
    pacer.attach(sink)
    return pacer, sink


def _pacer(
    timers: Timers, sent: list[tuple[float, bytes]], rate: float, log: SentLog | None = None
) -> tuple[Pacer, BudgetedSender]:
    return _paced(
        lambda head, body: sent.append((timers.now, head + body)),
        clock=timers.clock,
        schedule=timers.schedule,
        log=log,
        config=PacerConfig(factor=1.0, min_rate=10_000, max_queue_time=10.0),
        rate=rate,
    )


def test_a_packet_goes_at_once_while_the_budget_allows_and_nothing_waits() -> None:
    timers = Timers()
    sent: list[tuple[float, bytes]] = []
    pacer, sink = _pacer(timers, sent, rate=1_000_000)
    timers.now += 0.01
    sink.send_rtp(b"h" * 12, b"x" * 988)
    assert sent == [(timers.now, b"h" * 12 + b"x" * 988)]
    assert pacer.queued == 0 and not timers.pending


def test_a_burst_leaves_at_the_pace_rate_and_in_order() -> None:
    timers = Timers()
    sent: list[tuple[float, bytes]] = []
    pacer, sink = _pacer(timers, sent, rate=800_000)  # 100 kB/s: a 1000-byte packet per 10 ms
    start = timers.now
    burst = [bytes([i]) * 1000 for i in range(20)]  # a 20 kB keyframe, all at once
    for packet in burst:
        sink.send_rtp(packet[:12], packet[12:])
    assert len(sent) == 1
    timers.run_until(start + 1.0)
    assert [data for _, data in sent] == burst
    span = sent[-1][0] - sent[0][0]
    assert 0.17 <= span <= 0.2  # 19 more packets at 10 ms each
    assert pacer.stats.queued == 19 and pacer.stats.max_delay == pytest.approx(span, abs=0.01)


def test_no_packet_waits_longer_than_the_queue_time_limit() -> None:
    timers = Timers()
    sent: list[tuple[float, bytes]] = []
    pacer, sink = _paced(
        lambda head, body: sent.append((timers.now, head + body)),
        clock=timers.clock,
        schedule=timers.schedule,
        config=PacerConfig(factor=1.0, min_rate=10_000, max_queue_time=0.1),
        rate=80_000,  # 10 kB/s: 100 packets of 1000 bytes would take 10 s
    )
    start = timers.now
    for _ in range(100):
        sink.send_rtp(b"h" * 12, b"x" * 988)
    timers.run_until(start + 1.0)
    assert len(sent) == 100
    assert sent[-1][0] - start <= 0.1 + pacer.config.interval + 1e-9
    assert pacer.stats.max_delay <= 0.1 + pacer.config.interval + 1e-9
    # what was forced out is not owed: the next packet is paced again, not held a second
    timers.run_until(timers.now + 0.2)
    sink.send_rtp(b"h" * 12, b"x" * 988)
    sink.send_rtp(b"h" * 12, b"x" * 988)
    timers.run_until(timers.now + 0.3)
    assert len(sent) == 102 and sent[-1][0] - sent[-2][0] <= 0.11


def test_a_paced_packet_is_logged_with_its_departure_and_read_only_once_gone() -> None:
    timers = Timers()
    sent: list[tuple[float, bytes]] = []
    log = SentLog(64)
    estimator = SendSideEstimator(BweConfig())
    estimator.attach(log)
    _, sink = _pacer(timers, sent, rate=800_000, log=log)
    start = timers.now
    numbers = []
    for _ in range(5):  # what Consumer.send does: stamp, send, then write the send time
        number = log.record(1000, timers.now)
        numbers.append(number)
        sink.send_rtp(b"h" * 12, b"x" * 988)
        log.times[number & log.mask] = timers.now
    assert log.held == numbers[1]  # the first went at once; the others wait
    estimator.catch_up()
    assert estimator._synced == numbers[0]
    timers.run_until(start + 1.0)
    assert log.held == -1
    departures = [log.times[n & log.mask] for n in numbers]
    assert departures == [t for t, _ in sent]
    assert departures[-1] - departures[0] >= 0.039
    estimator.catch_up()
    assert estimator._synced == numbers[-1]


def test_the_pace_follows_the_estimate_times_the_factor_with_a_floor() -> None:
    timers = Timers()
    pacer = Pacer(
        clock=timers.clock,
        schedule=timers.schedule,
        config=PacerConfig(factor=1.5, min_rate=300_000),
    )
    pacer.set_rate(1_000_000)
    assert pacer.rate == pytest.approx(1_500_000)
    pacer.set_rate(100_000)
    assert pacer.rate == pytest.approx(300_000)


def test_a_closed_pacer_drops_what_waits_and_a_send_error_loses_only_that_packet() -> None:
    timers = Timers()
    sent: list[bytes] = []

    def send(head: bytes, body: bytes) -> None:
        if body == b"bad":
            raise ValueError("refused")
        sent.append(body)

    log = SentLog(64)
    pacer, sink = _paced(
        send,
        clock=timers.clock,
        schedule=timers.schedule,
        log=log,
        config=PacerConfig(factor=1.0, min_rate=10_000),
        rate=80_000,
    )
    for body in (b"a" * 500, b"bad", b"c" * 500, b"d" * 500):
        log.record(500, timers.now)
        sink.send_rtp(b"h" * 12, body)
    timers.run_until(timers.now + 0.2)
    assert sent == [b"a" * 500, b"c" * 500, b"d" * 500] and pacer.stats.errors == 1
    for _ in range(3):
        log.record(500, timers.now)
        sink.send_rtp(b"h" * 12, b"e" * 500)
    pacer.close()
    pacer.close()
    assert pacer.queued == 0 and log.held == -1
    assert sink.budget == math.inf and sink.over_budget is None  # unpaced from now on
    timers.run_until(timers.now + 1.0)
    assert sent[-1] == b"e" * 500 and len(sent) == 4
    sink.send_rtp(b"h" * 12, b"f" * 500)
    assert sent[-1] == b"f" * 500


def test_without_a_timer_nothing_waits() -> None:
    sent: list[bytes] = []
    _, sink = _paced(
        lambda head, body: sent.append(body),
        clock=lambda: 5.0,
        schedule=lambda delay, callback: None,
        config=PacerConfig(factor=1.0, min_rate=10_000),
        rate=10_000,
    )
    for i in range(10):
        sink.send_rtp(b"h", bytes([i]) * 1000)
    assert [b[0] for b in sent] == list(range(10))
