"""The egress: datagrams queued, SRTP-protected in place, and sent with sendmmsg."""

import asyncio
import os
import socket
from collections import Counter

import pytest
from pylibsrtp import Policy, Session

from snapconf.media.config import MediaConfig
from snapconf.media.egress import Destination, Egress, SrtpError, SrtpSender, srtp_context
from snapconf.media.server import MediaServer
from snapconf.rtp.packet import build_rtp_packet
from snapconf.rtp.rtcp import RtcpPli

GCM = Policy.SRTP_PROFILE_AEAD_AES_128_GCM


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while _OPEN:
        _OPEN.pop().close()


def _socket(family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    _OPEN.append(sock)
    return sock


def _receiver() -> socket.socket:
    sock = _socket()
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    return sock


def _pending(sock: socket.socket) -> bytes | None:
    sock.setblocking(False)
    try:
        return sock.recv(4096)
    except BlockingIOError:
        return None
    finally:
        sock.settimeout(1.0)


def _egress(capacity: int = 64) -> tuple[Egress, list[Egress], Counter[str]]:
    sock = _socket()
    firsts: list[Egress] = []
    drops: Counter[str] = Counter()

    def on_drop(reason: str, count: int) -> None:
        drops[reason] += count

    return Egress(sock, on_first=firsts.append, on_drop=on_drop, capacity=capacity), firsts, drops


def _sessions(key: bytes, profile: int = GCM) -> tuple[Session, Session]:
    out = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    inbound = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    return Session(out), Session(inbound)


def _rtp(seq: int, size: int = 1100) -> bytes:
    return build_rtp_packet(
        payload_type=96,
        sequence_number=seq,
        timestamp=seq * 3000,
        ssrc=0x1234,
        payload=os.urandom(size),
    )


def test_queued_datagrams_wait_for_flush_then_arrive_in_order_at_each_destination():
    egress, firsts, drops = _egress()
    a, b = _receiver(), _receiver()
    to_a, to_b = Destination(a.getsockname()), Destination(b.getsockname())
    egress.send(b"one", to_a)
    egress.send(b"two", to_b)
    egress.send(b"three", to_a)
    assert firsts == [egress] and egress.count == 3  # the owner is told once per batch
    assert _pending(a) is None  # nothing leaves before the flush
    egress.flush()
    assert [a.recv(100), a.recv(100), b.recv(100)] == [b"one", b"three", b"two"]
    assert egress.count == 0 and egress.datagrams == 3 and not drops


def test_srtp_protected_in_place_equals_pylibsrtp_and_unprotects_to_the_packet():
    key = os.urandom(28)
    ours, receiver_session = _sessions(key)
    reference, _ = _sessions(key)
    egress, _, _ = _egress()
    sock = _receiver()
    dest = Destination(sock.getsockname())
    packets = [_rtp(seq) for seq in range(100, 105)]
    sender = SrtpSender(egress, srtp_context(ours), dest)
    for packet in packets:  # the header and the payload given apart, as consumers do
        sender.send_rtp(packet[:12], packet[12:])
    egress.flush()
    assert egress.bytes == sum(len(p) + 16 for p in packets)
    for packet in packets:
        wire = sock.recv(4096)
        assert len(wire) == len(packet) + 16  # the AES-GCM tag (RFC 7714 §7)
        assert wire == reference.protect(packet)
        assert receiver_session.unprotect(wire) == packet


def test_srtcp_protected_in_place_unprotects_to_the_compound_packet():
    key = os.urandom(30)
    ours, receiver_session = _sessions(key, Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    egress, _, _ = _egress()
    sock = _receiver()
    rtcp = bytes(RtcpPli(sender_ssrc=1, media_ssrc=2))
    egress.send_srtcp(rtcp, srtp_context(ours), Destination(sock.getsockname()))
    egress.flush()
    assert receiver_session.unprotect_rtcp(sock.recv(4096)) == rtcp


def test_a_full_batch_is_sent_before_the_next_datagram_is_queued():
    egress, firsts, _ = _egress(capacity=4)
    sock = _receiver()
    dest = Destination(sock.getsockname())
    for i in range(10):
        egress.send(bytes([i]), dest)
    egress.flush()
    assert [sock.recv(10) for _ in range(10)] == [bytes([i]) for i in range(10)]
    assert len(firsts) == 3  # batches of 4, 4 and 2


def test_a_datagram_the_kernel_refuses_is_counted_and_the_rest_of_the_batch_goes():
    egress, _, drops = _egress()
    sock = _receiver()
    good = Destination(sock.getsockname())
    egress.send(b"before", good)
    egress.send(b"refused", Destination(("::1", 9)))  # IPv6 address on an IPv4 socket
    egress.send(b"after", good)
    egress.flush()
    assert [sock.recv(100), sock.recv(100)] == [b"before", b"after"]
    assert drops == Counter({"send_error": 1})


def test_srtp_failure_and_oversized_packets_raise_and_queue_nothing():
    key = os.urandom(28)
    ours, _ = _sessions(key)
    egress, _, _ = _egress()
    dest = Destination(("127.0.0.1", 9))
    sender = SrtpSender(egress, srtp_context(ours), dest)
    with pytest.raises(ValueError, match="too long"):
        sender.send_rtp(_rtp(1, size=1950))
    with pytest.raises(SrtpError):
        sender.send_rtp(b"\x80\x60")  # shorter than an RTP header
    assert egress.count == 0


def test_a_closed_egress_drops_and_counts_what_is_queued_after_it_closed():
    egress, _, drops = _egress()
    sock = _receiver()
    dest = Destination(sock.getsockname())
    egress.send(b"sent at close", dest)
    egress.close()
    egress.close()
    assert sock.recv(100) == b"sent at close"
    egress.send(b"late", dest)
    egress.flush()
    assert drops == Counter({"socket_closed": 1}) and _pending(sock) is None


def test_ipv6_destinations_are_reached_from_an_ipv6_socket():
    receiver = _socket(socket.AF_INET6)
    try:
        receiver.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    receiver.settimeout(1.0)
    sender = _socket(socket.AF_INET6)
    egress = Egress(sender, on_first=lambda e: None, on_drop=lambda r, n: None)
    egress.send(b"over ipv6", Destination(receiver.getsockname()))
    egress.flush()
    assert receiver.recv(100) == b"over ipv6"


async def test_a_send_outside_a_receive_leaves_on_the_next_turn_of_the_loop():
    server = MediaServer(MediaConfig(port=0), clock=lambda: 0.0)
    await server.start()
    try:
        sock = _receiver()
        dest = Destination(sock.getsockname())
        server.egress_for(dest.addr).send(b"from a timer", dest)
        assert _pending(sock) is None
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert _pending(sock) == b"from a timer"
        assert server.totals_out() == (1, len(b"from a timer"))
    finally:
        await server.close()


async def test_what_a_received_datagram_causes_has_left_when_the_handler_returns():
    from aioice import stun as aiostun
    from tests.unit.media.test_ice_lite import _binding

    from snapconf.media.transport import WebRtcTransport

    server = MediaServer(MediaConfig(port=0), clock=lambda: 0.0)
    await server.start()
    try:
        transport = WebRtcTransport(server, server.certificate, transport_id="t")
        browser = _receiver()
        # synchronously, as uvloop calls it: no turn of the event loop in between
        server.datagram_received(
            server.endpoints[0], _binding(transport, use_candidate=True), browser.getsockname()
        )
        reply = _pending(browser)
        assert reply is not None
        assert aiostun.parse_message(reply).message_class == aiostun.Class.RESPONSE
        assert server.totals_out()[0] == 1
    finally:
        await server.close()
