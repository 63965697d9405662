"""Real aiortc peers keep their media while another address replays or floods their checks."""

from __future__ import annotations

import asyncio
import re
import socket

import aiohttp
from aioice import stun as aiostun
from tests.conftest import base_url

from snapconf.client import Client, ColorTrack, ToneTrack

ATTACKER = "127.0.0.2"  # another loopback address of this host, not used by the peers


async def _metrics(server) -> str:
    async with aiohttp.ClientSession() as http, http.get(base_url(server) + "/metrics") as r:
        return await r.text()


def _spy_stun(server) -> list[tuple[bytes, tuple[str, int]]]:
    """Record every STUN datagram the media port receives, with its source."""
    seen: list[tuple[bytes, tuple[str, int]]] = []
    media = server.media
    original = media.datagram_received

    def spy(endpoint, data, addr):
        if data and data[0] < 4:
            seen.append((data, addr))
        original(endpoint, data, addr)

    media.datagram_received = spy
    return seen


async def _pair(server) -> list[Client]:
    clients = [Client(base_url(server), "ice", name) for name in ("alice", "bob")]
    for client, freq, rgb in zip(clients, (440, 880), ((200, 0, 0), (0, 0, 200)), strict=True):
        await client.join()
        await client.publish([(ToneTrack(freq), "microphone"), (ColorTrack(rgb), "camera")])
    for client in clients:
        for _ in range(200):
            tracks = client.received.values()
            if len(tracks) == 2 and all(t.frame_count > 5 for t in tracks):
                break
            await asyncio.sleep(0.05)
    return clients


def _frames(clients: list[Client]) -> list[dict[str, int]]:
    return [{mid: t.frame_count for mid, t in c.received.items()} for c in clients]


async def _still_flowing(clients: list[Client], before: list[dict[str, int]]) -> None:
    """Every track decodes more frames (within a bound: a loaded machine is slow, not
    stopped); a receiver whose media was moved away decodes none."""

    def stalled() -> list[tuple[str, str]]:
        return [
            (client.display_name, track.kind)
            for client, counts in zip(clients, before, strict=True)
            for mid, track in client.received.items()
            if track.frame_count <= counts[mid] + 5
        ]

    deadline = asyncio.get_running_loop().time() + 10
    while stalled() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert not stalled(), stalled()


def _attacker_socket() -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((ATTACKER, 0))
    udp.setblocking(False)
    return udp


def _drain(udp: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(udp.recv(2048))
        except BlockingIOError:
            return out


async def test_a_replayed_nomination_from_another_address_does_not_move_the_media(server):
    seen = _spy_stun(server)
    clients = await _pair(server)
    udp = _attacker_socket()
    try:
        transports = {t.ice_ufrag: t for t in server.media.by_ufrag.values()}
        selected = {ufrag: t.addr for ufrag, t in transports.items()}
        nominations = []
        for data, addr in seen:
            message = aiostun.parse_message(data)
            ufrag = message.attributes["USERNAME"].partition(":")[0]
            if "USE-CANDIDATE" in message.attributes and selected.get(ufrag) == addr:
                nominations.append(data)
        assert {
            aiostun.parse_message(d).attributes["USERNAME"].partition(":")[0] for d in nominations
        } == set(transports)  # a captured nomination of every transport, receivers included
        before = _frames(clients)
        media_addr = server.media.local_addresses[0]
        for data in nominations:
            for _ in range(3):
                udp.sendto(data, media_addr)
        await _still_flowing(clients, before)
        assert {ufrag: t.addr for ufrag, t in transports.items()} == selected
        assert server.media.drops["stun_replay"] == 3 * len(nominations)
        replays = f'snapconf_media_dropped_total{{reason="stun_replay"}} {3 * len(nominations)}'
        assert replays in await _metrics(server)
        assert _drain(udp) == []  # neither answers nor media reached the replaying socket
    finally:
        udp.close()
        for client in clients:
            await client.close()


async def test_a_wrong_password_flood_from_one_source_leaves_the_real_peers_media_flowing(
    server,
):
    clients = await _pair(server)
    udp = _attacker_socket()
    try:
        media_addr = server.media.local_addresses[0]
        floods = []
        for transport in server.media.by_ufrag.values():
            msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
            msg.attributes["USERNAME"] = f"{transport.ice_ufrag}:{transport.remote_ufrag}"
            msg.attributes["PRIORITY"] = 1
            msg.attributes["USE-CANDIDATE"] = None
            msg.add_message_integrity(b"not-the-ice-password-!!!")
            floods.append(bytes(msg))
        before = _frames(clients)

        def flood() -> None:
            udp.setblocking(True)
            for i in range(20_000):
                udp.sendto(floods[i % len(floods)], media_addr)
            udp.setblocking(False)

        await asyncio.get_running_loop().run_in_executor(None, flood)
        await _still_flowing(clients, before)
        drops = server.media.drops
        errors = [aiostun.parse_message(d) for d in _drain(udp)]
        assert all(e.error_code == 401 for e in errors)
        # the default budget: a burst of 20, then 5 a second
        assert drops["stun_integrity"] == len(errors) < 100
        assert drops["stun_rate_limited"] > 10 * drops["stun_integrity"]
        assert drops["stun_replay"] == 0
        limited = drops["stun_rate_limited"]
        # datagrams of the flood may still be arriving: the exported count only grows
        exported = re.search(
            r'^snapconf_media_dropped_total\{reason="stun_rate_limited"\} (\d+)$',
            await _metrics(server),
            re.MULTILINE,
        )
        assert exported is not None and int(exported.group(1)) >= limited
        assert all(t.addr and t.addr[0] != ATTACKER for t in server.media.by_ufrag.values())
    finally:
        udp.close()
        for client in clients:
            await client.close()
