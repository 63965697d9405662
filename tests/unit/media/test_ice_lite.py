"""ICE-lite on the shared port: who is bound to which transport, and where replies go."""

from aioice import stun as aiostun
from tests.support.media import Clock, FakeEndpoint, binding_request, media_server

from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport


def _binding(transport: WebRtcTransport, use_candidate: bool, pwd: str | None = None) -> bytes:
    return binding_request(transport, use_candidate=use_candidate, pwd=pwd)


def _setup() -> tuple[MediaServer, FakeEndpoint, WebRtcTransport]:
    server, endpoint, transport, _ = media_server(Clock(5.0))
    return server, endpoint, transport


def test_the_remote_address_follows_use_candidate_and_replies_go_to_each_source():
    server, endpoint, transport = _setup()
    a, b = ("10.0.0.1", 5000), ("192.0.2.9", 6000)
    server.datagram_received(endpoint, _binding(transport, use_candidate=False), a)
    assert transport.addr == a and server.by_addr[a][0] is transport
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), b)
    assert transport.addr == b and transport.nominated
    server.datagram_received(endpoint, _binding(transport, use_candidate=False), a)
    assert transport.addr == b  # a check without nomination does not move a nominated pair
    replies = [(aiostun.parse_message(d), addr) for d, addr in endpoint.egress.sent]
    assert [addr for _, addr in replies] == [a, b, a]
    assert all(r.attributes["XOR-MAPPED-ADDRESS"] == addr for r, addr in replies)
    assert all(r.check_message_integrity(transport.ice_pwd.encode()) for r, _ in replies)


def test_a_wrong_password_binds_nothing_and_is_answered_401():
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, True, pwd="x" * 24), ("10.0.0.1", 1))
    assert transport.addr is None and not server.by_addr
    assert server.drops["stun_integrity"] == 1
    ((reply, _),) = endpoint.egress.sent
    assert aiostun.parse_message(reply).error_code == 401


def test_closing_a_transport_forgets_its_addresses_and_credentials():
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, True), ("10.0.0.1", 1))
    transport.close()
    transport.close()
    assert not server.by_addr and not server.by_ufrag
    server.datagram_received(endpoint, b"\x80\x60" + bytes(20), ("10.0.0.1", 1))
    assert server.drops["unknown_address"] == 1


def test_consent_expires_only_for_transports_whose_peer_was_reached():
    server, endpoint, transport = _setup()
    idle = WebRtcTransport(server, server.certificate, transport_id="listen-only")
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), ("10.0.0.1", 1))
    server.check_transports([transport, idle], now=5.0 + 29)
    assert not transport.closed and not idle.closed
    server.check_transports([transport, idle], now=5.0 + 31)
    assert transport.closed  # reached once, silent for 31 s: consent expired (RFC 7675)
    assert not idle.closed  # never reached: waits for its peer, not for a timeout
