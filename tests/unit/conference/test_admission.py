"""Conferences.join is the one door: the policy's grant, the room's limits, all or nothing."""

from typing import Any

import pytest

from snapconf.conference.admission import Grant, JoinRequest
from snapconf.conference.conference import SfuConfig
from snapconf.conference.manager import Conferences
from snapconf.errors import AuthRequired, RoomFull
from snapconf.media.config import MediaConfig
from snapconf.media.server import MediaServer


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        pass


class Policy:
    """Grants what it is told; refuses rooms named "ferme"."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant
        self.requests: list[JoinRequest] = []

    async def admit(self, request: JoinRequest) -> Grant:
        self.requests.append(request)
        if request.room == "ferme":
            raise AuthRequired("sign in")
        return self.grant


def _conferences(policy: Policy, max_participants: int = 50) -> Conferences:
    media = MediaServer(MediaConfig(), clock=lambda: 5.0)
    config = SfuConfig(max_participants=max_participants)
    return Conferences(media, config, lambda: 5.0, admission=policy)


async def test_a_join_takes_the_role_name_and_title_of_the_grant() -> None:
    policy = Policy(Grant(role="moderator", name="Alice M.", title="Point hebdo"))
    conferences = _conferences(policy)
    conference, participant = await conferences.join(
        JoinRequest("salle", "alice", token="t", address="192.0.2.1"), Listener()
    )
    assert (participant.role, participant.display_name, participant.kind) == (
        "moderator",
        "Alice M.",
        "browser",
    )
    assert conference.title == "Point hebdo"
    assert conference.participants == {participant.id: participant}
    assert policy.requests[0].token == "t" and policy.requests[0].address == "192.0.2.1"


async def test_a_phone_joins_through_the_same_door_without_webrtc_transports() -> None:
    conferences = _conferences(Policy(Grant()))
    _, phone = await conferences.join(
        JoinRequest("salle", "+33 1 •• •• •• 00", kind="phone"), Listener(), webrtc=False
    )
    assert phone.kind == "phone" and phone.send_transport is None


async def test_the_grant_limit_refuses_the_next_participant_of_any_kind() -> None:
    conferences = _conferences(Policy(Grant(max_participants=1)))
    conference, first = await conferences.join(JoinRequest("petite", "a"), Listener())
    for kind in ("browser", "phone", "agent"):
        with pytest.raises(RoomFull):
            await conferences.join(JoinRequest("petite", "b", kind=kind), Listener(), webrtc=False)
    assert list(conference.participants) == [first.id]


async def test_the_room_size_limit_refuses_with_the_same_error() -> None:
    conferences = _conferences(Policy(Grant(max_participants=10)), max_participants=1)
    await conferences.join(JoinRequest("salle", "a"), Listener())
    with pytest.raises(RoomFull):
        await conferences.join(JoinRequest("salle", "b"), Listener())


async def test_a_refused_first_join_leaves_no_room() -> None:
    conferences = _conferences(Policy(Grant(max_participants=0)))
    with pytest.raises(RoomFull):
        await conferences.join(JoinRequest("vide", "a"), Listener())
    with pytest.raises(AuthRequired):
        await conferences.join(JoinRequest("ferme", "a"), Listener())
    assert len(conferences) == 0


async def test_a_claim_that_refuses_leaves_nobody_behind() -> None:
    conferences = _conferences(Policy(Grant()))

    def claim() -> None:
        raise RuntimeError("went away")

    with pytest.raises(RuntimeError):
        await conferences.join(JoinRequest("salle", "a"), Listener(), claim=claim)
    assert conferences.get("salle") is None


async def test_a_request_of_an_unknown_kind_is_refused_before_the_policy_is_asked() -> None:
    policy = Policy(Grant())
    conferences = _conferences(policy)
    with pytest.raises(ValueError, match=r"request\.kind"):
        await conferences.join(JoinRequest("salle", "a", kind="robot"), Listener())
    assert policy.requests == [] and len(conferences) == 0
