"""The room page on real networks, in headless Chromium (and Firefox for simulcast): its
camera published in three simulcast layers, each remote video's size and visibility
reported (``setViews``), and the dominant speaker shown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.browsers import (
    CHROMIUM,
    RoomPage,
    Server,
    firefox_missing,
    launch,
    media_namespace,
    namespace_missing,
)

from snapconf.client import Client, ColorTrack
from snapconf.conference.participant import TrackView

async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


#: a page whose microphone cannot be opened (it joins with its camera only)
NO_MICROPHONE = """(() => {
    const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c) => open({ video: c.video || false });
})()"""


#: a page whose send connection gets its answers without simulcast (an older server)
NO_SIMULCAST_ANSWER = """(() => {
    const apply = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = function (desc) {
        if (desc && desc.type === "answer") {
            desc = { type: "answer", sdp: desc.sdp.replace(/^a=(simulcast|rid):.*\\r\\n/gm, "") };
        }
        return apply.call(this, desc);
    };
})()"""


async def _joined_page(
    chromium: Any,
    url: str,
    viewport: dict[str, int],
    *,
    microphone: bool = True,
    simulcast_answer: bool = True,
) -> Any:
    """A page joined to ``url``, with the setViews reports it sends in ``page.views_sent``."""
    context = await chromium.new_context(viewport=viewport)
    if not microphone:
        await context.add_init_script(NO_MICROPHONE)
    if not simulcast_answer:
        await context.add_init_script(NO_SIMULCAST_ANSWER)
    page = await context.new_page()
    page.errors = []
    page.views_sent = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))

    def on_socket(ws: Any) -> None:
        def sent(payload: str | bytes) -> None:
            msg = json.loads(payload)
            if msg.get("type") == "setViews":
                page.views_sent.append(msg["views"])

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    await page.goto(url)
    await page.fill("#display-name", "Agnès")
    await page.click("#join-button")
    await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    return page


async def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


async def _sends_at_least(page: Any, width: int, timeout: float = 20.0) -> None:
    """Wait until the page's camera is encoded ``width`` pixels wide or more (outbound-rtp)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    sent = 0
    while sent < width:
        if loop.time() > deadline:
            raise AssertionError(f"the camera is sent {sent} pixels wide, not {width}")
        await asyncio.sleep(0.5)
        sent = await page.evaluate(
            """async () => {
                let width = 0;
                (await window.snapconf.pc.send.getStats()).forEach(r => {
                    if (r.type === "outbound-rtp" && r.kind === "video")
                        width = Math.max(width, r.frameWidth || 0);
                });
                return width;
            }"""
        )


def _media_section(sdp: str, kind: str) -> str:
    (section,) = [s for s in re.split(r"\r?\n(?=m=)", sdp) if s.startswith(f"m={kind}")]
    return section


