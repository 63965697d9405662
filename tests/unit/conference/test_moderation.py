"""Moderation is conference state: lock, removals, the waiting room, the moderator's acts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snapconf.conference import moderation as mod
from snapconf.conference.admission import Grant, JoinRequest
from snapconf.conference.conference import Conference, SfuConfig
from snapconf.conference.manager import Conferences
from snapconf.conference.participant import Participant
from snapconf.conference.phone import phone_producer
from snapconf.errors import (
    ConferenceEnded,
    ConferenceLocked,
    NotModerator,
    Refused,
    Removed,
    UnknownParticipant,
)
from snapconf.media.config import MediaConfig
from snapconf.media.server import MediaServer


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed_reasons: list[str] = []

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        self.closed_reasons.append(reason)

    def of_type(self, mtype: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == mtype]


class Policy:
    """Moderators are those named "mod..."; a token is the participant's ``sub``."""

    def __init__(self, *, booked: bool = False, lobby: bool = False) -> None:
        self.booked = booked
        self.lobby = lobby

    async def admit(self, request: JoinRequest) -> Grant:
        role = "moderator" if request.display_name.startswith("mod") else "participant"
        subject = request.token if isinstance(request.token, str) else None
        return Grant(role=role, subject=subject, booked=self.booked, lobby=self.lobby)


def _conferences(policy: Policy | None = None, **sfu: Any) -> Conferences:
    media = MediaServer(MediaConfig(), clock=lambda: 5.0)
    return Conferences(media, SfuConfig(**sfu), lambda: 5.0, admission=policy or Policy())


async def _join(
    conferences: Conferences,
    name: str,
    *,
    kind: str = "browser",
    token: str | None = None,
    address: str = "192.0.2.1",
) -> tuple[Conference, Participant, Listener]:
    listener = Listener()
    conference, participant = await conferences.join(
        JoinRequest("salle", name, kind=kind, token=token, address=address),
        listener,
        webrtc=False,
    )
    return conference, participant, listener


def _with_microphone(conference: Conference, participant: Participant) -> str:
    producer = phone_producer(participant.id, "PCMA", 8, 8000, lambda: 5.0)
    return conference.add_track(participant, producer).id


async def test_a_participant_who_is_not_a_moderator_may_not_moderate() -> None:
    conferences = _conferences()
    _conference, alice, _ = await _join(conferences, "alice")
    with pytest.raises(NotModerator):
        mod.require_moderator(alice)
    mod.require_moderator(None)  # the organiser, through the API


async def test_mute_all_mutes_everyone_but_the_moderators() -> None:
    conferences = _conferences()
    conference, moderator, mod_events = await _join(conferences, "moderatrice")
    _, alice, alice_events = await _join(conferences, "alice")
    _, bob, _ = await _join(conferences, "bob")
    own = _with_microphone(conference, moderator)
    tracks = {p.id: _with_microphone(conference, p) for p in (alice, bob)}
    assert sorted(mod.mute_all(conference, moderator)) == sorted([alice.id, bob.id])
    for participant in (alice, bob):
        assert participant.tracks[tracks[participant.id]].producer.muted
    assert not moderator.tracks[own].producer.muted
    muted = alice_events.of_type("trackMuted")
    assert {(e["participantId"], e["by"]) for e in muted} == {
        (alice.id, "moderator"),
        (bob.id, "moderator"),
    }
    assert mod.mute_all(conference, moderator) == []  # nobody left to mute
    assert mod_events.of_type("trackMuted")


async def test_asking_to_unmute_tells_the_participant_and_opens_nothing() -> None:
    conferences = _conferences()
    conference, moderator, _ = await _join(conferences, "moderatrice")
    _, alice, alice_events = await _join(conferences, "alice")
    track = _with_microphone(conference, alice)
    mod.mute(conference, alice)
    mod.ask_unmute(conference, alice, moderator)
    assert alice_events.of_type("unmuteRequested") == [
        {"type": "unmuteRequested", "by": moderator.id}
    ]
    assert alice.tracks[track].producer.muted


