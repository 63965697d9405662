"""Who may sign in, and what the sign-in leaves in the browser: the development sign-in is
off by default and loopback-only when on, its form carries a CSRF token, cookies are Secure
behind TLS, and links never repeat the Host header a client sent."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from tests.conftest import base_url
from tests.integration.api.helpers import SERVER_SECTIONS, Api
from tests.integration.api.test_api import book

from snapconf.bookings.errors import ApiError

LOGIN = "/organisateur/connexion"


async def _login_form(session: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    async with session.get(url + LOGIN) as r:
        assert r.status == 200
        html = await r.text()
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the sign-in form has no CSRF token"
    return html, found.group(1)


async def test_the_development_sign_in_is_off_unless_enabled(make_server: Any) -> None:
    server = await make_server()  # the defaults, as `snapconf serve` runs them
    url = base_url(server)
    async with aiohttp.ClientSession() as session:
        api = Api(url, session)
        status, err = await api.call("POST", "/auth/token", {"email": "a@x.gouv.fr"}, token=None)
        assert status == 403 and err["error"]["field"] == "email"
        async with session.get(url + LOGIN) as r:
            assert "Connexion de développement" not in await r.text()
        async with session.post(
            url + LOGIN, data={"email": "a@x.gouv.fr"}, allow_redirects=False
        ) as r:
            assert r.status == 403 and "snapconf_session" not in r.cookies


def _request_from(
    peer: tuple[str, int], method: str, path: str, body: bytes = b"", **headers: str
) -> web.Request:
    """A request as the server sees it from ``peer`` (the TCP peer, not a header)."""
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {
        "peername": peer,
        "sockname": ("192.0.2.1", 8080),
    }.get(name, default)
    protocol = mock.Mock(_reading_paused=False)
    payload = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request(method, path, headers=headers, transport=transport, payload=payload)


@pytest.mark.parametrize("peer", ["192.0.2.7", "fd00::7", "::ffff:192.0.2.7"])
async def test_the_development_sign_in_is_refused_to_a_peer_that_is_not_loopback(
    make_server: Any, peer: str
) -> None:
    server = await make_server(organisers={"dev_login": True})
    service, pages = server.api, server.pages
    body = json.dumps({"email": "victim@x.gouv.fr"}).encode()
    # a forwarded header naming loopback changes nothing: only the TCP peer counts
    request = _request_from(
        (peer, 40000),
        "POST",
        "/api/v1/auth/token",
        body,
        **{"Content-Type": "application/json", "X-Forwarded-For": "127.0.0.1"},
    )
    with pytest.raises(ApiError) as info:
        await service.auth_token(request)
    assert (info.value.status, info.value.code) == (403, "dev_login_not_local")
    request = _request_from((peer, 40000), "POST", LOGIN, b"email=victim%40x.gouv.fr")
    with pytest.raises(web.HTTPForbidden):
        await pages.login(request)
    page = await pages.login_page(_request_from((peer, 40000), "GET", LOGIN))
    assert "Connexion de développement" not in page.text
    # the same server signs in a loopback peer
    request = _request_from(
        ("127.0.0.1", 40000),
        "POST",
        "/api/v1/auth/token",
        body,
        **{"Content-Type": "application/json"},
    )
    assert (await service.auth_token(request)).status == 200


async def test_the_sign_in_form_needs_its_csrf_token(make_server: Any) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        html, csrf = await _login_form(session, url)
        assert "Connexion de développement" in html
        email = "alice@x.gouv.fr"
        for data in ({"email": email}, {"email": email, "csrf": "forged"}):
            async with session.post(url + LOGIN, data=data, allow_redirects=False) as r:
                assert r.status == 403 and "snapconf_session" not in r.cookies
        async with session.post(
            url + LOGIN, data={"email": email, "csrf": csrf}, allow_redirects=False
        ) as r:
            assert r.status == 303 and "snapconf_session" in r.cookies
    # a form posted from another site carries no sign-in cookie of ours
    async with (
        aiohttp.ClientSession() as other,
        other.post(url + LOGIN, data={"email": email, "csrf": csrf}, allow_redirects=False) as r,
    ):
        assert r.status == 403


@pytest.mark.parametrize(
    ("public_url", "forwarded", "secure"),
    [
        ("", None, False),
        ("", "https", True),  # a TLS proxy in front
        ("https://webconf.example.gouv.fr", None, True),
    ],
)
async def test_the_session_cookie_is_secure_when_the_browser_came_over_tls(
    make_server: Any, public_url: str, forwarded: str | None, secure: bool
) -> None:
    sections = {**SERVER_SECTIONS, "api": {**SERVER_SECTIONS["api"], "public_url": public_url}}
    server = await make_server(**sections)
    url = base_url(server)
    headers = {} if forwarded is None else {"X-Forwarded-Proto": forwarded}
    # cookies are carried by hand: a browser would send Secure ones over https only
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        async with session.get(url + LOGIN, headers=headers) as r:
            seed = r.cookies["snapconf_login"]
            assert bool(seed["secure"]) is secure
            found = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert found is not None
        async with session.post(
            url + LOGIN,
            data={"email": "alice@x.gouv.fr", "csrf": found.group(1)},
            headers={**headers, "Cookie": f"snapconf_login={seed.value}"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
            cookie = r.cookies["snapconf_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Lax"
            assert bool(cookie["secure"]) is secure


async def test_links_are_built_from_the_connection_not_the_host_header(
    make_server: Any,
) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    evil = {"Host": "evil.example"}
    async with aiohttp.ClientSession() as session:
        api = Api(url, session)
        api.token = await api.sign_in("alice@x.gouv.fr")
        conf = await book(api)
        status, read = await api.call("GET", f"/conferences/{conf['id']}", headers=evil)
        assert status == 200 and read["web_url"] == f"{url}/{conf['id']}"
        status, link = await api.call("POST", f"/conferences/{conf['id']}/tokens", {}, headers=evil)
        assert status == 201 and link["url"].startswith(f"{url}/{conf['id']}?token=")
        async with session.get(
            url + f"/api/v1/conferences/{conf['id']}/invite.ics",
            headers={**evil, "Authorization": f"Bearer {api.token}"},
        ) as r:
            ics = await r.text()
        assert "evil.example" not in ics and f"{url}/{conf['id']}" in ics.replace("\r\n ", "")
        async with session.get(url + "/api/v1/openapi.json", headers=evil) as r:
            assert (await r.json())["servers"][0]["url"] == url + "/api/v1"


async def test_deeply_nested_json_on_the_api_is_bad_json(make_server: Any) -> None:
    server = await make_server(**SERVER_SECTIONS)
    async with aiohttp.ClientSession() as session:
        api = Api(base_url(server), session)
        api.token = await api.sign_in("alice@x.gouv.fr")
        nested = '{"title": ' + "[" * 30000 + "]" * 30000 + "}"  # under the 64 KiB body cap
        status, err = await api.call(
            "POST",
            "/conferences",
            data=nested,
            headers={"Content-Type": "application/json"},
        )
        assert status == 400 and err["error"]["code"] == "bad_json"
