"""Which browser origins may open /ws, and which address a request comes from."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from snapconf.signaling.session import origin_allowed
from snapconf.web import peer_address


def _request(origin: str | None, host: str = "webconf.example.gouv.fr") -> web.Request:
    headers = {"Host": host}
    if origin is not None:
        headers["Origin"] = origin
    return make_mocked_request("GET", "/ws", headers=headers)


@pytest.mark.parametrize(
    ("origin", "host", "public_url", "allowed"),
    [
        (None, "x", "", True),
        ("https://webconf.example.gouv.fr", "webconf.example.gouv.fr", "", True),
        ("https://webconf.example.gouv.fr:443", "webconf.example.gouv.fr", "", True),
        ("HTTPS://WebConf.Example.Gouv.Fr", "webconf.example.gouv.fr", "", True),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "", True),
        ("http://127.0.0.1:8081", "127.0.0.1:8080", "", False),
        ("http://[::1]:8080", "[::1]:8080", "", True),
        # a proxy that rewrites Host: the public URL is the page's origin
        (
            "https://webconf.example.gouv.fr",
            "127.0.0.1:8080",
            "https://webconf.example.gouv.fr/",
            True,
        ),
        ("https://webconf.example.gouv.fr.evil.example", "webconf.example.gouv.fr", "", False),
        ("null", "webconf.example.gouv.fr", "", False),
        ("", "webconf.example.gouv.fr", "", False),
    ],
)
def test_an_origin_is_allowed_when_it_is_the_servers_own(
    origin: str | None, host: str, public_url: str, allowed: bool
) -> None:
    assert origin_allowed(_request(origin, host), public_url, []) is allowed


def test_listed_origins_are_allowed() -> None:
    request = _request("https://intranet.example.gouv.fr")
    assert origin_allowed(request, "", ["https://intranet.example.gouv.fr"])
    assert not origin_allowed(request, "", ["https://other.example.gouv.fr"])


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        (("192.0.2.7", 4000), "192.0.2.7"),
        (("::ffff:192.0.2.7", 4000, 0, 0), "192.0.2.7"),
        (("fe80::1%eth0", 4000, 0, 2), "fe80::1"),
        (None, ""),
    ],
)
def test_the_peer_address_is_the_tcp_peer_unmapped(peer: object, address: str) -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    request = make_mocked_request(
        "GET", "/ws", headers={"X-Forwarded-For": "127.0.0.1"}, transport=transport
    )
    assert peer_address(request) == address
