"""A participant whose signaling socket drops keeps its seat for a grace period and takes
it back with its resume token: the others see it reconnecting, never leave and come back
(docs/signaling.md, "Reconnection"). Real sockets and aiortc peers."""

from __future__ import annotations

import asyncio

from tests.conftest import base_url

from snapconf.client import Client, ToneTrack


def _types(client: Client) -> list[str]:
    return [e["type"] for e in client.events]


async def _decodes(client: Client, track_id: str, frames: int = 10, timeout: float = 15) -> None:
    """Poll until ``client`` has decoded ``frames`` frames of ``track_id`` (decoded frames
    are not events: :meth:`Client.wait_for` would not look again)."""
    for _ in range(int(timeout * 10)):
        if any(t.track_id == track_id and t.frame_count > frames for t in client.received.values()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{client.display_name} decoded no {track_id}: {client.received}")


async def test_a_dropped_socket_resumes_its_seat_and_the_others_see_no_leave(server):
    url = base_url(server)
    async with Client(url, "reprise", "alice") as alice:
        bob = Client(url, "reprise", "bob")
        joined = await bob.join()
        token = joined["resumeToken"]
        assert isinstance(token, str) and len(token) >= 32 and joined["reconnectGrace"] > 0
        (old_track,) = (await bob.publish([(ToneTrack(700), "microphone")])).values()
        await alice.wait_for(lambda c: any(t.track_id == old_track for t in c.received.values()))

        await bob.drop()
        await alice.wait_for(lambda c: "participantReconnecting" in _types(c))
        assert bob.participant_id in alice.participants

        again = Client(url, "reprise", "bob", resume=token)
        try:
            rejoined = await again.join()
            assert rejoined["participantId"] == bob.participant_id
            assert rejoined["resumed"] is True
            assert [p["displayName"] for p in rejoined["participants"]] == ["alice"]
            await bob.close()  # the old peer connections go: not a departure any more
            (new_track,) = (await again.publish([(ToneTrack(900), "microphone")])).values()
            await alice.wait_for(lambda c: "participantReconnected" in _types(c))
            await _decodes(alice, new_track)
            # and the resumed page receives alice
            (alice_track,) = (await alice.publish([(ToneTrack(500), "microphone")])).values()
            await _decodes(again, alice_track)
            types = _types(alice)
            assert "participantLeft" not in types
            assert sum(1 for t in types if t == "participantJoined") == 1
            assert any(
                e["type"] == "trackUnpublished" and e["trackId"] == old_track for e in alice.events
            )
        finally:
            await again.close()
        await alice.wait_for(lambda c: bob.participant_id not in c.participants)


async def test_a_seat_not_taken_back_within_the_grace_is_left_as_disconnected(make_server):
    server = await make_server(signaling={"reconnect_grace": 0.5})
    url = base_url(server)
    async with Client(url, "delai", "alice") as alice:
        bob = Client(url, "delai", "bob")
        joined = await bob.join()
        await bob.drop()
        await alice.wait_for(lambda c: "participantReconnecting" in _types(c))
        await alice.wait_for(lambda c: bob.participant_id not in c.participants, timeout=5)
        (left,) = [e for e in alice.events if e["type"] == "participantLeft"]
        assert left["reason"] == "disconnected"
        # too late: the token no longer names a seat, the page comes back as a newcomer
        late = Client(url, "delai", "bob", resume=joined["resumeToken"])
        try:
            rejoined = await late.join()
            assert rejoined["participantId"] != bob.participant_id
            assert "resumed" not in rejoined
        finally:
            await late.close()
            await bob.close()


async def test_a_wrong_resume_token_takes_no_seat_and_a_leave_is_not_held(server):
    url = base_url(server)
    async with Client(url, "faux", "alice") as alice:
        bob = Client(url, "faux", "bob")
        await bob.join()
        mallory = Client(url, "faux", "mallory", resume="x" * 32)
        try:
            joined = await mallory.join()
            assert joined["participantId"] != bob.participant_id
        finally:
            await mallory.close()
        await bob.close()  # a leave: gone at once, no reconnecting
        await alice.wait_for(lambda c: bob.participant_id not in c.participants, timeout=3)
        assert "participantReconnecting" not in _types(alice)


async def test_a_resume_while_the_old_socket_still_looks_open_replaces_it(server):
    url = base_url(server)
    async with Client(url, "double", "alice") as alice:
        bob = Client(url, "double", "bob")
        joined = await bob.join()
        again = Client(url, "double", "bob", resume=joined["resumeToken"])
        try:
            rejoined = await again.join()
            assert rejoined["participantId"] == bob.participant_id
            await bob.wait_for(
                lambda c: any(e["type"] == "left" and e["reason"] == "replaced" for e in c.events)
            )
            await asyncio.sleep(0.3)
            assert bob.participant_id in alice.participants
            assert "participantLeft" not in _types(alice)
        finally:
            await bob.close()
            await again.close()


async def test_restart_media_gives_fresh_transports_on_the_same_socket(server):
    url = base_url(server)
    async with Client(url, "media", "alice") as alice, Client(url, "media", "bob") as bob:
        (first,) = (await bob.publish([(ToneTrack(600), "microphone")])).values()
        await alice.wait_for(lambda c: any(t.track_id == first for t in c.received.values()))
        await bob.send({"type": "restartMedia"})
        await alice.wait_for(
            lambda c: any(
                e["type"] == "trackUnpublished" and e["trackId"] == first for e in c.events
            )
        )
        old_pc = bob.send_pc
        bob.send_pc = None
        assert old_pc is not None
        await old_pc.close()
        (second,) = (await bob.publish([(ToneTrack(800), "microphone")])).values()
        await _decodes(alice, second)
        assert bob.participant_id in alice.participants
        assert "participantLeft" not in _types(alice)


async def test_a_moderators_mute_during_a_reconnection_holds_on_the_microphone_published_again(
    make_server,
):
    server = await make_server(sfu={"first_moderator": True})
    url = base_url(server)
    async with Client(url, "sourdine", "alice") as alice:
        bob = Client(url, "sourdine", "bob")
        joined = await bob.join()
        await bob.publish([(ToneTrack(700), "microphone")])
        await bob.drop()
        await alice.wait_for(lambda c: "participantReconnecting" in _types(c))
        # the moderator mutes bob while its page is away: the event reaches no socket
        await alice.request({"type": "muteParticipant", "participantId": bob.participant_id})

        again = Client(url, "sourdine", "bob", resume=joined["resumeToken"])
        try:
            await again.join()
            await bob.close()
            (track,) = (await again.publish([(ToneTrack(900), "microphone")])).values()
            # bob's page is told, and the server forwards nothing of the new microphone
            await again.wait_for(
                lambda c: any(
                    e["type"] == "trackMuted" and e["trackId"] == track and e["by"] == "moderator"
                    for e in c.events
                )
            )
            seat = server.conferences.get("sourdine").participants[bob.participant_id]
            assert seat.tracks[track].producer.muted
            # bob unmutes itself: alice hears it again
            await again.send({"type": "mute", "trackId": track, "muted": False})
            await _decodes(alice, track)
            assert not seat.moderator_muted
        finally:
            await again.close()
