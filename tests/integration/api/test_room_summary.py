"""The room page's summary (``GET /api/v1/rooms/{room}``): a booked conference's title
before joining, and no more about a room than a join would tell."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api


@pytest.fixture
async def api(make_server: Any) -> AsyncIterator[Api]:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        a = Api(base_url(server), session)
        a.token = await a.sign_in("alice@agriculture.gouv.fr")
        yield a


async def _book(api: Api, start_in: timedelta, **fields: Any) -> dict[str, Any]:
    start = (datetime.now(UTC) + start_in).isoformat(timespec="seconds")
    body = {"title": "Point hebdo", "start": start, "duration_minutes": 60, **fields}
    status, conf = await api.call("POST", "/conferences", body)
    assert status == 201, conf
    return dict(conf)


async def test_anyone_with_the_link_reads_a_public_conferences_title_start_and_status(
    api: Api,
) -> None:
    later = await _book(api, timedelta(days=2))
    now = await _book(api, timedelta(minutes=1), title="Réunion d'équipe")
    status, body = await api.call("GET", f"/rooms/{later['id']}", token=None)
    assert status == 200, body
    starts = datetime.fromisoformat(later["start"]).astimezone(UTC)
    assert body == {
        "id": later["id"],
        "title": "Point hebdo",
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "status": "not_started",
    }
    status, body = await api.call("GET", f"/rooms/{now['id']}", token=None)
    assert status == 200 and (body["title"], body["status"]) == ("Réunion d'équipe", "open")
    # cancelled: still named, and said so
    status, _ = await api.call("DELETE", f"/conferences/{now['id']}")
    assert status == 204
    status, body = await api.call("GET", f"/rooms/{now['id']}", token=None)
    assert status == 200 and body["status"] == "cancelled"


async def test_an_adhoc_room_an_unknown_id_and_a_bad_name_all_answer_conference_not_found(
    api: Api,
) -> None:
    for room in ("equipe-42", "x" * 64, "a%20b"):
        async with api.session.get(f"{api.base}/api/v1/rooms/{room}") as r:
            assert r.status == 404
            body = await r.json()
        assert body["error"]["code"] == "conference_not_found", body


async def test_a_restricted_conference_shows_its_title_only_with_a_join_token_for_it(
    api: Api,
) -> None:
    restricted = await _book(api, timedelta(minutes=1), access="restricted")
    other = await _book(api, timedelta(minutes=1), access="restricted")
    path = f"/rooms/{restricted['id']}"
    status, body = await api.call("GET", path, token=None)
    assert status == 401 and body["error"]["code"] == "auth_required", body
    assert "Point hebdo" not in str(body)
    status, body = await api.call("GET", path, token="not-a-token")
    assert status == 401 and body["error"]["code"] == "auth_invalid", body
    status, link = await api.call("POST", f"/conferences/{other['id']}/tokens", {})
    assert status == 201, link
    status, body = await api.call("GET", path, token=link["token"])
    assert status == 401 and body["error"]["code"] == "room_mismatch", body
    status, link = await api.call("POST", f"/conferences/{restricted['id']}/tokens", {})
    assert status == 201, link
    status, body = await api.call("GET", path, token=link["token"])
    assert status == 200 and body["title"] == "Point hebdo", body


async def test_the_summary_is_never_cached(api: Api) -> None:
    conf = await _book(api, timedelta(minutes=1))
    async with api.session.get(f"{api.base}/api/v1/rooms/{conf['id']}") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"
