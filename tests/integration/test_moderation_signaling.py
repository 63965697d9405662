"""Moderators over real WebSockets: waiting room, refuse, remove, lock, mute all, end for all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import base_url

from snapconf.client import Client, SignalingError, ToneTrack

#: the first browser of an ad-hoc room is its moderator
FIRST_MODERATOR = {"sfu": {"first_moderator": True}}


def _types(client: Client) -> list[str]:
    return [e["type"] for e in client.events]


def _left(client: Client) -> list[str]:
    return [e["reason"] for e in client.events if e["type"] == "left"]


def _closed(client: Client) -> bool:
    return "socket-closed" in _types(client)


async def _until(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


async def _moderator(url: str, room: str = "salle") -> Client:
    moderator = Client(url, room, "Modératrice", decode=False)
    joined = await moderator.join()
    assert joined["role"] == "moderator"
    assert joined["moderation"] == {"locked": False, "lobby": False}
    return moderator


async def _wait_in_lobby(client: Client) -> asyncio.Task[dict[str, Any]]:
    join = asyncio.create_task(client.join())
    await client.wait_for(lambda c: "lobby" in _types(c))
    return join


async def test_a_participant_who_is_not_a_moderator_gets_not_moderator(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    alice = Client(url, "salle", "Alice", decode=False)
    try:
        assert (await alice.join())["role"] == "participant"
        for request in (
            {"type": "muteAll"},
            {"type": "setLocked", "locked": True},
            {"type": "removeParticipant", "participantId": moderator.participant_id},
            {"type": "endConference"},
        ):
            with pytest.raises(SignalingError) as info:
                await alice.request(request)
            assert info.value.code == "not_moderator"
        with pytest.raises(SignalingError) as info:
            await moderator.request({"type": "muteParticipant", "participantId": "p-nobody"})
        assert info.value.code == "unknown_participant"
        with pytest.raises(SignalingError) as info:
            await moderator.request({"type": "setLocked", "locked": "oui"})
        assert (info.value.code, info.value.message) == ("bad_message", "locked is not a boolean")
    finally:
        await alice.close()
        await moderator.close()


async def test_a_waiting_participant_receives_no_list_and_no_media_until_admitted(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    waiter = Client(url, "salle", "Bob", decode=False)
    try:
        await moderator.publish([(ToneTrack(440), "microphone")])
        await moderator.request({"type": "setLobby", "enabled": True})
        join = await _wait_in_lobby(waiter)
        lobby = next(e for e in waiter.events if e["type"] == "lobby")
        assert lobby == {"type": "lobby", "state": "waiting"}
        await moderator.wait_for(
            lambda c: any(
                e["type"] == "lobbyChanged" and [w["displayName"] for w in e["waiting"]] == ["Bob"]
                for e in c.events
            )
        )
        waiting = [e for e in moderator.events if e["type"] == "lobbyChanged"][-1]["waiting"]
        await asyncio.sleep(1.0)  # time enough for an offer, were one sent
        assert _types(waiter) == ["lobby"]
        assert waiter.recv_pc is None and not waiter.received
        assert not [e for e in moderator.events if e["type"] == "participantJoined"]
        # a waiter is nobody yet: it may not act
        with pytest.raises(SignalingError) as info:
            await waiter.request({"type": "getStats"})
        assert info.value.code == "not_joined"
        answer = await moderator.request({"type": "admit", "participantId": waiting[0]["id"]})
        assert answer["participantIds"] == [waiting[0]["id"]]
        joined = await join
        assert joined["participantId"] == waiting[0]["id"]
        assert [p["displayName"] for p in joined["participants"]] == ["Modératrice"]
        await _until(lambda: sum(t.packets for t in waiter.received.values()) > 10)
    finally:
        await waiter.close()
        await moderator.close()


async def test_a_refused_participant_is_told_refused_and_its_socket_closes(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    waiter = Client(url, "salle", "Bob", decode=False)
    try:
        await moderator.request({"type": "setLobby", "enabled": True})
        join = await _wait_in_lobby(waiter)
        answer = await moderator.request({"type": "refuse"})
        assert len(answer["participantIds"]) == 1
        with pytest.raises(SignalingError) as info:
            await join
        assert info.value.code == "refused"
        await waiter.wait_for(_closed)
        assert _left(waiter) == ["refused"]
        assert "participantJoined" not in _types(moderator)
    finally:
        await waiter.close()
        await moderator.close()


async def test_a_waiter_who_closes_its_page_leaves_the_waiting_list(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    waiter = Client(url, "salle", "Bob", decode=False)
    try:
        await moderator.request({"type": "setLobby", "enabled": True})
        join = await _wait_in_lobby(waiter)
        join.cancel()
        await waiter.close()
        await moderator.wait_for(
            lambda c: [e for e in c.events if e["type"] == "lobbyChanged"][-1]["waiting"] == []
        )
        assert server.conferences.get("salle").moderation.lobby.waiting == {}
    finally:
        await moderator.close()


async def test_a_removed_participant_cannot_rejoin(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    alice = Client(url, "salle", "Alice", decode=False)
    again = Client(url, "salle", "Alice", decode=False)
    try:
        await alice.join()
        await moderator.request(
            {"type": "removeParticipant", "participantId": alice.participant_id}
        )
        await alice.wait_for(_closed)
        assert _left(alice) == ["removed"]
        await moderator.wait_for(
            lambda c: any(
                e["type"] == "participantLeft" and e["reason"] == "removed" for e in c.events
            )
        )
        with pytest.raises(SignalingError) as info:
            await again.join()
        assert info.value.code == "removed"
    finally:
        await again.close()
        await alice.close()
        await moderator.close()


async def test_a_locked_conference_refuses_a_new_browser(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    late = Client(url, "salle", "Retardataire", decode=False)
    try:
        await moderator.request({"type": "setLocked", "locked": True})
        await moderator.wait_for(
            lambda c: any(e["type"] == "moderationChanged" and e["locked"] for e in c.events)
        )
        with pytest.raises(SignalingError) as info:
            await late.join()
        assert info.value.code == "conference_locked"
        await moderator.request({"type": "setLocked", "locked": False})
        assert (await late.join())["moderation"] == {"locked": False, "lobby": False}
    finally:
        await late.close()
        await moderator.close()


async def test_mute_all_mutes_everyone_but_the_moderators(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    others = [Client(url, "salle", name, decode=False) for name in ("Alice", "Bob")]
    try:
        await moderator.publish([(ToneTrack(300), "microphone")])
        for client in others:
            await client.join()
            await client.publish([(ToneTrack(500), "microphone")])
        answer = await moderator.request({"type": "muteAll"})
        assert sorted(answer["participantIds"]) == sorted(c.participant_id for c in others)
        for client in others:
            await client.wait_for(
                lambda c: any(
                    e["type"] == "trackMuted"
                    and e["participantId"] == c.participant_id
                    and e["by"] == "moderator"
                    and e["muted"]
                    for e in c.events
                )
            )
        conference = server.conferences.get("salle")
        for participant in conference.participants.values():
            (track,) = participant.tracks.values()
            assert track.producer.muted is (participant.role != "moderator")
        # asking to unmute is a notification: nothing opens
        target = others[0]
        await moderator.request({"type": "askToUnmute", "participantId": target.participant_id})
        await target.wait_for(lambda c: "unmuteRequested" in _types(c))
        assert all(
            t.producer.muted for t in conference.participants[target.participant_id].tracks.values()
        )
    finally:
        for client in others:
            await client.close()
        await moderator.close()


async def test_a_promoted_participant_can_moderate(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    alice = Client(url, "salle", "Alice", decode=False)
    try:
        await alice.join()
        await moderator.request({"type": "promote", "participantId": alice.participant_id})
        await alice.wait_for(
            lambda c: (
                {"type": "roleChanged", "participantId": c.participant_id, "role": "moderator"}
                in c.events
            )
        )
        await alice.request({"type": "setLocked", "locked": True})
    finally:
        await alice.close()
        await moderator.close()


async def test_ending_for_all_closes_every_socket(make_server):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    others = [Client(url, "salle", name, decode=False) for name in ("Alice", "Bob")]
    waiter = Client(url, "salle", "Carole", decode=False)
    try:
        for client in others:
            await client.join()
        await moderator.request({"type": "setLobby", "enabled": True})
        join = await _wait_in_lobby(waiter)
        await moderator.send({"type": "endConference"})
        for client in (moderator, *others):
            await client.wait_for(_closed)
            assert _left(client) == ["ended_by_moderator"]
        with pytest.raises(SignalingError) as info:
            await join
        assert info.value.code == "conference_ended"
        await waiter.wait_for(_closed)
        assert server.conferences.get("salle") is None
    finally:
        await waiter.close()
        for client in others:
            await client.close()
        await moderator.close()


async def test_when_the_last_moderator_leaves_an_ad_hoc_room_the_longest_present_moderates(
    make_server,
):
    server = await make_server(**FIRST_MODERATOR)
    url = base_url(server)
    moderator = await _moderator(url)
    alice = Client(url, "salle", "Alice", decode=False)
    bob = Client(url, "salle", "Bob", decode=False)
    waiter = Client(url, "salle", "Carole", decode=False)
    try:
        await alice.join()
        await bob.join()
        await moderator.request({"type": "setLobby", "enabled": True})
        join = await _wait_in_lobby(waiter)
        await moderator.close()
        await bob.wait_for(
            lambda c: (
                {"type": "roleChanged", "participantId": alice.participant_id, "role": "moderator"}
                in c.events
            )
        )
        # the heir sees who waits and can open the door
        await alice.wait_for(lambda c: "lobbyChanged" in _types(c))
        waiting = [e for e in alice.events if e["type"] == "lobbyChanged"][-1]["waiting"]
        assert [w["displayName"] for w in waiting] == ["Carole"]
        await alice.request({"type": "admit", "participantId": waiting[0]["id"]})
        joined = await join
        assert joined["role"] == "participant"
        roles = {
            p.display_name: p.role for p in server.conferences.get("salle").participants.values()
        }
        assert roles == {"Alice": "moderator", "Bob": "participant", "Carole": "participant"}
    finally:
        for client in (waiter, bob, alice, moderator):
            await client.close()