async def test_a_removed_identity_may_not_rejoin_the_conference() -> None:
    conferences = _conferences()
    conference, _moderator, _ = await _join(conferences, "moderatrice")
    _, alice, alice_events = await _join(conferences, "alice", token="agent-42")
    mod.remove(conference, alice)
    assert alice_events.closed_reasons == ["removed"]
    assert alice.id not in conference.participants
    with pytest.raises(Removed):
        await _join(conferences, "Alice sous un autre nom", token="agent-42")
    # without a token: the address and the display name
    _, bob, _ = await _join(conferences, "bob", address="198.51.100.7")
    mod.remove(conference, bob)
    with pytest.raises(Removed):
        await _join(conferences, " BOB ", address="198.51.100.7")
    await _join(conferences, "bob", address="198.51.100.8")  # someone else


async def test_a_locked_conference_refuses_newcomers_but_not_moderators() -> None:
    conferences = _conferences()
    conference, _, events = await _join(conferences, "moderatrice")
    mod.set_locked(conference, True)
    assert events.of_type("moderationChanged")[-1] == {
        "type": "moderationChanged",
        "locked": True,
        "lobby": False,
    }
    with pytest.raises(ConferenceLocked):
        await _join(conferences, "alice")
    with pytest.raises(ConferenceLocked):
        await _join(conferences, "+33 6 •• •• •• 12", kind="phone")
    await _join(conferences, "moderateur")
    mod.set_locked(conference, False)
    await _join(conferences, "alice")


async def test_a_waiting_newcomer_is_no_participant_until_a_moderator_admits_it() -> None:
    conferences = _conferences()
    conference, _moderator, mod_events = await _join(conferences, "moderatrice")
    mod.set_lobby(conference, True)
    held: list[str] = []
    listener = Listener()
    join = asyncio.ensure_future(
        conferences.join(
            JoinRequest("salle", "alice"), listener, webrtc=False, on_waiting=held.append
        )
    )
    await asyncio.sleep(0)
    assert len(held) == 1 and not join.done()
    assert held[0] not in conference.participants
    assert mod_events.of_type("lobbyChanged")[-1]["waiting"] == [
        {"id": held[0], "displayName": "alice", "kind": "browser"}
    ]
    assert listener.events == []  # nothing of the meeting while waiting
    assert mod.admit(conference, held[0]) == held[0:1]
    _, alice = await join
    assert alice.id == held[0] and alice.id in conference.participants
    assert mod_events.of_type("lobbyChanged")[-1]["waiting"] == []


async def test_a_refused_newcomer_is_told_refused_and_never_joins() -> None:
    conferences = _conferences()
    conference, _, _ = await _join(conferences, "moderatrice")
    mod.set_lobby(conference, True)
    join = asyncio.ensure_future(_join(conferences, "alice"))
    await asyncio.sleep(0)
    (waiter,) = conference.moderation.lobby.waiting
    assert mod.refuse(conference, waiter) == [waiter]
    with pytest.raises(Refused):
        await join
    assert len(conference.participants) == 1
    with pytest.raises(UnknownParticipant):
        mod.admit(conference, waiter)


async def test_moderators_skip_the_waiting_room_and_turning_it_off_admits_everyone() -> None:
    conferences = _conferences()
    conference, _, _ = await _join(conferences, "moderatrice")
    mod.set_lobby(conference, True)
    await _join(conferences, "moderateur")  # not held
    joins = [asyncio.ensure_future(_join(conferences, n)) for n in ("alice", "bob")]
    await asyncio.sleep(0)
    assert len(conference.moderation.lobby.waiting) == 2
    mod.set_lobby(conference, False)
    await asyncio.gather(*joins)
    assert len(conference.participants) == 4


