"""The signaling protocol's requests, events and errors, against a running server."""

from __future__ import annotations

import time

import jwt
import pytest
from tests.conftest import base_url

from snapconf.client import Client, SignalingError, ToneTrack

SECRET = "a-join-secret-for-tests-0123456789abcdef"


async def test_requests_before_join_and_a_second_join_are_refused(server):
    client = Client(base_url(server), "salle", "alice")
    await client.connect()
    try:
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        with pytest.raises(SignalingError) as info:
            await client.request({"type": "publish", "sdp": "v=0"})
        assert info.value.code == "not_joined"
        with pytest.raises(SignalingError) as info:
            await client.request({"type": "join", "room": "salle"})
        assert (info.value.code, info.value.message) == ("bad_message", "displayName is missing")
        with pytest.raises(SignalingError) as info:
            await client.request({"type": "join", "room": "../etc", "displayName": "x"})
        assert info.value.code == "bad_message" and "room" in info.value.message
        await client.join()
        with pytest.raises(SignalingError) as info:
            await client.join()
        assert info.value.code == "already_joined"
    finally:
        await client.close()


async def test_participants_see_each_other_join_publish_mute_and_leave(server):
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice:
        bob = Client(url, "salle", "bob")
        joined = await bob.join()
        assert [p["displayName"] for p in joined["participants"]] == ["alice"]
        await alice.wait_for(lambda c: bob.participant_id in c.participants)
        track_ids = await bob.publish([(ToneTrack(500), "microphone")])
        (track_id,) = track_ids.values()
        await alice.wait_for(
            lambda c: any(
                e["type"] == "trackPublished" and e["track"]["id"] == track_id for e in c.events
            )
        )
        await alice.wait_for(lambda c: any(t.track_id == track_id for t in c.received.values()))
        await bob.mute(track_id, True)
        await alice.wait_for(
            lambda c: any(e["type"] == "trackMuted" and e["muted"] is True for e in c.events)
        )
        await bob.close()
        await alice.wait_for(lambda c: bob.participant_id not in c.participants)
        await alice.wait_for(lambda c: not c.received)


async def test_a_full_room_refuses_the_next_participant(make_server):
    server = await make_server(sfu={"max_participants": 2})
    url = base_url(server)
    async with Client(url, "petite", "a"), Client(url, "petite", "b"):
        third = Client(url, "petite", "c")
        try:
            with pytest.raises(SignalingError) as info:
                await third.join()
            assert info.value.code == "room_full"
        finally:
            await third.close()


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "auth_required"),
        ("not.a.jwt", "auth_invalid"),
        (
            jwt.encode({"room": "salle", "exp": time.time() - 120}, SECRET, algorithm="HS256"),
            "auth_expired",
        ),
        (
            jwt.encode({"room": "autre", "exp": time.time() + 86400}, SECRET, algorithm="HS256"),
            "room_mismatch",
        ),
        (
            jwt.encode({"room": "salle", "exp": time.time() + 86400}, "x" * 40, algorithm="HS256"),
            "auth_invalid",
        ),
    ],
)
async def test_with_a_secret_configured_joins_need_a_valid_token(make_server, token, code):
    server = await make_server(auth={"jwt_secret": SECRET})
    client = Client(base_url(server), "salle", "alice", token=token)
    try:
        with pytest.raises(SignalingError) as info:
            await client.join()
        assert info.value.code == code
    finally:
        await client.close()


async def test_a_valid_token_sets_the_role_and_name(make_server):
    server = await make_server(auth={"jwt_secret": SECRET})
    token = jwt.encode(
        {"room": "salle", "exp": time.time() + 86400, "role": "moderator", "name": "Mme Martin"},
        SECRET,
        algorithm="HS256",
    )
    async with Client(base_url(server), "salle", "ignored", token=token) as client:
        other = Client(base_url(server), "salle", "x", token=token)
        joined = await other.join()
        assert joined["role"] == "moderator"
        assert joined["participants"][0]["displayName"] == "Mme Martin"
        assert client.participant_id == joined["participants"][0]["id"]
        await other.close()
