"""The impairment relay on real sockets: one upstream address per client, replies to the right one."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.support.netrelay import LinkConfig, Relay


class _Echo(asyncio.DatagramProtocol):
    """Answers every datagram with ``<source port>:<payload>`` and remembers the sources."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.sources: list[tuple[str, int]] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sources.append(addr[:2])
        assert self.transport is not None
        self.transport.sendto(f"{addr[1]}:".encode() + data, addr)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr[:2]))


async def _client(loop: asyncio.AbstractEventLoop) -> tuple[asyncio.DatagramTransport, _Client]:
    transport, protocol = await loop.create_datagram_endpoint(_Client, local_addr=("127.0.0.1", 0))
    return transport, protocol


@pytest.fixture
async def echo() -> AsyncIterator[_Echo]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


async def test_two_clients_get_distinct_upstream_addresses_and_their_own_replies(
    echo: _Echo,
) -> None:
    loop = asyncio.get_running_loop()
    assert echo.transport is not None
    server = echo.transport.get_extra_info("sockname")[:2]
    async with Relay(("127.0.0.2", 0), server) as relay:
        (ta, a), (tb, b) = await _client(loop), await _client(loop)
        for i in range(3):
            ta.sendto(b"a%d" % i, relay.address)
            tb.sendto(b"b%d" % i, relay.address)
        replies_a = [await asyncio.wait_for(a.received.get(), 5) for _ in range(3)]
        replies_b = [await asyncio.wait_for(b.received.get(), 5) for _ in range(3)]

        upstream = sorted(set(echo.sources))
        assert len(upstream) == 2
        # each client hears only its own echoes, from the address it sent to
        assert {addr for _, addr in replies_a + replies_b} == {relay.address}
        port_a = {data.split(b":")[0] for data, _ in replies_a}
        port_b = {data.split(b":")[0] for data, _ in replies_b}
        assert len(port_a) == 1 and len(port_b) == 1 and port_a != port_b
        assert sorted(data.split(b":")[1] for data, _ in replies_a) == [b"a0", b"a1", b"a2"]
        assert sorted(data.split(b":")[1] for data, _ in replies_b) == [b"b0", b"b1", b"b2"]
        # the address the server saw leads back to its client (what a browser learns as
        # its peer-reflexive candidate)
        client_a = ta.get_extra_info("sockname")[:2]
        client_b = tb.get_extra_info("sockname")[:2]
        seen_a = ("127.0.0.1", int(port_a.pop()))
        seen_b = ("127.0.0.1", int(port_b.pop()))
        assert relay.resolve(seen_a) == client_a
        assert relay.resolve(seen_b) == client_b
        assert relay.resolve(client_a) == client_a
        assert relay.resolve(("127.0.0.1", 1)) is None
        assert relay.stats()["up"].forwarded == 6
        assert relay.stats()["down"].forwarded == 6
        ta.close()
        tb.close()


async def test_a_peer_given_its_own_downlink_loses_alone() -> None:
    loop = asyncio.get_running_loop()
    echo_transport, _echo = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    server = echo_transport.get_extra_info("sockname")[:2]
    try:
        async with Relay(("127.0.0.2", 0), server, seed=1) as relay:
            (ta, a), (tb, b) = await _client(loop), await _client(loop)
            lossy = ta.get_extra_info("sockname")[:2]
            relay.set_link(lossy, down=LinkConfig(loss=1.0))
            for i in range(20):
                ta.sendto(b"x%d" % i, relay.address)
                tb.sendto(b"y%d" % i, relay.address)
            got_b = [await asyncio.wait_for(b.received.get(), 5) for _ in range(20)]
            await asyncio.sleep(0.2)

            assert len(got_b) == 20
            assert a.received.empty()
            assert relay.stats(lossy)["down"].dropped_loss == 20
            assert relay.stats(lossy)["up"].forwarded == 20
            assert relay.stats()["down"].forwarded == 20
            ta.close()
            tb.close()
    finally:
        echo_transport.close()


async def test_a_capped_downlink_delivers_at_its_rate_over_real_sockets() -> None:
    loop = asyncio.get_running_loop()
    echo_transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    server = echo_transport.get_extra_info("sockname")[:2]
    try:
        async with Relay(
            ("127.0.0.2", 0), server, down=LinkConfig(rate=800_000, queue_ms=50)
        ) as relay:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            # 100 packets of 1000 bytes at once: 0.8 Mbit at 800 kbit/s would take 1 s,
            # but the 50 ms queue holds 5 behind the one on the link
            for _ in range(100):
                sock.sendto(b"z" * 1000, relay.address)
            await asyncio.sleep(0.5)
            received = 0
            while True:
                try:
                    sock.recv(2000)
                except BlockingIOError:
                    break
                received += 1
            sock.close()

            down = relay.stats()["down"]
            assert down.packets_in == 100
            assert received == down.forwarded
            assert 5 <= down.forwarded <= 7
            assert down.dropped_queue == 100 - down.forwarded
    finally:
        echo_transport.close()
