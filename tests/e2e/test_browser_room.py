"""Real Chromium pages in rooms served by ``snapconf serve``.

The server runs as a subprocess on free ports; Debian's ``chromium`` is driven by
Playwright (its own browser download cannot work here) with a fake camera and microphone.
The server's log and the pages' consoles are printed when a test fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browsers import CHROMIUM, Server

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SCREENSHOT = Path(os.environ.get("SNAPCONF_E2E_SCREENSHOT", "/tmp/snapconf-room.png"))
WAIT_MS = 20_000

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    failed_before = request.session.testsfailed
    srv = Server(tmp_path / "server.log")
    try:
        srv.wait_ready()
    except RuntimeError:
        srv.stop()
        print(f"----- snapconf server log -----\n{srv.log()}")
        raise
    yield srv
    srv.stop()
    if request.session.testsfailed > failed_before or srv.process.returncode not in (0, -15):
        print(f"----- snapconf server log (exit {srv.process.returncode}) -----\n{srv.log()}")


class RoomPage:
    """One browser context on the room page, with its console kept for failure reports."""

    def __init__(self, name: str, page: Any) -> None:
        self.name = name
        self.page = page
        self.participant_id = ""
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def dump(self) -> str:
        return f"----- console of {self.name} ({self.participant_id}) -----\n" + "\n".join(
            self.console
        )

    async def errors(self) -> str:
        return str(await self.page.inner_text("#errors"))

    def tile(self, participant_id: str) -> Any:
        return self.page.locator(f'.tile[data-participant-id="{participant_id}"]')

    async def wait_video_playing(self, participant_id: str) -> dict[str, float]:
        """Wait until the remote camera video of ``participant_id`` plays; return its figures."""
        selector = f'.tile[data-participant-id="{participant_id}"] video[data-source="camera"]'
        try:
            await self.page.wait_for_function(
                "sel => { const v = document.querySelector(sel); return v && v.videoWidth > 0; }",
                arg=selector,
                timeout=WAIT_MS,
            )
        except async_api.TimeoutError:
            raise AssertionError(
                f"{self.name}: no playing video from {participant_id} within {WAIT_MS} ms;"
                f" errors shown: {await self.errors()!r}"
            ) from None
        before = await self.page.eval_on_selector(selector, "v => v.currentTime")
        await asyncio.sleep(2)
        figures: dict[str, float] = await self.page.eval_on_selector(
            selector,
            "v => ({width: v.videoWidth, height: v.videoHeight, time: v.currentTime,"
            " paused: v.paused ? 1 : 0})",
        )
        figures["advanced"] = figures["time"] - before
        return figures

    async def inbound(self, kind: str) -> int:
        """Sum of ``packetsReceived`` of the receive connection's inbound-rtp of ``kind``."""
        total: int = await self.page.evaluate(
            """async kind => {
                const pc = window.snapconf.pc.recv;
                if (!pc) return 0;
                let n = 0;
                (await pc.getStats()).forEach(r => {
                    if (r.type === 'inbound-rtp' && r.kind === kind) n += r.packetsReceived || 0;
                });
                return n;
            }""",
            kind,
        )
        return total


