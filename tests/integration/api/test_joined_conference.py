"""What a browser is told when it joins a booked conference: its title, or when it opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from tests.conftest import base_url
from tests.integration.api.helpers import SECRET, Api
from tests.integration.api.test_api import book

SECTIONS: dict[str, dict[str, Any]] = {
    "api": {"token_secret": SECRET, "open_before": 600.0},
    "organisers": {"dev_login": True},
}


async def _join(url: str, room: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(url + "/ws") as ws:
        await ws.send_str(json.dumps({"type": "join", "id": 1, "room": room, "displayName": "Eve"}))
        reply: dict[str, Any] = json.loads((await ws.receive(timeout=10)).data)
        return reply


async def test_joining_a_booked_conference_gives_its_title(make_server: Any) -> None:
    server = await make_server(**SECTIONS)
    url = base_url(server)
    async with aiohttp.ClientSession() as http:
        api = Api(url, http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conf = await book(api, title="Comité de suivi « Résana »")
    joined = await _join(url, conf["id"])
    assert joined["type"] == "joined"
    assert joined["title"] == "Comité de suivi « Résana »"


async def test_an_ad_hoc_room_has_no_title(make_server: Any) -> None:
    server = await make_server(**SECTIONS)
    joined = await _join(base_url(server), "salle-libre")
    assert joined["type"] == "joined" and "title" not in joined


async def test_a_conference_not_open_yet_says_when_it_opens(make_server: Any) -> None:
    server = await make_server(**SECTIONS)
    url = base_url(server)
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with aiohttp.ClientSession() as http:
        api = Api(url, http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conf = await book(api, start=starts.isoformat())
    error = await _join(url, conf["id"])
    assert error["type"] == "error" and error["code"] == "conference_not_started"
    assert error["details"] == {
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "opensAt": (starts - timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
    }
