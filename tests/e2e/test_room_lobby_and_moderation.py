"""The moderator's page: mute all silences the others for every listener (the audio
energy they receive drops to nothing) and their pages say so; the waiting room holds a
page without media until the moderator admits it; a refused page is told so in French;
the participants panel mutes, promotes and removes, and a lock keeps newcomers out;
ending the meeting for all closes every page.

The moderator is a Chromium page (Playwright); a Firefox ESR page (tests/e2e/browsers.py)
is muted by mute all, listens, unmutes itself, is removed and cannot come back, and is
refused by a locked meeting. The module's server runs in a network namespace where
Firefox reaches its media.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
from tests.e2e.test_room_page import _join, _open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180), needs_chromium, needs_firefox]

MUTED_TEXT = "Micro coupé par un modérateur"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The first browser of an ad-hoc room is its moderator."""
    with module_server(tmp_path_factory, config="[sfu]\nfirst_moderator = true\n") as srv:
        yield srv


#: per remote participant: the audio energy and packets this page has received so far
#: (W3C webrtc-stats, RTCInboundRtpStreamStats.totalAudioEnergy)
_ENERGY_JS = """async () => {
    const S = window.snapconf;
    const out = {};
    const pc = S.pc.recv;
    if (!pc) return out;
    for (const transceiver of pc.getTransceivers()) {
        const info = S.state.recvTracks[transceiver.mid];
        if (!info || info.kind !== 'audio') continue;
        (await transceiver.receiver.getStats()).forEach(r => {
            if (r.type !== 'inbound-rtp') return;
            const was = out[info.participantId] || {energy: 0, packets: 0};
            out[info.participantId] = {energy: was.energy + (r.totalAudioEnergy || 0),
                                       packets: was.packets + (r.packetsReceived || 0)};
        });
    }
    return out;
}"""


async def _energy(page: Any) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = await page.evaluate(_ENERGY_JS)
    return result


async def _heard(page: Any, seconds: float = 3.0) -> dict[str, float]:
    """Audio energy received from each remote participant over ``seconds``."""
    before = await _energy(page)
    await asyncio.sleep(seconds)
    after = await _energy(page)
    return {pid: after[pid]["energy"] - before.get(pid, {"energy": 0.0})["energy"] for pid in after}


async def _participant_id(page: Any) -> str:
    handle = await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    pid: str = await handle.json_value()
    return pid


async def _chromium_page(chromium: Any, url: str, name: str) -> tuple[Any, str]:
    """A Playwright page of ``chromium`` in the meeting at ``url`` as ``name``; its id."""
    page = await _open(chromium, url)
    await _join(page, name)
    return page, await _participant_id(page)


async def _until_heard(page: Any, pids: list[str]) -> None:
    """Wait until ``page`` hears each of ``pids`` (received audio energy grows)."""
    for _ in range(30):
        heard = await _heard(page, 1.0)
        if all(heard.get(pid, 0.0) > 0 for pid in pids):
            return
    raise AssertionError(f"not heard: {pids}: {heard}")


async def _shows(page: RoomPage, selector: str) -> None:
    """Wait until ``selector`` is shown in a page of the :class:`RoomPage` kind."""
    await page.page.wait_for(
        "sel => { const el = document.querySelector(sel);"
        " return el !== null && el.getClientRects().length > 0; }",
        selector,
    )


async def _says(page: RoomPage, text: str) -> None:
    """Wait until the page's error area says ``text``."""
    await page.page.wait_for(
        "text => document.querySelector('#errors').innerText.includes(text)", text
    )


def _page_errors(page: RoomPage) -> list[str]:
    return [line for line in page.page.console if line.startswith("pageerror:")]


