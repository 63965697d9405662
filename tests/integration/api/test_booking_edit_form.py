"""The organiser edits a booked conference with the booking form, filled with its settings:
the change is stored (the API reads it back), a wrong field is said in French and changes
nothing, and another organiser cannot reach the form."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from tests.conftest import base_url
from tests.integration.api.helpers import SECRET, Api
from tests.integration.api.test_api import book
from tests.integration.api.test_signed_in_join import dev_session


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert found is not None, name
    return found.group(1)


async def test_the_organiser_edits_a_booking_through_the_filled_form(make_server: Any) -> None:
    server = await make_server(api={"token_secret": SECRET}, organisers={"dev_login": True})
    url = base_url(server)
    async with aiohttp.ClientSession() as http:
        api = Api(url, http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conf = await book(api, osmose_url="https://osmose.numerique.gouv.fr/espace")
        page = f"{url}/organisateur/conferences/{conf['id']}"
        session = await dev_session(url, "alice@agriculture.gouv.fr")
        try:
            async with session.get(page) as r:
                assert 'id="modifier"' in await r.text()
            async with session.get(page + "/modifier") as r:
                assert r.status == 200
                html = await r.text()
            assert "Modifier la conférence" in html
            assert _field(html, "title") == "Point hebdo"
            assert f'action="/organisateur/conferences/{conf["id"]}/modifier"' in html
            date, time = _field(html, "date"), _field(html, "time")
            form = {
                "csrf": _field(html, "csrf"),
                "title": "Point hebdo (déplacé)",
                "kind": "slot",
                "date": date,
                "time": time,
                "duration_minutes": "90",
                "max_participants": "20",
                "access": "public",
                "lobby": "1",
                "osmose_url": "",  # emptied: the link goes
                "resana_url": "",
            }
            async with session.post(page + "/modifier", data=form, allow_redirects=False) as r:
                assert r.status == 303
                assert r.headers["Location"] == f"/organisateur/conferences/{conf['id']}"
            status, stored = await api.call("GET", f"/conferences/{conf['id']}")
            assert status == 200
            assert stored["title"] == "Point hebdo (déplacé)"
            length = datetime.fromisoformat(stored["end"]) - datetime.fromisoformat(stored["start"])
            assert length == timedelta(minutes=90) and stored["max_participants"] == 20
            assert stored["lobby"] is True and stored["osmose_url"] is None
            assert stored["pin"] == conf["pin"]  # the invitations stay valid

            # a wrong field: said in French, nothing stored
            bad = {**form, "title": "", "lobby": ""}
            async with session.post(page + "/modifier", data=bad, allow_redirects=False) as r:
                assert r.status == 422
                assert 'role="alert"' in await r.text()
            _, unchanged = await api.call("GET", f"/conferences/{conf['id']}")
            assert unchanged["title"] == "Point hebdo (déplacé)" and unchanged["lobby"] is True
        finally:
            await session.close()

        other = await dev_session(url, "bob@agriculture.gouv.fr")
        try:
            async with other.get(page + "/modifier", allow_redirects=False) as r:
                assert r.status == 404
        finally:
            await other.close()
