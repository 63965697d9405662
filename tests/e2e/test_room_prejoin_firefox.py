"""The pre-join screen and the grid in Firefox ESR: its preview plays, its devices are
listed, it joins with its camera off if asked, and its grid of Chromium pages shows every
video without two tiles overlapping.

The module's server runs in a network namespace where Firefox reaches its media (see
tests/e2e/browsers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browsers import (
    Browser,
    Pages,
    RoomPage,
    Server,
    module_server,
    needs_chromium,
    needs_firefox,
)
from tests.e2e.test_room_screenshots import _assert_no_overlap, screenshots_dir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), needs_chromium, needs_firefox]

_TILES_JS = """() => [...document.querySelectorAll('#tiles > .tile')]
    .filter(t => t.getClientRects().length)
    .map(t => { const r = t.getBoundingClientRect();
                return {x: r.x, y: r.y, width: r.width, height: r.height}; })"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_server(tmp_path_factory) as srv:
        yield srv


async def test_firefox_previews_lists_its_devices_joins_camera_off_and_shows_a_grid(
    pages: Pages, fox: Browser, chrome: Browser, server: Server, tmp_path: Path
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
    # its camera sends nothing: never opened, or its track disabled
    assert await page.evaluate(
        "() => { const video = window.snapconf.state.local.video;"
        " return video === null || video.track.enabled === false; }"
    )

    others = [
        await pages.join(chrome, "foret", "Chêne"),
        await pages.join(chrome, "foret", "Hêtre"),
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
