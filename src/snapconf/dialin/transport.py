"""SIP transports: UDP and TCP (and TLS over TCP) listeners (RFC 3261 section 18).

Both hand each raw message to ``on_message(data, source)`` synchronously; :class:`Source` says
where it came from and how to answer (a TCP answer goes back on the same connection, section
18.2.2). TCP is framed by :class:`~snapconf.dialin.message.StreamFramer`; a connection whose
stream cannot be framed is closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from snapconf.dialin.message import Limits, SipParseError, StreamFramer

__all__ = ["Source", "TcpConnection", "TcpListener", "UdpListener"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a message came from."""

    transport: str
    """``UDP``, ``TCP`` or ``TLS``."""
    host: str
    port: int
    connection: TcpConnection | None = None

    @property
    def stream(self) -> bool:
        return self.connection is not None


OnMessage = Callable[[bytes, Source], None]


class UdpListener(asyncio.DatagramProtocol):
    """One UDP socket for SIP; datagrams over ``limits.max_datagram`` are dropped unread."""

    def __init__(self, on_message: OnMessage, limits: Limits) -> None:
        self._on_message = on_message
        self._limits = limits
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped_oversize = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > self._limits.max_datagram:
            self.dropped_oversize += 1
            return
        try:
            self._on_message(data, Source("UDP", addr[0], addr[1]))
        except Exception:  # never let one message stop the listener
            log.exception("SIP UDP handler failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket error: %s", exc)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port


class TcpConnection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying SIP in both directions."""

    def __init__(
        self,
        on_message: OnMessage,
        limits: Limits,
        transport_name: str,
        on_close: Callable[[TcpConnection], None],
        idle_timeout: float = 600.0,
        admit: Callable[[TcpConnection], bool] | None = None,
    ) -> None:
        self._admit = admit
        self._on_message = on_message
        self._framer = StreamFramer(limits)
        self._name = transport_name
        self._on_close = on_close
        self._idle_timeout = idle_timeout
        self._idle: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.closed = False
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        if self._admit is not None and not self._admit(self):
            self.refused = True
            self.transport.abort()
            return
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self._idle_timeout, self.close)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self._touch()
        try:
            messages = self._framer.feed(data)
        except SipParseError as exc:
            log.debug("closing SIP %s connection from %s: %s", self._name, self.peer, exc)
            self.close()
            return
        if self._framer.keepalives:
            # RFC 5626 section 3.5.1: answer a CRLFCRLF ping with a CRLF pong
            self._framer.keepalives = 0
            self.send(b"\r\n")
        source = Source(self._name, self.peer[0], self.peer[1], self)
        for message in messages:
            try:
                self._on_message(message, source)
            except Exception:
                log.exception("SIP %s handler failed", self._name)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        self._on_close(self)


class TcpListener:
    """Accepts SIP over TCP (or TLS when ``ssl_context`` is given)."""

    def __init__(
        self,
        on_message: OnMessage,
        limits: Limits,
        ssl_context: ssl.SSLContext | None = None,
        *,
        admit: Callable[[str], bool] | None = None,
        max_connections: int = 1024,
    ) -> None:
        self._on_message = on_message
        self._limits = limits
        self._ssl = ssl_context
        self._admit = admit
        self.max_connections = max_connections
        self.name = "TLS" if ssl_context is not None else "TCP"
        self.server: asyncio.Server | None = None
        self.connections: set[TcpConnection] = set()
        self.refused = 0

    def _factory(self) -> TcpConnection:
        conn = TcpConnection(self._on_message, self._limits, self.name, self.connections.discard,
                             admit=self._accept)
        self.connections.add(conn)
        return conn

    def _accept(self, conn: TcpConnection) -> bool:
        """Refuse a connection beyond the cap or from a peer the gateway does not admit."""
        if len(self.connections) > self.max_connections or (
            self._admit is not None and not self._admit(conn.peer[0])
        ):
            self.refused += 1
            return False
        return True

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._factory, host, port, ssl=self._ssl)
        sock_port: int = self.server.sockets[0].getsockname()[1]
        return sock_port

    async def connect(self, host: str, port: int) -> TcpConnection:
        """Open an outgoing connection (for a BYE when the caller's connection is gone)."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(self._factory, host, port, ssl=self._ssl)
        return conn

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None