async def test_mute_all_silences_the_others_for_every_listener_and_end_for_all_closes_pages(
    server: Server, chromium: Any, pages: Pages, fox: Browser
) -> None:
    url = server.url("equipe")
    moderator, mod_id = await _chromium_page(chromium, url, "Modératrice")
    assert await moderator.evaluate("() => window.snapconf.role") == "moderator"
    alice = await pages.join(fox, "equipe", "Alice")  # Firefox
    alice_id = alice.participant_id
    bruno, bruno_id = await _chromium_page(chromium, url, "Bruno")
    await _until_heard(moderator, [alice_id, bruno_id])
    await _until_heard(alice.page, [bruno_id, mod_id])
    await _until_heard(bruno, [alice_id, mod_id])

    await moderator.click("#btn-moderation")
    await moderator.click("#btn-mute-all")
    await bruno.wait_for_function(
        "text => document.querySelector('#local-tile .muted-indicator').textContent === text",
        arg=MUTED_TEXT,
        timeout=20_000,
    )
    assert await bruno.get_attribute("#btn-mic", "aria-pressed") == "true"
    await alice.page.wait_for(
        "text => document.querySelector('#local-tile .muted-indicator').textContent === text",
        MUTED_TEXT,
    )
    assert (
        await alice.page.evaluate(
            "() => document.querySelector('#btn-mic').getAttribute('aria-pressed')"
        )
        == "true"
    )
    await asyncio.sleep(1.0)  # what was in flight and in the jitter buffers plays out
    for listener, muted in (
        (moderator, [alice_id, bruno_id]),
        (alice.page, [bruno_id]),
        (bruno, [alice_id]),
    ):
        heard = await _heard(listener, 3.0)
        for pid in muted:
            assert heard.get(pid, 0.0) < 1e-4, (pid, heard)
    # the moderator is not muted: still heard, in Firefox too
    assert (await _heard(alice.page, 3.0)).get(mod_id, 0.0) > 0

    # Alice unmutes herself in Firefox and is heard again
    await alice.click("#btn-mic")
    await _until_heard(moderator, [alice_id])
    await _until_heard(bruno, [alice_id])

    # end for all: every page closes and says why, in French
    moderator.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await moderator.click("#btn-end-all")
    ended = "Un modérateur a terminé la réunion pour tout le monde."
    for page in (moderator, bruno):
        await page.wait_for_selector("#ended", state="visible", timeout=20_000)
        assert ended in await page.inner_text("#errors")
    await _shows(alice, "#ended")
    await _says(alice, ended)
    for page in (moderator, bruno):
        assert page.errors == []
    assert _page_errors(alice) == []


async def test_a_waiting_page_gets_media_once_admitted_and_a_refused_page_says_so(
    server: Server, chromium: Any, pages: Pages, fox: Browser
) -> None:
    url = server.url("accueil")
    moderator, mod_id = await _chromium_page(chromium, url, "Modératrice")
    await moderator.click("#btn-moderation")
    await moderator.click("#btn-lobby")
    await moderator.wait_for_function(
        "() => document.querySelector('#btn-lobby').getAttribute('aria-pressed') === 'true'"
    )

    # a Firefox page waits without anything of the meeting, then is let in
    waiting = await pages.open(fox, "accueil", "Wassila")
    await _shows(waiting, "#lobby-wait")
    assert "Veuillez patienter, un modérateur va vous faire entrer" in await waiting.page.evaluate(
        "() => document.querySelector('#lobby-wait').innerText"
    )
    await moderator.wait_for_selector(
        "#waiting-list [data-testid=waiting-name]:text('Wassila')", timeout=20_000
    )
    await asyncio.sleep(2.0)
    # nothing of the meeting reaches a waiting page: no connection, no one in it
    assert await waiting.page.evaluate(
        "() => [window.snapconf.participantId, window.snapconf.pc.recv,"
        " window.snapconf.participants.size, document.querySelector('#conference').hidden]"
    ) == [None, None, 0, True]

    await moderator.click("#waiting-list [data-testid=admit]")
    wassila = await waiting.joined()
    await waiting.page.wait_for("() => document.querySelector('#lobby-wait').hidden")
    await _until_heard(waiting.page, [mod_id])
    await _until_heard(moderator, [wassila])

    # a refused Firefox page is told so
    refused = await pages.open(fox, "accueil", "Rémi")
    await _shows(refused, "#lobby-wait")
    await moderator.wait_for_selector(
        "#waiting-list [data-testid=waiting-name]:text('Rémi')", timeout=20_000
    )
    await moderator.screenshot(path="/tmp/snapconf-moderation-panel.png")
    await refused.page.screenshot("/tmp/snapconf-lobby.png")
    await moderator.click("#waiting-list [data-testid=refuse]")
    await _says(refused, "Un modérateur n\u2019a pas accepté votre entrée dans la réunion.")
    assert await refused.page.evaluate("() => document.querySelector('#lobby-wait').hidden")

    # someone tired of waiting leaves the waiting room: gone from the moderator's list
    leaving = await _open(chromium, url)
    await _join(leaving, "Lou")
    await leaving.wait_for_selector("#lobby-wait", state="visible", timeout=20_000)
    await moderator.wait_for_selector(
        "#waiting-list [data-testid=waiting-name]:text('Lou')", timeout=20_000
    )
    await leaving.click("#btn-lobby-leave")
    await leaving.wait_for_selector("#join-form", state="visible", timeout=20_000)
    await moderator.wait_for_selector("#waiting-empty", state="visible", timeout=20_000)
    assert await leaving.inner_text("#errors") == ""
    for page in (moderator, leaving):
        assert page.errors == []
    for fox_page in (waiting, refused):
        assert _page_errors(fox_page) == [], fox_page.name


