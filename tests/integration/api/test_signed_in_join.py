"""Joining through /organisateur/rejoindre/{id}: how `authenticated` conferences are joined
by signed-in agents, and why `restricted` ones are not."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api
from tests.integration.api.test_api import book

from snapconf.client import Client, SignalingError


async def dev_session(url: str, email: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(url + "/organisateur/connexion") as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf is not None
    async with session.post(
        url + "/organisateur/connexion",
        data={"email": email, "csrf": csrf.group(1)},
        allow_redirects=False,
    ) as r:
        assert r.status == 303
    return session


async def join_token(session: aiohttp.ClientSession, url: str, conference_id: str) -> Any:
    async with session.get(
        f"{url}/organisateur/rejoindre/{conference_id}", allow_redirects=False
    ) as r:
        if r.status != 303:
            return r.status
        location = r.headers["Location"]
    assert location.startswith(f"/{conference_id}?token=")
    return parse_qs(urlsplit(location).query)["token"][0]


@pytest.mark.parametrize("access", ["authenticated", "restricted"])
async def test_signed_in_join(make_server: Any, access: str) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    async with aiohttp.ClientSession() as http:
        api = Api(url, http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conf = await book(api, access=access)
    anonymous = Client(url, conf["id"], "Anonyme", decode=False)
    with pytest.raises(SignalingError) as info:
        await anonymous.join()
    assert info.value.code == "auth_required"
    await anonymous.close()

    alice = await dev_session(url, "alice@agriculture.gouv.fr")
    bob = await dev_session(url, "bob@interieur.gouv.fr")
    try:
        token = await join_token(alice, url, conf["id"])
        async with Client(url, conf["id"], "x", token=token, decode=False) as organiser:
            joined = await organiser.request({"type": "ping"})
            assert joined["type"] == "pong"
            participants = server.conferences.get(conf["id"]).participants
            assert [p.role for p in participants.values()] == ["moderator"]
        bob_token = await join_token(bob, url, conf["id"])
        if access == "restricted":
            assert bob_token == 403
        else:
            async with Client(url, conf["id"], "Bob", token=bob_token, decode=False) as agent:
                assert agent.participant_id
                roles = [p.role for p in server.conferences.get(conf["id"]).participants.values()]
                assert roles == ["participant"]
        async with (
            aiohttp.ClientSession() as signed_out,
            signed_out.get(
                f"{url}/organisateur/rejoindre/{conf['id']}", allow_redirects=False
            ) as r,
        ):
            assert r.status == 303 and r.headers["Location"] == "/organisateur/connexion"
    finally:
        await alice.close()
        await bob.close()
