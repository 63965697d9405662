"""The plain RTP transport of a phone call: ports, symmetric RTP, one parse, RTCP, the mix."""

from __future__ import annotations

import asyncio
import itertools
import struct

import pytest
from tests.support.clock import FakeClock

from snapconf.media.plain_transport import PlainTransport, PortAllocator
from snapconf.rtp.packet import RtpHeader, parse_rtp_header
from snapconf.rtp.rtcp import RtcpSdes, RtcpSenderReport, parse_rtcp


def rtp(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 1) + payload


def test_the_one_rtp_parser_reads_what_phones_send_and_names_what_is_wrong() -> None:
    h = parse_rtp_header(rtp(0, 7, 160, b"abc", True))
    assert (h.marker, h.payload_type, h.sequence_number, h.timestamp, h.payload_offset) == (
        True, 0, 7, 160, 12,
    )
    ext = struct.pack("!BBHII", 0x90, 0, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 1) + b"\x10\x7f\0\0"
    assert parse_rtp_header(ext + b"pp").payload_offset == 20
    padded = struct.pack("!BBHII", 0xA0, 0, 1, 2, 3) + b"data" + b"\x00\x02"
    assert len(padded) - parse_rtp_header(padded).padding_length == 16
    for bad, msg in [(b"\x80\x00", "RTP packet length is less than 12 bytes"),
                     (b"\x40" + b"\x00" * 11, "RTP packet has invalid version"),
                     (b"\x90" + b"\x00" * 11, "RTP packet has truncated extension header")]:
        with pytest.raises(ValueError) as exc:
            parse_rtp_header(bad)
        assert str(exc.value) == msg


def test_port_allocator_round_robin_and_release() -> None:
    a = PortAllocator(20001, 20009)
    assert a.candidates() == [20002, 20004, 20006, 20008]
    a.take(20002)
    assert a.candidates()[0] == 20004
    a.take(20004)
    a.release(20002)
    assert a.candidates() == [20006, 20008, 20002]


class Receiver:
    """What a producer would get: the datagram and its header, parsed once."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, RtpHeader, float]] = []

    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        self.got.append((data, header, arrival))


async def test_a_plain_transport_latches_feeds_its_receiver_and_sends_rtcp_with_fake_clock(
) -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.put_nowait((data, addr))

    peer, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    rtcp_peer, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    dtmf: list[tuple[bool, int, bytes]] = []
    transport = PlainTransport(
        clock=clock, clock_rate=8000, audio_pt=0, dtmf_pt=101,
        remote=("127.0.0.1", 9), remote_rtcp=("127.0.0.1", 9),  # SDP says: port 9 (wrong)
        on_dtmf=lambda *a: dtmf.append(a),
    )
    receiver = Receiver()
    low = 40000 + (hash(id(transport)) % 1000) * 2
    port = await transport.open("127.0.0.1", PortAllocator(low, low + 200))
    try:
        peer.sendto(rtp(0, 1, 160, b"\x7f" * 160), ("127.0.0.1", port))  # nobody receives yet
        while transport.stats.packets_in < 1:
            await asyncio.sleep(0.01)
        assert transport.stats.dropped_no_receiver == 1
        transport.receiver = receiver
        peer.sendto(rtp(0, 2, 320, b"\xff" * 160), ("127.0.0.1", port))
        peer.sendto(rtp(101, 3, 480, bytes([1, 0x8A, 0, 160])), ("127.0.0.1", port))
        peer.sendto(rtp(13, 4, 640, b"\x00"), ("127.0.0.1", port))
        peer.sendto(rtp(96, 5, 800, b"\x00"), ("127.0.0.1", port))
        peer.sendto(b"\x00junk", ("127.0.0.1", port))
        while transport.stats.packets_in < 5 or transport.stats.dropped_malformed < 1:
            await asyncio.sleep(0.01)
        # the receiver gets the datagram unchanged with the header parsed from it
        ((data, header, arrival),) = receiver.got
        assert data == rtp(0, 2, 320, b"\xff" * 160)
        assert (header.sequence_number, header.timestamp, header.payload_offset) == (2, 320, 12)
        assert arrival == clock.now()
        assert dtmf == [(False, 480, bytes([1, 0x8A, 0, 160]))]
        assert (transport.stats.dtmf_packets, transport.stats.dropped_unknown_pt) == (1, 1)
        # symmetric RTP: we answer where the packets came from, not to the SDP address
        assert transport.latched and transport.remote == peer.get_extra_info("sockname")
        transport.send(b"\x01" * 160, 160)
        data, _ = await asyncio.wait_for(got.get(), 2)
        h = parse_rtp_header(data)
        assert (h.payload_type, h.ssrc, h.marker) == (0, transport.ssrc, True)
        # RTCP goes to the port the peer's RTCP came from, every interval of the fake clock
        rtcp_peer.sendto(b"\x81\xc9\x00\x01\x00\x00\x00\x01", ("127.0.0.1", port + 1))
        while transport.stats.rtcp_in < 1:
            await asyncio.sleep(0.01)
        await clock.advance(5.0)
        data, addr = await asyncio.wait_for(got.get(), 2)
        assert addr == ("127.0.0.1", port + 1)
        assert data[1] == 200  # a sender report, then an SDES
        assert struct.unpack_from("!I", data, 4)[0] == transport.ssrc
        assert data[0] & 0x1F == 1  # one report block about the phone
        sr, sdes = parse_rtcp(data)
        assert isinstance(sr, RtcpSenderReport) and isinstance(sdes, RtcpSdes)
        assert (sr.packet_count, sr.octet_count, sr.reports[0].ssrc) == (1, 160, 1)
        assert sdes.cnames == {transport.ssrc: "snapconf"}
    finally:
        transport.close()
        transport.close()
        peer.close()
        rtcp_peer.close()


async def test_mix_packets_are_stamped_into_the_calls_stream_and_held_during_a_prompt() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.put_nowait(data)

    peer, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    transport = PlainTransport(
        clock=clock, clock_rate=8000, audio_pt=8, dtmf_pt=None,
        remote=peer.get_extra_info("sockname"), remote_rtcp=None, on_dtmf=lambda *a: None,
    )
    low = 42000 + (hash(id(transport)) % 1000) * 2
    await transport.open("127.0.0.1", PortAllocator(low, low + 200))
    try:
        transport.send(b"p" * 320, 320)  # a prompt packet (40 ms)
        await clock.advance(0.04)
        transport.send_mix(b"m" * 320, 320, True)  # the mix, 40 ms packets
        transport.output_held = True
        await clock.advance(0.04)
        transport.send_mix(b"x" * 320, 320, False)
        assert transport.stats.dropped_output_held == 1
        transport.output_held = False
        await clock.advance(0.04)
        transport.send_mix(b"n" * 320, 320, False)
        packets = [await asyncio.wait_for(got.get(), 2) for _ in range(3)]
        headers = [parse_rtp_header(p) for p in packets]
        assert [p[12:13] for p in packets] == [b"p", b"m", b"n"]
        assert {h.ssrc for h in headers} == {transport.ssrc}  # one stream, prompts and mix
        assert [h.payload_type for h in headers] == [8, 8, 8]
        assert [(b.sequence_number - a.sequence_number) & 0xFFFF
                for a, b in itertools.pairwise(headers)] == [1, 1]
        assert [(b.timestamp - a.timestamp) & 0xFFFFFFFF
                for a, b in itertools.pairwise(headers)] == [320, 320]
        assert [h.marker for h in headers] == [True, True, False]
    finally:
        transport.close()
        peer.close()