async def test_the_participants_panel_mutes_promotes_and_removes_and_a_lock_keeps_out(
    server: Server, chromium: Any, pages: Pages, fox: Browser
) -> None:
    url = server.url("panneau")
    moderator, _ = await _chromium_page(chromium, url, "Modératrice")
    moderator.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    alice, alice_id = await _chromium_page(chromium, url, "Alice")
    row = f"#participants-list [data-participant-id='{alice_id}']"
    await moderator.click("#btn-participants")
    # her microphone is published and open: the row offers to cut it
    await moderator.click(f"{row} [data-testid=mute-participant]", timeout=20_000)
    await alice.wait_for_function(
        "() => document.querySelector('#local-tile .muted-indicator').textContent"
        " === 'Micro coupé par un modérateur'",
        timeout=20_000,
    )
    await moderator.wait_for_selector(f"{row} [data-testid=ask-unmute]", timeout=20_000)
    await moderator.screenshot(path="/tmp/snapconf-participant-actions.png")
    await moderator.click(f"{row} [data-testid=ask-unmute]")
    await alice.wait_for_function(
        "() => document.querySelector('#status').textContent.includes("
        "'Un modérateur vous demande de réactiver votre micro')",
        timeout=20_000,
    )
    assert await alice.get_attribute("#btn-mic", "aria-pressed") == "true"  # still muted
    await moderator.click(f"{row} [data-testid=promote]")
    await alice.wait_for_selector("#btn-moderation", state="visible", timeout=20_000)
    assert await alice.evaluate("() => window.snapconf.role") == "moderator"

    # a removed participant (in Firefox) cannot come back
    bruno = await pages.join(fox, "panneau", "Bruno")
    await moderator.click(
        f"#participants-list [data-participant-id='{bruno.participant_id}']"
        " [data-testid=remove-participant]",
        timeout=20_000,
    )
    await _shows(bruno, "#ended")
    await _says(bruno, "Un modérateur vous a retiré de la réunion.")
    await bruno.click("#rejoin")
    await _shows(bruno, "#join-button")
    await bruno.ask_to_join("Bruno")
    await _says(bruno, "vous ne pouvez pas la rejoindre à nouveau")

    await alice.click("#btn-moderation")
    await alice.click("#btn-lock")
    await moderator.wait_for_function(
        "() => document.querySelector('#btn-lock').getAttribute('aria-pressed') === 'true'",
        timeout=20_000,
    )
    # a locked meeting refuses a new page (in Firefox)
    late = await pages.open(fox, "panneau", "Léa")
    await _says(late, "La réunion est verrouillée par un modérateur")
    for page in (moderator, alice):
        assert page.errors == []
    for fox_page in (bruno, late):
        assert _page_errors(fox_page) == [], fox_page.name
