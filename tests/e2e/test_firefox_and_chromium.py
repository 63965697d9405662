"""Firefox and Chromium on the room page, one scenario in each (tests/e2e/browsers.py).

Firefox (``max-bundle``) offers its video with port 0 and ``a=bundle-only``; the server
must take it, and other browsers must decode it. The "son groupé" cycle (tracks -> mix
-> tracks, with a newcomer in between) must keep the receive connection's m-line order,
or Chromium refuses the offer and the page hears nobody. A Firefox page that closes
sends a DTLS close_notify: the others must see a normal leave, and no drop is counted.
Firefox publishes its camera as rid simulcast layers too, and a Chromium receiver's tile
size chooses which one it gets.

One server serves the whole module (each test has its own room); browsers are launched
per test. The server log, the pages' consoles and the Firefox driver's stderr are
printed when a test fails.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browsers import (
    Browser,
    Pages,
    RoomPage,
    Server,
    launch,
    module_server,
    needs_chromium,
    needs_firefox,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, in a network namespace where Firefox can reach it."""
    with module_server(tmp_path_factory) as srv:
        yield srv


@pytest.fixture(
    params=[
        pytest.param("chromium", marks=needs_chromium),
        pytest.param("firefox", marks=needs_firefox),
    ]
)
async def any_browser(
    request: pytest.FixtureRequest, pages: Pages, tmp_path: Path
) -> AsyncIterator[Browser]:
    async with launch(request.param, tmp_path) as browser:
        pages.browsers.append(browser)
        yield browser


async def _no_errors(*pages: RoomPage) -> None:
    for page in pages:
        assert await page.errors() == "", f"{page.name} shows errors"
        refused = [line for line in page.page.console if "m-lines" in line]
        assert not refused, f"{page.name}: {refused}"


# ---------------------------------------------------------------------------- tests


@needs_chromium
@needs_firefox
async def test_firefox_video_and_audio_reach_a_chromium_page_and_another_firefox_page(
    pages: Pages, fox: Browser, chrome: Browser, server: Server
) -> None:
    renard = await pages.join(fox, "renard", "Renard")
    chromium = await pages.join(chrome, "renard", "Chrome")
    renarde = await pages.join(fox, "renard", "Renarde")

    # the bundle-only video section was taken: nothing rejected, nothing logged
    assert await renard.page.evaluate("() => window.snapconf.state.rejected") == []
    assert f"{renard.participant_id}: video" not in server.log()
    for receiver in (chromium, renarde):
        video = await receiver.decodes_video_of(renard.participant_id)
        assert video["tracks"] == 1 and video["width"] > 0, video
        await receiver.decodes_audio_of(renard.participant_id)
    # and the other way round: Firefox decodes what Chromium and Firefox send
    await renard.decodes_video_of(chromium.participant_id)
    await renard.decodes_audio_of(chromium.participant_id)
    await renard.decodes_video_of(renarde.participant_id)
    await _no_errors(renard, chromium, renarde)
    await renard.page.screenshot(str(Path(server.log_path).parent / "firefox-room.png"))


async def test_mixed_audio_and_back_with_a_newcomer_in_between(
    pages: Pages, any_browser: Browser, server: Server
) -> None:
    from snapconf.client import Client, ColorTrack, ToneTrack

    room = f"groupe-{any_browser.kind}"
    me = await pages.join(any_browser, room, "Moi")
    clients: list[Client] = []
    try:
        for name, tone in (("Yves", 440.0), ("Zoé", 660.0)):
            client = Client(server.base_url, room, name, decode=False)
            clients.append(client)
            await client.join()
            await client.publish([(ToneTrack(tone), "microphone")])
        yves, zoe = (str(c.participant_id) for c in clients)
        await me.decodes_audio_of(yves)
        await me.decodes_audio_of(zoe)

        # "Son groupé": both audio tracks go and the mix comes, in one renegotiation
        await me.click("#btn-mix")
        await me.decodes_mix()
        for participant_id in (yves, zoe):  # their own audio tracks have gone
            await me.page.wait_for(
                """id => !window.snapconf.pc.recv.getTransceivers().some(t => {
                    const info = window.snapconf.state.recvTracks[t.mid];
                    return t.currentDirection === 'recvonly' && info &&
                        info.participantId === id && info.kind === 'audio';
                })""",
                participant_id,
            )

        # a newcomer while in mix mode: its video is received, its voice is in the mix
        newcomer = Client(server.base_url, room, "Wanda", decode=False)
        clients.append(newcomer)
        await newcomer.join()
        await newcomer.publish(
            [(ToneTrack(550.0), "microphone"), (ColorTrack((0, 0, 255)), "camera")]
        )
        wanda = str(newcomer.participant_id)
        await me.decodes_video_of(wanda)
        await me.decodes_mix()

        # back to one track per speaker: everyone's audio again, the newcomer's included
        await me.click("#btn-mix")
        for participant_id in (wanda, yves, zoe):
            await me.decodes_audio_of(participant_id)
        assert (await me.mix_received())["tracks"] == 0
        await me.decodes_video_of(wanda)
        await _no_errors(me)
    finally:
        for client in clients:
            await client.close()


