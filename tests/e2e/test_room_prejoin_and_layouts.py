"""The room page before and around the meeting, in headless Chromium: the pre-join screen's
devices, "join with the camera / the microphone off" (nothing captured until turned on),
a booked conference's title and state before joining (when it starts, cancelled, ended),
a device changed mid-call without renegotiating, the camera released when turned off and
put back on the same sender when turned on (through a device change, a moderator's stop
and a reconnection), the microphone off in the participants panel, the page in English for
an English browser, the speaker view following the dominant other speaker, and the
presentation view when a screen share starts."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from tests.conftest import base_url
from tests.e2e.browsers import CHROMIUM, CHROMIUM_ARGS
from tests.integration.api.helpers import SERVER_SECTIONS, Api

from snapconf.client import Client, ColorTrack
from snapconf.conference.moderation import stop_video

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


#: every getUserMedia call of the page, as {audio, video} booleans, in ``window.gumCalls``
RECORD_CAPTURES = """(() => {
    const md = navigator.mediaDevices;
    if (!md) return;
    const open = md.getUserMedia.bind(md);
    window.gumCalls = [];
    md.getUserMedia = (c) => {
        window.gumCalls.push({ audio: Boolean(c && c.audio), video: Boolean(c && c.video) });
        return open(c);
    };
})()"""

#: the page's capture tracks (not the remote ones) still live, by kind
LIVE_CAPTURES = """() => {
    const s = window.snapconf.state;
    const tracks = [...(s.stream ? s.stream.getTracks() : []),
                    ...window.snapconf.pc.send.getSenders().map(x => x.track).filter(Boolean)];
    const live = [...new Set(tracks)].filter(t => t.readyState === "live");
    return { audio: live.filter(t => t.kind === "audio").length,
             video: live.filter(t => t.kind === "video").length };
}"""


async def _open(browser: Any, url: str, locale: str = "fr-FR", **options: Any) -> Any:
    context = await browser.new_context(
        viewport=options.pop("viewport", {"width": 1100, "height": 750}),
        locale=locale,
        timezone_id=options.pop("timezone_id", None),
    )
    await context.add_init_script(RECORD_CAPTURES)
    for script in options.pop("init_scripts", ()):
        await context.add_init_script(script)
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


async def test_a_camera_off_join_captures_no_video_until_the_camera_is_turned_on_with_the_chosen_one(
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
    # the camera is closed at once, not only hidden: the preview keeps the microphone
    await page.wait_for_function(
        """() => {
            const s = document.querySelector('#prejoin-video').srcObject;
            return s && s.getVideoTracks().length === 0 && s.getAudioTracks().length === 1;
        }""",
        timeout=20_000,
    )
    calls = await page.evaluate("() => window.gumCalls.length")
    me = await _join(page, "Camille Olivier")
    await page.wait_for_function("() => window.snapconf.state.local.audio?.trackId", timeout=20_000)
    # in the call, no camera was asked for and none is live
    assert not any(c["video"] for c in (await page.evaluate("() => window.gumCalls"))[calls:])
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 1, "video": 0}
    assert await page.evaluate("() => window.snapconf.state.local.video") is None
    mic = await page.evaluate(
        "() => window.snapconf.state.local.audio.track.getSettings().deviceId"
    )
    assert mic == microphones[1]
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "true"
    assert await page.is_enabled("#btn-camera")

    # another page sees the initials, not a video
    other = await _open(chromium_two_devices, url)
    await _join(other, "Bruno")
    tile = other.locator(f'.tile[data-participant-id="{me}"]')
    await other.wait_for_selector(f'.tile.camera-off[data-participant-id="{me}"]', timeout=20_000)
    assert (await tile.locator(".placeholder").inner_text()).strip() == "CO"
    assert await tile.locator(".placeholder").is_visible()
    assert await tile.locator("video:visible").count() == 0

    # while it is off, another camera chosen in the settings is not opened
    await page.click("#btn-settings")
    await page.select_option("#select-camera", cameras[0])
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#settings-dialog", state="hidden")
    await asyncio.sleep(0.3)
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 1, "video": 0}
    assert not any(c["video"] for c in (await page.evaluate("() => window.gumCalls"))[calls:])

    # turned on, the chosen camera opens and is published: the other page shows it
    # (Chromium's second fake camera gives frames its encoder drops: the first one here)
    await page.click("#btn-camera")
    await page.wait_for_function("() => window.snapconf.state.local.video?.trackId", timeout=20_000)
    cam = await page.evaluate(
        "() => window.snapconf.state.local.video.track.getSettings().deviceId"
    )
    assert cam == cameras[0]
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 1, "video": 1}
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "false"
    assert "camera-off" not in (await page.get_attribute("#local-tile", "class") or "")
    await other.wait_for_selector(
        f'.tile:not(.camera-off)[data-participant-id="{me}"]', timeout=20_000
    )
    await other.wait_for_function(
        """me => [...document.querySelectorAll(`.tile[data-participant-id="${me}"] video`)]
            .some(v => v.videoWidth > 0)""",
        arg=me,
        timeout=20_000,
    )

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


async def test_a_microphone_off_join_captures_no_audio_until_the_microphone_is_turned_on(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/micro"
    page = await _open(chromium, url)
    await page.check("#join-mic-off")
    await page.wait_for_function(
        """() => {
            const s = document.querySelector('#prejoin-video').srcObject;
            return s && s.getAudioTracks().length === 0 && s.getVideoTracks().length === 1;
        }""",
        timeout=20_000,
    )
    assert await page.evaluate("() => document.querySelector('#mic-level').value") == 0
    calls = await page.evaluate("() => window.gumCalls.length")
    me = await _join(page, "Denise")
    await page.wait_for_function("() => window.snapconf.state.local.video?.trackId", timeout=20_000)
    assert not any(c["audio"] for c in (await page.evaluate("() => window.gumCalls"))[calls:])
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 0, "video": 1}
    assert await page.get_attribute("#btn-mic", "aria-pressed") == "true"
    participant = server.conferences.get("micro").participants[me]
    assert [t.kind for t in participant.tracks.values()] == ["video"]
    # another page shows the microphone off
    other = await _open(chromium, url)
    await _join(other, "Bruno")
    await other.wait_for_selector(
        f'.tile[data-participant-id="{me}"] .muted-indicator', state="visible", timeout=20_000
    )

    # turned on: the microphone opens, is published and heard
    await page.click("#btn-mic")
    await page.wait_for_function("() => window.snapconf.state.local.audio?.trackId", timeout=20_000)
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 1, "video": 1}
    assert await page.get_attribute("#btn-mic", "aria-pressed") == "false"
    await other.wait_for_selector(
        f'.tile[data-participant-id="{me}"] .muted-indicator', state="hidden", timeout=20_000
    )
    await other.wait_for_selector(
        f'.tile[data-participant-id="{me}"] audio[data-testid="remote-audio"]',
        state="attached",
        timeout=20_000,
    )
    assert sorted(t.kind for t in participant.tracks.values()) == ["audio", "video"]
    assert not page.errors and not other.errors, (page.errors, other.errors)


#: the page's camera as it captures and sends it
CAMERA = """() => {
    const s = window.snapconf.state;
    const v = s.local.video;
    const sent = v.transceiver.sender.track;
    return {
        inStream: s.stream.getVideoTracks().length,
        track: v.track.readyState,
        sent: sent ? sent.readyState : null,
        device: v.track.getSettings().deviceId || null,
        trackId: v.trackId,
        mid: v.transceiver.mid,
        transceivers: window.snapconf.pc.send.getTransceivers().length,
        rids: v.transceiver.sender.getParameters().encodings.map(e => e.rid || null),
    };
}"""

#: the camera released: no live video track on the page, nothing on the camera's sender
CAMERA_RELEASED = """() => {
    const s = window.snapconf.state;
    const tracks = [...s.stream.getTracks(), s.local.video?.track,
                    ...window.snapconf.pc.send.getSenders().map(x => x.track)].filter(Boolean);
    return s.stream.getVideoTracks().length === 0
        && !tracks.some(t => t.kind === "video" && t.readyState === "live");
}"""

#: the camera back on: a live track, sent
CAMERA_SENT = """() => {
    const v = window.snapconf.state.local.video;
    return v && v.track.readyState === "live" && v.transceiver.sender.track === v.track;
}"""

#: video frames the page decoded so far
FRAMES_DECODED = """async () => {
    let frames = 0;
    if (!window.snapconf.pc.recv) return 0;
    (await window.snapconf.pc.recv.getStats()).forEach(r => {
        if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
    });
    return frames;
}"""


async def _decodes_more(page: Any, than: int, what: str, timeout: float = 20.0) -> int:
    """Wait until ``page`` decoded 10 video frames more than ``than``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    frames = 0
    while loop.time() < deadline:
        frames = await page.evaluate(FRAMES_DECODED)
        if frames >= than + 10:
            return int(frames)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: {frames} frames decoded, {than} before")


