"""Three real aiortc peers in one room see and hear the other two, and only them."""

from __future__ import annotations

import asyncio

from tests.conftest import base_url
from tests.integration.media_checks import dominant_frequency, mean_colour

from snapconf.client import Client, ColorTrack, ToneTrack

PEERS = {
    "alice": (440.0, (220, 30, 30)),
    "bob": (1000.0, (30, 200, 30)),
    "carol": (1900.0, (30, 30, 220)),
}


async def _room(url: str, names: list[str]) -> dict[str, Client]:
    clients = {}
    for name in names:
        client = Client(url, "salle-test", name)
        await client.join()
        freq, rgb = PEERS[name]
        await client.publish([(ToneTrack(freq), "microphone"), (ColorTrack(rgb), "camera")])
        clients[name] = client
    return clients


def _flowing(client: Client, count: int, frames: int = 10) -> bool:
    tracks = list(client.received.values())
    return len(tracks) == count and all(t.frame_count >= frames for t in tracks)


async def _wait_media(clients: dict[str, Client], count: int, frames: int = 10) -> None:
    async def wait(client: Client) -> None:
        for _ in range(300):
            if _flowing(client, count, frames):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{client.display_name} receives "
            f"{[(t.kind, t.frame_count) for t in client.received.values()]}"
        )

    await asyncio.gather(*(wait(c) for c in clients.values()))


def _owner(clients: dict[str, Client], participant_id: str) -> str:
    return next(n for n, c in clients.items() if c.participant_id == participant_id)


async def test_each_of_three_peers_decodes_the_other_twos_tone_and_colour(server):
    clients = await _room(base_url(server), list(PEERS))
    try:
        await _wait_media(clients, count=4, frames=25)
        for name, client in clients.items():
            heard, seen = set(), set()
            for track in client.received.values():
                publisher = _owner(clients, track.participant_id)
                assert publisher != name
                freq, rgb = PEERS[publisher]
                if track.kind == "audio":
                    measured = dominant_frequency(track.frames[-25:])
                    assert abs(measured - freq) < 15, (name, publisher, measured)
                    heard.add(publisher)
                else:
                    colour = mean_colour(track.frames[-1])
                    assert all(abs(a - b) < 40 for a, b in zip(colour, rgb, strict=True)), (
                        name,
                        publisher,
                        colour,
                    )
                    seen.add(publisher)
            assert heard == seen == set(PEERS) - {name}
    finally:
        for client in clients.values():
            await client.close()


async def test_when_a_peer_leaves_the_others_are_told_and_stop_receiving_it(server):
    clients = await _room(base_url(server), list(PEERS))
    try:
        await _wait_media(clients, count=4)
        carol = clients.pop("carol")
        carol_id = carol.participant_id
        await carol.close()
        for client in clients.values():
            await client.wait_for(
                lambda c: any(
                    e.get("type") == "participantLeft" and e.get("participantId") == carol_id
                    for e in c.events
                )
            )
            await client.wait_for(
                lambda c: all(t.participant_id != carol_id for t in c.received.values())
            )
        before = {n: {m: t.frame_count for m, t in c.received.items()} for n, c in clients.items()}
        await asyncio.sleep(1.0)
        for name, client in clients.items():
            assert len(client.received) == 2
            for mid, track in client.received.items():
                assert track.frame_count > before[name][mid], (name, track.kind)
        conference = server.conferences.get("salle-test")
        assert conference is not None and len(conference.participants) == 2
        assert len(conference.router.producers) == 4
    finally:
        for client in clients.values():
            await client.close()


async def test_a_consumer_whose_transport_dies_does_not_disturb_the_others(make_server):
    server = await make_server(media={"consent_timeout": 3.0})
    clients = await _room(base_url(server), list(PEERS))
    try:
        await _wait_media(clients, count=4)
        bob = clients["bob"]
        bob_id = bob.participant_id
        # bob's receiving peer connection vanishes without a word to the server
        assert bob.recv_pc is not None
        await bob.recv_pc.close()
        others = {n: c for n, c in clients.items() if n != "bob"}
        counts = {n: {m: t.frame_count for m, t in c.received.items()} for n, c in others.items()}
        await asyncio.sleep(1.5)
        for name, client in others.items():
            for mid, track in client.received.items():
                assert track.frame_count > counts[name][mid] + 10, (name, track.kind)
        # consent expires: bob is removed and the others are told
        for client in others.values():
            await client.wait_for(
                lambda c: any(
                    e.get("type") == "participantLeft" and e.get("participantId") == bob_id
                    for e in c.events
                ),
                timeout=10,
            )
        await bob.wait_for(lambda c: any(e.get("type") == "left" for e in c.events))
    finally:
        for client in clients.values():
            await client.close()
