"""What a publisher's transport makes of simulcast layers, RTX and transport-wide
sequence numbers (RFC 8852, RFC 4588, draft-holmer-rmcat-transport-wide-cc-extensions-01)."""

import os

from pylibsrtp import Policy, Session
from tests.support.media import FakeEndpoint, binding_request, media_server

from snapconf.media.router import (
    EXT_MID,
    EXT_RID,
    Codec,
    Producer,
)
from snapconf.media.transport import WebRtcTransport
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header
from snapconf.rtp.rtcp import parse_rtcp
from snapconf.rtp.rtx import wrap_rtx
from snapconf.rtp.twcc import RtcpTransportCc

VP8 = Codec("VP8", 90000, 1, (), ("nack", "nack pli", "transport-cc"))
A = ("198.51.100.1", 5000)
MID, RID, RRID, TWCC = 4, 10, 11, 3


class Tap:
    def __init__(self) -> None:
        self.packets: list[tuple[int, int]] = []  # (ssrc, seq) as the producer saw them

    def __call__(self, data: bytes, header, level) -> None:
        self.packets.append((header.ssrc, header.sequence_number))


def _publisher(rids=(), rtx=97):
    server, endpoint, transport, clock = media_server()
    key = os.urandom(30)
    transport.srtp_rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    browser = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    server.datagram_received(endpoint, binding_request(transport), A)
    transport.mid_extension_id = MID
    transport.rid_extension_id = RID
    transport.repaired_rid_extension_id = RRID
    producer = Producer(
        producer_id="t1",
        kind="video",
        source="camera",
        codec=VP8,
        payload_type=96,
        ssrc=None,
        mid="1",
        extension_ids={MID: EXT_MID, RID: EXT_RID},
        sink=transport,
        owner_id="p1",
        clock=clock,
        rids=rids,
        rtx_payload_type=rtx,
    )
    transport.add_producer(producer)
    tap = Tap()
    producer.add_tap(tap)
    return server, endpoint, transport, browser, producer, tap


def _send(server, endpoint: FakeEndpoint, browser: Session, packet: bytes) -> None:
    server.datagram_received(endpoint, browser.protect(packet), A)


def _rtp(seq, ssrc, pt=96, extensions=None, payload=b"\x10frame"):
    return build_rtp_packet(
        payload_type=pt,
        sequence_number=seq,
        timestamp=seq * 3000,
        ssrc=ssrc,
        payload=payload,
        extensions=extensions,
    )


def test_each_simulcast_layer_is_bound_to_its_stream_by_its_rid():
    server, endpoint, _transport, browser, producer, tap = _publisher(rids=("q", "h", "f"))
    for rid, ssrc in ((b"f", 30), (b"q", 10), (b"h", 20)):
        _send(server, endpoint, browser, _rtp(1, ssrc, extensions=[(MID, b"1"), (RID, rid)]))
    # later packets carry no extension: their SSRC is known now
    _send(server, endpoint, browser, _rtp(2, 20))
    assert [s.ssrc for s in producer.streams] == [10, 20, 30]
    assert [s.stats.packets for s in producer.streams] == [1, 2, 1]
    assert tap.packets == [(30, 1), (10, 1), (20, 1), (20, 2)]


def test_a_simulcast_packet_without_a_known_rid_is_dropped_and_counted():
    server, endpoint, _transport, browser, _producer, tap = _publisher(rids=("q", "h"))
    _send(server, endpoint, browser, _rtp(1, 10, extensions=[(MID, b"1"), (RID, b"zz")]))
    _send(server, endpoint, browser, _rtp(2, 11, extensions=[(MID, b"1")]))
    assert not tap.packets and server.drops["unknown_ssrc"] == 2


def test_a_publishers_rtx_packet_is_unwrapped_into_its_layer_and_fills_the_gap():
    server, endpoint, transport, browser, producer, tap = _publisher(rids=("q", "h"))
    _send(server, endpoint, browser, _rtp(1, 10, extensions=[(MID, b"1"), (RID, b"q")]))
    _send(server, endpoint, browser, _rtp(3, 10))
    lost = _rtp(2, 10, payload=b"\x10lost one")
    rtx = wrap_rtx(lost, parse_rtp_header(lost), 97, 500, 77)
    header = parse_rtp_header(rtx)
    with_ext = build_rtp_packet(
        payload_type=97,
        sequence_number=500,
        timestamp=header.timestamp,
        ssrc=77,
        payload=rtx[header.payload_offset :],
        extensions=[(MID, b"1"), (RRID, b"q")],
    )
    _send(server, endpoint, browser, with_ext)
    assert tap.packets == [(10, 1), (10, 3), (10, 2)]
    low = producer.streams[0]
    assert low.rtx_ssrc == 77 and low.stats.rtx_received == 1 and transport.stats.rtx_in == 1
    history = low.history
    assert history is not None and history[2][0][-8:] == b"lost one"


