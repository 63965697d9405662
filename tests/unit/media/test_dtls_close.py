"""A peer's DTLS close_notify (RFC 5246 §7.2.1) is a normal close, not a failure."""

from OpenSSL import SSL
from tests.unit.media.test_dtls_handshake import BROWSER, _client, _handshake
from tests.unit.media.test_ice_lite import _binding, _setup


def _finish(endpoint, client: SSL.Connection) -> None:
    """Give the client the server's last flight, so that its side is connected too."""
    for datagram, addr in endpoint.egress.sent:
        if addr == BROWSER and 19 < datagram[0] < 64:
            client.bio_write(datagram)
    endpoint.egress.sent.clear()
    client.do_handshake()


def _close_notify(client: SSL.Connection) -> list[bytes]:
    client.shutdown()
    out = []
    while True:
        try:
            out.append(client.bio_read(1500))
        except SSL.WantReadError:
            return out


def test_a_close_notify_from_the_peer_closes_the_transport_as_closed_by_peer():
    server, endpoint, transport = _setup()
    closed = []
    transport._on_close = lambda t, reason: closed.append(reason)
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=False)
    _finish(endpoint, client)
    assert transport.connected

    datagrams = _close_notify(client)
    assert datagrams
    for datagram in datagrams:
        server.datagram_received(endpoint, datagram, BROWSER)

    assert transport.closed and closed == ["closed by peer"]
    assert "dtls_failed" not in server.drops and sum(server.drops.values()) == 0


def test_a_close_notify_after_the_transport_closed_is_not_counted_as_a_drop():
    """The page's ``leave`` closed the transport first; its close_notify still arrives."""
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=False)
    _finish(endpoint, client)
    transport.close("participant left")

    datagrams = _close_notify(client)
    assert datagrams
    for datagram in datagrams:
        server.datagram_received(endpoint, datagram, BROWSER)

    assert sum(server.drops.values()) == 0, server.drops
