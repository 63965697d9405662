"""The speaker detector names the dominant speaker with hysteresis and orders speakers by recency."""

from __future__ import annotations

from snapconf.conference.speakers import NEVER_SPOKE, SpeakerConfig, SpeakerDetector

LOUD, QUIET, SILENCE = 20, 90, 127
PACKET = 0.02
TICK = 0.2


class Room:
    """Drives a detector with 20 ms packets and 200 ms ticks; records the changes."""

    def __init__(self, config: SpeakerConfig | None = None) -> None:
        self.detector = SpeakerDetector(config)
        self.now = 100.0
        self.changes: list[tuple[float, str | None, tuple[str, ...]]] = []
        self.detector.tick(self.now)

    def run(self, seconds: float, levels: dict[str, int]) -> None:
        for _ in range(round(seconds / TICK)):
            for step in range(round(TICK / PACKET)):
                for pid, level in levels.items():
                    self.detector.level(pid, level, self.now + step * PACKET)
            self.now += TICK
            change = self.detector.tick(self.now)
            if change is not None:
                self.changes.append((self.now, change.dominant, change.active))

    def dominant_changes(self) -> list[tuple[float, str | None]]:
        seen: list[tuple[float, str | None]] = []
        for when, dominant, _ in self.changes:
            if not seen or seen[-1][1] != dominant:
                seen.append((when, dominant))
        return seen


def test_nobody_is_dominant_while_everyone_is_silent():
    room = Room()
    room.run(3.0, {"p1": SILENCE, "p2": QUIET})
    assert room.detector.dominant is None
    assert room.changes == []
    assert room.detector.order() == []
    assert room.detector.rank("p1") == NEVER_SPOKE


def test_the_first_speaker_becomes_dominant_within_half_a_second():
    room = Room()
    room.run(0.6, {"p1": SILENCE, "p2": LOUD})
    assert room.detector.dominant == "p2"
    assert room.changes[0][1:] == ("p2", ("p2",))
    assert room.detector.rank("p2") == 0
    assert room.detector.rank("p1") == NEVER_SPOKE


def test_a_dominant_speaker_who_falls_silent_keeps_the_floor():
    room = Room()
    room.run(2.0, {"p1": LOUD, "p2": SILENCE})
    room.run(5.0, {"p1": SILENCE, "p2": SILENCE})
    assert room.detector.dominant == "p1"
    assert room.detector.active() == ()


def test_a_challenger_takes_the_floor_only_after_speaking_more_for_a_second():
    room = Room()
    room.run(3.0, {"p1": LOUD, "p2": SILENCE})
    start = room.now
    room.run(4.0, {"p1": SILENCE, "p2": LOUD})
    changes = room.dominant_changes()
    assert [d for _, d in changes] == ["p1", "p2"]
    switched = changes[1][0] - start
    assert 1.0 <= switched <= 3.0


def test_a_short_interjection_does_not_take_the_floor():
    room = Room()
    room.run(4.0, {"p1": LOUD, "p2": SILENCE})
    room.run(0.6, {"p1": LOUD, "p2": LOUD})
    room.run(2.0, {"p1": LOUD, "p2": SILENCE})
    assert [d for _, d in room.dominant_changes()] == ["p1"]
    # but p2 was heard: the active set grew and shrank again
    assert any(active == ("p1", "p2") for _, _, active in room.changes)
    assert room.changes[-1][2] == ("p1",)


def test_the_dominant_speaker_never_changes_while_two_talk_equally():
    room = Room()
    room.run(2.0, {"p1": LOUD})
    room.run(10.0, {"p1": LOUD, "p2": LOUD})
    assert [d for _, d in room.dominant_changes()] == ["p1"]


def test_the_order_puts_the_dominant_first_then_the_most_recent_speakers():
    room = Room()
    room.run(2.0, {"a": LOUD})
    room.run(3.0, {"b": LOUD})
    room.run(3.0, {"c": LOUD})
    room.run(2.0, {"a": SILENCE, "b": SILENCE, "c": SILENCE, "d": SILENCE})
    detector = room.detector
    assert detector.dominant == "c"
    assert detector.order() == ["c", "b", "a"]
    assert [detector.rank(p) for p in "cbad"] == [0, 1, 2, NEVER_SPOKE]


def test_the_audio_bridge_talkers_count_as_speech_for_callers_without_levels():
    room = Room()
    room.detector.talkers(["phone"])
    room.run(1.0, {})
    assert room.detector.dominant == "phone"
    room.detector.talkers([])
    room.run(3.0, {"web": LOUD})
    assert room.detector.dominant == "web"


def test_a_dominant_speaker_who_leaves_leaves_the_floor_to_the_next_speaker():
    room = Room()
    room.run(2.0, {"p1": LOUD})
    room.detector.remove("p1")
    assert room.detector.dominant is None
    assert room.detector.order() == []
    room.run(0.6, {"p2": LOUD})
    assert room.detector.dominant == "p2"
    room.detector.remove("unknown")  # no-op


def test_the_voice_activity_bit_is_ignored():
    room = Room()
    room.run(1.0, {"p1": 0x80 | SILENCE})
    assert room.detector.dominant is None
    room.run(1.0, {"p1": 0x80 | LOUD})
    assert room.detector.dominant == "p1"


def test_a_tick_without_time_passing_changes_nothing():
    detector = SpeakerDetector()
    assert detector.tick(5.0) is None
    detector.level("p1", LOUD, 5.0)
    assert detector.tick(5.0) is None
    assert detector.tick(4.0) is None


def test_the_switch_delay_follows_the_config():
    fast = Room(SpeakerConfig(switch_after=0.2))
    fast.run(3.0, {"p1": LOUD})
    start = fast.now
    fast.run(3.0, {"p1": SILENCE, "p2": LOUD})
    slow = Room(SpeakerConfig(switch_after=1.5))
    slow.run(3.0, {"p1": LOUD})
    slow.run(3.0, {"p1": SILENCE, "p2": LOUD})
    fast_at = fast.dominant_changes()[1][0] - start
    slow_at = slow.dominant_changes()[1][0] - start
    assert slow_at - fast_at >= 1.2
