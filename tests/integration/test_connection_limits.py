"""What one client may hold on the HTTP server and the signaling WebSocket: a bounded send
queue, per-address caps, header and idle timeouts, descriptor headroom, media deadlines,
origins, and nesting that is answered, not crashed on."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import resource
import socket
import struct
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url

from snapconf.client import Client, SignalingError, ToneTrack
from snapconf.config import Config, ConfigError, apply


async def _raw_websocket(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket handshake on a plain socket with a small receive buffer, so a client
    that does not read shuts its TCP window quickly."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 1)
        assert chunk, "server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _text_frame(text: str) -> bytes:
    """A masked text frame (RFC 6455 section 5.2), as a client must send."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def _ping_without_reading(server: Any, sock: socket.socket, before: int) -> None:
    """Send pings with a large id (each pong repeats it) and never read, until the server
    gives up on this socket."""
    loop = asyncio.get_running_loop()
    frame = _text_frame(json.dumps({"type": "ping", "id": "x" * 60000}))
    for _ in range(5000):
        if server.signaling_stats.outbox_overflows > before:
            break
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, frame), 30)
        except (ConnectionError, OSError):
            break
    for _ in range(300):  # the counter moves even if our last sends still went through
        if server.signaling_stats.outbox_overflows > before:
            break
        await asyncio.sleep(0.05)


async def test_a_client_that_pings_and_never_reads_is_closed_counted_and_logged_once(
    make_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(signaling={"max_queued_messages": 16})
    caplog.set_level(logging.WARNING, logger="snapconf.signaling.session")
    for _ in range(2):
        sock = await _raw_websocket(server.http_port)
        try:
            before = server.signaling_stats.outbox_overflows
            await _ping_without_reading(server, sock, before)
            assert server.signaling_stats.outbox_overflows == before + 1
            # the server dropped the connection: reading finds its end, not an open socket
            loop = asyncio.get_running_loop()
            with contextlib.suppress(ConnectionError):
                while await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 30):
                    pass
        finally:
            sock.close()
    lines = [r for r in caplog.records if "does not read its socket" in r.getMessage()]
    assert len(lines) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.get(base_url(server) + "/metrics") as r,
    ):
        assert "snapconf_signaling_outbox_overflows_total 2" in await r.text()
    for _ in range(200):
        if not server.signaling.sockets_by_address:
            break
        await asyncio.sleep(0.05)
    assert not server.signaling.sockets_by_address


async def test_the_send_queue_is_bounded_in_size_too(make_server: Any) -> None:
    # each pong is ~60 KB: 1 MB of them queue up long before 100,000 messages
    server = await make_server(
        signaling={"max_queued_messages": 100000, "max_queued_bytes": 1000000}
    )
    sock = await _raw_websocket(server.http_port)
    try:
        await _ping_without_reading(server, sock, 0)
        assert server.signaling_stats.outbox_overflows == 1
    finally:
        sock.close()


async def test_deeply_nested_json_on_the_websocket_is_bad_json_without_a_traceback(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(base_url(server), "profonde", "alice") as client:
        await client.send_raw("[" * 1000 + "]" * 1000)  # 2 KB
        await client.send_raw('{"type": "ping", "x": ' + "[" * 50000 + "]" * 50000 + "}")
        await client.wait_for(
            lambda c: sum(1 for e in c.events if e.get("code") == "bad_json") == 2
        )
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    assert server.signaling_stats.errors["internal"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_sockets_from_one_address_are_capped_and_the_cap_frees_on_close(
    make_server: Any,
) -> None:
    # the test's clients are on loopback, which is exempt by default (a local proxy)
    server = await make_server(signaling={"max_sockets_per_address": 3, "caps_exempt": []})
    url = base_url(server).replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(url) for _ in range(3)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url)
        assert info.value.status == 429
        async with http.get(base_url(server) + "/metrics") as r:
            assert 'snapconf_signaling_refused_total{reason="too_many_sockets"} 1' in (
                await r.text()
            )
        await sockets.pop().close()
        for _ in range(200):
            if server.signaling.sockets_by_address.get("127.0.0.1", 0) < 3:
                break
            await asyncio.sleep(0.05)
        sockets.append(await http.ws_connect(url))
        for ws in sockets:
            await ws.close()
    # loopback (a reverse proxy on this host, a local load test) is exempt by default
    local = await make_server(signaling={"max_sockets_per_address": 3})
    url = base_url(local).replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(url) for _ in range(5)]
        for ws in sockets:
            await ws.close()


