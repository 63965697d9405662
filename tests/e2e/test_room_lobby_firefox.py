"""The waiting room and mute all with Firefox ESR pages and a Chromium moderator.

A Firefox page waits without media until the Chromium moderator admits it, then hears
the moderator; mute all stops every packet of the Firefox pages' microphones at their
listeners, and each muted Firefox page says "Micro coupé par un modérateur"; a refused
Firefox page says so in French.

The module's server runs in a network namespace where Firefox reaches its media (see
tests/e2e/browsers.py), with join tokens so that one page is a moderator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jwt
import pytest
from tests.e2e.browsers import (
    Browser,
    RoomPage,
    Server,
    chromium_missing,
    firefox_missing,
    launch,
    media_namespace,
    namespace_missing,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

_MISSING = chromium_missing() or firefox_missing() or namespace_missing()
pytestmark.append(pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING)))

SECRET = "a-join-secret-for-e2e-lobby-tests-0123456789"
MUTED_TEXT = "Micro coupé par un modérateur"
REFUSED_TEXT = "Un modérateur n\u2019a pas accepté votre entrée dans la réunion."


def _token(room: str, role: str = "participant") -> str:
    claims = {"room": room, "exp": time.time() + 3600, "role": role}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        media_address = stack.enter_context(media_namespace())
        srv = Server(
            tmp_path_factory.mktemp("server") / "server.log",
            media_address,
            config=f'[auth]\njwt_secret = "{SECRET}"\n',
        )
        stack.callback(srv.stop)
        try:
            srv.wait_ready()
        except RuntimeError:
            print(f"----- snapconf server log -----\n{srv.log()}")
            raise
        yield srv


@pytest.fixture
async def fox(tmp_path: Path) -> AsyncIterator[Browser]:
    async with launch("firefox", tmp_path) as browser:
        yield browser


@pytest.fixture
async def chrome(tmp_path: Path) -> AsyncIterator[Browser]:
    async with launch("chromium", tmp_path) as browser:
        yield browser


async def _open(browser: Browser, server: Server, room: str, name: str, role: str) -> RoomPage:
    """A page that asked to join (it may be held in the waiting room)."""
    page = await browser.new_page(name)
    rp = RoomPage(page, browser.kind)
    await page.goto(f"{server.url(room)}?token={_token(room, role)}")
    await page.evaluate(
        """name => {
            document.querySelector('#display-name').value = name;
            document.querySelector('#join-button').click();
        }""",
        name,
    )
    return rp


async def _joined(page: RoomPage) -> str:
    page.participant_id = await page.page.wait_for("() => window.snapconf.participantId")
    return page.participant_id


async def _waits(page: RoomPage) -> None:
    await page.page.wait_for("() => !document.querySelector('#lobby-wait').hidden")


async def _quiet(listener: RoomPage, participant_id: str, seconds: float = 2.0) -> int:
    """Audio packets of ``participant_id`` that reach ``listener`` over ``seconds``."""
    before = (await listener.received(participant_id, "audio"))["packets"]
    await asyncio.sleep(seconds)
    return (await listener.received(participant_id, "audio"))["packets"] - before


async def test_firefox_waits_without_media_is_admitted_then_muted_by_a_chromium_moderator(
    server: Server, fox: Browser, chrome: Browser
) -> None:
    room = "attente-firefox"
    moderator = await _open(chrome, server, room, "Modératrice", "moderator")
    mod_id = await _joined(moderator)
    await moderator.click("#btn-moderation")
    await moderator.click("#btn-lobby")
    await moderator.page.wait_for(
        "() => document.querySelector('#btn-lobby').getAttribute('aria-pressed') === 'true'"
    )

    firmin = await _open(fox, server, room, "Firmin", "participant")
    await _waits(firmin)
    await moderator.page.wait_for(
        "() => [...document.querySelectorAll('#waiting-list [data-testid=waiting-name]')]"
        ".some(n => n.textContent === 'Firmin')"
    )
    await asyncio.sleep(2.0)
    held = await firmin.page.evaluate(
        "() => [window.snapconf.participantId, window.snapconf.pc.recv === null,"
        " window.snapconf.participants.size]"
    )
    assert held == [None, True, 0]  # no participant list, no receive connection, no media

    await moderator.click("#waiting-list [data-testid=admit]")
    firmin_id = await _joined(firmin)
    await firmin.decodes_audio_of(mod_id)
    await moderator.decodes_audio_of(firmin_id)

    fanny = await _open(fox, server, room, "Fanny", "participant")
    await _waits(fanny)
    await moderator.page.wait_for(
        "() => document.querySelector('#waiting-list [data-testid=admit]') !== null"
    )
    await moderator.click("#waiting-list [data-testid=admit]")
    fanny_id = await _joined(fanny)
    await firmin.decodes_audio_of(fanny_id)

    await moderator.click("#btn-mute-all")
    for page in (firmin, fanny):
        await page.page.wait_for(
            "text => document.querySelector('#local-tile .muted-indicator').textContent === text",
            MUTED_TEXT,
        )
    await asyncio.sleep(1.0)  # what was in flight arrives
    assert await _quiet(moderator, firmin_id) == 0
    assert await _quiet(moderator, fanny_id) == 0
    assert await _quiet(firmin, fanny_id) == 0
    assert await _quiet(fanny, firmin_id) == 0
    assert await _quiet(firmin, mod_id) > 0  # the moderator is not muted

    refused = await _open(fox, server, room, "Rémi", "participant")
    await _waits(refused)
    await moderator.page.wait_for(
        "() => document.querySelector('#waiting-list [data-testid=refuse]') !== null"
    )
    await moderator.click("#waiting-list [data-testid=refuse]")
    await refused.page.wait_for(
        "text => document.querySelector('#errors').innerText.includes(text)", REFUSED_TEXT
    )
