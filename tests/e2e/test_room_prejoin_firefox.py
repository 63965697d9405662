"""The pre-join screen and the grid in Firefox ESR: its preview plays, its devices are
listed, it joins with its camera off if asked, and its grid of Chromium pages shows every
video without two tiles overlapping.

The module's server runs in a network namespace where Firefox reaches its media (see
tests/e2e/browsers.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
from tests.e2e.test_room_screenshots import _assert_no_overlap, screenshots_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

_MISSING = chromium_missing() or firefox_missing() or namespace_missing()
pytestmark.append(pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING)))

_TILES_JS = """() => [...document.querySelectorAll('#tiles > .tile')]
    .filter(t => t.getClientRects().length)
    .map(t => { const r = t.getBoundingClientRect();
                return {x: r.x, y: r.y, width: r.width, height: r.height}; })"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        media_address = stack.enter_context(media_namespace())
        srv = Server(tmp_path_factory.mktemp("server") / "server.log", media_address)
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


async def test_firefox_previews_lists_its_devices_joins_camera_off_and_shows_a_grid(
    server: Server, fox: Browser, chrome: Browser, tmp_path: Path
) -> None:
    shots = screenshots_dir(tmp_path)
    page: Any = await fox.new_page("Renard")
    await page.goto(server.url("foret"))
    assert await page.evaluate("() => document.documentElement.lang") == "fr"
    await page.wait_for(
        """() => document.querySelector('#prejoin-video').videoWidth > 0
            && document.querySelector('#select-camera').options.length > 0
            && document.querySelector('#select-microphone').options.length > 0"""
    )
    await page.screenshot(str(shots / "prejoin-firefox.png"))
    await page.evaluate(
        """() => {
            document.querySelector('#join-camera-off').click();
            document.querySelector('#display-name').value = 'Renard Roux';
            document.querySelector('#join-button').click();
        }"""
    )
    fox_id = await page.wait_for("() => window.snapconf.participantId")
    assert await page.evaluate("() => window.snapconf.state.local.video.track.enabled") is False

    others = [
        await RoomPage.join(chrome, server, "foret", "Chêne"),
        await RoomPage.join(chrome, server, "foret", "Hêtre"),
    ]
    for other in others:
        # Firefox's camera is off: its tile shows its initials
        await other.page.wait_for(
            """id => {
                const tile = document.querySelector(`.tile[data-participant-id="${id}"]`);
                return tile && tile.classList.contains('camera-off')
                    && tile.querySelector('.placeholder').textContent === 'RR';
            }""",
            fox_id,
        )
        await RoomPage(page, "firefox").decodes_video_of(other.participant_id)
    boxes = await page.evaluate(_TILES_JS)
    assert len(boxes) == 3
    _assert_no_overlap(boxes)
    await page.screenshot(str(shots / "grid-firefox.png"))
    assert await page.evaluate("() => document.querySelector('#errors').innerText") == ""