class Rooms:
    def __init__(self, browser: Any, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.pages: list[RoomPage] = []

    async def join(self, room: str, name: str) -> RoomPage:
        context = await self.browser.new_context(viewport={"width": 1000, "height": 700})
        rp = RoomPage(name, await context.new_page())
        self.pages.append(rp)
        await rp.page.goto(self.server.url(room))
        await rp.page.fill("#display-name", name)
        await rp.page.click("#join-button")
        await rp.page.wait_for_function("() => window.snapconf.participantId", timeout=WAIT_MS)
        rp.participant_id = await rp.page.evaluate("() => window.snapconf.participantId")
        return rp


@pytest.fixture
async def rooms(
    request: pytest.FixtureRequest, chromium: Any, server: Server
) -> AsyncIterator[Rooms]:
    failed_before = request.session.testsfailed
    r = Rooms(chromium, server)
    yield r
    if request.session.testsfailed > failed_before:
        for rp in r.pages:
            print(rp.dump())


async def _wait_packets_growing(rp: RoomPage, kind: str, minimum: int = 25) -> tuple[int, int]:
    """Wait for inbound ``kind`` packets, then check at least ``minimum`` more come in 2 s."""
    deadline = time.monotonic() + WAIT_MS / 1000
    first = await rp.inbound(kind)
    while first == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        first = await rp.inbound(kind)
    await asyncio.sleep(2)
    second = await rp.inbound(kind)
    assert second - first >= minimum, f"{rp.name}: {kind} packets {first} -> {second} in 2 s"
    return first, second


# ---------------------------------------------------------------------------- tests


async def test_two_browsers_see_and_hear_each_other(rooms: Rooms) -> None:
    alice = await rooms.join("equipe", "Alice")
    bob = await rooms.join("equipe", "Bob")

    for me, other in ((alice, bob), (bob, alice)):
        await me.tile(other.participant_id).wait_for(timeout=WAIT_MS)
        assert await me.tile(other.participant_id).locator(".name").inner_text() == other.name
        video = await me.wait_video_playing(other.participant_id)
        assert video["width"] > 0 and video["height"] > 0, video
        assert video["advanced"] > 1.0, f"{me.name}: remote video did not advance: {video}"
        assert not video["paused"], video
        await _wait_packets_growing(me, "audio")
        assert await me.page.locator(".tile.remote").count() == 1
        assert await me.page.locator(".tile.remote audio").count() == 1
        assert await me.errors() == ""

    await alice.page.screenshot(path=str(SCREENSHOT))


async def test_leaving_removes_the_tile(rooms: Rooms) -> None:
    alice = await rooms.join("depart", "Alice")
    bob = await rooms.join("depart", "Bob")
    await alice.wait_video_playing(bob.participant_id)

    await bob.page.click("#btn-leave")

    await alice.tile(bob.participant_id).wait_for(state="detached", timeout=WAIT_MS)
    await bob.page.locator("#ended").wait_for(state="visible", timeout=WAIT_MS)
    assert await bob.page.locator(".tile.remote").count() == 0
    assert "quitté" in await alice.page.inner_text("#status")


async def test_media_flows_again_after_the_room_emptied(rooms: Rooms) -> None:
    """Alice stays alone (the server's next offer has no remote track), then Carol comes."""
    alice = await rooms.join("retour", "Alice")
    bob = await rooms.join("retour", "Bob")
    await alice.wait_video_playing(bob.participant_id)
    await bob.page.click("#btn-leave")
    await alice.tile(bob.participant_id).wait_for(state="detached", timeout=WAIT_MS)

    carol = await rooms.join("retour", "Carol")

    video = await alice.wait_video_playing(carol.participant_id)
    assert video["advanced"] > 1.0, video
    await _wait_packets_growing(alice, "audio")
    assert await alice.errors() == ""


async def test_mute_camera_off_and_screen_share_reach_the_other(rooms: Rooms) -> None:
    alice = await rooms.join("commandes", "Alice")
    bob = await rooms.join("commandes", "Bob")
    await bob.wait_video_playing(alice.participant_id)
    tile = bob.tile(alice.participant_id)

    await alice.page.click("#btn-mic")
    await alice.page.click("#btn-camera")
    await tile.locator(".muted-indicator").wait_for(state="visible", timeout=WAIT_MS)
    await bob.page.wait_for_function(
        'id => document.querySelector(`.tile[data-participant-id="${id}"]`)'
        ".classList.contains('camera-off')",
        arg=alice.participant_id,
        timeout=WAIT_MS,
    )
    assert await alice.page.get_attribute("#btn-mic", "aria-pressed") == "true"

    await alice.page.click("#btn-mic")
    await tile.locator(".muted-indicator").wait_for(state="hidden", timeout=WAIT_MS)

    await alice.page.click("#btn-screen")
    screen = tile.locator('video[data-source="screen"]')
    await screen.wait_for(timeout=WAIT_MS)
    await bob.page.wait_for_function(
        "el => el.videoWidth > 0", arg=await screen.element_handle(), timeout=WAIT_MS
    )

    await alice.page.click("#btn-screen")
    await screen.wait_for(state="detached", timeout=WAIT_MS)
    assert await tile.locator('video[data-source="camera"]').count() == 1
    assert await alice.errors() == ""
    assert await bob.errors() == ""


async def test_browser_and_python_client_in_one_room(rooms: Rooms, server: Server) -> None:
    from snapconf.client import Client, ColorTrack, ToneTrack

    browser = await rooms.join("mixte", "Navigateur")
    async with Client(server.base_url, "mixte", "Client Python") as client:
        await client.publish(
            [(ToneTrack(440.0), "microphone"), (ColorTrack((255, 0, 0)), "camera")]
        )
        assert client.participant_id is not None

        # the browser shows the client's tile, its (red) video plays and its audio arrives
        tile = browser.tile(client.participant_id)
        await tile.wait_for(timeout=WAIT_MS)
        assert await tile.locator(".name").inner_text() == "Client Python"
        video = await browser.wait_video_playing(client.participant_id)
        assert (video["width"], video["height"]) == (320, 240), video
        assert video["advanced"] > 1.0, video
        red, green, blue = await browser.page.eval_on_selector(
            f'.tile[data-participant-id="{client.participant_id}"] video',
            """v => {
                const c = document.createElement('canvas');
                c.width = v.videoWidth; c.height = v.videoHeight;
                const g = c.getContext('2d');
                g.drawImage(v, 0, 0);
                return Array.from(g.getImageData(c.width / 2, c.height / 2, 1, 1).data.slice(0, 3));
            }""",
        )
        assert red > 200 and green < 60 and blue < 60, (red, green, blue)
        await _wait_packets_growing(browser, "audio")

        # the client receives and decodes the browser's camera and microphone
        async def wait_decoded(kind: str, at_least: int) -> None:
            deadline = time.monotonic() + WAIT_MS / 1000
            while True:
                counts = [
                    r.frame_count
                    for r in client.received.values()
                    if r.kind == kind and r.participant_id == browser.participant_id
                ]
                if counts and max(counts) >= at_least:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"client decoded {counts} {kind} frames, not {at_least}")
                await asyncio.sleep(0.2)

        await wait_decoded("video", 30)
        await wait_decoded("audio", 100)
        frame = next(
            r.frames[-1] for r in client.received.values() if r.kind == "video" and r.frames
        )
        assert frame.width > 0 and frame.height > 0
        client_id = client.participant_id
        # Chromium and aiortc both end up on the server's first choice of SRTP profile
        profiles = set(re.findall(r"DTLS connected, (\w+)", server.log()))
        assert profiles == {"SRTP_AEAD_AES_128_GCM"}, profiles

    # the client left: its tile goes away (the receive connection's renegotiation after
    # the last remote track goes is test_media_flows_again_after_the_room_emptied's concern)
    await browser.tile(client_id).wait_for(state="detached", timeout=WAIT_MS)


async def test_low_bandwidth_mode_receives_one_mixed_track_and_shows_who_speaks(
    rooms: Rooms,
) -> None:
    alice = await rooms.join("groupe", "Alice")
    bob = await rooms.join("groupe", "Bob")
    await alice.wait_video_playing(bob.participant_id)

    await alice.page.click("#btn-mix")

    # one mixed <audio>, outside the tiles' own tracks; Bob's own audio track is gone
    await alice.page.locator('audio[data-source="mix"]').wait_for(state="attached", timeout=WAIT_MS)
    await (
        alice.tile(bob.participant_id)
        .locator('audio[data-source="microphone"]')
        .wait_for(state="detached", timeout=WAIT_MS)
    )
    assert await alice.page.get_attribute("#btn-mix", "aria-pressed") == "true"
    await _wait_packets_growing(alice, "audio")  # the mix flows
    # the bridge runs now: Bob's fake microphone beeps, so his tile is marked as speaking
    await alice.page.locator(
        f'.tile.speaking[data-participant-id="{bob.participant_id}"]'
    ).wait_for(state="attached", timeout=WAIT_MS)
    # Bob's video is still forwarded as is
    figures = await alice.wait_video_playing(bob.participant_id)
    assert figures["advanced"] > 0.5
