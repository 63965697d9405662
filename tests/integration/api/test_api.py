"""The scheduling API against a running server: every endpoint, validation, authorisation,
PIN uniqueness, live participants, invitations, join tokens and the store-backed admission."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest
from openapi_spec_validator import validate
from tests.conftest import base_url
from tests.integration.api.helpers import NUMBER, SERVER_SECTIONS, Api

from snapconf.client import Client, SignalingError

OFFER = (Path(__file__).parents[2] / "data" / "chrome_publish_offer.sdp").read_text()


def soon(minutes: float = 5) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(timespec="seconds")


@pytest.fixture
async def api(make_server: Any) -> AsyncIterator[Api]:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        a = Api(base_url(server), session)
        a.server = server  # type: ignore[attr-defined]
        a.token = await a.sign_in("alice@agriculture.gouv.fr")
        yield a


async def book(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"title": "Point hebdo", "start": soon(), "duration_minutes": 60, **fields}
    status, conf = await api.call("POST", "/conferences", body)
    assert status == 201, conf
    return conf  # type: ignore[no-any-return]


async def test_openapi_document_is_served_and_valid(api: Api) -> None:
    async with api.session.get(api.base + "/api/v1/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"][0]["url"] == api.base + "/api/v1"


async def test_book_read_list_update_and_cancel(api: Api) -> None:
    conf = await book(api, max_participants=12, osmose_url="https://osmose.numerique.gouv.fr/x")
    assert len(conf["pin"]) == 9 and conf["pin"].isdigit()
    assert conf["web_url"] == f"{api.base}/{conf['id']}"
    assert conf["dialin_numbers"] == [NUMBER]
    assert conf["tel_uri"] == f"tel:+33189000000,,{conf['pin']}%23"
    assert conf["ics_url"].endswith(f"/api/v1/conferences/{conf['id']}/invite.ics")
    assert conf["snap_links"]["osmose"] == "https://osmose.numerique.gouv.fr/x"
    assert conf["snap_links"]["resana"] is None
    assert conf["max_participants"] == 12 and conf["access"] == "public"
    start = datetime.fromisoformat(conf["start"])
    end = datetime.fromisoformat(conf["end"])
    assert end - start == timedelta(hours=1)
    assert start.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Europe/Paris

    status, got = await api.call("GET", f"/conferences/{conf['id']}")
    assert status == 200 and got == conf

    second = await book(api, title="Second", start=soon(60))
    status, page = await api.call("GET", "/conferences?limit=1")
    assert status == 200 and page["total"] == 2 and [c["id"] for c in page["items"]] == [conf["id"]]
    status, page = await api.call("GET", "/conferences?limit=1&offset=1")
    assert [c["id"] for c in page["items"]] == [second["id"]]

    status, changed = await api.call(
        "PATCH", f"/conferences/{conf['id']}", {"title": "Nouveau titre", "duration_minutes": 90}
    )
    assert status == 200, changed
    assert changed["title"] == "Nouveau titre" and changed["pin"] == conf["pin"]
    assert datetime.fromisoformat(changed["end"]) - start == timedelta(minutes=90)

    status, day = await api.call(
        "PATCH",
        f"/conferences/{conf['id']}",
        {"date": (datetime.now(UTC) + timedelta(days=2)).date().isoformat()},
    )
    assert status == 200 and day["all_day"] is True

    directory = api.server.directory  # type: ignore[attr-defined]
    assert (await directory.lookup(conf["pin"])).conference_id == conf["id"]
    status, body = await api.call("DELETE", f"/conferences/{conf['id']}")
    assert status == 204 and body is None
    status, got = await api.call("GET", f"/conferences/{conf['id']}")
    assert got["status"] == "cancelled"
    assert await directory.lookup(conf["pin"]) is None  # the PIN is freed
    status, err = await api.call("PATCH", f"/conferences/{conf['id']}", {"title": "x"})
    assert status == 409 and err["error"]["code"] == "conference_cancelled"
    status, err = await api.call("POST", f"/conferences/{conf['id']}/tokens", {})
    assert status == 409


async def test_whole_day_booking(api: Api) -> None:
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    status, conf = await api.call(
        "POST",
        "/conferences",
        {"title": "Séminaire", "date": day.isoformat(), "timezone": "America/Cayenne"},
    )
    assert status == 201, conf
    assert conf["all_day"] is True and conf["timezone"] == "America/Cayenne"
    assert conf["start"] == f"{day.isoformat()}T00:00:00-03:00"
    assert conf["end"] == f"{(day + timedelta(days=1)).isoformat()}T00:00:00-03:00"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"start": "2020-01-01T10:00:00+01:00"}, 422, "invalid_value", "start"),
        ({"duration_minutes": 25 * 60}, 422, "invalid_value", "duration_minutes"),
        ({"duration_minutes": 0}, 422, "invalid_value", "duration_minutes"),
        ({"max_participants": 51}, 422, "invalid_value", "max_participants"),
        ({"max_participants": "10"}, 422, "invalid_type", "max_participants"),
        ({"max_participants": True}, 422, "invalid_type", "max_participants"),
        ({"duration_minutes": 60.5}, 422, "invalid_type", "duration_minutes"),
        ({"title": 5}, 422, "invalid_type", "title"),
        ({"title": ""}, 422, "invalid_value", "title"),
        ({"title": "x" * 201}, 422, "invalid_value", "title"),
        ({"colour": "blue"}, 422, "unknown_field", "colour"),
        ({"access": "secret"}, 422, "invalid_value", "access"),
        ({"timezone": "Mars/Olympus"}, 422, "invalid_value", "timezone"),
        ({"timezone": "../../etc/passwd"}, 422, "invalid_value", "timezone"),
        ({"start": "demain"}, 422, "invalid_value", "start"),
        ({"start": None}, 422, "invalid_type", "start"),
        ({"osmose_url": "javascript:alert(1)"}, 422, "invalid_value", "osmose_url"),
        ({"date": "2030-01-01"}, 422, "invalid_value", "date"),
    ],
)
async def test_bad_bookings_are_refused_with_the_field(
    api: Api, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    full = {"title": "t", "start": soon(), "duration_minutes": 30, **body}
    if "date" in body:
        full.pop("start"), full.pop("duration_minutes")
    got, err = await api.call("POST", "/conferences", full)
    assert (got, err["error"]["code"], err["error"]["field"]) == (status, code, field)


async def test_bookings_beyond_fourteen_days_or_missing_times_are_refused(api: Api) -> None:
    far = (datetime.now(UTC) + timedelta(days=15)).isoformat()
    status, err = await api.call(
        "POST", "/conferences", {"title": "t", "start": far, "duration_minutes": 30}
    )
    assert status == 422 and err["error"]["field"] == "start"
    far_day = (datetime.now(UTC) + timedelta(days=16)).date().isoformat()
    status, err = await api.call("POST", "/conferences", {"title": "t", "date": far_day})
    assert status == 422 and err["error"]["field"] == "date"
    status, err = await api.call("POST", "/conferences", {"title": "t"})
    assert status == 422 and err["error"]["code"] == "missing_field"
    status, err = await api.call("POST", "/conferences", {"start": soon(), "duration_minutes": 5})
    assert status == 422 and err["error"]["field"] == "title"
    status, err = await api.call(
        "POST", "/conferences", {"title": "t", "date": "2030-01-01", "start": soon()}
    )
    assert status == 422 and err["error"]["field"] == "date"


async def test_malformed_bodies_and_parameters(api: Api) -> None:
    status, err = await api.call(
        "POST", "/conferences", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and err["error"]["code"] == "bad_json"
    status, err = await api.call(
        "POST", "/conferences", data="[1, 2]", headers={"Content-Type": "application/json"}
    )
    assert status == 422 and err["error"]["code"] == "invalid_type"
    status, err = await api.call(
        "POST",
        "/conferences",
        data="title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    status, err = await api.call(
        "POST", "/conferences", data="[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert status in (400, 413) or err["error"]["code"] in ("bad_json", "too_large")
    for query in ("limit=0", "limit=101", "limit=x", "offset=-1", "sort=title"):
        status, err = await api.call("GET", f"/conferences?{query}")
        assert status == 422, query
    async with api.session.get(api.base + "/api/v1/nothing-here") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with api.session.put(api.base + "/api/v1/conferences") as r:
        assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"


async def test_authorisation(api: Api) -> None:
    conf = await book(api)
    status, err = await api.call("GET", "/conferences", token=None)
    assert status == 401 and err["error"]["code"] == "auth_required"
    status, err = await api.call("GET", "/conferences", token="not-a-jwt")
    assert status == 401 and err["error"]["code"] == "auth_invalid"
    status, err = await api.call("GET", "/conferences", token=api.token + "x")
    assert status == 401
    status, err = await api.call("POST", "/conferences", {"title": "t"}, token=None)
    assert status == 401
    # a join token is not an API token
    status, link = await api.call("POST", f"/conferences/{conf['id']}/tokens", {})
    status, err = await api.call("GET", "/conferences", token=link["token"])
    assert status == 401
    bob = await api.sign_in("bob@interieur.gouv.fr")
    for method, path in [
        ("GET", f"/conferences/{conf['id']}"),
        ("PATCH", f"/conferences/{conf['id']}"),
        ("DELETE", f"/conferences/{conf['id']}"),
        ("GET", f"/conferences/{conf['id']}/participants"),
        ("GET", f"/conferences/{conf['id']}/invite.ics"),
        ("POST", f"/conferences/{conf['id']}/tokens"),
    ]:
        status, err = await api.call(
            method, path, {"title": "x"} if method == "PATCH" else None, token=bob
        )
        assert status == 404 and err["error"]["code"] == "not_found", (method, path)
    status, page = await api.call("GET", "/conferences", token=bob)
    assert page["total"] == 0
    status, err = await api.call("POST", "/auth/token", {"email": "not-an-address"}, token=None)
    assert status == 422
    status, err = await api.call("POST", "/auth/token", {}, token=None)
    assert status == 401


async def test_domains_and_disabled_dev_login(make_server: Any) -> None:
    server = await make_server(
        organisers={"allowed_domains": ["gouv.fr"], "dev_login": True},
        api={"token_secret": "s" * 40},
    )
    async with aiohttp.ClientSession() as session:
        api = Api(base_url(server), session)
        assert await api.sign_in("a@culture.gouv.fr")
        status, err = await api.call("POST", "/auth/token", {"email": "a@gmail.com"}, token=None)
        assert status == 403 and err["error"]["field"] == "email"
        status, err = await api.call("POST", "/auth/token", {"email": "a@evilgouv.fr"}, token=None)
        assert status == 403
    server = await make_server(organisers={"dev_login": False})
    async with aiohttp.ClientSession() as session:
        api = Api(base_url(server), session)
        status, err = await api.call("POST", "/auth/token", {"email": "a@x.gouv.fr"}, token=None)
        assert status == 403


async def test_pins_are_unique_under_concurrent_bookings(api: Api) -> None:
    confs = await asyncio.gather(*(book(api, title=f"c{i}") for i in range(50)))
    pins = {c["pin"] for c in confs}
    assert len(pins) == 50
    store = api.server.store  # type: ignore[attr-defined]
    async with store.db.execute("SELECT count(*), count(DISTINCT pin) FROM pins") as cur:
        assert tuple(await cur.fetchone()) == (50, 50)


async def test_invitation_parses_with_link_number_and_pin(api: Api) -> None:
    conf = await book(api, title="Comité de pilotage")
    status, body = await api.call("GET", f"/conferences/{conf['id']}/invite.ics")
    assert status == 200
    cal = icalendar.Calendar.from_ical(body)
    (event,) = cal.walk("VEVENT")
    assert str(event["summary"]) == "Comité de pilotage"
    description = str(event["description"])
    assert conf["web_url"] in description and NUMBER in description and conf["pin"] in description
    assert conf["tel_uri"] in description
    assert str(event["url"]) == conf["web_url"]
    assert event.decoded("dtstart") == datetime.fromisoformat(conf["start"])
    assert event.decoded("dtend") == datetime.fromisoformat(conf["end"])
    conferences = event["conference"]
    assert {str(c) for c in conferences} == {conf["web_url"], conf["tel_uri"]}


async def test_stats(api: Api) -> None:
    await book(api)
    status, stats = await api.call("GET", "/stats", token=None)
    assert status == 200
    assert stats["conferences"]["booked"] == 1 and stats["conferences"]["scheduled_now"] == 0
    async with Client(api.base, "adhoc-room", "carol"):
        status, stats = await api.call("GET", "/stats", token=None)
    assert stats["conferences"]["active"] == 1
    assert stats["participants"] == {"browser": 1, "phone": 0, "agent": 0, "total": 1}


async def test_live_participants_mute_remove_and_cancel(api: Api) -> None:
    conf = await book(api, start=soon(1))
    room = conf["id"]
    alice = Client(api.base, room, "Alice", decode=False)
    bob = Client(api.base, room, "Bob", decode=False)
    await alice.join()
    await bob.join()
    try:
        answer = await alice.request({"type": "publish", "sdp": OFFER})
        audio = [t for t in answer["tracks"].values()]
        assert audio
        status, body = await api.call("GET", f"/conferences/{room}/participants")
        assert status == 200
        by_name = {p["display_name"]: p for p in body["items"]}
        assert set(by_name) == {"Alice", "Bob"}
        assert by_name["Alice"]["kind"] == "browser" and by_name["Alice"]["muted"] is False
        status, p = await api.call(
            "POST", f"/conferences/{room}/participants/{alice.participant_id}/mute", {}
        )
        assert status == 200 and p["muted"] is True
        await bob.wait_for(
            lambda c: any(e["type"] == "trackMuted" and e["muted"] for e in c.events)
        )
        status, err = await api.call(
            "POST",
            f"/conferences/{room}/participants/{alice.participant_id}/mute",
            {"muted": False},
        )
        assert status == 403 and err["error"]["code"] == "unmute_not_allowed"
        status, _ = await api.call(
            "POST", f"/conferences/{room}/participants/{alice.participant_id}/mute", {"muted": "no"}
        )
        assert status == 422
        status, _err = await api.call("POST", f"/conferences/{room}/participants/nobody/mute", {})
        assert status == 404
        status, _ = await api.call(
            "DELETE", f"/conferences/{room}/participants/{bob.participant_id}"
        )
        assert status == 204
        await bob.wait_for(
            lambda c: any(e == {"type": "left", "reason": "removed"} for e in c.events)
        )
        await alice.wait_for(lambda c: bob.participant_id not in c.participants)
        # cancelling ends the live call
        status, _ = await api.call("DELETE", f"/conferences/{room}")
        assert status == 204
        await alice.wait_for(
            lambda c: any(e == {"type": "left", "reason": "conference cancelled"} for e in c.events)
        )
        status, body = await api.call("GET", f"/conferences/{room}/participants")
        assert body == {"items": []}
        late = Client(api.base, room, "Late", decode=False)
        with pytest.raises(SignalingError) as info:
            await late.join()
        assert info.value.code == "conference_cancelled"
        await late.close()
    finally:
        await alice.close()
        await bob.close()


async def test_admission_follows_the_booking(api: Api) -> None:
    later = await book(api, start=soon(120))
    client = Client(api.base, later["id"], "Early")
    with pytest.raises(SignalingError) as info:
        await client.join()
    assert info.value.code == "conference_not_started"
    await client.close()

    restricted = await book(api, access="restricted", max_participants=1)
    client = Client(api.base, restricted["id"], "Nobody")
    with pytest.raises(SignalingError) as info:
        await client.join()
    assert info.value.code == "auth_required"
    await client.close()
    status, link = await api.call(
        "POST", f"/conferences/{restricted['id']}/tokens", {"role": "moderator", "name": "Chef"}
    )
    assert status == 201 and link["url"] == f"{api.base}/{restricted['id']}?token={link['token']}"
    status, err = await api.call(
        "POST", f"/conferences/{restricted['id']}/tokens", {"role": "admin"}
    )
    assert status == 422 and err["error"]["field"] == "role"
    async with Client(api.base, restricted["id"], "x", token=link["token"]) as chef:
        assert chef.participant_id
        joined = [e for e in chef.events if e.get("type") == "joined"]
        status, body = await api.call("GET", f"/conferences/{restricted['id']}/participants")
        assert [(p["display_name"], p["role"]) for p in body["items"]] == [("Chef", "moderator")]
        del joined
        status, link2 = await api.call("POST", f"/conferences/{restricted['id']}/tokens", {})
        second = Client(api.base, restricted["id"], "Second", token=link2["token"])
        with pytest.raises(SignalingError) as info:
            await second.join()
        assert info.value.code == "room_full"
        await second.close()
    wrong_room = Client(api.base, later["id"], "x", token=link["token"])
    with pytest.raises(SignalingError) as info:
        await wrong_room.join()
    assert info.value.code in ("room_mismatch", "conference_not_started")
    await wrong_room.close()


async def test_ended_conferences_close_after_the_grace_and_free_their_pin(make_server: Any) -> None:
    from snapconf.bookings.store import Store

    server = await make_server(
        api={"end_grace": 0.5, "lifecycle_interval": 0.1, "token_secret": "k" * 40}
    )
    store: Store = server.store
    await store.sign_in("o", "o@x.gouv.fr")
    now = time.time()
    booking = await store.book(
        organiser_id="o",
        organiser_email="o@x.gouv.fr",
        title="t",
        starts=now - 60,
        ends=now + 1.0,
        timezone="UTC",
    )
    client = Client(base_url(server), booking.id, "Dana", decode=False)
    await client.join()
    try:
        await client.wait_for(
            lambda c: any(e.get("type") == "conferenceEnding" for e in c.events), timeout=10
        )
        await client.wait_for(
            lambda c: any(e == {"type": "left", "reason": "conference ended"} for e in c.events),
            timeout=10,
        )
    finally:
        await client.close()
    for _ in range(50):  # the store is told right after the call is ended
        ended = await store.get(booking.id)
        if ended is not None and ended.status == "ended":
            break
        await asyncio.sleep(0.05)
    assert ended is not None and ended.status == "ended"
    assert await server.directory.lookup(booking.pin) is None
    for _ in range(50):
        sessions = await store.sessions(booking.id)
        if sessions and sessions[0]["left"] is not None:
            break
        await asyncio.sleep(0.05)
    assert [(s["kind"], s["left"] is not None) for s in sessions] == [("browser", True)]
