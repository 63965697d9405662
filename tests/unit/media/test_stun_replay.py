"""Replayed connectivity checks: an address switch needs a fresh, authenticated check."""

from __future__ import annotations

import os

from aioice import stun as aiostun
from pylibsrtp import Policy, Session
from tests.support.media import Clock, FakeEndpoint, binding_request, media_server

from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport
from snapconf.rtp.packet import build_rtp_packet

A, B = ("10.0.0.1", 5000), ("192.0.2.9", 6000)


def _binding(transport: WebRtcTransport, use_candidate: bool = True) -> bytes:
    return binding_request(transport, use_candidate=use_candidate, controlling=7)


def _setup(**config: object) -> tuple[MediaServer, FakeEndpoint, WebRtcTransport, Clock]:
    return media_server(**config)


def _replies(endpoint: FakeEndpoint) -> list[tuple[aiostun.Message, tuple[str, int]]]:
    return [(aiostun.parse_message(data), addr) for data, addr in endpoint.egress.sent]


def test_a_replayed_nomination_from_another_address_is_ignored_and_counted():
    server, endpoint, transport, _ = _setup()
    nomination = _binding(transport)
    server.datagram_received(endpoint, nomination, A)
    server.datagram_received(endpoint, nomination, B)
    assert transport.addr == A and B not in server.by_addr
    assert server.drops["stun_replay"] == 1
    assert [addr for _, addr in _replies(endpoint)] == [A]  # the replay gets no answer


def test_a_retransmission_from_the_first_address_is_answered_again():
    server, endpoint, transport, _ = _setup()
    nomination = _binding(transport)
    server.datagram_received(endpoint, nomination, A)
    server.datagram_received(endpoint, nomination, A)
    (first, _), (second, addr) = _replies(endpoint)
    assert addr == A and second.message_class == aiostun.Class.RESPONSE
    assert first.transaction_id == second.transaction_id
    assert not server.drops


def test_a_fresh_nomination_moves_the_media_once_the_selected_address_is_silent():
    server, endpoint, transport, clock = _setup()
    server.datagram_received(endpoint, _binding(transport), A)
    clock.now += server.config.address_switch_quiet + 1  # the old network is gone
    server.datagram_received(endpoint, _binding(transport), B)
    assert transport.addr == B and transport.nominated
    assert [addr for _, addr in _replies(endpoint)] == [A, B]


def test_a_fresh_nomination_while_the_selected_address_is_alive_waits_for_media_from_it():
    server, endpoint, transport, clock = _setup()
    key = os.urandom(30)
    rx = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND)
    transport.srtp_rx = Session(rx)
    browser = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    server.datagram_received(endpoint, _binding(transport), A)
    clock.now += 1
    server.datagram_received(endpoint, _binding(transport), B)
    assert transport.addr == A and transport.pending_addrs == {B}  # answered, not yet selected
    assert [addr for _, addr in _replies(endpoint)] == [A, B]
    packet = browser.protect(
        build_rtp_packet(payload_type=111, sequence_number=1, timestamp=1, ssrc=9, payload=b"x")
    )
    server.datagram_received(endpoint, packet, A)  # the old address still sends: stays
    assert transport.addr == A
    server.datagram_received(endpoint, packet[:-1] + b"\x00", B)  # forged: does not move
    server.datagram_received(endpoint, packet, B)  # replayed: refused by libsrtp
    assert transport.addr == A and server.drops["srtp_auth"] == 2
    fresh = browser.protect(
        build_rtp_packet(payload_type=111, sequence_number=2, timestamp=9, ssrc=9, payload=b"x")
    )
    server.datagram_received(endpoint, fresh, B)
    assert transport.addr == B and not transport.pending_addrs


def test_of_two_addresses_nominated_in_turn_the_one_the_media_comes_from_is_selected():
    server, endpoint, transport, clock = _setup()
    key = os.urandom(30)
    transport.srtp_rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    browser = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    c = ("198.51.100.3", 7000)
    server.datagram_received(endpoint, _binding(transport), A)
    clock.now += 1
    server.datagram_received(endpoint, _binding(transport), B)
    server.datagram_received(endpoint, _binding(transport), c)
    assert transport.addr == A and transport.pending_addrs == {B, c}
    rtcp = browser.protect_rtcp(bytes([0x80, 201, 0, 1]) + (9).to_bytes(4, "big"))
    server.datagram_received(endpoint, rtcp, B)  # a receiver report from where it moved
    assert transport.addr == B and not transport.pending_addrs


def test_a_check_without_nomination_from_another_address_never_moves_a_nominated_pair():
    server, endpoint, transport, clock = _setup()
    server.datagram_received(endpoint, _binding(transport), A)
    clock.now += server.config.address_switch_quiet + 1
    server.datagram_received(endpoint, _binding(transport, use_candidate=False), B)
    assert transport.addr == A and not transport.pending_addrs


def test_consent_checks_from_the_selected_address_keep_a_transport_alive():
    server, endpoint, transport, clock = _setup()
    server.datagram_received(endpoint, _binding(transport), A)
    for _ in range(10):
        clock.now += 5
        server.datagram_received(endpoint, _binding(transport, use_candidate=False), A)
        server.check_transports([transport], clock.now)
    assert not transport.closed and transport.addr == A
    assert len(_replies(endpoint)) == 11


def test_the_remembered_transaction_ids_are_bounded():
    server, endpoint, transport, _ = _setup(stun_transaction_memory=8)
    checks = [_binding(transport, use_candidate=False) for _ in range(20)]
    for check in checks:
        server.datagram_received(endpoint, check, A)
    server.datagram_received(endpoint, checks[-1], B)  # recent: still known as A's
    assert server.drops["stun_replay"] == 1
    assert len(transport._transactions) == 8
