"""The room page as people meet it, in headless Chromium: a booked conference's title, a
phone caller shown as a phone, a phone-sized screen, and every error in French."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.e2e.browsers import CHROMIUM
from tests.integration.api.helpers import SECRET, Api
from tests.integration.api.test_api import book
from tests.support.dialin import PlainPhone

from snapconf.client import Client
from snapconf.dialin.conference_bridge import PhoneBridge

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SCREENSHOTS = Path(os.environ.get("SNAPCONF_E2E_SCREENSHOT_DIR", "/tmp"))
SECTIONS: dict[str, dict[str, Any]] = {
    "api": {"token_secret": SECRET},
    "organisers": {"dev_login": True},
}
PHONE = {"width": 390, "height": 844}

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


async def _open(chromium: Any, url: str, viewport: dict[str, int] | None = None) -> Any:
    context = await chromium.new_context(viewport=viewport or {"width": 1000, "height": 700})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await page.goto(url)
    return page


async def _join(page: Any, name: str = "Agnès") -> None:
    await page.fill("#display-name", name)
    await page.click("#join-button")


async def _booked(server: Any, **fields: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        api = Api(base_url(server), http)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        return await book(api, **fields)


async def test_a_phone_sized_screen_with_six_participants_keeps_the_controls_on_screen(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**SECTIONS)
    url = base_url(server)
    conf = await _booked(server, title="Point d’équipe du lundi")  # noqa: RUF001
    others = [Client(url, conf["id"], f"Agent {i}", decode=False) for i in range(4)]
    leg = None
    caller: PlainPhone | None = None
    try:
        for client in others:
            await client.join()
        caller = await PlainPhone.open("PCMA", 8, 8000)
        leg = await PhoneBridge(server.conferences).join_phone(
            conf["id"], "anonymous", "", caller.media, lambda _: None
        )
        page = await _open(chromium, f"{url}/{conf['id']}", PHONE)
        await _join(page)
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 5", timeout=20_000
        )
        # the booked title, not the conference's id
        assert (await page.inner_text("#room-name")).strip() == "Point d’équipe du lundi"  # noqa: RUF001
        assert conf["id"] not in await page.title()
        # every control is inside the screen, without scrolling
        for button in await page.locator("#controls button:not([hidden])").all():
            box = await button.bounding_box()
            assert box is not None
            assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        # the caller without a number is a phone, not "••"
        phone = page.locator('.tile[data-kind="phone"]')
        assert await phone.count() == 1
        assert (await phone.locator(".name").inner_text()).strip() == "Téléphone"
        assert (await phone.locator(".placeholder").inner_text()).strip() == "☎"
        assert "•" not in await page.inner_text("#tiles")
        await page.screenshot(path=str(SCREENSHOTS / "snapconf-room-phone-screen.png"))
        assert not page.errors, page.errors
    finally:
        if leg is not None:
            leg.close()
        if caller is not None:
            caller.close()
        for client in others:
            await client.close()


async def test_a_conference_not_open_yet_is_explained_in_french_with_its_opening_time(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**SECTIONS)
    starts = datetime.now(UTC) + timedelta(days=3)
    conf = await _booked(server, start=starts.isoformat(timespec="seconds"))
    page = await _open(chromium, f"{base_url(server)}/{conf['id']}")
    await _join(page)
    await page.wait_for_function("() => document.querySelector('#errors').textContent", timeout=20_000)
    text = await page.inner_text("#errors")
    assert "La réunion n’est pas encore ouverte. Elle ouvre le " in text  # noqa: RUF001
    assert str(starts.year) in text
    assert "conference_not_started" not in text and "opened" not in text


async def test_a_participant_removed_by_a_moderator_is_told_so_in_french(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**SECTIONS)
    url = base_url(server)
    page = await _open(chromium, f"{url}/salle-du-conseil")
    await _join(page)
    await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    conference = server.conferences.get("salle-du-conseil")
    (participant,) = conference.participants.values()
    conference.leave(participant, reason="removed")
    participant.listener.closed("removed")
    await page.wait_for_selector("#ended:not([hidden])", timeout=20_000)
    text = await page.inner_text("#errors")
    assert "Un modérateur vous a retiré de la réunion." in text
    assert "removed" not in text
