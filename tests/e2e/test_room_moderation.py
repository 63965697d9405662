"""The room page in Chromium when a moderator mutes the person: told in French, and the
microphone button unmutes them again (only they can)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.conftest import base_url
from tests.e2e.test_room_page import SECTIONS, _join, _open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_a_page_muted_by_a_moderator_says_so_and_its_button_unmutes_it(
    make_server: Any,
    chromium: Any,
) -> None:
    server = await make_server(**SECTIONS)
    page = await _open(chromium, f"{base_url(server)}/salle-moderee")
    await _join(page)
    await page.wait_for_function("() => window.snapconf.participantId", timeout=20_000)
    conference = server.conferences.get("salle-moderee")
    (participant,) = conference.participants.values()
    for _ in range(200):  # the fake microphone is published
        mics = [t for t in participant.tracks.values() if t.kind == "audio"]
        if mics:
            break
        await asyncio.sleep(0.05)
    (mic,) = mics
    assert conference.set_muted(participant, mic.id, True, by="moderator")
    await page.wait_for_function(
        "() => document.querySelector('#local-tile .muted-indicator').textContent"
        " === 'Micro coupé par un modérateur'",
        timeout=20_000,
    )
    assert await page.get_attribute("#btn-mic", "aria-pressed") == "true"
    await page.click("#btn-mic")  # the person unmutes themself
    for _ in range(200):
        if not mic.producer.muted:
            break
        await asyncio.sleep(0.05)
    assert not mic.producer.muted
    assert await page.is_hidden("#local-tile .muted-indicator")
    assert page.errors == []
