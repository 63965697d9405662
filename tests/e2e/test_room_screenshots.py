"""Screenshots of the room page, in headless Chromium, and the layout facts behind them:
the pre-join screen, a grid of six, a grid in pages whose off-page videos are reported not
visible, the phone-sized page with its controls on screen, the waiting room, and the
moderator's participants panel.

The pictures go to ``$SNAPCONF_SCREENSHOTS`` (default: the test's temporary directory),
for a person to look at."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.browsers import CHROMIUM

from snapconf.client import Client, ColorTrack

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
#: the first browser of an ad-hoc room is its moderator
FIRST_MODERATOR = {"sfu": {"first_moderator": True}}
COLOURS = [(200, 60, 60), (60, 160, 60), (60, 90, 200), (200, 160, 40), (150, 60, 180)]

_TMP: list[Path] = []


def screenshots_dir(default: Path | None = None) -> Path:
    """``$SNAPCONF_SCREENSHOTS``, or ``default``, or the running test's temporary directory."""
    where = os.environ.get("SNAPCONF_SCREENSHOTS")
    fallback = default or (_TMP[-1] if _TMP else Path("/tmp/snapconf-screenshots"))
    path = Path(where) if where else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _screenshots_tmp(tmp_path: Path) -> Any:
    _TMP.append(tmp_path)
    yield
    _TMP.remove(tmp_path)


async def _open(chromium: Any, url: str, viewport: dict[str, int]) -> Any:
    context = await chromium.new_context(viewport=viewport)
    page = await context.new_page()
    page.errors = []
    page.views = []  # every setViews report the page sent
    page.on("pageerror", lambda e: page.errors.append(str(e)))

    def on_socket(ws: Any) -> None:
        def sent(payload: str | bytes) -> None:
            msg = json.loads(payload)
            if msg.get("type") == "setViews":
                page.views.append(msg["views"])

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    await page.goto(url)
    return page


async def _join(page: Any, name: str) -> str:
    await page.fill("#display-name", name)
    await page.click("#join-button")
    handle = await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    pid: str = await handle.json_value()
    return pid


async def _video_client(url: str, room: str, name: str, colour: tuple[int, int, int]) -> Client:
    client = Client(url, room, name, decode=False)
    await client.join()
    await client.publish([(ColorTrack(colour, 160, 120, fps=5), "camera")])
    return client


async def _shown_tiles(page: Any) -> list[dict[str, float]]:
    boxes: list[dict[str, float]] = await page.evaluate(
        """() => [...document.querySelectorAll('#tiles > .tile')]
            .filter(t => t.getClientRects().length)
            .map(t => { const r = t.getBoundingClientRect();
                        return {x: r.x, y: r.y, width: r.width, height: r.height,
                                id: t.dataset.participantId || 'me'}; })"""
    )
    return boxes


def _assert_no_overlap(boxes: list[dict[str, float]]) -> None:
    for i, a in enumerate(boxes):
        assert a["width"] > 20 and a["height"] > 20, a
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"] + 0.5
                or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5
                or b["y"] + b["height"] <= a["y"] + 0.5
            )
            assert apart, f"tiles overlap: {a} {b}"


async def _assert_inside(page: Any, selector: str, viewport: dict[str, int]) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] + 0.5, (selector, box)


async def _track_ids(page: Any, on_page: bool) -> set[str]:
    ids: list[str] = await page.evaluate(
        """onPage => [...document.querySelectorAll('#tiles > .tile.remote')]
            .filter(t => (t.dataset.offPage !== 'true') === onPage)
            .flatMap(t => [...t.querySelectorAll('video[data-track-id]')])
            .map(v => v.dataset.trackId)""",
        on_page,
    )
    return set(ids)


async def _until_reported(page: Any) -> tuple[set[str], set[str]]:
    """Wait until the last setViews says the videos of the tiles off the page are not
    visible and those on it are; returns (off, on). The dominant speaker may change the
    page meanwhile: what is on screen is read again each time."""
    last: dict[str, Any] = {}
    off: set[str] = set()
    on: set[str] = set()
    for _ in range(100):
        off, on = await _track_ids(page, False), await _track_ids(page, True)
        last = page.views[-1] if page.views else {}
        if all(last.get(t, {}).get("visible") is False for t in off) and all(
            last.get(t, {}).get("visible") is True for t in on
        ):
            return off, on
        await asyncio.sleep(0.1)
    raise AssertionError(f"last setViews {last}: hidden {off}, shown {on}")


