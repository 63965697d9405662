"""The relay's shaper, without sockets: bottleneck rate and queue, delay, jitter, loss, schedule."""

from __future__ import annotations

import random

import pytest
from tests.support.netrelay import (
    LinkConfig,
    Shaper,
    parse_rate,
    parse_schedule,
)

SIZE = 1200
#: SIZE on the wire: with the IPv4 and UDP headers the link carries too
WIRE = SIZE + 28


def _offer_at_rate(
    shaper: Shaper, bitrate: float, seconds: float, start: float = 0.0
) -> list[float]:
    """Offer SIZE-byte packets at ``bitrate`` for ``seconds``; return the arrival times."""
    interval = SIZE * 8 / bitrate
    out = []
    t = start
    while t < start + seconds:
        at = shaper.offer(SIZE, t)
        if at is not None:
            out.append(at)
        t += interval
    return out


def test_the_bottleneck_passes_the_rate_and_drops_the_excess_beyond_the_queue() -> None:
    shaper = Shaper(LinkConfig(rate=600_000, queue_ms=60))
    arrivals = _offer_at_rate(shaper, 3_000_000, 10.0)

    throughput = len(arrivals) * WIRE * 8 / (arrivals[-1] - arrivals[0])
    assert throughput == pytest.approx(600_000, rel=0.02)
    # 3 Mbit/s of payload is 3.07 Mbit/s on the wire: 80.5 % of it finds the queue full
    dropped = 1 - 600_000 / (3_000_000 * WIRE / SIZE)
    assert shaper.stats.dropped_queue == pytest.approx(shaper.stats.packets_in * dropped, rel=0.02)
    assert shaper.stats.forwarded + shaper.stats.dropped_queue == shaper.stats.packets_in
    assert 0.055 <= shaper.stats.max_queue_delay <= 0.060
    assert shaper.stats.queue_drop_ratio == pytest.approx(dropped, rel=0.02)


def test_under_the_rate_nothing_is_dropped_and_nothing_waits() -> None:
    shaper = Shaper(LinkConfig(rate=600_000, queue_ms=60))
    arrivals = _offer_at_rate(shaper, 500_000, 5.0)

    assert shaper.stats.dropped_queue == 0
    assert len(arrivals) == shaper.stats.packets_in
    assert shaper.stats.max_queue_delay == 0.0
    # each packet arrives its serialisation time after it was sent
    assert arrivals[0] == pytest.approx(WIRE * 8 / 600_000)


def test_a_burst_waits_its_serialisation_time_then_the_tail_is_dropped() -> None:
    shaper = Shaper(LinkConfig(rate=1_000_000, queue_ms=50, overhead_bytes=0))
    # 1200 bytes at 1 Mbit/s: 9.6 ms each; a 50 ms queue holds the first 6 behind the link
    arrivals = [shaper.offer(SIZE, 1.0) for _ in range(10)]

    kept = [a for a in arrivals if a is not None]
    assert len(kept) == 6
    assert arrivals[6:] == [None] * 4
    assert kept == pytest.approx([1.0 + 0.0096 * (i + 1) for i in range(6)])
    assert shaper.stats.mean_queue_delay == pytest.approx(0.0096 * 2.5)


def test_a_byte_bound_queue_drops_what_finds_more_bytes_ahead() -> None:
    shaper = Shaper(LinkConfig(rate=1_000_000, queue_ms=1000, queue_bytes=3 * WIRE))
    arrivals = [shaper.offer(SIZE, 0.0) for _ in range(5)]

    assert [a is not None for a in arrivals] == [True, True, True, False, False]


def test_a_fixed_delay_is_added_to_every_packet() -> None:
    shaper = Shaper(LinkConfig(delay_ms=40))

    assert [shaper.offer(SIZE, t) for t in (0.0, 0.5, 1.0)] == pytest.approx([0.04, 0.54, 1.04])


