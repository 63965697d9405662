"""A source whose STUN keeps failing is throttled before its HMAC is computed."""

from __future__ import annotations

from aioice import stun as aiostun
from tests.support.media import Clock, FakeEndpoint, binding_request, media_server

from snapconf.media.server import MediaServer
from snapconf.media.stun import FailureLimiter, source_key
from snapconf.media.transport import WebRtcTransport

FLOODER = ("203.0.113.5", 4000)
PEER = ("198.51.100.7", 5000)


def _binding(transport: WebRtcTransport, pwd: str | None = None) -> bytes:
    return binding_request(transport, pwd=pwd)


def _setup(**config: object) -> tuple[MediaServer, FakeEndpoint, WebRtcTransport, Clock]:
    return media_server(**config)


def _errors_to(endpoint: FakeEndpoint, addr: tuple[str, int]) -> int:
    return sum(
        1
        for data, to in endpoint.egress.sent
        if to == addr and aiostun.parse_message(data).message_class == aiostun.Class.ERROR
    )


def test_a_source_spends_its_burst_then_regains_tokens_at_the_rate():
    limiter = FailureLimiter(rate=2.0, burst=3, max_sources=10)
    assert [limiter.spend("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allows("a", 0.0) and limiter.allows("b", 0.0)
    assert limiter.allows("a", 0.5)  # one token back after 1/rate seconds
    assert limiter.spend("a", 0.5) and not limiter.spend("a", 0.5)
    assert limiter.spend("a", 100.0) and limiter.spend("a", 100.0)  # refilled, to the burst


def test_the_limiter_forgets_the_source_that_failed_least_recently():
    limiter = FailureLimiter(rate=0.001, burst=1, max_sources=2)
    limiter.spend("old", 0.0)
    limiter.spend("recent", 1.0)
    limiter.spend("old", 2.0)  # failing again makes "old" the most recent
    limiter.spend("new", 3.0)
    assert len(limiter) == 2
    assert limiter.allows("recent", 3.0)  # forgotten: a fresh bucket
    assert not limiter.allows("old", 3.0) and not limiter.allows("new", 3.0)


def test_sources_are_counted_per_ipv4_address_and_per_ipv6_64():
    assert source_key("192.0.2.1") != source_key("192.0.2.2")
    assert source_key("2001:db8:1:2::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.1") != source_key("::ffff:192.0.2.2")


def test_a_wrong_password_flood_is_answered_for_the_burst_then_dropped_unread():
    server, endpoint, transport, _ = _setup(stun_failure_burst=5)
    wrong = _binding(transport, pwd="w" * 24)
    for _ in range(200):
        server.datagram_received(endpoint, wrong, FLOODER)
    assert server.drops["stun_integrity"] == 5
    assert server.drops["stun_rate_limited"] == 195
    assert _errors_to(endpoint, FLOODER) == 5
    server.datagram_received(endpoint, _binding(transport), PEER)  # the real peer
    assert transport.addr == PEER
    assert endpoint.egress.sent[-1][1] == PEER


def test_a_throttled_source_is_read_again_once_its_tokens_come_back():
    server, endpoint, transport, clock = _setup(stun_failure_burst=2, stun_failures_per_second=1)
    wrong = _binding(transport, pwd="w" * 24)
    for _ in range(3):
        server.datagram_received(endpoint, wrong, FLOODER)
    assert server.drops["stun_rate_limited"] == 1
    clock.now += 1.0
    server.datagram_received(endpoint, _binding(transport), FLOODER)
    assert transport.addr == FLOODER


def test_a_bound_peer_keeps_its_checks_answered_while_its_address_floods():
    server, endpoint, transport, _ = _setup(stun_failure_burst=3)
    other = WebRtcTransport(server, server.certificate, transport_id="other")
    server.datagram_received(endpoint, _binding(transport), PEER)
    for _ in range(50):  # wrong passwords from the peer's own address (spoofed, or a NAT)
        server.datagram_received(endpoint, _binding(transport, pwd="w" * 24), PEER)
    assert _errors_to(endpoint, PEER) == 3  # error replies stop at the burst
    before = len(endpoint.egress.sent)
    server.datagram_received(endpoint, _binding(transport), PEER)
    assert len(endpoint.egress.sent) == before + 1  # its consent check is still answered
    assert aiostun.parse_message(endpoint.egress.sent[-1][0]).message_class == (
        aiostun.Class.RESPONSE
    )
    server.datagram_received(endpoint, _binding(other), PEER)  # but nothing else is read
    assert other.addr is None and server.drops["stun_rate_limited"] == 1


def test_unknown_ufrags_and_malformed_stun_spend_the_same_budget():
    server, endpoint, transport, _ = _setup(stun_failure_burst=4)
    msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
    msg.attributes["USERNAME"] = "nobody:browser"
    msg.add_message_integrity(b"x" * 24)
    for _ in range(2):
        server.datagram_received(endpoint, bytes(msg), FLOODER)
        server.datagram_received(endpoint, b"\x00\x01\x00\x00" + bytes(16), FLOODER)
    server.datagram_received(endpoint, _binding(transport), FLOODER)
    assert server.drops["stun_unknown_ufrag"] == 2 and server.drops["stun_malformed"] == 2
    assert server.drops["stun_rate_limited"] == 1 and transport.addr is None


def test_a_rate_of_zero_turns_the_limit_off():
    server, endpoint, transport, _ = _setup(stun_failures_per_second=0)
    for _ in range(100):
        server.datagram_received(endpoint, _binding(transport, pwd="w" * 24), FLOODER)
    assert server.drops["stun_integrity"] == 100 and _errors_to(endpoint, FLOODER) == 100
