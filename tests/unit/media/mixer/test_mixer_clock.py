"""The tick task: absolute deadlines, catch-up and skip rules, overruns, close."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from mixer_testkit import RTP_HEADER, Receiver, Sender, band_db
from tests.support.clock import FakeClock

from snapconf.media.mixer import Mixer, MixerConfig


class StallingClock(FakeClock):
    """A fake clock whose time can also jump without waking anyone: a blocked event loop."""

    def stall(self, seconds: float) -> None:
        self._now += seconds


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_ticks_follow_absolute_deadlines_without_drift() -> None:
    clock = FakeClock()
    mixer = Mixer(MixerConfig(), clock)
    mixer.start()
    mixer.start()  # idempotent
    await settle()
    for _ in range(50):
        await clock.advance(0.02)
    assert mixer.stats.ticks == 50
    for _ in range(100):  # uneven wake-ups do not shift the grid
        await clock.advance(0.0071)
    assert mixer.stats.ticks == 50 + 35  # 0.71 s: deadlines at 0.02 ... 0.70
    await clock.advance(0.99)  # many deadlines at once: each one runs, in order
    assert mixer.stats.ticks == 50 + 35 + 50
    assert mixer.stats.late_ticks == mixer.stats.skipped_ticks == mixer.stats.overruns == 0
    mixer.close()
    await mixer.wait_closed()


async def test_late_wake_up_catches_up() -> None:
    clock = StallingClock()
    mixer = Mixer(MixerConfig(max_catchup_ms=100), clock)
    mixer.start()
    await settle()
    await clock.advance(0.2)
    assert mixer.stats.ticks == 10
    clock.stall(0.065)  # the loop was busy for 65 ms: 3 deadlines passed
    await clock.advance(0.0)
    await settle()
    assert mixer.stats.ticks == 13  # they all ran at once
    assert mixer.stats.late_ticks >= 1
    assert mixer.stats.skipped_ticks == 0
    mixer.close()
    await mixer.wait_closed()


async def test_very_late_wake_up_skips_and_keeps_rtp_time() -> None:
    clock = StallingClock()
    mixer = Mixer(MixerConfig(max_catchup_ms=100), clock)
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 5, rx)
    mixer.start()
    await settle()
    await clock.advance(0.1)
    assert mixer.stats.ticks == 5
    clock.stall(0.5)  # half a second lost: too late to be worth catching up
    await clock.advance(0.0)
    await settle()
    st = mixer.stats
    assert st.skipped_ticks == 24
    assert st.ticks == 6
    await clock.advance(0.04)
    assert st.ticks == 8
    headers = rx.headers()
    seqs = [h[2] for h in headers]
    stamps = [h[3] for h in headers]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    assert steps == [960] * 4 + [960 * 25] + [960] * 2  # RTP time jumped with the clock
    assert headers[5][1] & 0x80  # marker: a new talkspurt after the gap
    mixer.close()
    await mixer.wait_closed()


async def test_overrun_is_counted() -> None:
    clock = StallingClock()
    mixer = Mixer(MixerConfig(), clock)
    real_tick = mixer.tick

    def slow_tick() -> None:
        real_tick()
        if mixer.stats.ticks == 3:
            clock.stall(0.03)  # this tick took 30 ms

    mixer.tick = slow_tick  # type: ignore[method-assign]
    mixer.start()
    await settle()
    for _ in range(6):
        await clock.advance(0.02)
    await settle()
    assert mixer.stats.overruns == 1
    mixer.close()
    await mixer.wait_closed()


async def test_a_failing_tick_does_not_stop_the_task() -> None:
    clock = FakeClock()
    mixer = Mixer(MixerConfig(), clock)
    calls = 0
    real_tick = mixer.tick

    def flaky_tick() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("bug")
        real_tick()

    mixer.tick = flaky_tick  # type: ignore[method-assign]
    mixer.start()
    await settle()
    for _ in range(5):
        await clock.advance(0.02)
    assert calls == 5
    assert mixer.stats.ticks == 4
    mixer.close()
    await mixer.wait_closed()


async def test_close_is_idempotent_and_final() -> None:
    clock = FakeClock()
    mixer = Mixer(MixerConfig(), clock)
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 5, rx)
    mixer.start()
    await settle()
    await clock.advance(0.04)
    mixer.close()
    mixer.close()
    await mixer.wait_closed()
    assert mixer.closed
    sent = len(rx.packets)
    await clock.advance(0.2)
    assert len(rx.packets) == sent
    with pytest.raises(ValueError, match=r"^mixer is closed$"):
        mixer.start()
    with pytest.raises(ValueError, match=r"^mixer is closed$"):
        mixer.add_input("x", "opus", 48000, 111)
    assert mixer.outputs == {} and mixer.inputs == {}
    Mixer(MixerConfig(), clock).close()  # never started: fine


def test_header_layout() -> None:
    assert RTP_HEADER.size == 12


async def test_skipped_ticks_move_the_inputs_on() -> None:
    """After skipped ticks, inputs play what is current, not a growing backlog."""
    clock = StallingClock()
    mixer = Mixer(MixerConfig(max_catchup_ms=100), clock)
    talker = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    silent = Sender(mixer.add_input("s", "opus", 48000, 111), "opus")
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 5, rx)
    mixer.start()
    await settle()
    for _ in range(20):
        talker.send()
        silent.send()
        await clock.advance(0.02)
    for _ in range(25):  # the senders go on while the loop is stuck for half a second
        talker.send()
        silent.send()
    clock.stall(0.5)
    await clock.advance(0.0)
    await settle()
    assert mixer.stats.skipped_ticks == 24
    talker.freq = 660.0  # what is said now
    for _ in range(20):
        talker.send()
        silent.send()
        await clock.advance(0.02)
    st = mixer.stats
    assert st.dropped_late == 0 and st.dropped_overflow == 0
    assert mixer.talkers == ["t"]
    pcm = rx.decode(skip_packets=len(rx.packets) - 15)
    # the listener hears the present (660 Hz), not half a second of backlog (440 Hz)
    assert band_db(pcm, 48000, 660.0) > band_db(pcm, 48000, 440.0) + 20
    mixer.close()
    await mixer.wait_closed()