async def test_the_camera_offers_three_simulcast_layers_the_screen_one_and_both_flow(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    async with Client(url, "salle", "Bob", decode=False) as bob:
        page = await _joined_page(chromium, f"{url}/salle", {"width": 1000, "height": 700})
        await page.wait_for_function(
            "() => window.snapconf.pc.send?.remoteDescription", timeout=20_000
        )
        offer, answer = await page.evaluate(
            "() => [window.snapconf.pc.send.localDescription.sdp,"
            " window.snapconf.pc.send.remoteDescription.sdp]"
        )
        video = _media_section(offer, "video")
        assert "a=simulcast:send q;h;f" in video, video
        for rid in "qhf":
            assert f"a=rid:{rid} send" in video
        assert "a=simulcast" not in _media_section(offer, "audio")
        # the camera reaches the other participant
        await _until(
            lambda: any(t.kind == "video" and t.packets > 50 for t in bob.received.values()),
            "Bob receives the page's camera",
        )
        encodings = await page.evaluate(
            "() => window.snapconf.state.local.video.transceiver.sender.getParameters().encodings"
        )
        if "a=simulcast" in _media_section(answer, "video"):
            assert [e["rid"] for e in encodings] == ["q", "h", "f"]
        else:  # one encoding is left: the full layer, not the quarter-size first one
            assert len(encodings) == 1, encodings
            assert encodings[0]["scaleResolutionDownBy"] == 1
            assert encodings[0]["maxBitrate"] == 1_500_000
            await _sends_at_least(page, 640)

        # a screen share: one sharp encoding, no simulcast
        await page.click("#btn-screen")
        await page.wait_for_function(
            "() => window.snapconf.state.local.screen?.trackId", timeout=20_000
        )
        screen = await page.evaluate(
            """() => {
                const entry = window.snapconf.state.local.screen;
                return {hint: entry.track.contentHint, mid: entry.transceiver.mid,
                        sdp: window.snapconf.pc.send.localDescription.sdp,
                        encodings: entry.transceiver.sender.getParameters().encodings.length};
            }"""
        )
        (section,) = [
            s
            for s in re.split(r"\r?\n(?=m=)", screen["sdp"])
            if re.search(rf"^a=mid:{screen['mid']}\r?$", s, re.M)
        ]
        assert screen["hint"] == "detail"
        assert screen["encodings"] == 1
        assert "a=simulcast" not in section and "a=rid:" not in section
        await _until(
            lambda: any(t.source == "screen" and t.packets > 20 for t in bob.received.values()),
            "Bob receives the page's screen",
        )
        assert not page.errors, page.errors


async def test_against_an_answer_without_simulcast_the_camera_sends_its_full_layer(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    page = await _joined_page(
        chromium,
        f"{base_url(server)}/salle",
        {"width": 800, "height": 600},
        simulcast_answer=False,
    )
    await page.wait_for_function("() => window.snapconf.pc.send?.remoteDescription", timeout=20_000)
    answer = await page.evaluate("() => window.snapconf.pc.send.remoteDescription.sdp")
    assert "a=simulcast" not in answer
    encodings = await page.evaluate(
        "() => window.snapconf.state.local.video.transceiver.sender.getParameters().encodings"
    )
    # the browser kept the first encoding, the quarter-size one: the page made it the full one
    assert len(encodings) == 1, encodings
    assert encodings[0]["scaleResolutionDownBy"] == 1
    assert encodings[0]["maxBitrate"] == 1_500_000
    # (what it sends is not measured here: the server did negotiate simulcast, and its
    # bandwidth feedback to a stream it cannot bind says little)
    assert not page.errors, page.errors


async def test_the_page_reports_each_remote_videos_size_and_visibility_as_it_changes(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server()
    url = base_url(server)
    async with Client(url, "salle", "Bob", decode=False) as bob:
        (track_id,) = (await bob.publish([(ColorTrack((30, 120, 200)), "camera")])).values()
        page = await _joined_page(chromium, f"{url}/salle", {"width": 1000, "height": 700})
        conference = server.conferences.get("salle")
        me = conference.participants[await page.evaluate("() => window.snapconf.participantId")]
        selector = f'video[data-track-id="{track_id}"]'
        await page.wait_for_selector(selector, timeout=20_000)

        async def tile_pixels() -> tuple[int, int]:
            size: list[int] = await page.eval_on_selector(
                selector,
                "v => { const r = v.getBoundingClientRect();"
                " return [Math.round(r.width * devicePixelRatio),"
                " Math.round(r.height * devicePixelRatio)]; }",
            )
            return size[0], size[1]

        width, height = await tile_pixels()
        assert width > 100 and height > 50
        await _until(
            lambda: me.views.get(track_id) == TrackView(visible=True, width=width, height=height),
            f"the server knows the tile is {width}x{height}: {me.views}",
        )

        # a narrower window: a smaller tile, reported again
        await page.set_viewport_size({"width": 500, "height": 700})
        await page.wait_for_function(
            "([sel, w]) => Math.round(document.querySelector(sel).getBoundingClientRect().width"
            " * devicePixelRatio) !== w",
            arg=[selector, width],
            timeout=10_000,
        )
        smaller = await tile_pixels()
        assert smaller[0] < width
        await _until(
            lambda: (
                me.views.get(track_id)
                == TrackView(visible=True, width=smaller[0], height=smaller[1])
            ),
            f"the server knows the tile is now {smaller}: {me.views}",
        )

        # a camera turned off hides the video: not visible any more
        await bob.mute(track_id, True)
        await _until(
            lambda: me.views.get(track_id) is not None and not me.views[track_id].visible,
            f"the server knows the video is hidden: {me.views}",
        )
        # reports are sent only when they change, and are debounced
        assert page.views_sent
        for before, after in zip(page.views_sent, page.views_sent[1:], strict=False):
            assert before != after
        assert len(page.views_sent) <= 6, page.views_sent
        assert server.signaling.stats.errors["bad_message"] == 0
        assert not page.errors, page.errors


async def test_the_dominant_speaker_is_marked_and_shown_larger_in_a_grid_of_five(
    make_server: Any, chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await make_server()
    url = base_url(server)
    others = [Client(url, "salle", f"Agent {i}", decode=False) for i in range(4)]
    try:
        for client in others:
            await client.join()
        page = await _joined_page(chromium, f"{url}/salle", {"width": 1000, "height": 900})
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 4", timeout=20_000
        )
        conference = server.conferences.get("salle")
        me = conference.participants[await page.evaluate("() => window.snapconf.participantId")]
        # Chromium's fake microphone beeps: the server's speaker detector gives the page
        # the floor (RFC 6464 levels), and the page marks its own tile
        await page.wait_for_selector("#local-tile.dominant", timeout=20_000)
        assert await page.get_attribute("#local-tile", "aria-label") == "Vous, parle"
        # a newcomer (silent) is told at once who holds the floor
        newcomer = await _joined_page(
            chromium, f"{url}/salle", {"width": 600, "height": 400}, microphone=False
        )
        await newcomer.wait_for_selector(
            f'.tile.dominant[data-participant-id="{me.id}"]', timeout=10_000
        )
        assert await newcomer.locator(".tile.dominant").count() == 1
        assert not newcomer.errors, newcomer.errors
        await newcomer.context.close()
        await page.wait_for_function(
            "() => document.querySelectorAll('.tile.remote').length === 4", timeout=20_000
        )
        # from here the server's speaker detector is stopped, so the next speaker events
        # are the test's: the page's beeping microphone would otherwise send a new
        # activeSpeakers (the page alone) that wipes the injected one under load
        monkeypatch.setattr(conference, "tick_speakers", lambda: None)
        speaker, other = others[2].participant_id, others[0].participant_id
        me.listener.event({"type": "activeSpeakers", "participantIds": [other]})
        me.listener.event({"type": "dominantSpeaker", "participantId": speaker})
        tile = page.locator(f'.tile[data-participant-id="{speaker}"]')
        await page.wait_for_selector(
            f'.tile.dominant[data-participant-id="{speaker}"]', timeout=10_000
        )
        assert await tile.get_attribute("aria-label") == "Agent 2, parle"
        assert await page.locator(".tile.dominant").count() == 1
        # larger than the others, and the speaking outline stays where it was
        big = await tile.bounding_box()
        small = await page.locator(f'.tile[data-participant-id="{other}"]').bounding_box()
        assert big is not None and small is not None
        assert big["width"] > 1.5 * small["width"], (big, small)
        assert await page.locator(".tile.speaking").count() == 1
        assert "speaking" in (
            await page.locator(f'.tile[data-participant-id="{other}"]').get_attribute("class")
        )
        # the next dominant speaker takes the mark
        me.listener.event({"type": "dominantSpeaker", "participantId": other})
        await page.wait_for_selector(
            f'.tile.dominant[data-participant-id="{other}"]', timeout=10_000
        )
        assert await page.locator(".tile.dominant").count() == 1
        assert await tile.get_attribute("aria-label") == "Agent 2"
        assert not page.errors, page.errors
    finally:
        for client in others:
            await client.close()


class _LateCamera(ColorTrack):
    """A camera whose frames start only when :attr:`flowing` is set."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__(rgb)
        self.flowing = asyncio.Event()

    async def recv(self) -> Any:
        await self.flowing.wait()
        return await super().recv()


async def _frames_decoded(page: Any, track_id: str) -> int:
    """Frames the page decoded of the remote video ``track_id`` (inbound-rtp, by its mid)."""
    frames: int = await page.evaluate(
        """async (trackId) => {
            const video = document.querySelector(`video[data-track-id="${trackId}"]`);
            const pc = window.snapconf.pc.recv;
            if (!video || !pc) return 0;
            const transceiver = pc.getTransceivers().find(t => t.mid === video.dataset.mid);
            if (!transceiver) return 0;
            let frames = 0;
            (await transceiver.receiver.getStats()).forEach(r => {
                if (r.type === "inbound-rtp") frames += r.framesDecoded || 0;
            });
            return frames;
        }""",
        track_id,
    )
    return frames


async def _geometry(page: Any, selector: str) -> dict[str, Any]:
    geometry: dict[str, Any] = await page.eval_on_selector(
        selector,
        """v => { const t = v.closest('.tile').getBoundingClientRect();
            const r = v.getBoundingClientRect();
            return {tile: [t.width, t.height], video: [r.width, r.height],
                    videoWidth: v.videoWidth,
                    form: !document.querySelector('#join-form').hidden}; }""",
    )
    return geometry


async def _decodes(page: Any, track_id: str, what: str, me: Any) -> None:
    """The page decodes 10 frames of ``track_id`` within 8 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 8
    while (frames := await _frames_decoded(page, track_id)) < 10:
        if loop.time() > deadline:
            raise AssertionError(
                f"{what}: {frames} frames decoded; the page reported {page.views_sent},"
                f" the server has {me.views}"
            )
        await asyncio.sleep(0.25)


async def test_a_remote_video_without_frames_keeps_its_tile_seen_even_after_a_reconnection(
    make_server: Any, chromium: Any
) -> None:
    """A <video> that has no frame yet (at the join; after a reconnection, a new one) still
    has its tile's size in a 480x320 window, and the page reports it seen at that size:
    else the server forwards it nothing, and no frame ever comes to give it a size.

    (A reconnection used to show the join form again above the tiles, which left them
    0 px high: the video was reported unseen and paused for good.)"""
    server = await make_server()
    url = base_url(server)
    async with Client(url, "salle", "Bob", decode=False) as bob:
        camera = _LateCamera((200, 60, 40))
        (track_id,) = (await bob.publish([(camera, "camera")])).values()
        page = await _joined_page(chromium, f"{url}/salle", {"width": 480, "height": 320})
        conference = server.conferences.get("salle")
        me = conference.participants[await page.evaluate("() => window.snapconf.participantId")]
        selector = f'video[data-track-id="{track_id}"]'
        no_frame_yet = """(trackId) => {
            const v = document.querySelector(`video[data-track-id="${trackId}"]`);
            return v && v.videoWidth === 0
                && window.snapconf.pc.recv?.connectionState === 'connected'; }"""

        for when in ("at the join", "after a reconnection"):
            if when == "after a reconnection":
                # the frames stop, and the page's socket drops: it resumes its seat with
                # new peer connections, and a new <video> that has no frame
                camera.flowing.clear()
                await asyncio.sleep(1)
                await page.evaluate("() => window.snapconf.state.ws.close()")
                await page.wait_for_function(
                    "() => !document.body.classList.contains('reconnecting')", timeout=20_000
                )
            await page.wait_for_function(no_frame_yet, arg=track_id, timeout=20_000)
            me = conference.participants[me.id]  # the same seat, resumed
            await asyncio.sleep(1.5)  # the views are reported (debounced) and allocated
            geometry = await _geometry(page, selector)
            # no frame yet, but the tile and its video have a size, and are reported seen
            assert geometry["videoWidth"] == 0, (when, geometry)
            assert not geometry["form"], (when, geometry)
            assert geometry["tile"][1] >= 40 and geometry["video"][1] >= 40, (when, geometry)
            view = me.views.get(track_id)
            assert view is not None and view.visible and view.width > 0 and view.height > 0, (
                f"{when}: the page reports {me.views} ({page.views_sent}) for {geometry}"
            )
            assert all(
                sent[track_id]["visible"] and sent[track_id]["height"] > 0
                for sent in page.views_sent
                if track_id in sent
            ), (when, page.views_sent)
            # the frames start: the page decodes them within a few seconds
            camera.flowing.set()
            await _decodes(page, track_id, when, me)
        assert not page.errors, page.errors


# ---------------------------------------------------------------------------- Firefox

_NO_FIREFOX = firefox_missing() or namespace_missing()


@pytest.fixture
def namespaced_server(tmp_path: Path) -> Iterator[Server]:
    """A ``snapconf serve`` in a network namespace, where Firefox can reach it."""
    with contextlib.ExitStack() as stack:
        media_address = stack.enter_context(media_namespace())
        srv = Server(tmp_path / "server.log", media_address)
        stack.callback(srv.stop)
        srv.wait_ready()
        yield srv


@pytest.mark.skipif(_NO_FIREFOX is not None, reason=str(_NO_FIREFOX))
async def test_firefox_offers_the_same_three_layers_and_its_camera_reaches_chromium(
    namespaced_server: Server, tmp_path: Path
) -> None:
    server = namespaced_server
    async with launch("firefox", tmp_path) as firefox, launch("chromium", tmp_path) as chromium:
        fox = await RoomPage.join(firefox, server, "renard", "Renard")
        chrome = await RoomPage.join(chromium, server, "renard", "Chrome")
        try:
            offer, answer, encodings = await fox.page.evaluate(
                """() => {
                    const pc = window.snapconf.pc.send;
                    const sender = window.snapconf.state.local.video.transceiver.sender;
                    return [pc.localDescription.sdp, pc.remoteDescription.sdp,
                            sender.getParameters().encodings];
                }"""
            )
            video = _media_section(offer, "video")
            assert "a=simulcast:send q;h;f" in video, video
            for rid in "qhf":
                assert f"a=rid:{rid} send" in video
            if "a=simulcast" in _media_section(answer, "video"):
                assert [e["rid"] for e in encodings] == ["q", "h", "f"]
            else:  # Firefox keeps the first encoding (and its rid): the full layer now
                assert len(encodings) == 1, encodings
                assert encodings[0]["scaleResolutionDownBy"] == 1
                assert encodings[0]["maxBitrate"] == 1_500_000
            received = await chrome.decodes_video_of(fox.participant_id)
            assert received["tracks"] == 1
            if len(encodings) == 1:  # not the quarter-size layer (at most 1280 / 4 wide)
                assert received["width"] >= 640, received
        except BaseException:
            print(fox.dump(), chrome.dump(), firefox.dump(), server.log())
            raise
