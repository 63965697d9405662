"""DTLS-SRTP on a WebRtcTransport against a real pyOpenSSL DTLS client (RFC 5764)."""

import contextlib

import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate
from OpenSSL import SSL
from tests.unit.media.test_ice_lite import _binding, _setup

from snapconf.media.dtls import Fingerprint
from snapconf.media.router import HISTORY_SIZE
from snapconf.rtp.packet import build_rtp_packet

BROWSER = ("10.0.0.7", 40000)


def _client() -> tuple[SSL.Connection, Fingerprint]:
    certificate = RTCCertificate.generateCertificate()
    connection = SSL.Connection(certificate._create_ssl_context(srtp_profiles=SRTP_PROFILES), None)
    connection.set_connect_state()
    sha256 = next(f for f in certificate.getFingerprints() if f.algorithm == "sha-256")
    return connection, Fingerprint("sha-256", sha256.value)


def _client_flight(client: SSL.Connection) -> list[bytes]:
    with contextlib.suppress(SSL.WantReadError):
        client.do_handshake()
    out = []
    while True:
        try:
            out.append(client.bio_read(1500))
        except SSL.WantReadError:
            return out


def _handshake(server, endpoint, transport, client, fingerprint, *, answer_late: bool) -> None:
    flight = _client_flight(client)  # ClientHello
    if answer_late:
        for datagram in flight:  # arrives before the browser's answer is applied
            server.datagram_received(endpoint, datagram, BROWSER)
        transport.set_remote("browser", [fingerprint])
    else:
        transport.set_remote("browser", [fingerprint])
        for datagram in flight:
            server.datagram_received(endpoint, datagram, BROWSER)
    for _ in range(6):
        replies = [d for d, addr in endpoint.egress.sent if addr == BROWSER and 19 < d[0] < 64]
        endpoint.egress.sent.clear()
        for datagram in replies:
            client.bio_write(datagram)
        for datagram in _client_flight(client):
            server.datagram_received(endpoint, datagram, BROWSER)
        if transport.srtp_tx is not None:
            return


def test_the_handshake_yields_srtp_keys_both_sides_agree_on():
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=False)
    assert transport.srtp_tx is not None and transport.srtp_rx is not None
    # the client offers all of aiortc's profiles; the server's preference decides (RFC 5764)
    assert client.get_selected_srtp_profile() == b"SRTP_AEAD_AES_128_GCM"
    assert transport.dtls is not None and transport.dtls.srtp_profile == "SRTP_AEAD_AES_128_GCM"


def test_a_client_hello_that_beats_the_answer_is_kept_and_replayed():
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=True)
    assert transport.srtp_tx is not None
    assert server.drops["dtls_before_sdp"] == 0


def test_a_certificate_that_does_not_match_the_sdp_fingerprint_closes_the_transport():
    server, endpoint, transport = _setup()
    closed = []
    transport._on_close = lambda t, reason: closed.append(reason)
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, _ = _client()
    _, other = _client()
    _handshake(server, endpoint, transport, client, other, answer_late=False)
    assert transport.srtp_tx is None and transport.closed
    assert closed == ["dtls failed"] and server.drops["dtls_failed"] == 1


def test_the_send_session_takes_a_retransmission_as_old_as_the_router_history():
    server, endpoint, transport = _setup()
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=False)
    srtp = transport.srtp_tx
    assert srtp is not None
    packets = [
        build_rtp_packet(
            payload_type=96, sequence_number=seq, timestamp=seq, ssrc=7, payload=b"x" * 100
        )
        for seq in range(HISTORY_SIZE + 10)
    ]
    for packet in packets:
        srtp.protect(packet)
    # a NACK for the oldest packet the router still has: sent again under its own index
    srtp.protect(packets[10])
    # older than the history: libsrtp's send window refuses it, as the router would anyway
    with pytest.raises(pylibsrtp.Error):
        srtp.protect(packets[0])
