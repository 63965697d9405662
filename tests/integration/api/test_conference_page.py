"""The organiser's conference page says how phones join, or that they cannot yet."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.integration.api.helpers import NUMBER, SECRET, Api
from tests.integration.api.test_api import book
from tests.integration.api.test_signed_in_join import dev_session

NO_NUMBER = "Aucun numéro d’appel n’est configuré"  # noqa: RUF001


async def _conference_page(make_server: Any, numbers: list[str]) -> str:
    server = await make_server(
        api={"dialin_numbers": numbers, "token_secret": SECRET}, organisers={"dev_login": True}
    )
    url = base_url(server)
    async with aiohttp.ClientSession() as http:
        api = Api(url, http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conf = await book(api)
    session = await dev_session(url, "alice@agriculture.gouv.fr")
    try:
        async with session.get(f"{url}/organisateur/conferences/{conf['id']}") as r:
            assert r.status == 200
            return await r.text()
    finally:
        await session.close()


@pytest.mark.parametrize("numbers", [[], [NUMBER]], ids=["none", "one"])
async def test_the_conference_page_shows_the_number_or_says_none_is_configured(
    make_server: Any, numbers: list[str]
) -> None:
    html = await _conference_page(make_server, numbers)
    if numbers:
        assert NUMBER in html and NO_NUMBER not in html
    else:
        assert NO_NUMBER in html and "dialin_numbers" in html