async def test_the_grid_pages_its_tiles_without_overlap_and_reports_off_page_videos_hidden(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    shots = screenshots_dir()
    clients: list[Client] = []
    try:
        page = await _open(chromium, f"{url}/grille", DESKTOP)
        await page.wait_for_function(
            "() => document.querySelector('#prejoin-video').videoWidth > 0"
            " && document.querySelector('#select-camera').options.length > 0",
            timeout=20_000,
        )
        await page.fill("#display-name", "Agnès Dupont")
        await asyncio.sleep(0.5)
        await page.screenshot(path=str(shots / "prejoin.png"))
        await _assert_inside(page, "#join-button", DESKTOP)

        # six participants: one page, nothing overlaps
        for i in range(5):
            clients.append(await _video_client(url, "grille", f"Agent {i}", COLOURS[i]))
        await _join(page, "Agnès Dupont")
        await page.wait_for_function(
            """() => [...document.querySelectorAll('.tile.remote video')]
                .filter(v => v.videoWidth > 0).length === 5""",
            timeout=30_000,
        )
        await asyncio.sleep(0.5)
        await page.screenshot(path=str(shots / "grid-6.png"))
        boxes = await _shown_tiles(page)
        assert len(boxes) == 6
        _assert_no_overlap(boxes)
        assert await page.is_hidden("#pager")
        await _assert_inside(page, "#controls", DESKTOP)

        # eleven: nine on the first page, two on the second, the others' videos not visible
        for i in range(5, 10):
            clients.append(await _video_client(url, "grille", f"Agent {i}", COLOURS[i % 5]))
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote video').length === 10",
            timeout=30_000,
        )
        await page.wait_for_selector("#pager", state="visible")
        assert (await page.inner_text("#page-label")).strip() == "Page 1 sur 2"
        boxes = await _shown_tiles(page)
        assert len(boxes) == 9
        _assert_no_overlap(boxes)
        off, on = await _until_reported(page)
        assert len(off) == 2 and len(on) == 8, (off, on)
        await page.screenshot(path=str(shots / "grid-11-page-1.png"))

        await page.click("#btn-page-next")
        assert (await page.inner_text("#page-label")).strip() == "Page 2 sur 2"
        boxes = await _shown_tiles(page)
        assert len(boxes) == 2
        _assert_no_overlap(boxes)
        assert await page.is_disabled("#btn-page-next")
        off, on = await _until_reported(page)
        assert len(off) == 8 and len(on) == 2, (off, on)

        # the same room on a phone: four tiles a page, the controls on screen
        phone = await _open(chromium, f"{url}/grille", PHONE)
        await _join(phone, "Paul")
        await phone.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 11", timeout=30_000
        )
        await phone.wait_for_selector("#pager", state="visible")
        assert (await phone.inner_text("#page-label")).strip() == "Page 1 sur 3"
        await asyncio.sleep(1)
        boxes = await _shown_tiles(phone)
        assert len(boxes) == 4
        _assert_no_overlap(boxes)
        await _assert_inside(phone, "#controls", PHONE)
        await _assert_inside(phone, "#pager", PHONE)
        for control in await phone.locator("#controls > :not([hidden])").all():
            box = await control.bounding_box()
            assert box is not None
            assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
        await phone.screenshot(path=str(shots / "phone.png"))
        # a panel opens as a sheet in the tiles' place, the controls still on screen
        await phone.click("#btn-chat")
        await phone.wait_for_selector("#chat-panel", state="visible")
        await _assert_inside(phone, "#chat-panel", PHONE)
        await _assert_inside(phone, "#controls", PHONE)
        await phone.screenshot(path=str(shots / "phone-chat.png"))
        await phone.keyboard.press("Escape")
        await phone.wait_for_selector("#chat-panel", state="hidden")
        assert not page.errors and not phone.errors, (page.errors, phone.errors)
    finally:
        for client in clients:
            await client.close()


async def test_the_waiting_screen_and_the_moderators_participants_panel(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**FIRST_MODERATOR)
    url = f"{base_url(server)}/equipe"
    shots = screenshots_dir()
    bruno = Client(base_url(server), "equipe", "Bruno Martin", decode=False)
    try:
        moderator = await _open(chromium, url, DESKTOP)
        await _join(moderator, "Modératrice")
        assert await moderator.evaluate("() => window.snapconf.role") == "moderator"
        await bruno.join()
        await moderator.wait_for_selector(".tile.remote", timeout=20_000)
        await moderator.click("#btn-moderation")
        await moderator.click("#btn-lobby")
        await moderator.wait_for_function(
            "() => document.querySelector('#btn-lobby').getAttribute('aria-pressed') === 'true'",
            timeout=20_000,
        )
        await moderator.click("#btn-moderation")  # closes the moderation panel

        waiting = await _open(chromium, url, DESKTOP)
        await _join_and_wait(waiting, "Wassila")
        await asyncio.sleep(0.3)
        await waiting.screenshot(path=str(shots / "lobby.png"))
        assert "Veuillez patienter" in await waiting.inner_text("#lobby-wait")

        await moderator.click("#btn-participants")
        panel = moderator.locator("#participants-panel")
        await panel.wait_for(state="visible")
        await moderator.wait_for_selector(
            "#participants-panel button[aria-label='Retirer Bruno Martin de la réunion']",
            timeout=20_000,
        )
        await asyncio.sleep(0.3)
        await moderator.screenshot(path=str(shots / "moderator-panel.png"))
        _assert_no_overlap(await _shown_tiles(moderator))
        # Escape closes the panel and the focus goes back to its button
        await moderator.focus("#participants-panel .close-panel")
        await moderator.keyboard.press("Escape")
        await panel.wait_for(state="hidden")
        assert not moderator.errors and not waiting.errors
    finally:
        await bruno.close()


async def _join_and_wait(page: Any, name: str) -> None:
    await page.fill("#display-name", name)
    await page.click("#join-button")
    await page.wait_for_selector("#lobby-wait", state="visible", timeout=20_000)