@needs_chromium
@needs_firefox
async def test_a_firefox_page_that_closes_leaves_normally_and_counts_no_drop(
    pages: Pages, fox: Browser, chrome: Browser, server: Server
) -> None:
    renard = await pages.join(fox, "fermeture", "Renard")
    chromium = await pages.join(chrome, "fermeture", "Chrome")
    await chromium.decodes_video_of(renard.participant_id)
    await renard.decodes_video_of(chromium.participant_id)  # both of Firefox's transports are up
    log_start = len(server.log())
    before = server.drops()

    await renard.page.close()

    reason: Any = await chromium.page.wait_for(
        "id => window.snapconf.state.leftReasons[id]", renard.participant_id
    )
    # a normal end either way: the page's `leave` arrived first ("left"), or its closing
    # WebSocket did ("disconnected"); never the transport's failure ("dtls failed")
    assert reason in ("left", "disconnected"), reason
    await asyncio.sleep(2)  # late datagrams of Firefox's last moments
    after = server.drops()
    # nothing of the close is a drop: no dtls_failed, and the close_notify that reaches a
    # transport the page's `leave` closed first is no unknown_address either; a few RTP
    # packets already on their way then may be (they are, rightly, counted)
    grown = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert "dtls_failed" not in grown and set(grown) <= {"unknown_address"}, grown
    assert grown.get("unknown_address", 0) <= 5, grown
    log = server.log()[log_start:]
    assert "dtls failed" not in log and "DTLS closed" not in log, log
    closes = re.findall(rf"transport {renard.participant_id}-\w+ closed: ([\w ]+)", log)
    assert closes and set(closes) <= {"closed by peer", "participant left"}, closes
    await _no_errors(chromium)


@needs_chromium
async def test_a_camera_the_server_cannot_take_is_logged_and_shown_on_the_page(
    pages: Pages, chrome: Browser, server: Server, tmp_path: Path
) -> None:
    picky = Server(
        tmp_path / "picky.log",
        server.media_address,
        '[sfu]\nvideo_codecs = ["no-such-codec"]\n',
    )
    try:
        picky.wait_ready()
        page = await RoomPage.join(chrome, picky, "difficile", "Chrome")
        pages.pages.append(page)
        shown = await page.page.wait_for(
            "() => document.querySelector('#errors').innerText.includes('caméra') &&"
            " document.querySelector('#errors').innerText"
        )
        assert shown.strip() == (
            "Votre caméra n\u2019a pas pu être partagée :"
            " le serveur ne prend aucun des codecs du navigateur."
        )
        rejected = await page.page.evaluate("() => window.snapconf.state.rejected")
        assert rejected == [{"mid": "1", "kind": "video", "reason": "no_codec"}]
        logged = [line for line in picky.log().splitlines() if "not received" in line]
        assert len(logged) == 1 and logged[0].endswith(
            f"{page.participant_id}: video track of mid 1 not received (no_codec)"
        ), logged
    finally:
        picky.stop()
        print(f"----- log of the server without video codecs -----\n{picky.log()}")


_SENT_LAYERS_JS = """async () => {
    const sender = window.snapconf.state.local.video.transceiver.sender;
    const out = {width: sender.track.getSettings().width, layers: {}};
    (await sender.getStats()).forEach(r => {
        if (r.type === 'outbound-rtp' && r.rid) out.layers[r.rid] = r.frameWidth || 0;
    });
    return out;
}"""


async def _video_width(page: RoomPage, participant_id: str) -> int:
    tracks = (await page.network())["tracks"]
    return max(
        (
            int(t["width"])
            for t in tracks
            if t["kind"] == "video" and t["participantId"] == participant_id
        ),
        default=0,
    )


@needs_chromium
@needs_firefox
async def test_firefox_publishes_simulcast_and_a_small_tile_gets_a_small_layer_then_a_larger_one(
    pages: Pages, fox: Browser, chrome: Browser
) -> None:
    renard = await pages.join(fox, "couches", "Renard")
    chromium = await pages.join(chrome, "couches", "Chrome")
    await chromium.decodes_video_of(renard.participant_id)

    # Firefox sends the page's rid layers (RFC 8853) of its 1280x720 fake camera. Its own
    # estimate decides whether the full one goes too (measured: it starts, then pauses
    # under the server's 2 Mbit/s REMB, the three layers asking 2.15 Mbit/s at most)
    for _ in range(40):
        sent = await renard.page.evaluate(_SENT_LAYERS_JS)
        if sent["layers"].get("q") and sent["layers"].get("h"):
            break
        await asyncio.sleep(0.25)
    full = int(sent["width"])
    assert sorted(sent["layers"]) == ["f", "h", "q"], sent
    assert (sent["layers"]["q"], sent["layers"]["h"]) == (full // 4, full // 2), sent
    track_id = next(
        t["trackId"]
        for t in (await chromium.network())["tracks"]
        if t["kind"] == "video" and t["participantId"] == renard.participant_id
    )

    async def views(width: int, height: int) -> None:
        await chromium.page.evaluate(
            "views => window.snapconf.state.ws.send(JSON.stringify({type: 'setViews', views}))",
            {track_id: {"visible": True, "width": width, "height": height}},
        )

    async def width_within(seconds: float, ok: Any) -> int:
        deadline = asyncio.get_running_loop().time() + seconds
        width = 0
        while asyncio.get_running_loop().time() < deadline:
            width = await _video_width(chromium, renard.participant_id)
            if ok(width):
                return width
            await asyncio.sleep(0.25)
        raise AssertionError(f"width {width} of {full}: {await chromium.server_stats()}")

    # a thumbnail a quarter of the camera wide gets the quarter layer; enlarged, a larger
    # one (the full one when Firefox sends it)
    await views(full // 4, full * 9 // 64)
    await width_within(10, lambda w: 0 < w <= full // 4)
    await views(full, full * 9 // 16)
    await width_within(5, lambda w: w >= full // 2)
