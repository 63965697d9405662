"""``setViews`` and ``getStats`` (docs/signaling.md), against a running server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import base_url

from snapconf.client import Client, ColorTrack, SignalingError
from snapconf.conference.participant import TrackView

pytestmark = pytest.mark.timeout(60)


def _views_of(server: Any, room: str, participant_id: str) -> dict[str, TrackView]:
    views: dict[str, TrackView] = server.conferences.get(room).participants[participant_id].views
    return views


async def test_set_views_gives_the_conference_each_tiles_visibility_and_size(server):
    async with Client(base_url(server), "salle", "alice") as alice:
        await alice.send(
            {
                "type": "setViews",
                "views": {
                    "t1": {"visible": True, "width": 640, "height": 360},
                    "t2": {"visible": False, "width": 0, "height": 0},
                },
            }
        )
        assert (await alice.request({"type": "ping"}))["type"] == "pong"  # handled in order
        assert _views_of(server, "salle", alice.participant_id) == {
            "t1": TrackView(visible=True, width=640, height=360),
            "t2": TrackView(visible=False, width=0, height=0),
        }
        # the next report replaces the previous one entirely
        await alice.send(
            {"type": "setViews", "views": {"t2": {"visible": True, "width": 8192, "height": 1}}}
        )
        await alice.request({"type": "ping"})
        assert _views_of(server, "salle", alice.participant_id) == {
            "t2": TrackView(visible=True, width=8192, height=1)
        }
        assert not [e for e in alice.events if e["type"] == "error"]


async def test_get_stats_answers_with_what_the_participant_is_sent(server):
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice, Client(url, "salle", "bob") as bob:
        (track_id,) = (await bob.publish([(ColorTrack((200, 40, 40)), "camera")])).values()
        await alice.wait_for(lambda c: any(t.track_id == track_id for t in c.received.values()))

        async def sent() -> dict[str, Any]:
            reply = await alice.request({"type": "getStats"})
            assert reply["type"] == "stats"
            return reply

        stats = await sent()
        assert set(stats) >= {"type", "id", "pausedTracks", "retransmissions", "tracks"}
        assert stats["tracks"][track_id]["kind"] == "video"
        for _ in range(50):  # packets arrive while the test waits
            stats = await sent()
            if stats["tracks"][track_id]["packets"] > 0:
                break
            await asyncio.sleep(0.1)
        assert stats["tracks"][track_id]["packets"] > 0
        assert stats["tracks"][track_id]["bytes"] > stats["tracks"][track_id]["packets"]
        # the publisher receives nothing of its own
        assert (await bob.request({"type": "getStats"}))["tracks"] == {}


async def test_a_newcomer_is_told_who_holds_the_floor_when_it_joins(server):
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice:
        conference = server.conferences.get("salle")
        conference.speakers.talkers([alice.participant_id])  # as the audio bridge says
        await alice.wait_for(
            lambda c: any(e["type"] == "dominantSpeaker" for e in c.events), timeout=10
        )
        for room, expected in (("salle", alice.participant_id), ("autre", None)):
            newcomer = Client(url, room, "bob")
            try:
                joined = await newcomer.join()
            finally:
                await newcomer.close()
            assert joined.get("dominantSpeaker") == expected, room


@pytest.mark.parametrize(
    ("views", "message"),
    [
        (None, "views is missing"),
        ([], "views is not an object"),
        ({"t1": True}, "views.t1 is not an object"),
        ({"t1": {"width": 1, "height": 1}}, "views.t1.visible is not a boolean"),
        ({"t1": {"visible": 1, "width": 1, "height": 1}}, "views.t1.visible is not a boolean"),
        (
            {"t1": {"visible": True, "width": 8193, "height": 1}},
            "views.t1.width is not an integer from 0 to 8192",
        ),
        (
            {"t1": {"visible": True, "width": 1, "height": -1}},
            "views.t1.height is not an integer from 0 to 8192",
        ),
        (
            {"t1": {"visible": True, "width": 1.5, "height": 1}},
            "views.t1.width is not an integer from 0 to 8192",
        ),
        (
            {"t1": {"visible": True, "width": True, "height": 1}},
            "views.t1.width is not an integer from 0 to 8192",
        ),
        ({"t1": {"visible": True, "width": 1}}, "views.t1.height is not an integer from 0 to 8192"),
        (
            {"": {"visible": True, "width": 1, "height": 1}},
            "views has a track id that is not 1-64 characters",
        ),
        (
            {"x" * 65: {"visible": True, "width": 1, "height": 1}},
            "views has a track id that is not 1-64 characters",
        ),
        (
            {f"t{i}": {"visible": True, "width": 1, "height": 1} for i in range(65)},
            "views has more than 64 entries",
        ),
    ],
)
async def test_bad_views_are_refused_by_name_and_change_nothing(server, views, message):
    async with Client(base_url(server), "salle", "alice") as alice:
        good = {"t0": {"visible": True, "width": 320, "height": 180}}
        await alice.send({"type": "setViews", "views": good})
        with pytest.raises(SignalingError) as info:
            await alice.request({"type": "setViews", "views": views})
        assert (info.value.code, info.value.message) == ("bad_message", message)
        # the socket stays open and the last good report stays in force
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
        assert _views_of(server, "salle", alice.participant_id) == {
            "t0": TrackView(visible=True, width=320, height=180)
        }
        assert server.signaling.stats.errors["bad_message"] == 1


async def test_sixty_four_views_are_accepted(server):
    async with Client(base_url(server), "salle", "alice") as alice:
        views = {f"t{i}": {"visible": i % 2 == 0, "width": i, "height": i} for i in range(64)}
        await alice.send({"type": "setViews", "views": views})
        await alice.request({"type": "ping"})
        assert len(_views_of(server, "salle", alice.participant_id)) == 64


@pytest.mark.parametrize("mtype", ["setViews", "getStats"])
async def test_views_and_stats_need_a_joined_room(server, mtype):
    client = Client(base_url(server), "salle", "alice")
    await client.connect()
    try:
        with pytest.raises(SignalingError) as info:
            await client.request({"type": mtype, "views": {}})
        assert info.value.code == "not_joined"
    finally:
        await client.close()