def _rtx_copy(original: bytes, rtx_seq: int, rrid: bytes = b"q") -> bytes:
    header = parse_rtp_header(original)
    rtx = wrap_rtx(original, header, 97, rtx_seq, 77)
    rtx_header = parse_rtp_header(rtx)
    return build_rtp_packet(
        payload_type=97,
        sequence_number=rtx_seq,
        timestamp=rtx_header.timestamp,
        ssrc=77,
        payload=rtx[rtx_header.payload_offset :],
        extensions=[(MID, b"1"), (RRID, rrid)],
    )


def test_an_rtx_copy_of_a_packet_that_arrived_is_neither_forwarded_nor_counted():
    # Chromium probes with RTX copies of packets it just sent: forwarded, every receiver
    # would get them twice; counted, the receiver report's cumulative loss goes negative
    server, endpoint, _transport, browser, producer, tap = _publisher(rids=("q", "h"))
    first = _rtp(1, 10, extensions=[(MID, b"1"), (RID, b"q")])
    _send(server, endpoint, browser, first)
    _send(server, endpoint, browser, _rtp(2, 10))
    _send(server, endpoint, browser, _rtx_copy(first, 900))
    assert tap.packets == [(10, 1), (10, 2)]
    low = producer.streams[0]
    assert low.stats.duplicates == 1 and low.stats.rtx_received == 0
    block = low.report_block(server.clock())
    assert block is not None and block.packets_lost == 0 and block.fraction_lost == 0


def test_an_rtx_padding_probe_is_counted_and_goes_nowhere():
    server, endpoint, transport, browser, _producer, tap = _publisher()
    _send(server, endpoint, browser, _rtp(1, 10, extensions=[(MID, b"1")]))
    padding = _rtp(1, 55, pt=97, extensions=[(MID, b"1")], payload=b"")
    padding = bytes([padding[0] | 0x20]) + padding[1:] + bytes(99) + b"\x64"
    _send(server, endpoint, browser, padding)
    assert tap.packets == [(10, 1)] and transport.stats.rtx_padding_in == 1


def test_a_publisher_stamping_transport_wide_numbers_gets_feedback_naming_what_arrived():
    server, endpoint, transport, browser, _producer, _tap = _publisher()
    transport.enable_transport_cc_feedback(TWCC)
    sent: list[bytes] = []
    transport.send_rtcp = sent.append  # type: ignore[method-assign]
    transport.srtp_tx = transport.srtp_rx  # "connected": feedback is sent
    for i, seq in enumerate((100, 101, 103)):
        server.clock.now += 0.01  # type: ignore[attr-defined]
        packet = _rtp(i + 1, 10, extensions=[(MID, b"1"), (TWCC, seq.to_bytes(2, "big"))])
        _send(server, endpoint, browser, packet)
    transport.tick(server.clock())
    (feedback,) = [p for raw in sent for p in parse_rtcp(raw) if isinstance(p, RtcpTransportCc)]
    assert feedback.base_sequence == 100
    # libwebrtc drops feedback whose media SSRC is not one it sends
    assert feedback.media_ssrc == 10
    received = [a is not None for a in feedback.arrivals]
    assert received == [True, True, False, True]
    assert transport.stats.transport_cc_out == 1
    transport.tick(server.clock())  # nothing new: no feedback
    assert transport.stats.transport_cc_out == 1


def test_a_transport_without_transport_cc_sends_no_feedback():
    server, endpoint, transport, browser, _producer, tap = _publisher()
    assert isinstance(transport, WebRtcTransport) and transport.transport_cc_recorder is None
    _send(server, endpoint, browser, _rtp(1, 10, extensions=[(MID, b"1"), (TWCC, b"\x00\x01")]))
    transport.tick(server.clock())
    assert transport.stats.transport_cc_out == 0 and tap.packets == [(10, 1)]
