"""Raised hands: an ordered queue, lowered by the participant or by a moderator."""

from __future__ import annotations

from typing import Any

import pytest

from snapconf.conference.admission import JoinRequest
from snapconf.conference.conference import SfuConfig
from snapconf.conference.hands import HandQueue
from snapconf.conference.manager import Conferences
from snapconf.conference.participant import Participant
from snapconf.errors import BadMessage, NotModerator, UnknownParticipant
from snapconf.media.config import MediaConfig
from snapconf.media.server import MediaServer


def test_hands_are_queued_in_the_order_they_were_raised():
    hands = HandQueue()
    assert hands.raise_hand("pb") and hands.raise_hand("pa") and hands.raise_hand("pc")
    assert hands.queue == ["pb", "pa", "pc"]
    assert [hands.rank(p) for p in ("pb", "pa", "pc", "pz")] == [1, 2, 3, None]


def test_raising_a_raised_hand_keeps_its_place_and_changes_nothing():
    hands = HandQueue()
    hands.raise_hand("pa")
    hands.raise_hand("pb")
    assert not hands.raise_hand("pa")
    assert hands.queue == ["pa", "pb"]


def test_a_lowered_hand_leaves_the_queue_and_goes_last_when_raised_again():
    hands = HandQueue()
    for pid in ("pa", "pb", "pc"):
        hands.raise_hand(pid)
    assert hands.lower("pa")
    assert not hands.lower("pa")
    assert hands.queue == ["pb", "pc"] and hands.rank("pc") == 2
    assert hands.set("pa", True)
    assert hands.queue == ["pb", "pc", "pa"]
    assert "pa" in hands and len(hands) == 3


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


async def _room(names: list[str]):
    media = MediaServer(MediaConfig(), clock=lambda: 0.0)
    conferences = Conferences(media, SfuConfig(), lambda: 0.0)
    listeners: dict[str, Listener] = {}
    people: dict[str, Participant] = {}
    for name in names:
        listeners[name] = Listener()
        conference, people[name] = await conferences.join(
            JoinRequest("salle", name), listeners[name], webrtc=False
        )
    return conferences, conference, listeners, people


async def test_everyone_sees_the_queue_and_a_late_joiner_sees_who_raised_a_hand():
    conferences, conference, listeners, people = await _room(["alice", "bob", "mod"])
    try:
        alice, bob = people["alice"], people["bob"]
        answer = conference.set_hand(bob, True)
        assert answer == {
            "type": "handRaised",
            "participantId": bob.id,
            "raised": True,
            "by": bob.id,
            "queue": [bob.id],
        }
        conference.set_hand(alice, True)
        assert listeners["mod"].of("handRaised")[-1]["queue"] == [bob.id, alice.id]
        assert listeners["bob"].of("handRaised")[-1]["queue"] == [bob.id, alice.id]
        assert listeners["alice"].of("handRaised") == [listeners["mod"].of("handRaised")[0]]
        assert alice.describe()["handRaised"] and not people["mod"].describe()["handRaised"]
    finally:
        conferences.close()


async def test_raising_twice_tells_nobody_again():
    conferences, conference, listeners, people = await _room(["alice", "bob"])
    try:
        conference.set_hand(people["alice"], True)
        answer = conference.set_hand(people["alice"], True)
        assert answer["queue"] == [people["alice"].id]
        assert len(listeners["bob"].of("handRaised")) == 1
    finally:
        conferences.close()


async def test_a_moderator_lowers_another_hand_but_a_participant_may_not():
    conferences, conference, listeners, people = await _room(["alice", "bob", "mod"])
    try:
        alice, bob, mod = people["alice"], people["bob"], people["mod"]
        mod.role = "moderator"
        conference.set_hand(alice, True)
        conference.set_hand(bob, True)
        with pytest.raises(NotModerator):
            conference.lower_hand(bob, alice.id)
        with pytest.raises(BadMessage):
            conference.set_hand(alice, True, by=mod)
        with pytest.raises(UnknownParticipant):
            conference.lower_hand(mod, "p-nobody")
        answer = conference.lower_hand(mod, alice.id)
        assert (answer["participantId"], answer["raised"], answer["by"]) == (
            alice.id,
            False,
            mod.id,
        )
        assert answer["queue"] == [bob.id]
        assert listeners["alice"].of("handRaised")[-1]["by"] == mod.id  # she is told
        assert not alice.hand_raised
        conference.lower_hand(bob, bob.id)  # one's own hand: no moderator needed
        assert conference.hands.queue == []
    finally:
        conferences.close()


async def test_a_participant_who_leaves_takes_its_hand_down():
    conferences, conference, _, people = await _room(["alice", "bob"])
    try:
        conference.set_hand(people["alice"], True)
        conference.leave(people["alice"])
        assert conference.hands.queue == []
    finally:
        conferences.close()
