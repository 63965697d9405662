"""Every room's audio producers feed its speaker detector; the conferences' clock-driven tick
tells everyone who holds the floor (``dominantSpeaker``) and who speaks (``activeSpeakers``)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.clock import FakeClock

from snapconf.conference.admission import JoinRequest
from snapconf.conference.conference import Conference, SfuConfig
from snapconf.conference.manager import SPEAKER_INTERVAL, Conferences
from snapconf.conference.participant import Participant
from snapconf.conference.speakers import NEVER_SPOKE
from snapconf.media.config import MediaConfig
from snapconf.media.router import EXT_AUDIO_LEVEL, Codec, Producer
from snapconf.media.server import MediaServer
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header

LEVEL_ID = 1
LOUD, SILENCE = 15, 127


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class NoSink:
    def send_rtcp(self, data: bytes) -> None:
        pass


class Microphone:
    """An Opus producer with the RFC 6464 extension, fed real RTP bytes."""

    def __init__(self, conference: Conference, participant: Participant, clock: FakeClock):
        self.clock = clock
        self.ssrc = 0x1000 + len(conference.router.producers)
        self.seq = 0
        self.producer = Producer(
            producer_id=f"t-{participant.id}",
            kind="audio",
            source="microphone",
            codec=Codec("opus", 48000, 2),
            payload_type=111,
            ssrc=self.ssrc,
            mid="0",
            extension_ids={LEVEL_ID: EXT_AUDIO_LEVEL},
            sink=NoSink(),
            owner_id=participant.id,
            clock=clock.now,
        )
        conference.add_track(participant, self.producer)

    def send(self, level: int) -> None:
        self.seq += 1
        data = build_rtp_packet(
            payload_type=111,
            sequence_number=self.seq,
            timestamp=self.seq * 960,
            ssrc=self.ssrc,
            payload=b"\xfc\xff\xfe",
            extensions=[(LEVEL_ID, bytes([0x80 | level]))],
        )
        self.producer.receive_rtp(data, parse_rtp_header(data), self.clock.now())


async def _room(
    names: list[str],
) -> tuple[Conferences, FakeClock, dict[str, Listener], dict[str, Participant]]:
    clock = FakeClock()
    media = MediaServer(MediaConfig(), clock=clock.now)
    conferences = Conferences(media, SfuConfig(), clock.now, audio_clock=clock)
    listeners: dict[str, Listener] = {}
    participants: dict[str, Participant] = {}
    for name in names:
        listeners[name] = Listener()
        _, participants[name] = await conferences.join(
            JoinRequest("salle", name, address="192.0.2.1"), listeners[name], webrtc=False
        )
    await asyncio.sleep(0)  # the speaker task starts and waits for its first deadline
    return conferences, clock, listeners, participants


async def _speak(clock: FakeClock, mics: dict[str, Microphone], levels: dict[str, int], s: float):
    for _ in range(round(s / 0.02)):
        for name, level in levels.items():
            mics[name].send(level)
        await clock.advance(0.02)


async def test_the_room_tick_names_the_loud_publisher_and_passes_the_floor_with_hysteresis():
    conferences, clock, listeners, people = await _room(["alice", "bob", "carol"])
    try:
        conference = conferences.get("salle")
        assert conference is not None
        mics = {name: Microphone(conference, people[name], clock) for name in ("alice", "bob")}
        carol = listeners["carol"]
        await _speak(clock, mics, {"alice": LOUD, "bob": SILENCE}, 1.0)
        assert carol.of("dominantSpeaker") == [
            {"type": "dominantSpeaker", "participantId": people["alice"].id}
        ]
        assert carol.of("activeSpeakers")[-1]["participantIds"] == [people["alice"].id]
        assert listeners["alice"].of("dominantSpeaker")  # the speaker is told too
        assert conference.dominant_speaker == people["alice"].id
        assert conference.speaker_rank(people["bob"].id) == NEVER_SPOKE
        # bob takes over: he is heard first, and holds the floor only later
        await _speak(clock, mics, {"alice": SILENCE, "bob": LOUD}, 0.6)
        assert conference.dominant_speaker == people["alice"].id
        assert people["bob"].id in carol.of("activeSpeakers")[-1]["participantIds"]
        await _speak(clock, mics, {"alice": SILENCE, "bob": LOUD}, 3.0)
        assert [e["participantId"] for e in carol.of("dominantSpeaker")] == [
            people["alice"].id,
            people["bob"].id,
        ]
        assert conference.speaker_rank(people["bob"].id) == 0
        assert conference.speaker_rank(people["alice"].id) == 1
        # bob does not see himself on stage: for him alice, the last other speaker, is
        assert conference.speaker_rank(people["alice"].id, people["bob"].id) == 0
        assert conference.speaker_rank(people["alice"].id, people["carol"].id) == 1
        # and his receive allocator ranks that way
        assert people["bob"].allocator.rank(people["alice"].id) == 0
        assert people["carol"].allocator.rank(people["alice"].id) == 1
    finally:
        conferences.close()


async def test_a_muted_or_unpublished_microphone_no_longer_feeds_the_detector():
    conferences, clock, _listeners, people = await _room(["alice", "bob"])
    try:
        conference = conferences.get("salle")
        assert conference is not None
        mic = Microphone(conference, people["alice"], clock)
        conference.set_muted(people["alice"], mic.producer.id, True)
        await _speak(clock, {"alice": mic}, {"alice": LOUD}, 1.0)
        assert conference.dominant_speaker is None
        conference.set_muted(people["alice"], mic.producer.id, False)
        await _speak(clock, {"alice": mic}, {"alice": LOUD}, 1.0)
        assert conference.dominant_speaker == people["alice"].id
        conference._unpublish(people["alice"], people["alice"].tracks[mic.producer.id], notify=True)
        assert mic.producer.taps == ()
    finally:
        conferences.close()


async def test_the_mixer_talkers_name_a_caller_without_audio_levels():
    conferences, clock, listeners, people = await _room(["phone", "web"])
    try:
        conference = conferences.get("salle")
        assert conference is not None
        mic = Microphone(conference, people["phone"], clock)
        conference._talkers_changed([mic.producer.id])
        await clock.advance(1.0)
        assert [e["participantId"] for e in listeners["web"].of("dominantSpeaker")] == [
            people["phone"].id
        ]
    finally:
        conferences.close()


async def test_a_dominant_speaker_who_leaves_is_forgotten_and_the_tick_stops_with_the_last_room():
    conferences, clock, _listeners, people = await _room(["alice", "bob"])
    conference = conferences.get("salle")
    assert conference is not None
    mic = Microphone(conference, people["alice"], clock)
    await _speak(clock, {"alice": mic}, {"alice": LOUD}, 1.0)
    assert conference.dominant_speaker == people["alice"].id
    conference.leave(people["alice"])
    assert conference.dominant_speaker is None
    assert conference.speaker_rank(people["alice"].id) == NEVER_SPOKE
    conference.leave(people["bob"])
    assert conferences.get("salle") is None
    assert conferences._speaker_task is None
    await clock.advance(SPEAKER_INTERVAL * 5)  # nothing left to tick: no error