def test_jitter_spreads_arrivals_around_the_delay_without_reordering() -> None:
    shaper = Shaper(LinkConfig(delay_ms=50, jitter_ms=20), rng=random.Random(7))
    sends = [i * 0.005 for i in range(2000)]
    arrivals = [shaper.offer(SIZE, t) for t in sends]

    assert all(a is not None for a in arrivals)
    delays = [a - t for a, t in zip(arrivals, sends, strict=True) if a is not None]
    assert min(delays) >= 0.030 - 1e-9
    assert max(delays) > 0.065
    assert sum(delays) / len(delays) == pytest.approx(0.050, abs=0.01)
    assert arrivals == sorted(arrivals)  # type: ignore[type-var]


def test_jitter_reorders_packets_when_asked() -> None:
    shaper = Shaper(LinkConfig(delay_ms=50, jitter_ms=20, reorder=True), rng=random.Random(7))
    arrivals = [shaper.offer(SIZE, i * 0.005) for i in range(2000)]

    assert arrivals != sorted(arrivals)  # type: ignore[type-var]
    delays = [a - i * 0.005 for i, a in enumerate(arrivals) if a is not None]
    assert min(delays) >= 0.030 - 1e-9 and max(delays) <= 0.070 + 1e-9


def test_random_loss_is_within_statistical_bounds() -> None:
    shaper = Shaper(LinkConfig(loss=0.05), rng=random.Random(1))
    n = 20_000
    kept = sum(shaper.offer(SIZE, i * 0.001) is not None for i in range(n))

    # binomial: sigma = sqrt(n p (1-p)) = 30.8 packets; allow 4 sigma
    assert abs(shaper.stats.dropped_loss - n * 0.05) < 4 * 30.8
    assert kept + shaper.stats.dropped_loss == n
    assert shaper.stats.dropped_queue == 0


def test_bursty_loss_comes_in_runs_at_the_gilbert_elliott_rate() -> None:
    # p(good->bad) = 0.01, p(bad->good) = 0.25: bursts of 4 packets on average,
    # stationary bad share 0.01 / (0.01 + 0.25) = 3.85 %
    shaper = Shaper(
        LinkConfig(burst_enter=0.01, burst_exit=0.25, burst_loss=1.0), rng=random.Random(3)
    )
    n = 50_000
    lost = [shaper.offer(SIZE, i * 0.001) is None for i in range(n)]

    assert sum(lost) / n == pytest.approx(0.01 / 0.26, rel=0.15)
    runs = []
    run = 0
    for x in lost:
        if x:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert sum(runs) / len(runs) == pytest.approx(4.0, rel=0.15)


def test_the_schedule_switches_the_link_at_its_times() -> None:
    fast = LinkConfig(rate=5_000_000, queue_ms=60)
    slow = LinkConfig(rate=600_000, queue_ms=60)
    shaper = Shaper(fast, schedule=[(20.0, slow), (50.0, fast)], now=100.0)

    def throughput(start: float) -> float:
        before = shaper.stats.bytes_forwarded
        _offer_at_rate(shaper, 2_000_000, 5.0, start=start)
        return (shaper.stats.bytes_forwarded - before) * 8 / 5.0

    assert throughput(110.0) == pytest.approx(2_000_000, rel=0.02)
    assert shaper.config == fast
    assert throughput(125.0) == pytest.approx(600_000 * SIZE / WIRE, rel=0.03)
    assert shaper.config == slow
    assert throughput(155.0) == pytest.approx(2_000_000, rel=0.02)
    assert shaper.config == fast


def test_rates_and_schedules_parse_from_the_command_line_forms() -> None:
    assert parse_rate("600k") == 600_000
    assert parse_rate("5M") == 5_000_000
    assert parse_rate("64000") == 64_000
    base = LinkConfig(queue_ms=80)
    assert parse_schedule("20:600k,50:5M", base) == [
        (20.0, LinkConfig(rate=600_000, queue_ms=80)),
        (50.0, LinkConfig(rate=5_000_000, queue_ms=80)),
    ]
    with pytest.raises(ValueError, match=r"^not a rate: 'fast' \(e.g. 600k, 5M\)$"):
        parse_rate("fast")
    with pytest.raises(ValueError, match=r"^not a schedule entry: '20' \(seconds:rate"):
        parse_schedule("20", base)


def test_a_loss_probability_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^loss must be within 0..1, not 1.5$"):
        LinkConfig(loss=1.5)
