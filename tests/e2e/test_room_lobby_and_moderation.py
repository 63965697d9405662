"""The moderator's page in headless Chromium: mute all silences the others for every
listener (the audio energy they receive drops to nothing) and their pages say so; the
waiting room holds a page without media until the moderator admits it; a refused page is
told so in French; ending the meeting for all closes every page."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.browsers import CHROMIUM
from tests.e2e.test_room_page import _join, _open

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

#: the first browser of an ad-hoc room is its moderator
FIRST_MODERATOR = {"sfu": {"first_moderator": True}}

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


async def _until_heard(page: Any, pids: list[str]) -> None:
    """Wait until ``page`` hears each of ``pids`` (received audio energy grows)."""
    for _ in range(30):
        heard = await _heard(page, 1.0)
        if all(heard.get(pid, 0.0) > 0 for pid in pids):
            return
    raise AssertionError(f"not heard: {pids}: {heard}")


async def test_mute_all_silences_the_others_for_every_listener_and_end_for_all_closes_pages(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**FIRST_MODERATOR)
    url = f"{base_url(server)}/equipe"
    moderator = await _open(chromium, url)
    await _join(moderator, "Modératrice")
    mod_id = await _participant_id(moderator)
    assert await moderator.evaluate("() => window.snapconf.role") == "moderator"
    others = []
    for name in ("Alice", "Bruno"):
        page = await _open(chromium, url)
        await _join(page, name)
        others.append((page, await _participant_id(page)))
    (alice, alice_id), (bruno, bruno_id) = others
    await _until_heard(moderator, [alice_id, bruno_id])
    await _until_heard(alice, [bruno_id, mod_id])
    await _until_heard(bruno, [alice_id, mod_id])

    await moderator.click("#btn-moderation")
    await moderator.click("#btn-mute-all")
    for page, _ in others:
        await page.wait_for_function(
            "() => document.querySelector('#local-tile .muted-indicator').textContent"
            " === 'Micro coupé par un modérateur'",
            timeout=20_000,
        )
        assert await page.get_attribute("#btn-mic", "aria-pressed") == "true"
    await asyncio.sleep(1.0)  # what was in flight and in the jitter buffers plays out
    for listener, muted in (
        (moderator, [alice_id, bruno_id]),
        (alice, [bruno_id]),
        (bruno, [alice_id]),
    ):
        heard = await _heard(listener, 3.0)
        for pid in muted:
            assert heard.get(pid, 0.0) < 1e-4, (pid, heard)
    # the moderator is not muted: still heard
    assert (await _heard(alice, 3.0)).get(mod_id, 0.0) > 0

    # Alice unmutes herself and is heard again
    await alice.click("#btn-mic")
    await _until_heard(moderator, [alice_id])

    # end for all: every page closes and says why, in French
    moderator.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await moderator.click("#btn-end-all")
    for page in (moderator, alice, bruno):
        await page.wait_for_selector("#ended", state="visible", timeout=20_000)
        assert "Un modérateur a terminé la réunion pour tout le monde." in await page.inner_text(
            "#errors"
        )
    for page in (moderator, alice, bruno):
        assert page.errors == []


async def test_a_waiting_page_gets_media_once_admitted_and_a_refused_page_says_so(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**FIRST_MODERATOR)
    url = f"{base_url(server)}/accueil"
    moderator = await _open(chromium, url)
    await _join(moderator, "Modératrice")
    mod_id = await _participant_id(moderator)
    await moderator.click("#btn-moderation")
    await moderator.click("#btn-lobby")
    await moderator.wait_for_function(
        "() => document.querySelector('#btn-lobby').getAttribute('aria-pressed') === 'true'"
    )

    waiting = await _open(chromium, url)
    await _join(waiting, "Wassila")
    await waiting.wait_for_selector("#lobby-wait", state="visible", timeout=20_000)
    assert "Veuillez patienter, un modérateur va vous faire entrer" in await waiting.inner_text(
        "#lobby-wait"
    )
    await moderator.wait_for_selector(
        "#waiting-list [data-testid=waiting-name]:text('Wassila')", timeout=20_000
    )
    await asyncio.sleep(2.0)
    # nothing of the meeting reaches a waiting page: no connection, no one in it
    assert await waiting.evaluate(
        "() => [window.snapconf.participantId, window.snapconf.pc.recv,"
        " window.snapconf.participants.size]"
    ) == [None, None, 0]
    assert await waiting.is_hidden("#conference")

    await moderator.click("#waiting-list [data-testid=admit]")
    wassila = await _participant_id(waiting)
    await waiting.wait_for_selector("#lobby-wait", state="hidden")
    await _until_heard(waiting, [mod_id])
    await _until_heard(moderator, [wassila])

    refused = await _open(chromium, url)
    await _join(refused, "Rémi")
    await refused.wait_for_selector("#lobby-wait", state="visible", timeout=20_000)
    await moderator.wait_for_selector(
        "#waiting-list [data-testid=waiting-name]:text('Rémi')", timeout=20_000
    )
    await moderator.screenshot(path="/tmp/snapconf-moderation-panel.png")
    await refused.screenshot(path="/tmp/snapconf-lobby.png")
    await moderator.click("#waiting-list [data-testid=refuse]")
    await refused.wait_for_function(
        "() => document.querySelector('#errors').innerText.includes("
        "'Un modérateur n\\u2019a pas accepté votre entrée dans la réunion.')",
        timeout=20_000,
    )
    assert await refused.is_hidden("#lobby-wait")

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
    for page in (moderator, waiting, refused, leaving):
        assert page.errors == []


async def test_the_participants_panel_mutes_promotes_and_removes_and_a_lock_keeps_out(
    make_server: Any, chromium: Any
) -> None:
    server = await make_server(**FIRST_MODERATOR)
    url = f"{base_url(server)}/panneau"
    moderator = await _open(chromium, url)
    await _join(moderator, "Modératrice")
    await _participant_id(moderator)
    moderator.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    alice = await _open(chromium, url)
    await _join(alice, "Alice")
    alice_id = await _participant_id(alice)
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

    bruno = await _open(chromium, url)
    await _join(bruno, "Bruno")
    bruno_id = await _participant_id(bruno)
    await moderator.click(
        f"#participants-list [data-participant-id='{bruno_id}'] [data-testid=remove-participant]",
        timeout=20_000,
    )
    await bruno.wait_for_selector("#ended", state="visible", timeout=20_000)
    assert "Un modérateur vous a retiré de la réunion." in await bruno.inner_text("#errors")
    await bruno.click("#rejoin")
    await _join(bruno, "Bruno")
    await bruno.wait_for_function(
        "() => document.querySelector('#errors').innerText.includes("
        "'vous ne pouvez pas la rejoindre à nouveau')",
        timeout=20_000,
    )

    await alice.click("#btn-moderation")
    await alice.click("#btn-lock")
    await moderator.wait_for_function(
        "() => document.querySelector('#btn-lock').getAttribute('aria-pressed') === 'true'",
        timeout=20_000,
    )
    late = await _open(chromium, url)
    await _join(late, "Léa")
    await late.wait_for_function(
        "() => document.querySelector('#errors').innerText.includes("
        "'La réunion est verrouillée par un modérateur')",
        timeout=20_000,
    )
    for page in (moderator, alice, bruno, late):
        assert page.errors == []
