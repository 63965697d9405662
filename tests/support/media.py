"""A media server without sockets, for tests of the shared port's STUN/ICE handling.

Datagrams are handed to ``MediaServer.datagram_received`` with a :class:`FakeEndpoint`,
whose egress keeps what the server sends and where; the clock is set by the test.
"""

from __future__ import annotations

from aioice import stun as aiostun

from snapconf.media.config import MediaConfig
from snapconf.media.egress import Destination
from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport


class FakeUdp:
    def get_extra_info(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", 10000)


class RecordingEgress:
    """Keeps what the server sends (STUN, DTLS), with its destination address."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def send(self, data: bytes, dest: Destination) -> None:
        self.sent.append((data, dest.addr))  # type: ignore[arg-type]


class FakeEndpoint:
    def __init__(self) -> None:
        self.transport = FakeUdp()
        self.egress = RecordingEgress()


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def media_server(
    clock: Clock | None = None, **config: object
) -> tuple[MediaServer, FakeEndpoint, WebRtcTransport, Clock]:
    """A server with one fake socket and one transport on it."""
    clock = clock or Clock()
    server = MediaServer(MediaConfig(**config), clock=clock)  # type: ignore[arg-type]
    endpoint = FakeEndpoint()
    server.endpoints.append(endpoint)  # type: ignore[arg-type]
    transport = WebRtcTransport(server, server.certificate, transport_id="t")
    return server, endpoint, transport, clock


def binding_request(
    transport: WebRtcTransport,
    *,
    use_candidate: bool = True,
    pwd: str | None = None,
    controlling: int | None = None,
) -> bytes:
    """A browser's Binding request to ``transport`` (RFC 8445 §7.1), signed with ``pwd``."""
    msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
    msg.attributes["USERNAME"] = f"{transport.ice_ufrag}:browser"
    msg.attributes["PRIORITY"] = 100
    if controlling is not None:
        msg.attributes["ICE-CONTROLLING"] = controlling
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity((pwd or transport.ice_pwd).encode())
    return bytes(msg)
