"""Organiser sign-in against a real OpenID Connect provider started by the test.

The provider is oauth2-mock-server on the machine's Node.js (tests/integration/api/oidc/,
installed with ``npm ci --prefix tests/integration/api/oidc``): authorization code
with PKCE (it checks the code_verifier against the challenge) and nonce, RS256 ID tokens.
A control file steers it: the e-mail it asserts, a wrong nonce, a tampered ID token.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from tests.conftest import base_url

PROVIDER_DIR = Path(__file__).parent / "oidc"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (PROVIDER_DIR / "node_modules" / "oauth2-mock-server").is_dir(),
    reason="needs node and `npm ci --prefix tests/integration/api/oidc`",
)


class Provider:
    def __init__(self, control: Path) -> None:
        self.control = control
        self.issuer = ""
        self.process: asyncio.subprocess.Process | None = None

    def steer(self, email: str, nonce: str | None = None, tamper: bool = False) -> None:
        self.control.write_text(json.dumps({"email": email, "nonce": nonce, "tamper": tamper}))


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[Provider]:
    p = Provider(tmp_path / "control.json")
    p.steer("alice@agriculture.gouv.fr")
    assert NODE is not None
    p.process = await asyncio.create_subprocess_exec(
        NODE,
        str(PROVIDER_DIR / "provider.mjs"),
        str(p.control),
        cwd=PROVIDER_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert p.process.stdout is not None
    line = await asyncio.wait_for(p.process.stdout.readline(), 20)
    p.issuer = line.decode().strip()
    assert p.issuer.startswith("http://127.0.0.1:")
    yield p
    p.process.terminate()
    await p.process.wait()


@pytest.fixture
async def site(make_server: Any, provider: Provider) -> Any:
    return await make_server(
        organisers={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": "snapconf-test",
            "oidc_client_secret": "client-secret",
            "allowed_domains": ["gouv.fr"],
            "dev_login": False,
        },
        api={"token_secret": "o" * 40},
    )


async def sign_in(
    server: Any, tamper_state: bool = False
) -> tuple[aiohttp.ClientResponse, str, aiohttp.ClientSession]:
    """Run the browser's redirects by hand; returns the callback's answer and its page."""
    url = base_url(server)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(url + "/organisateur/connexion") as r:
        assert "AgentConnect" in await r.text()
    async with session.get(url + "/organisateur/connexion/oidc", allow_redirects=False) as r:
        assert r.status == 303
        authorize = r.headers["Location"]
    params = parse_qs(urlsplit(authorize).query)
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
    assert params["nonce"][0] and params["state"][0]
    assert params["redirect_uri"] == [url + "/organisateur/connexion/oidc/retour"]
    async with session.get(authorize, allow_redirects=False) as r:
        assert r.status == 302
        callback = r.headers["Location"]
    if tamper_state:
        query = parse_qs(urlsplit(callback).query)
        query["state"] = ["forged-" + query["state"][0]]
        callback = callback.split("?")[0] + "?" + urlencode({k: v[0] for k, v in query.items()})
    response = await session.get(callback, allow_redirects=False)
    text = await response.text()
    return response, text, session


async def test_login_callback_session_and_api_token(site: Any) -> None:
    response, _, session = await sign_in(site)
    try:
        assert response.status == 303
        assert response.headers["Location"] == "/organisateur/conferences"
        async with session.get(base_url(site) + "/organisateur/conferences") as r:
            assert r.status == 200 and "alice@agriculture.gouv.fr" in await r.text()
        async with session.post(base_url(site) + "/api/v1/auth/token") as r:
            assert r.status == 200
            token = (await r.json())["access_token"]
        async with session.get(
            base_url(site) + "/api/v1/conferences", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status == 200
        organiser = await site.store.organiser(f"{site.oidc.issuer}|johndoe")
        assert organiser is not None and organiser.email == "alice@agriculture.gouv.fr"
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("steer", "tamper_state", "status", "words"),
    [
        ({"email": "alice@gmail.com"}, False, 403, "ce domaine"),
        ({"email": "alice@agriculture.gouv.fr", "nonce": "replayed"}, False, 403, "nonce"),
        ({"email": "alice@agriculture.gouv.fr", "tamper": True}, False, 403, "ID token"),
        ({"email": "alice@agriculture.gouv.fr"}, True, 400, "state"),
    ],
    ids=["refused-domain", "wrong-nonce", "tampered-token", "forged-state"],
)
async def test_refusals(
    site: Any,
    provider: Provider,
    steer: dict[str, Any],
    tamper_state: bool,
    status: int,
    words: str,
) -> None:
    provider.steer(**steer)
    response, text, session = await sign_in(site, tamper_state=tamper_state)
    try:
        assert response.status == status, text
        assert words in text
        assert "snapconf_session" not in response.cookies
        async with session.get(
            base_url(site) + "/organisateur/conferences", allow_redirects=False
        ) as r:
            assert r.status == 303  # still signed out
    finally:
        await session.close()


async def test_a_callback_without_the_flow_cookie_is_refused(site: Any) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            base_url(site) + "/organisateur/connexion/oidc/retour?code=x&state=y",
            allow_redirects=False,
        ) as r,
    ):
        assert r.status == 400


async def test_the_providers_access_token_is_an_api_bearer_token(
    site: Any, provider: Provider
) -> None:
    """An API client that signed in with the provider itself uses its access token."""
    redirect = "http://127.0.0.1:1/cb"
    async with aiohttp.ClientSession() as session:
        async with session.get(
            provider.issuer + "/authorize",
            params={
                "response_type": "code",
                "client_id": "snapconf-test",
                "redirect_uri": redirect,
                "scope": "openid email",
                "state": "s",
            },
            allow_redirects=False,
        ) as r:
            code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        async with session.post(
            provider.issuer + "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": "snapconf-test",
            },
        ) as r:
            access_token = (await r.json())["access_token"]
        url = base_url(site) + "/api/v1/conferences"
        body = {
            "title": "Par l'API",
            "date": datetime.now(ZoneInfo("Europe/Paris")).date().isoformat(),
        }
        async with session.post(
            url, json=body, headers={"Authorization": f"Bearer {access_token}"}
        ) as r:
            assert r.status == 201, await r.text()
        async with session.get(url, headers={"Authorization": f"Bearer {access_token}"}) as r:
            assert (await r.json())["total"] == 1
        async with session.get(url, headers={"Authorization": "Bearer not-issued"}) as r:
            assert r.status == 401
        provider.steer("someone@gmail.com")  # a refused domain, for a new token
        async with session.get(
            provider.issuer + "/authorize",
            params={
                "response_type": "code",
                "client_id": "snapconf-test",
                "redirect_uri": redirect,
                "scope": "openid email",
                "state": "s",
            },
            allow_redirects=False,
        ) as r:
            code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        async with session.post(
            provider.issuer + "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": "snapconf-test",
            },
        ) as r:
            other = (await r.json())["access_token"]
        async with session.get(url, headers={"Authorization": f"Bearer {other}"}) as r:
            assert r.status == 403
