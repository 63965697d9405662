"""Talker selection: K loudest, hysteresis, hold time, hangover, events."""

from __future__ import annotations

from mixer_testkit import Receiver, Sender, band_db, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.mixer import Mixer, MixerConfig


def bridge(
    amps: dict[str, float],
    config: MixerConfig | None = None,
) -> tuple[Mixer, dict[str, Sender], list[tuple[int, list[str]]]]:
    events: list[tuple[int, list[str]]] = []
    mixer = Mixer(
        config or MixerConfig(),
        FakeClock(),
        on_talkers=lambda ids: events.append((mixer.stats.ticks, ids)),
    )
    freqs = iter([400.0, 550.0, 700.0, 850.0, 1000.0, 1150.0])
    senders = {
        pid: Sender(mixer.add_input(pid, "opus", 48000, 111), "opus", next(freqs), amp)
        for pid, amp in amps.items()
    }
    return mixer, senders, events


def test_k_loudest_are_selected() -> None:
    mixer, senders, events = bridge({"a": 3000, "b": 6000, "c": 12000, "d": 1500, "e": 0})
    run_ticks(mixer, list(senders.values()), 10)
    assert sorted(mixer.talkers) == ["a", "b", "c"]
    assert len(events) == 1  # one event when the floor was first taken, no flapping after
    assert sorted(events[0][1]) == ["a", "b", "c"]


def test_fourth_louder_talker_replaces_quietest_only_after_hold_time() -> None:
    config = MixerConfig(hold_ms=400)
    mixer, senders, events = bridge({"a": 4000, "b": 6000, "c": 8000, "d": 0}, config)
    rx = Receiver("opus")
    mixer.add_output("listener", "opus", 111, 7, rx)
    run_ticks(mixer, list(senders.values()), 25)
    assert sorted(mixer.talkers) == ["a", "b", "c"]
    senders["d"].amp = 20000.0  # starts speaking, louder than everyone (its packets say so)
    start = mixer.stats.ticks
    hold_ticks = 400 // 20
    replaced_at = None
    for _ in range(hold_ticks + 10):
        run_ticks(mixer, list(senders.values()), 1)
        if "d" in mixer.talkers:
            replaced_at = mixer.stats.ticks
            break
    assert replaced_at is not None
    # d is louder from the jitter-buffer delay (2 ticks) on; it waits the whole hold time
    assert hold_ticks <= replaced_at - start <= hold_ticks + 4
    assert sorted(mixer.talkers) == ["b", "c", "d"]  # "a", the quietest, made room
    assert events[-1] == (replaced_at, mixer.talkers)
    # and the listener hears d now, no longer a
    run_ticks(mixer, list(senders.values()), 30)
    pcm = rx.decode(skip_packets=len(rx.packets) - 25)
    assert band_db(pcm, 48000, 850.0) > band_db(pcm, 48000, 400.0) + 25


def test_challenger_within_hysteresis_never_replaces() -> None:
    config = MixerConfig(hysteresis_db=6.0, hold_ms=200)
    mixer, senders, events = bridge({"a": 8000, "b": 8000, "c": 8000, "d": 10000}, config)
    run_ticks(mixer, list(senders.values()), 3)  # the three first are chosen... or d
    first = sorted(mixer.talkers)
    run_ticks(mixer, list(senders.values()), 60)
    assert sorted(mixer.talkers) == first  # 2 dB louder is not enough: no flapping
    assert len(events) == 1


def test_silent_talker_leaves_after_hangover_and_waiting_input_joins_at_once() -> None:
    config = MixerConfig(talkers=2, hangover_ms=300)
    mixer, senders, events = bridge({"a": 8000, "b": 6000, "c": 0}, config)
    run_ticks(mixer, list(senders.values()), 10)
    assert sorted(mixer.talkers) == ["a", "b"]
    senders["a"].amp = 0.0
    senders["c"].amp = 3000.0  # quieter than both: could not challenge
    quiet_from = mixer.stats.ticks
    run_ticks(mixer, list(senders.values()), 40)
    assert sorted(mixer.talkers) == ["b", "c"]
    left_at = events[-1][0]
    # a's silence reaches the playout 2 ticks later, then its level decays to silence,
    # then the 300 ms (15 ticks) hangover runs
    assert 15 <= left_at - quiet_from <= 15 + 2 + 12


def test_removed_and_muted_inputs_leave_the_talkers() -> None:
    mixer, senders, events = bridge({"a": 8000, "b": 6000, "c": 4000})
    run_ticks(mixer, list(senders.values()), 6)
    assert sorted(mixer.talkers) == ["a", "b", "c"]
    senders["b"].inp.muted = True
    run_ticks(mixer, list(senders.values()), 1)
    assert sorted(mixer.talkers) == ["a", "c"]
    mixer.remove_input("a")
    run_ticks(mixer, [senders["b"], senders["c"]], 1)
    assert mixer.talkers == ["c"]
    assert [ids for _, ids in events[-2:]] == [["a", "c"], ["c"]]


def test_failing_callback_is_counted_and_ticking_goes_on() -> None:
    def boom(ids: list[str]) -> None:
        raise RuntimeError("listener bug")

    mixer = Mixer(MixerConfig(), FakeClock(), on_talkers=boom)
    s = Sender(mixer.add_input("a", "opus", 48000, 111), "opus", 440.0, 8000.0)
    run_ticks(mixer, [s], 5)
    assert mixer.talkers == ["a"]
    assert mixer.stats.callback_errors == 1
    assert mixer.stats.ticks == 5