def _video_calls(calls: list[dict[str, bool]]) -> int:
    return sum(1 for c in calls if c["video"])


async def _camera_turned_off_is_shown(page: Any, other: Any, me: str) -> None:
    await page.wait_for_function(CAMERA_RELEASED, timeout=20_000)
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "true"
    assert "camera-off" in (await page.get_attribute("#local-tile", "class") or "")
    await other.wait_for_selector(f'.tile.camera-off[data-participant-id="{me}"]', timeout=20_000)


async def test_turning_the_camera_off_releases_it_and_turning_it_on_sends_the_same_track_again(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/camera"
    page = await _open(chromium, url)
    me = await _join(page, "Camille Olivier")
    await page.wait_for_function("() => window.snapconf.state.local.video?.trackId", timeout=20_000)
    other = await _open(chromium, url)
    await _join(other, "Bruno")
    await _decodes_more(other, 0, "the other page receives the camera")
    before = await page.evaluate(CAMERA)
    assert before["rids"] == ["q", "h", "f"], before
    publishes = sum(1 for m in page.sent if m.get("type") == "publish")
    calls = await page.evaluate("() => window.gumCalls.length")
    track = server.conferences.get("camera").participants[me].tracks[before["trackId"]]

    # off: the capture is stopped (the camera's light goes off), not only disabled
    await page.click("#btn-camera")
    await _camera_turned_off_is_shown(page, other, me)
    off = await page.evaluate(CAMERA)
    assert off["track"] == "ended" and off["sent"] is None and off["inStream"] == 0, off
    assert await page.evaluate(LIVE_CAPTURES) == {"audio": 1, "video": 0}
    assert track.producer.muted
    assert {"type": "mute", "trackId": before["trackId"], "muted": True} in page.sent

    # on: the camera opens again and goes on the same sender; the other page decodes it
    await page.click("#btn-camera")
    await page.wait_for_function(CAMERA_SENT, timeout=20_000)
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "false"
    await other.wait_for_selector(
        f'.tile:not(.camera-off)[data-participant-id="{me}"]', timeout=20_000
    )
    await _decodes_more(
        other, await other.evaluate(FRAMES_DECODED), "the camera turned on again is decoded"
    )
    after = await page.evaluate(CAMERA)
    # the same track for the server and the others, the same m-section, its three layers
    for key in ("trackId", "mid", "transceivers", "rids"):
        assert after[key] == before[key], (key, before, after)
    assert after["inStream"] == 1 and after["track"] == after["sent"] == "live", after
    assert sum(1 for m in page.sent if m.get("type") == "publish") == publishes
    assert not track.producer.muted
    tracks = server.conferences.get("camera").participants[me].tracks.values()
    assert [t.id for t in tracks if t.kind == "video"] == [before["trackId"]]
    assert _video_calls((await page.evaluate("() => window.gumCalls"))[calls:]) == 1
    assert not page.errors and not other.errors, (page.errors, other.errors)


async def test_a_camera_chosen_while_it_is_off_is_only_remembered_and_opens_when_turned_on(
    make_server: Any, chromium_two_devices: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/choix"
    page = await _open(chromium_two_devices, url)
    cameras = await _options(page, "#select-camera")
    assert len(cameras) >= 2, cameras
    me = await _join(page, "Camille Olivier")
    await page.wait_for_function("() => window.snapconf.state.local.video?.trackId", timeout=20_000)
    other = await _open(chromium_two_devices, url)
    await _join(other, "Bruno")
    before = await page.evaluate(CAMERA)
    other_camera = next(c for c in cameras if c != before["device"])
    calls = await page.evaluate("() => window.gumCalls.length")

    await page.click("#btn-camera")
    await _camera_turned_off_is_shown(page, other, me)
    # another camera chosen in the settings meanwhile: remembered, not opened
    await page.click("#btn-settings")
    await page.select_option("#select-camera", other_camera)
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#settings-dialog", state="hidden")
    await asyncio.sleep(0.5)
    assert await page.evaluate(CAMERA_RELEASED)
    assert _video_calls((await page.evaluate("() => window.gumCalls"))[calls:]) == 0
    # the settings show the choice, not the camera that was released
    await page.click("#btn-settings")
    assert await page.eval_on_selector("#select-camera", "s => s.value") == other_camera
    await page.keyboard.press("Escape")

    # turned on: the chosen camera, on the same sender
    await page.click("#btn-camera")
    await page.wait_for_function(CAMERA_SENT, timeout=20_000)
    after = await page.evaluate(CAMERA)
    assert after["device"] == other_camera, (after, cameras)
    for key in ("trackId", "mid", "transceivers", "rids"):
        assert after[key] == before[key], (key, before, after)
    assert _video_calls((await page.evaluate("() => window.gumCalls"))[calls:]) == 1
    await other.wait_for_selector(
        f'.tile:not(.camera-off)[data-participant-id="{me}"]', timeout=20_000
    )
    assert not page.errors and not other.errors, (page.errors, other.errors)


async def test_a_camera_stopped_by_a_moderator_is_released_and_stays_off_through_a_reconnection(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/coupee"
    page = await _open(chromium, url)
    me = await _join(page, "Camille Olivier")
    await page.wait_for_function("() => window.snapconf.state.local.video?.trackId", timeout=20_000)
    other = await _open(chromium, url)
    await _join(other, "Bruno")
    await _decodes_more(other, 0, "the other page receives the camera")
    conference = server.conferences.get("coupee")
    calls = await page.evaluate("() => window.gumCalls.length")

    # a moderator stops the camera: the page releases it too
    assert stop_video(conference, conference.participants[me], "camera") == 1
    await _camera_turned_off_is_shown(page, other, me)
    await page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('modérateur')"
    )
    assert (await page.inner_text("#btn-camera")).strip() == "Activer la caméra"

    # the socket drops and the page gets its seat back: the camera stays off, unopened
    publishes = sum(1 for m in page.sent if m.get("type") == "publish")
    await page.evaluate("() => window.snapconf.state.ws.close()")
    await _until_published_again(page, publishes)
    assert await page.evaluate(CAMERA_RELEASED)
    assert await page.get_attribute("#btn-camera", "aria-pressed") == "true"
    assert _video_calls((await page.evaluate("() => window.gumCalls"))[calls:]) == 0
    assert [t.kind for t in conference.participants[me].tracks.values()] == ["audio"]
    await other.wait_for_selector(f'.tile.camera-off[data-participant-id="{me}"]', timeout=20_000)

    # turned on again: opened, published, decoded on the other page
    await page.click("#btn-camera")
    await page.wait_for_function(CAMERA_SENT, timeout=20_000)
    await other.wait_for_selector(
        f'.tile:not(.camera-off)[data-participant-id="{me}"]', timeout=20_000
    )
    await _decodes_more(
        other, await other.evaluate(FRAMES_DECODED), "the camera turned on after reconnecting"
    )
    assert _video_calls((await page.evaluate("() => window.gumCalls"))[calls:]) == 1
    assert not page.errors and not other.errors, (page.errors, other.errors)


async def _until_published_again(page: Any, publishes: int, timeout: float = 20.0) -> None:
    """Wait until ``page`` sent another ``publish`` and got its tracks' ids back."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(1 for m in page.sent if m.get("type") == "publish") <= publishes:
        if loop.time() > deadline:
            raise AssertionError("the page did not publish again after reconnecting")
        await asyncio.sleep(0.1)
    await page.wait_for_function(
        "() => window.snapconf.state.local.audio?.trackId && !window.snapconf.state.reconnecting",
        timeout=20_000,
    )


#: a browser with no microphone: none listed, none opened
NO_MICROPHONE = """(() => {
    const md = navigator.mediaDevices;
    const list = md.enumerateDevices.bind(md);
    const open = md.getUserMedia.bind(md);
    md.enumerateDevices = async () => (await list()).filter(d => d.kind !== "audioinput");
    md.getUserMedia = (c) => c && c.audio
        ? Promise.reject(new DOMException("Requested device not found", "NotFoundError"))
        : open(c);
})()"""


async def _panel_states(page: Any, pid: str) -> tuple[str, str]:
    if await page.get_attribute("#btn-participants", "aria-expanded") != "true":
        await page.click("#btn-participants")
    row = f'[data-testid="participant-row"][data-participant-id="{pid}"]'
    await page.wait_for_selector(row, timeout=20_000)
    mic = (await page.inner_text(f'{row} [data-testid="panel-mic"]')).strip()
    camera = (await page.inner_text(f'{row} [data-testid="panel-camera"]')).strip()
    return mic, camera


async def test_a_microphone_off_at_join_is_shown_off_in_the_panel_and_missing_only_without_one(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = f"{base_url(server)}/panneau"
    page = await _open(chromium, url)
    await page.check("#join-mic-off")
    await page.check("#join-camera-off")
    me = await _join(page, "Denise")
    assert await _panel_states(page, me) == ("Micro coupé", "Caméra coupée")
    # turned on and off again: the same words
    await page.click("#btn-mic")
    await page.wait_for_function("() => window.snapconf.state.local.audio?.trackId", timeout=20_000)
    await page.wait_for_function(
        f"""() => document.querySelector('[data-testid="participant-row"]'
            + '[data-participant-id="{me}"] [data-testid="panel-mic"]').textContent
            === 'Micro ouvert'""",
        timeout=10_000,
    )
    await page.click("#btn-mic")
    await page.wait_for_function(
        f"""() => document.querySelector('[data-testid="participant-row"]'
            + '[data-participant-id="{me}"] [data-testid="panel-mic"]').textContent
            === 'Micro coupé'""",
        timeout=10_000,
    )

    # a browser that has no microphone at all: "Pas de micro"
    without = await _open(chromium, url, init_scripts=[NO_MICROPHONE])
    other = await _join(without, "Bruno")
    await without.wait_for_function(
        "() => window.snapconf.state.local.video?.trackId", timeout=20_000
    )
    assert (await _panel_states(without, other))[0] == "Pas de micro"
    assert not page.errors and not without.errors, (page.errors, without.errors)


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


async def test_the_speaker_view_never_stages_our_own_tile_when_someone_else_is_there(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    # alone, in the speaker view: we are the stage, and the server gives us the floor
    page = await _open(chromium, f"{url}/scene")
    me_id = await _join(page, "Agnès")
    await page.select_option("#layout-select", "speaker")
    await page.wait_for_selector('#local-tile[data-main="true"]', timeout=10_000)
    me = server.conferences.get("scene").participants[me_id]
    me.listener.event({"type": "dominantSpeaker", "participantId": me_id})
    await page.wait_for_selector("#local-tile.dominant", timeout=10_000)
    others: list[Client] = []
    try:
        for i in range(2):
            client = Client(url, "scene", f"Agent {i}", decode=False)
            others.append(client)
            await client.join()
            pid = client.participant_id
            # someone comes while we speak: they take the stage, not us
            await page.wait_for_selector(
                f'.tile.remote[data-participant-id="{pid}"]', timeout=20_000
            )
            if i == 0:
                await page.wait_for_selector(
                    f'.tile[data-main="true"][data-participant-id="{pid}"]', timeout=10_000
                )
        first, second = (c.participant_id for c in others)
        await asyncio.sleep(0.3)
        main = page.locator(".tile[data-main='true']")
        assert await main.count() == 1
        assert await main.get_attribute("data-participant-id") == first
        assert await page.get_attribute("#local-tile", "data-main") == "false"
        # the second one speaks, then we do again: the second one stays on the stage
        me.listener.event({"type": "dominantSpeaker", "participantId": second})
        await page.wait_for_selector(
            f'.tile[data-main="true"][data-participant-id="{second}"]', timeout=10_000
        )
        me.listener.event({"type": "dominantSpeaker", "participantId": me_id})
        await page.wait_for_selector("#local-tile.dominant", timeout=10_000)
        await asyncio.sleep(0.3)
        assert await main.get_attribute("data-participant-id") == second
        assert await page.get_attribute("#local-tile", "data-main") == "false"
        assert not page.errors, page.errors
    finally:
        for client in others:
            await client.close()


async def test_our_own_tile_is_not_made_larger_in_a_grid_of_five_while_we_speak(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    others = [Client(url, "grille", f"Agent {i}", decode=False) for i in range(4)]
    try:
        for client in others:
            await client.join()
        page = await _open(chromium, f"{url}/grille", viewport={"width": 1000, "height": 900})
        me_id = await _join(page, "Agnès")
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 4", timeout=20_000
        )
        me = server.conferences.get("grille").participants[me_id]
        # Chromium's fake microphone beeps: the server gives us the floor (and, nobody else
        # speaking, keeps it there: the next events are the test's)
        await page.wait_for_selector("#local-tile.dominant", timeout=20_000)
        await asyncio.sleep(0.3)
        ours = await page.locator("#local-tile").bounding_box()
        theirs = await page.locator(".tile.remote").first.bounding_box()
        assert ours is not None and theirs is not None
        assert ours["width"] < 1.2 * theirs["width"], (ours, theirs)
        # another one's floor: that tile is the larger one
        speaker = others[1].participant_id
        me.listener.event({"type": "dominantSpeaker", "participantId": speaker})
        tile = page.locator(f'.tile[data-participant-id="{speaker}"]')
        await page.wait_for_selector(
            f'.tile.dominant[data-participant-id="{speaker}"]', timeout=10_000
        )
        await asyncio.sleep(0.3)
        big = await tile.bounding_box()
        ours = await page.locator("#local-tile").bounding_box()
        assert big is not None and ours is not None
        assert big["width"] > 1.5 * ours["width"], (big, ours)
        assert not page.errors, page.errors
    finally:
        for client in others:
            await client.close()


async def _summary_answered(page: Any, url: str) -> None:
    """Open ``url`` and wait for the page's room summary request to be answered."""
    async with page.expect_response(lambda r: "/api/v1/rooms/" in r.url, timeout=20_000):
        await page.goto(url)
    await asyncio.sleep(0.3)


async def test_the_prejoin_screen_names_a_booked_conference_by_its_title_and_an_adhoc_room_by_its_name(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    async with aiohttp.ClientSession() as session:
        api = Api(url, session)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        start = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
        ids = {}
        for access in ("public", "restricted"):
            status, conf = await api.call(
                "POST",
                "/conferences",
                {
                    "title": f"Point {access}",
                    "start": start,
                    "duration_minutes": 60,
                    "access": access,
                },
            )
            assert status == 201, conf
            ids[access] = conf["id"]
        status, link = await api.call("POST", f"/conferences/{ids['restricted']}/tokens", {})
        assert status == 201, link

    page = await _open(chromium, "about:blank")
    # a public booked conference: its title before joining, in the page's title too
    await _summary_answered(page, f"{url}/{ids['public']}")
    assert await page.is_visible("#join-form")
    assert (await page.inner_text("#room-name")).strip() == "Point public"
    assert await page.title() == "Point public \u2013 Webconf"
    # a restricted one: its title with the link's token, its id without
    await _summary_answered(page, f"{url}/{ids['restricted']}")
    assert (await page.inner_text("#room-name")).strip() == ids["restricted"]
    await _summary_answered(page, link["url"])
    assert (await page.inner_text("#room-name")).strip() == "Point restricted"
    # an ad-hoc room keeps its name
    await _summary_answered(page, f"{url}/equipe-42")
    assert (await page.inner_text("#room-name")).strip() == "equipe-42"
    assert not page.errors, page.errors


FRENCH_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
ENGLISH_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _starts_text(start: datetime, zone: str, english: bool = False) -> str:
    """What the pre-join screen says of a conference starting at ``start``, seen in ``zone``."""
    local = start.astimezone(ZoneInfo(zone))
    year = "" if local.year == datetime.now(ZoneInfo(zone)).year else f" {local.year}"
    if english:
        day = f"{local.day} {ENGLISH_MONTHS[local.month - 1]}{year}"
        return f"The meeting starts on {day} at {local.hour}:{local.minute:02d}."
    day = f"{local.day} {FRENCH_MONTHS[local.month - 1]}{year}"
    return f"La réunion commence le {day} à {local.hour} h {local.minute:02d}."


async def test_the_prejoin_screen_says_when_a_booked_conference_starts_and_closes_a_cancelled_or_ended_one(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**SERVER_SECTIONS)
    url = base_url(server)
    # two days ahead at 13:05 UTC: 17 h 05 in La Réunion (UTC+4, no summer time)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=13, minute=5, second=0, microsecond=0
    )
    async with aiohttp.ClientSession() as session:
        api = Api(url, session)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        ids = {}
        for name in ("later", "cancelled"):
            status, conf = await api.call(
                "POST",
                "/conferences",
                {
                    "title": f"Point {name}",
                    "start": start.isoformat(timespec="seconds"),
                    "duration_minutes": 60,
                    "access": "public",
                },
            )
            assert status == 201, conf
            ids[name] = conf["id"]
        status, _ = await api.call("DELETE", f"/conferences/{ids['cancelled']}")
        assert status == 204
    store = server.store
    await store.sign_in("o", "o@agriculture.gouv.fr")
    now = time.time()
    ended = await store.book(
        organiser_id="o",
        organiser_email="o@agriculture.gouv.fr",
        title="Point ended",
        starts=now - 7200,
        ends=now - 3600,
        timezone="UTC",
    )
    ids["ended"] = ended.id

    page = await _open(chromium, "about:blank", timezone_id="Indian/Reunion")
    # not started: when it starts, in the browser's time zone; it may be joined early
    await _summary_answered(page, f"{url}/{ids['later']}")
    notice = page.locator("#booking-notice")
    assert await notice.is_visible()
    assert (await notice.inner_text()).strip() == _starts_text(start, "Indian/Reunion")
    assert (await page.inner_text("#room-name")).strip() == "Point later"
    assert await page.is_enabled("#join-button")
    # cancelled, ended: said, and the join button is off
    for name, text in (
        ("cancelled", "Cette réunion a été annulée par son organisateur."),
        ("ended", "Cette réunion est terminée."),
    ):
        await _summary_answered(page, f"{url}/{ids[name]}")
        assert (await notice.inner_text()).strip() == text
        assert await page.is_disabled("#join-button")
        assert await page.get_attribute("#join-button", "aria-describedby") == "booking-notice"
        assert (await page.inner_text("#room-name")).strip() == f"Point {name}"
    # an ad-hoc room says nothing of the kind
    await _summary_answered(page, f"{url}/equipe-42")
    assert await notice.is_hidden()
    assert await page.is_enabled("#join-button")

    # in English, in another time zone
    english = await _open(chromium, "about:blank", locale="en-GB", timezone_id="America/Cayenne")
    await _summary_answered(english, f"{url}/{ids['later']}")
    assert (await english.inner_text("#booking-notice")).strip() == _starts_text(
        start, "America/Cayenne", english=True
    )
    await _summary_answered(english, f"{url}/{ids['cancelled']}")
    assert (
        await english.inner_text("#booking-notice")
    ).strip() == "This meeting was cancelled by its organiser."
    assert await english.is_disabled("#join-button")
    assert not page.errors and not english.errors, (page.errors, english.errors)


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