def test_a_caps_exempt_entry_that_is_not_a_network_is_refused_by_name() -> None:
    config = Config()
    with pytest.raises(ConfigError, match="caps_exempt"):
        apply(config, {"signaling": {"caps_exempt": ["not-a-network"]}}, "test")


async def test_participants_from_one_address_are_capped(make_server: Any) -> None:
    server = await make_server(
        signaling={"max_participants_per_address": 2, "caps_exempt": ["192.0.2.0/24"]}
    )
    url = base_url(server)
    async with Client(url, "salle", "a"), Client(url, "autre", "b"):
        third = Client(url, "salle", "c")
        try:
            with pytest.raises(SignalingError) as info:
                await third.join()
            assert info.value.code == "too_many_from_address"
        finally:
            await third.close()
    async with Client(url, "salle", "d") as again:  # the others left: a slot is free
        assert again.participant_id


async def test_a_client_that_sends_half_a_request_head_is_disconnected(
    make_server: Any,
) -> None:
    server = await make_server(http={"keepalive_timeout": 0.5})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 30) == b""
    finally:
        writer.close()
    # an idle keep-alive connection is closed too, after its answer
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_websockets_are_refused_before_descriptors_run_out_and_metrics_still_answer(
    make_server: Any,
) -> None:
    server = await make_server(signaling={"descriptor_headroom": 20})
    url = base_url(server)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 40, hard))
    try:
        async with aiohttp.ClientSession() as http:
            sockets = []
            refused = None
            for _ in range(30):  # each socket costs two descriptors here (both ends)
                try:
                    sockets.append(await http.ws_connect(url.replace("http", "ws") + "/ws"))
                except aiohttp.WSServerHandshakeError as exc:
                    refused = exc.status
                    break
            assert refused == 503
            assert len(sockets) >= 5
            async with http.get(url + "/metrics") as r:
                assert r.status == 200
                assert 'snapconf_signaling_refused_total{reason="server_busy"}' in await r.text()
            for ws in sockets:
                await ws.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_participants_whose_media_never_connects_are_removed_but_listeners_stay(
    make_server: Any,
) -> None:
    server = await make_server(signaling={"media_timeout": 5.0})
    url = base_url(server)
    async with (
        Client(url, "salle", "orateur") as speaker,
        Client(url, "salle", "auditeur") as listener,
        Client(url, "vide", "patient") as alone,
    ):
        await speaker.publish([(ToneTrack(440), "microphone")])
        conference = server.conferences.get("salle")

        def connected(client: Client) -> bool:
            p = conference.participants.get(client.participant_id)
            return p is not None and p.recv_transport.connected

        for _ in range(400):
            if connected(listener):
                break
            await asyncio.sleep(0.05)
        assert connected(listener)  # listen-only: it never publishes
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url.replace("http", "ws") + "/ws")
            await ws.send_json({"type": "join", "room": "salle", "displayName": "muet"})
            seen = []
            async for msg in ws:  # never answers the offer, never publishes
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                seen.append(json.loads(msg.data))
            assert {"type": "left", "reason": "media timeout"} in seen
        assert server.signaling_stats.media_timeouts == 1
        names = {p.display_name for p in conference.participants.values()}
        assert names == {"orateur", "auditeur"}
        assert alone.participant_id in server.conferences.get("vide").participants


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser: aiortc clients, benchmarks
        ("same", True),
        ("http://intranet.example.gouv.fr", True),  # in allowed_origins
        ("https://evil.example", False),
        ("null", False),
    ],
)
async def test_the_websocket_checks_the_browser_origin(
    make_server: Any, origin: str | None, allowed: bool
) -> None:
    server = await make_server(signaling={"allowed_origins": ["http://intranet.example.gouv.fr"]})
    url = base_url(server)
    headers = {} if origin is None else {"Origin": url if origin == "same" else origin}
    async with aiohttp.ClientSession() as http:
        if allowed:
            ws = await http.ws_connect(url.replace("http", "ws") + "/ws", headers=headers)
            await ws.send_json({"type": "ping"})
            assert json.loads((await ws.receive()).data)["type"] == "pong"
            await ws.close()
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url.replace("http", "ws") + "/ws", headers=headers)
            assert info.value.status == 403
