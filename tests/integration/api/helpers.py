"""An API client for tests that checks every JSON answer against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import aiohttp
from openapi_schema_validator import OAS31Validator

from snapconf.api.openapi import document

DOC = document()
NUMBER = "+33 1 89 00 00 00"
SECRET = "api-secret-for-tests-0123456789abcdef0123"
SERVER_SECTIONS: dict[str, dict[str, Any]] = {
    "api": {"dialin_numbers": [NUMBER], "token_secret": SECRET, "lifecycle_interval": 0.2},
    # the tests sign in with the development sign-in (off by default; loopback only)
    "organisers": {"dev_login": True},
}


def _template(path: str) -> tuple[str, dict[str, Any]] | None:
    """Find the documented path for a concrete one: /conferences/abc -> /conferences/{id}."""
    parts = path.strip("/").split("/")
    for template, item in DOC["paths"].items():
        tparts = template.strip("/").split("/")
        if len(tparts) == len(parts) and all(
            t.startswith("{") or t == p for t, p in zip(tparts, parts, strict=True)
        ):
            return template, item
    return None


def check_against_document(method: str, path: str, status: int, body: Any) -> None:
    found = _template(path)
    assert found is not None, f"{path} is not documented"
    template, item = found
    operation = item.get(method.lower())
    assert operation is not None, f"{method} {template} is not documented"
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {template} -> {status} is not documented"
    content = response.get("content", {})
    if body is None:
        return
    schema = content["application/json"]["schema"]
    OAS31Validator({**schema, "components": DOC["components"]}).validate(body)


class Api:
    def __init__(self, base: str, session: aiohttp.ClientSession, token: str | None = None):
        self.base = base
        self.session = session
        self.token = token

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        token: str | bool | None = True,
        data: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        h = dict(headers or {})
        bearer = self.token if token is True else token
        if isinstance(bearer, str):
            h["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {"headers": h}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.base + "/api/v1" + path, **kwargs) as r:
            if r.content_type == "application/json":
                body = await r.json()
            else:
                text = await r.read()
                body = text if text else None
            if r.status != 404 or isinstance(body, dict):
                check_against_document(
                    method, path.split("?")[0], r.status, body if isinstance(body, dict) else None
                )
            if isinstance(body, dict) and r.status >= 400:
                assert set(body["error"]) == {"code", "message", "field"}
            return r.status, body

    async def sign_in(self, email: str) -> str:
        status, body = await self.call("POST", "/auth/token", {"email": email}, token=None)
        assert status == 200, body
        return str(body["access_token"])