async def test_a_newcomer_who_goes_away_leaves_the_waiting_room() -> None:
    conferences = _conferences()
    conference, _, mod_events = await _join(conferences, "moderatrice")
    mod.set_lobby(conference, True)
    join = asyncio.ensure_future(_join(conferences, "alice"))
    await asyncio.sleep(0)
    join.cancel()
    with pytest.raises(asyncio.CancelledError):
        await join
    assert conference.moderation.lobby.waiting == {}
    assert mod_events.of_type("lobbyChanged")[-1]["waiting"] == []


async def test_a_booked_conference_with_a_lobby_holds_the_first_arrivals() -> None:
    conferences = _conferences(Policy(booked=True, lobby=True))
    join = asyncio.ensure_future(_join(conferences, "alice"))
    await asyncio.sleep(0)
    conference = conferences.get("salle")
    assert conference is not None and not join.done()
    # the room stays while someone waits, and the moderator who comes sees the waiter
    _, _, _mod_events = await _join(conferences, "moderatrice")
    assert conferences.get("salle") is conference
    mod.admit(conference, None)
    await join


async def test_ending_for_all_closes_everyone_and_turns_the_waiting_away() -> None:
    conferences = _conferences()
    conference, _, mod_events = await _join(conferences, "moderatrice")
    _, _, alice_events = await _join(conferences, "alice")
    _, _, phone_events = await _join(conferences, "+33 6 •• •• •• 12", kind="phone")
    mod.set_lobby(conference, True)
    waiting = asyncio.ensure_future(_join(conferences, "bob"))
    await asyncio.sleep(0)
    mod.end_for_all(conference)
    for events in (mod_events, alice_events, phone_events):
        assert events.closed_reasons == ["ended_by_moderator"]
    with pytest.raises(ConferenceEnded):
        await waiting
    assert conferences.get("salle") is None


async def test_a_promoted_participant_is_a_moderator_for_everyone() -> None:
    conferences = _conferences()
    conference, _, mod_events = await _join(conferences, "moderatrice")
    _, alice, alice_events = await _join(conferences, "alice")
    assert mod.promote(conference, alice)
    assert alice.role == "moderator"
    change = {"type": "roleChanged", "participantId": alice.id, "role": "moderator"}
    assert change in mod_events.events and change in alice_events.events
    assert not mod.promote(conference, alice)
    mod.require_moderator(alice)


async def test_the_first_browser_of_an_ad_hoc_room_moderates_it_when_configured() -> None:
    conferences = _conferences(first_moderator=True)
    _, first, _ = await _join(conferences, "alice")
    _, second, _ = await _join(conferences, "bob")
    assert (first.role, second.role) == ("moderator", "participant")
    booked = _conferences(Policy(booked=True), first_moderator=True)
    _, first, _ = await _join(booked, "alice")
    assert first.role == "participant"


async def test_a_moderator_stops_a_camera_and_the_owner_is_told() -> None:
    conferences = _conferences()
    conference, _, _ = await _join(conferences, "moderatrice")
    _, alice, alice_events = await _join(conferences, "alice")
    producer = phone_producer(alice.id, "PCMA", 8, 8000, lambda: 5.0)
    producer.kind = "video"
    producer.source = "screen"
    track = conference.add_track(alice, producer)
    assert mod.stop_video(conference, alice, "camera") == 0
    assert mod.stop_video(conference, alice, "screen") == 1
    assert track.producer.muted
    assert alice_events.of_type("trackMuted")[-1]["by"] == "moderator"


async def test_a_room_that_empties_still_refuses_whom_it_removed_for_a_day() -> None:
    now = [5.0]
    media = MediaServer(MediaConfig(), clock=lambda: now[0])
    conferences = Conferences(media, SfuConfig(), lambda: now[0], admission=Policy())
    conference, alice, _ = await _join(conferences, "alice", token="agent-42")
    mod.remove(conference, alice)  # the room is empty now
    assert conferences.get("salle") is None
    with pytest.raises(Removed):
        await _join(conferences, "alice", token="agent-42")
    now[0] += mod.REMOVAL_MEMORY
    await _join(conferences, "alice", token="agent-42")
