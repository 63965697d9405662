"""The organiser moderates a live conference through the API: the booking's waiting room,
lock, admit, mute all, remove for good, end for all."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api

from snapconf.client import Client, SignalingError


@pytest.fixture
async def api(make_server: Any) -> AsyncIterator[Api]:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        a = Api(base_url(server), session)
        a.server = server  # type: ignore[attr-defined]
        a.token = await a.sign_in("alice@agriculture.gouv.fr")
        yield a


async def _room(api: Api, **fields: Any) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    body = {"title": "Point", "start": start, "duration_minutes": 60, **fields}
    status, conf = await api.call("POST", "/conferences", body)
    assert status == 201, conf
    return conf


async def test_a_booking_has_a_waiting_room_setting_off_by_default(api: Api) -> None:
    conf = await _room(api)
    assert conf["lobby"] is False
    status, body = await api.call("PATCH", f"/conferences/{conf['id']}", {"lobby": True})
    assert status == 200 and body["lobby"] is True
    status, body = await api.call("PATCH", f"/conferences/{conf['id']}", {"lobby": "oui"})
    assert status == 422 and (body["error"]["code"], body["error"]["field"]) == (
        "invalid_type",
        "lobby",
    )
    assert (await _room(api, lobby=True))["lobby"] is True


async def test_a_booked_waiting_room_holds_browsers_until_the_organiser_admits(api: Api) -> None:
    room = (await _room(api, lobby=True))["id"]
    status, body = await api.call("GET", f"/conferences/{room}/moderation")
    assert status == 409 and body["error"]["code"] == "not_running"
    alice = Client(api.base, room, "Alice", decode=False)
    bob = Client(api.base, room, "Bob", decode=False)
    try:
        joins = [asyncio.create_task(c.join()) for c in (alice, bob)]
        for client in (alice, bob):
            await client.wait_for(lambda c: any(e["type"] == "lobby" for e in c.events))
        status, state = await api.call("GET", f"/conferences/{room}/moderation")
        assert status == 200 and state["lobby"] is True and state["locked"] is False
        assert [w["display_name"] for w in state["waiting"]] == ["Alice", "Bob"]
        bob_id = state["waiting"][1]["id"]
        status, body = await api.call("POST", f"/conferences/{room}/lobby/refuse", {"id": bob_id})
        assert status == 200 and body == {"refused": [bob_id]}
        with pytest.raises(SignalingError) as info:
            await joins[1]
        assert info.value.code == "refused"
        status, body = await api.call("POST", f"/conferences/{room}/lobby/admit", {"id": "p0"})
        assert status == 404 and body["error"]["code"] == "unknown_participant"
        status, body = await api.call("POST", f"/conferences/{room}/lobby/admit")
        assert status == 200 and len(body["admitted"]) == 1
        assert (await joins[0])["participantId"] == body["admitted"][0]
    finally:
        await alice.close()
        await bob.close()


async def test_the_organiser_locks_removes_for_good_and_ends_for_all(api: Api) -> None:
    room = (await _room(api))["id"]
    alice = Client(api.base, room, "Alice", decode=False)
    again = Client(api.base, room, "Alice", decode=False)
    late = Client(api.base, room, "Bob", decode=False)
    try:
        await alice.join()
        status, state = await api.call("PATCH", f"/conferences/{room}/moderation", {"locked": True})
        assert status == 200 and state == {"locked": True, "lobby": False, "waiting": []}
        with pytest.raises(SignalingError) as info:
            await late.join()
        assert info.value.code == "conference_locked"
        status, body = await api.call("PATCH", f"/conferences/{room}/moderation", {"locked": "yes"})
        assert status == 422 and body["error"]["field"] == "locked"
        await api.call("PATCH", f"/conferences/{room}/moderation", {"locked": False})
        status, body = await api.call("POST", f"/conferences/{room}/mute-all")
        assert status == 200 and body == {"muted": []}  # nobody publishes a microphone
        status, _ = await api.call(
            "DELETE", f"/conferences/{room}/participants/{alice.participant_id}"
        )
        assert status == 204
        await alice.wait_for(lambda c: {"type": "left", "reason": "removed"} in c.events)
        with pytest.raises(SignalingError) as info:
            await again.join()
        assert info.value.code == "removed"
        await late.join()
        status, _ = await api.call("POST", f"/conferences/{room}/end")
        assert status == 204
        await late.wait_for(lambda c: {"type": "left", "reason": "ended_by_moderator"} in c.events)
    finally:
        for client in (alice, again, late):
            await client.close()


async def test_the_booking_form_turns_the_waiting_room_on_and_the_page_shows_it(
    make_server: Any,
) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    # cookies of an IP address host (127.0.0.1) are kept only by an "unsafe" jar
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(url + "/organisateur/connexion") as r:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert csrf is not None
        data = {"email": "alice@agriculture.gouv.fr", "csrf": csrf.group(1)}
        async with session.post(url + "/organisateur/connexion", data=data) as r:
            assert r.status == 200
        async with session.get(url + "/organisateur/reserver") as r:
            form = await r.text()
        assert 'name="lobby"' in form and 'for="lobby"' in form
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        start = datetime.now(UTC) + timedelta(days=1)
        fields = {
            "csrf": csrf.group(1),
            "title": "Point avec attente",
            "kind": "slot",
            "date": start.date().isoformat(),
            "time": "10:00",
            "duration_minutes": "60",
            "lobby": "1",
        }
        async with session.post(url + "/organisateur/reserver", data=fields) as r:
            assert r.status == 200, await r.text()
            page = await r.text()
        assert "Activée : les participants attendent" in page
