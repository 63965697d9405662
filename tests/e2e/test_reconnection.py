"""Reconnection in real browsers (issue 12): a page whose WebSocket drops, or whose media is
cut for 5 s, is back within 10 s with audio and video both ways, and the other page never
sees it leave (docs/signaling.md, "Reconnection"). Media crosses the impairment relay of
tests/support/netrelay.py, which blocks it for the media cut.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.e2e import test_real_networks as networks
from tests.e2e.browsers import RoomPage
from tests.e2e.test_real_networks import Room
from tests.support.netrelay import LinkConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# the real-networks module's fixtures: a server announcing the relay's address, the relay,
# and a room of Chromium pages
server = networks.server
relay = networks.relay
room = networks.room

CUT = LinkConfig(loss=1.0)
CLEAN = LinkConfig()
#: the acceptance: back within this many seconds of the cut (or of the media's return)
BACK_WITHIN = 10.0


async def _frames(page: RoomPage, other: RoomPage) -> tuple[int, int]:
    video = await page.received(other.participant_id, "video")
    audio = await page.received(other.participant_id, "audio")
    return video["frames"], audio["samples"]


async def _both_ways_since(a: RoomPage, b: RoomPage, since: float, what: str) -> float:
    """Seconds from ``since`` until each page decodes new video and audio of the other.

    A rebuilt peer connection starts its counters again: growth counts from the lowest
    value seen since ``since``."""
    lowest = {a.name: await _frames(a, b), b.name: await _frames(b, a)}
    deadline = since + BACK_WITHIN + 20  # measured, then judged against BACK_WITHIN
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        grown = True
        for page, other in ((a, b), (b, a)):
            frames, samples = await _frames(page, other)
            low_frames, low_samples = lowest[page.name]
            lowest[page.name] = (min(frames, low_frames), min(samples, low_samples))
            if frames < lowest[page.name][0] + 5 or samples <= lowest[page.name][1]:
                grown = False
        if grown:
            return time.monotonic() - since
    raise AssertionError(f"{what}: no audio and video both ways within {deadline - since:.0f} s")


async def _left_reasons(page: RoomPage) -> dict[str, str]:
    reasons: dict[str, str] = await page.page.evaluate(
        "() => ({...window.snapconf.state.leftReasons})"
    )
    return reasons


async def test_a_page_whose_socket_drops_is_back_within_10_s_and_nobody_saw_it_leave(
    room: Room,
) -> None:
    await room.start()
    alice = await room.join("Alice", "reprise")
    bob = await room.join("Bob", "reprise")
    await alice.decodes_video_of(bob.participant_id)
    await bob.decodes_video_of(alice.participant_id)
    bob_id = bob.participant_id

    # the other page marks the tile "reconnecting" for as long as it takes (under a
    # second when all goes well): an observer notes it, where polling could miss it
    await alice.page.evaluate(
        """id => {
            const tile = document.querySelector(`[data-participant-id='${id}']`);
            window.sawReconnecting = false;
            new MutationObserver(() => {
                if (tile.dataset.reconnecting === 'true') window.sawReconnecting = true;
            }).observe(tile, {attributes: true, attributeFilter: ['data-reconnecting']});
        }""",
        bob_id,
    )
    cut = time.monotonic()
    await bob.page.evaluate("() => window.snapconf.state.ws.close()")
    elapsed = await _both_ways_since(alice, bob, cut, "after the socket dropped")
    assert elapsed <= BACK_WITHIN, f"back after {elapsed:.1f} s"
    assert await bob.page.evaluate("() => window.snapconf.participantId") == bob_id
    assert bob_id not in await _left_reasons(alice)
    assert await alice.page.evaluate("() => window.sawReconnecting")
    assert (
        await alice.page.evaluate(
            "id => document.querySelector(`[data-participant-id='${id}']`).dataset.reconnecting",
            bob_id,
        )
        == "false"
    )
    assert not await bob.errors()


async def test_a_page_whose_media_is_cut_for_5_s_is_back_within_10_s(
    room: Room,
) -> None:
    await room.start()
    alice = await room.join("Alice", "coupure")
    bob = await room.join("Bob", "coupure")
    await alice.decodes_video_of(bob.participant_id)
    await bob.decodes_video_of(alice.participant_id)
    peers = [await room.peer(bob, "send"), await room.peer(bob, "recv")]

    for peer in peers:
        room.relay.set_link(peer, up=CUT, down=CUT)
    await asyncio.sleep(5)
    for peer in peers:
        room.relay.set_link(peer, up=CLEAN, down=CLEAN)
    back = time.monotonic()
    elapsed = await _both_ways_since(alice, bob, back, "after the media came back")
    assert elapsed <= BACK_WITHIN, f"back {elapsed:.1f} s after the media returned"
    assert bob.participant_id not in await _left_reasons(alice)
    assert await bob.page.evaluate("() => window.snapconf.participantId") == bob.participant_id
