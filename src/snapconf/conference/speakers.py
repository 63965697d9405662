"""Dominant speaker detection: who holds the floor, and who spoke most recently.

Pure and synchronous, with time passed in (no clock of its own). It is fed per audio
packet with the RFC 6464 audio level (RFC 6464 §3: 0 = loudest, 127 = silence, in -dBov)
through :meth:`SpeakerDetector.level`, and for callers without the level extension (phones)
with the audio bridge's talker set through :meth:`SpeakerDetector.talkers`.
:meth:`SpeakerDetector.tick` runs every ~200 ms and decides.

Like Jitsi's ``DominantSpeakerIdentification`` but simpler: each speaker has a *short*
and a *long* activity score, exponential averages (time constants
:attr:`SpeakerConfig.short_window` and :attr:`SpeakerConfig.long_window`) of the share of
time it spoke. A speaker is *active* while its short score is at least
:attr:`SpeakerConfig.active_threshold` (it stops being active under half of that, so the
set does not flap). The first active speaker becomes dominant; a challenger replaces the
dominant speaker only once it is active and its long score has exceeded the dominant's by
:attr:`SpeakerConfig.margin` for :attr:`SpeakerConfig.switch_after` seconds. Silence never
makes a new dominant speaker: a dominant speaker who stops keeps the floor until someone
else speaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: :meth:`SpeakerDetector.rank` of someone who never spoke
NEVER_SPOKE = 1 << 30


@dataclass(slots=True)
class SpeakerConfig:
    #: RFC 6464 levels at or below this (-dBov) are speech
    speech_level: int = 50
    #: time constant (s) of the short activity score: who is speaking now
    short_window: float = 0.3
    #: time constant (s) of the long activity score: who holds the floor
    long_window: float = 1.0
    #: a speaker is active from this short score (share of time speaking, 0..1)
    active_threshold: float = 0.25
    #: how much more a challenger must have spoken (long score) than the dominant speaker
    margin: float = 0.1
    #: ... and for how long (s) before it takes the floor
    switch_after: float = 1.0
    #: the duration (s) counted for a speech packet that follows silence or a gap
    packet_time: float = 0.02


@dataclass(slots=True, frozen=True)
class SpeakerChange:
    """What :meth:`SpeakerDetector.tick` found changed."""

    dominant: str | None
    #: the active speakers: the dominant one first, then in the order they began
    active: tuple[str, ...]
    dominant_changed: bool
    active_changed: bool


class _Speaker:
    __slots__ = (
        "active",
        "last_packet",
        "last_spoke",
        "long",
        "order",
        "short",
        "spoken",
        "talker",
    )

    def __init__(self, order: int) -> None:
        #: seconds of speech since the last tick
        self.spoken = 0.0
        self.last_packet = -1e9
        #: one of the audio bridge's talkers (phones: no level extension)
        self.talker = False
        self.short = 0.0
        self.long = 0.0
        self.active = False
        #: tick time when it was last active
        self.last_spoke = -1e9
        #: when it became known (ties of recency)
        self.order = order


class SpeakerDetector:
    """The dominant speaker and the speaker order of one conference."""

    def __init__(self, config: SpeakerConfig | None = None) -> None:
        self.config = config or SpeakerConfig()
        #: the participant id holding the floor, or None until someone spoke
        self.dominant: str | None = None
        self._speakers: dict[str, _Speaker] = {}
        self._count = 0
        self._last_tick: float | None = None
        self._challenger: str | None = None
        self._challenger_since = 0.0
        self._active: list[str] = []
        self._order: list[str] = []
        self._rank: dict[str, int] = {}

    def _speaker(self, participant_id: str) -> _Speaker:
        speaker = self._speakers.get(participant_id)
        if speaker is None:
            self._count += 1
            speaker = self._speakers[participant_id] = _Speaker(self._count)
        return speaker

    def level(self, participant_id: str, level: int, now: float) -> None:
        """One audio packet's RFC 6464 level (the V bit is ignored); O(1).

        Called on the packet path: after a participant's first packet it allocates nothing.
        """
        speaker = self._speakers.get(participant_id)
        if speaker is None:
            speaker = self._speaker(participant_id)
        if (level & 0x7F) <= self.config.speech_level:
            gap = now - speaker.last_packet
            packet_time = self.config.packet_time
            speaker.spoken += gap if 0 < gap <= 3 * packet_time else packet_time
        speaker.last_packet = now

    def talkers(self, participant_ids: list[str]) -> None:
        """The audio bridge's talkers now: they count as speaking until the next call."""
        for speaker in self._speakers.values():
            speaker.talker = False
        for participant_id in participant_ids:
            self._speaker(participant_id).talker = True

    def remove(self, participant_id: str) -> None:
        """Forget a participant that left; if it held the floor, nobody holds it."""
        if self._speakers.pop(participant_id, None) is None:
            return
        if self.dominant == participant_id:
            self.dominant = None
        if self._challenger == participant_id:
            self._challenger = None
        if participant_id in self._active:
            self._active.remove(participant_id)
        self._reorder()

    def tick(self, now: float) -> SpeakerChange | None:
        """Update the scores and decide; returns what changed, or None."""
        last, self._last_tick = self._last_tick, now
        if last is None or now <= last:
            return None
        config = self.config
        dt = now - last
        short_gain = 1.0 - math.exp(-dt / config.short_window)
        long_gain = 1.0 - math.exp(-dt / config.long_window)
        active_changed = False
        for participant_id, speaker in self._speakers.items():
            activity = 1.0 if speaker.talker else min(1.0, speaker.spoken / dt)
            speaker.spoken = 0.0
            speaker.short += (activity - speaker.short) * short_gain
            speaker.long += (activity - speaker.long) * long_gain
            if speaker.active:
                if speaker.short < config.active_threshold / 2:
                    speaker.active = False
                    self._active.remove(participant_id)
                    active_changed = True
            elif speaker.short >= config.active_threshold:
                speaker.active = True
                self._active.append(participant_id)
                active_changed = True
            if speaker.active:
                speaker.last_spoke = now
        before = self.dominant
        self._decide(now)
        dominant_changed = self.dominant != before
        if not (dominant_changed or active_changed):
            if self._active:
                self._reorder()  # recency moves while people speak
            return None
        self._reorder()
        return SpeakerChange(
            dominant=self.dominant,
            active=self.active(),
            dominant_changed=dominant_changed,
            active_changed=active_changed or dominant_changed,
        )

    def _decide(self, now: float) -> None:
        best: str | None = None
        best_score = -1.0
        for participant_id in self._active:
            score = self._speakers[participant_id].long
            if score > best_score:
                best, best_score = participant_id, score
        if best is None:
            self._challenger = None
            return
        if self.dominant is None:
            self.dominant = best
            self._challenger = None
            return
        if best == self.dominant:
            self._challenger = None
            return
        current = self._speakers[self.dominant].long
        if best_score < current + self.config.margin:
            self._challenger = None
            return
        if self._challenger != best:
            self._challenger = best
            self._challenger_since = now
        elif now - self._challenger_since >= self.config.switch_after:
            self.dominant = best
            self._challenger = None

    def _reorder(self) -> None:
        speakers = self._speakers
        spoke = [pid for pid, s in speakers.items() if s.last_spoke > -1e9 and pid != self.dominant]
        spoke.sort(key=lambda pid: (-speakers[pid].last_spoke, -speakers[pid].long, pid))
        if self.dominant is not None:
            spoke.insert(0, self.dominant)
        self._order = spoke
        self._rank = {pid: i for i, pid in enumerate(spoke)}

    def active(self) -> tuple[str, ...]:
        """Who is speaking now: the dominant speaker first, then in the order they began."""
        dominant = self.dominant
        rest = tuple(pid for pid in self._active if pid != dominant)
        return (dominant, *rest) if dominant in self._active else rest

    def order(self) -> list[str]:
        """Everyone who spoke, the dominant speaker first, then the most recent first."""
        return list(self._order)

    def rank(self, participant_id: str) -> int:
        """0 for the dominant speaker, 1 for the most recent other speaker, ...;
        :data:`NEVER_SPOKE` for someone who never spoke."""
        return self._rank.get(participant_id, NEVER_SPOKE)
