"""The organiser exports a live conference's chat: public messages only, oldest first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api

from snapconf.client import Client


@pytest.fixture
async def api(make_server: Any) -> AsyncIterator[Api]:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        a = Api(base_url(server), session)
        a.token = await a.sign_in("alice@agriculture.gouv.fr")
        yield a


async def _room(api: Api) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    body = {"title": "Point", "start": start, "duration_minutes": 60}
    status, conf = await api.call("POST", "/conferences", body)
    assert status == 201, conf
    return str(conf["id"])


async def test_the_organiser_exports_the_public_chat_but_no_private_message(api: Api) -> None:
    room = await _room(api)
    status, body = await api.call("GET", f"/conferences/{room}/chat")
    assert status == 404 and body["error"]["code"] == "not_running"
    async with (
        Client(api.base, room, "Alice", decode=False) as alice,
        Client(api.base, room, "Bob", decode=False) as bob,
    ):
        await alice.request({"type": "chat", "text": "Bonjour <b>à tous</b>"})
        await alice.request({"type": "chat", "text": "secret", "to": bob.participant_id})
        await bob.request({"type": "chat", "text": "Bonjour Alice"})
        status, body = await api.call("GET", f"/conferences/{room}/chat")
        assert status == 200, body
        assert [(m["from_name"], m["text"]) for m in body["items"]] == [
            ("Alice", "Bonjour <b>à tous</b>"),
            ("Bob", "Bonjour Alice"),
        ]
        assert body["items"][0]["from_id"] == alice.participant_id
        assert body["items"][0]["at"].endswith("+00:00")
        # another organiser sees nothing of it
        other = Api(api.base, api.session)
        other.token = await other.sign_in("bob@agriculture.gouv.fr")
        status, body = await other.call("GET", f"/conferences/{room}/chat")
        assert status == 404
