"""The room page before and around the meeting, in headless Chromium: the pre-join screen's
devices and "join with the camera off", a device changed mid-call without renegotiating,
the page in English for an English browser, the speaker view following the dominant
speaker, and the presentation view when a screen share starts."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.browsers import CHROMIUM, CHROMIUM_ARGS

from snapconf.client import Client, ColorTrack

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

#: Chromium's fake devices, two of each kind
TWO_DEVICES = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"] + [
    "--use-fake-device-for-media-stream=device-count=2"
]


@pytest.fixture
async def chromium_two_devices() -> Any:
    playwright = await async_api.async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=TWO_DEVICES
        )
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


async def _open(browser: Any, url: str, locale: str = "fr-FR", **options: Any) -> Any:
    context = await browser.new_context(
        viewport=options.pop("viewport", {"width": 1100, "height": 750}), locale=locale
    )
    page = await context.new_page()
    page.errors = []
    page.sent = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda payload: page.sent.append(json.loads(payload))),
    )
    await page.goto(url)
    return page


async def _join(page: Any, name: str) -> str:
    await page.fill("#display-name", name)
    await page.click("#join-button")
    handle = await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    pid: str = await handle.json_value()
    return pid


async def _options(page: Any, select: str) -> list[str]:
    await page.wait_for_function(
        f"() => document.querySelector('{select}').options.length > 0", timeout=20_000
    )
    values: list[str] = await page.eval_on_selector_all(
        f"{select} option", "options => options.map(o => o.value)"
    )
    return values


async def test_the_devices_chosen_before_joining_are_sent_and_a_camera_off_join_shows_initials(
    make_server: Any, chromium_two_devices: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/prejoin"
    page = await _open(chromium_two_devices, url)
    # the preview plays and the meter moves with the fake microphone's beeps
    await page.wait_for_function(
        "() => document.querySelector('#prejoin-video').videoWidth > 0", timeout=20_000
    )
    await page.wait_for_function(
        "() => document.querySelector('#mic-level').value > 0.05", timeout=20_000
    )
    microphones = await _options(page, "#select-microphone")
    cameras = await _options(page, "#select-camera")
    assert len(microphones) >= 2 and len(cameras) >= 2, (microphones, cameras)
    await page.select_option("#select-microphone", microphones[1])
    await page.select_option("#select-camera", cameras[1])
    await page.wait_for_function(
        """([mic, cam]) => {
            const v = document.querySelector('#prejoin-video').srcObject;
            return v && v.getAudioTracks()[0]?.getSettings().deviceId === mic
                && v.getVideoTracks()[0]?.getSettings().deviceId === cam;
        }""",
        arg=[microphones[1], cameras[1]],
        timeout=20_000,
    )
    await page.check("#join-camera-off")
    assert await page.is_visible("#prejoin-off")
    assert await page.is_hidden("#prejoin-video")
    me = await _join(page, "Camille Olivier")
    sent = await page.evaluate(
        """() => ({
            mic: window.snapconf.state.local.audio.track.getSettings().deviceId,
            cam: window.snapconf.state.local.video.track.getSettings().deviceId,
            camEnabled: window.snapconf.state.local.video.track.enabled,
        })"""
    )
    assert sent == {"mic": microphones[1], "cam": cameras[1], "camEnabled": False}
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "true"

    # another page sees the initials, not a video
    other = await _open(chromium_two_devices, url)
    await _join(other, "Bruno")
    tile = other.locator(f'.tile[data-participant-id="{me}"]')
    await other.wait_for_selector(f'.tile.camera-off[data-participant-id="{me}"]', timeout=20_000)
    assert (await tile.locator(".placeholder").inner_text()).strip() == "CO"
    assert await tile.locator(".placeholder").is_visible()
    assert await tile.locator("video:visible").count() == 0

    # mid-call, another microphone: the sender's track is replaced, nothing renegotiated
    publishes = sum(1 for m in page.sent if m.get("type") == "publish")
    await page.click("#btn-settings")
    assert await page.is_visible("#settings-dialog")
    await page.select_option("#select-microphone", microphones[0])
    await page.wait_for_function(
        """mic => window.snapconf.pc.send.getSenders().some(
            s => s.track && s.track.kind === 'audio' && s.track.getSettings().deviceId === mic)""",
        arg=microphones[0],
        timeout=20_000,
    )
    await page.keyboard.press("Escape")  # closes the dialog
    await page.wait_for_selector("#settings-dialog", state="hidden")
    await asyncio.sleep(0.5)
    assert sum(1 for m in page.sent if m.get("type") == "publish") == publishes
    assert not page.errors and not other.errors, (page.errors, other.errors)


async def test_an_english_browser_gets_the_page_in_english_and_a_french_one_in_french(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/langues"
    english = await _open(chromium, url, locale="en-US")
    assert await english.get_attribute("html", "lang") == "en"
    assert (await english.inner_text("#join-form h2")).strip() == "Join the meeting"
    assert (await english.inner_text("#join-button")).strip() == "Join"
    assert "Join with the camera off" in await english.inner_text("#join-form")
    await _join(english, "Alice")
    await english.wait_for_selector("#conference", state="visible")
    assert (await english.inner_text("#btn-mic")).strip() == "Mute the microphone"
    assert (await english.inner_text("#btn-leave")).strip() == "Leave"
    await english.wait_for_function(
        "() => document.querySelector('#status').textContent === 'Connected to the meeting.'"
    )
    assert await english.get_attribute("#controls", "aria-label") == "Meeting controls"
    await english.click("#btn-mic")
    assert (await english.inner_text("#btn-mic")).strip() == "Unmute the microphone"
    await english.screenshot(path=str(_shots() / "english.png"))

    french = await _open(chromium, url, locale="fr-FR")
    assert await french.get_attribute("html", "lang") == "fr"
    assert (await french.inner_text("#join-form h2")).strip() == "Rejoindre la réunion"
    await _join(french, "Bernard")
    await french.wait_for_selector("#conference", state="visible")
    assert (await french.inner_text("#btn-mic")).strip() == "Couper le micro"
    # a French name is not translated on the English page
    await english.wait_for_selector(".tile.remote .name:text('Bernard')", timeout=20_000)
    assert not english.errors and not french.errors


async def test_the_speaker_view_follows_the_dominant_speaker(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    others = [Client(url, "orateur", f"Agent {i}", decode=False) for i in range(3)]
    try:
        for client in others:
            await client.join()
        page = await _open(chromium, f"{url}/orateur")
        me_id = await _join(page, "Agnès")
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 3", timeout=20_000
        )
        await page.select_option("#layout-select", "speaker")
        me = server.conferences.get("orateur").participants[me_id]
        for speaker in (others[1], others[2]):
            me.listener.event({"type": "dominantSpeaker", "participantId": speaker.participant_id})
            big = page.locator(f'.tile[data-participant-id="{speaker.participant_id}"]')
            await page.wait_for_selector(
                f'.tile[data-main="true"][data-participant-id="{speaker.participant_id}"]',
                timeout=10_000,
            )
            await asyncio.sleep(0.2)
            big_box = await big.bounding_box()
            assert big_box is not None
            for tile in await page.locator(".tile:not([data-main='true'])").all():
                box = await tile.bounding_box()
                assert box is not None
                assert big_box["width"] * big_box["height"] > 3 * box["width"] * box["height"]
            assert await page.locator(".tile[data-main='true']").count() == 1
        # the floor coming back to us keeps the last other speaker big
        me.listener.event({"type": "dominantSpeaker", "participantId": me_id})
        await page.wait_for_selector("#local-tile.dominant", timeout=10_000)
        await asyncio.sleep(0.2)
        main = page.locator(".tile[data-main='true']")
        assert await main.get_attribute("data-participant-id") == others[2].participant_id
        assert not page.errors, page.errors
    finally:
        for client in others:
            await client.close()


async def test_a_screen_share_switches_the_page_to_the_presentation_view(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    presenter = Client(url, "presentation", "Présentatrice", decode=False)
    watcher = Client(url, "presentation", "Spectateur", decode=False)
    try:
        await presenter.join()
        await watcher.join()
        page = await _open(chromium, f"{url}/presentation")
        await _join(page, "Agnès")
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 2", timeout=20_000
        )
        assert await page.eval_on_selector("#layout-select", "s => s.value") == "grid"
        await presenter.publish([(ColorTrack((20, 120, 200), 320, 240, fps=5), "screen")])
        tile = f'.tile[data-participant-id="{presenter.participant_id}"]'
        await page.wait_for_selector(f"{tile} video.screen", state="attached", timeout=20_000)
        await page.wait_for_selector(f'{tile}[data-main="true"]', timeout=10_000)
        assert await page.eval_on_selector("#layout-select", "s => s.value") == "presentation"
        await asyncio.sleep(0.3)
        big = await page.locator(tile).bounding_box()
        assert big is not None
        for other in await page.locator(".tile:not([data-main='true'])").all():
            box = await other.bounding_box()
            assert box is not None
            assert box["y"] >= big["y"] + big["height"] - 1  # the cameras: a strip below
            assert big["width"] * big["height"] > 3 * box["width"] * box["height"]
        await page.screenshot(path=str(_shots() / "presentation.png"))
        assert not page.errors, page.errors
    finally:
        await presenter.close()
        await watcher.close()


def _shots() -> Any:
    from tests.e2e.test_room_screenshots import screenshots_dir

    return screenshots_dir()
