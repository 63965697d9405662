"""Conference state through the API against real aiortc peers: moderator mute, talking."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import numpy as np
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api
from tests.support.dialin import PlainPhone

from snapconf.client import Client, ToneTrack
from snapconf.dialin.conference_bridge import PhoneBridge
from snapconf.media.codecs.g711 import alaw_encode


@pytest.fixture
async def api(make_server: Any) -> AsyncIterator[Api]:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        a = Api(base_url(server), session)
        a.server = server  # type: ignore[attr-defined]
        a.token = await a.sign_in("alice@agriculture.gouv.fr")
        yield a


async def _room(api: Api) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    status, conf = await api.call(
        "POST", "/conferences", {"title": "Point", "start": start, "duration_minutes": 60}
    )
    assert status == 201, conf
    return str(conf["id"])


async def _until(predicate: Callable[[], bool], what: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


def _audio_packets(client: Client, participant_id: str | None) -> int:
    return sum(
        t.packets
        for t in client.received.values()
        if t.kind == "audio" and t.participant_id == participant_id
    )


async def test_a_moderator_mute_silences_a_browser_until_it_unmutes_itself(api: Api) -> None:
    room = await _room(api)
    alice = Client(api.base, room, "Alice", decode=False)
    bob = Client(api.base, room, "Bob", decode=False)
    try:
        await alice.join()
        await bob.join()
        (track_id,) = (await alice.publish([(ToneTrack(440.0), "microphone")])).values()
        await _until(lambda: _audio_packets(bob, alice.participant_id) > 20, "bob hears alice")
        conference = api.server.conferences.get(room)  # type: ignore[attr-defined]
        producer = conference.router.producers[track_id]

        status, body = await api.call(
            "POST", f"/conferences/{room}/participants/{alice.participant_id}/mute", {}
        )
        assert status == 200 and body["muted"] is True
        told = {
            "type": "trackMuted",
            "participantId": alice.participant_id,
            "trackId": track_id,
            "muted": True,
            "by": "moderator",
        }
        await alice.wait_for(lambda c: told in c.events)  # the muted page is told, and by whom
        await bob.wait_for(lambda c: told in c.events)
        await _until(lambda: producer.muted_dropped > 5, "alice still sends")  # in flight: gone
        heard = _audio_packets(bob, alice.participant_id)
        await _until(lambda: producer.muted_dropped > 50, "alice still sends")
        assert _audio_packets(bob, alice.participant_id) == heard  # a second of nothing

        # a moderator cannot open someone's microphone
        status, body = await api.call(
            "POST",
            f"/conferences/{room}/participants/{alice.participant_id}/mute",
            {"muted": False},
        )
        assert status == 403 and body["error"]["code"] == "unmute_not_allowed"
        assert producer.muted

        await alice.mute(track_id, False)  # the participant unmutes itself
        await bob.wait_for(
            lambda c: {**told, "muted": False, "by": alice.participant_id} in c.events
        )
        await _until(
            lambda: _audio_packets(bob, alice.participant_id) > heard + 20, "bob hears alice again"
        )
    finally:
        await alice.close()
        await bob.close()


async def test_the_participant_list_says_who_is_talking(api: Api) -> None:
    room = await _room(api)
    alice = Client(api.base, room, "Alice", decode=False)
    carol = Client(api.base, room, "Carol", decode=False)
    try:
        await alice.join()
        await carol.join()
        await alice.publish([(ToneTrack(440.0), "microphone")])
        (carol_track,) = (await carol.publish([(ToneTrack(440.0, 0.0), "microphone")])).values()
        await _until(lambda: _audio_packets(alice, carol.participant_id) > 20, "carol sends")

        async def talking() -> dict[str, bool]:
            status, body = await api.call("GET", f"/conferences/{room}/participants")
            assert status == 200
            return {p["display_name"]: p["talking"] for p in body["items"]}

        for _ in range(100):
            state = await talking()
            if state["Alice"]:
                break
            await asyncio.sleep(0.05)
        assert state == {"Alice": True, "Carol": False}
        # a muted participant is not talking, whatever it sends
        await alice.mute(next(iter(alice.track_ids.values())), True)
        await alice.wait_for(lambda c: any(e["type"] == "trackMuted" for e in c.events))
        assert (await talking())["Alice"] is False
        assert carol_track
    finally:
        await alice.close()
        await carol.close()


async def test_a_moderator_mute_reaches_a_phone_and_the_caller_can_unmute_itself(
    api: Api,
) -> None:
    room = await _room(api)
    browser = Client(api.base, room, "Alice", decode=False)
    sending = True
    try:
        await browser.join()
        bridge = PhoneBridge(api.server.conferences)  # type: ignore[attr-defined]
        phone = await PlainPhone.open("PCMA", 8, 8000)
        leg = await bridge.join_phone(
            room, "Appelant", "+33 6 •• •• •• 12", phone.media, lambda r: None
        )
        phone_id = leg.participant.id

        async def talk() -> None:  # the caller speaks all along
            step, i = 160, 0
            while sending:
                t = (np.arange(step) + i * step) / 8000
                pcm = (0.3 * 32767 * np.sin(2 * math.pi * 700.0 * t)).astype(np.int16)
                phone.send(8, 1000 + i, i * step, alaw_encode(pcm))
                i += 1
                await asyncio.sleep(0.02)

        talker = asyncio.create_task(talk())
        await _until(lambda: _audio_packets(browser, phone_id) > 20, "the phone is heard")
        for _ in range(100):  # a caller sends no audio level: the bridge hears it talk
            status, body = await api.call("GET", f"/conferences/{room}/participants")
            talking = {p["display_name"]: p["talking"] for p in body["items"]}
            if talking["+33 6 •• •• •• 12"]:
                break
            await asyncio.sleep(0.05)
        assert talking == {"Alice": False, "+33 6 •• •• •• 12": True}
        status, body = await api.call("POST", f"/conferences/{room}/participants/{phone_id}/mute")
        assert status == 200 and body["muted"] is True and body["talking"] is False
        await browser.wait_for(
            lambda c: any(e.get("by") == "moderator" and e["muted"] for e in c.events)
        )
        muted_dropped = leg.producer.muted_dropped
        await _until(lambda: leg.producer.muted_dropped > muted_dropped + 5, "phone sends")
        heard = _audio_packets(browser, phone_id)
        await _until(lambda: leg.producer.muted_dropped > muted_dropped + 50, "phone sends")
        assert _audio_packets(browser, phone_id) == heard
        leg.set_muted(False)  # what *6 does
        await browser.wait_for(
            lambda c: any(e.get("by") == phone_id and not e["muted"] for e in c.events)
        )
        await _until(lambda: _audio_packets(browser, phone_id) > heard + 20, "heard again")
        sending = False
        await talker
        leg.close()
        phone.close()
    finally:
        sending = False
        await browser.close()
