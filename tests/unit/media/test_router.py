import itertools

from snapconf.media.bwe import SentLog
from snapconf.media.router import (
    EXT_ABS_SEND_TIME,
    EXT_AUDIO_LEVEL,
    EXT_MID,
    Codec,
    ConsumerExtensions,
    Producer,
    Router,
)
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header
from snapconf.rtp.rtcp import RtcpPli, RtcpSdes, RtcpSenderReport, parse_rtcp

OPUS = Codec("opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")))
VP8 = Codec("VP8", 90000, 1, (), ("nack pli", "ccm fir"))


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []
        self.fail = fail

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        if self.fail:
            raise ConnectionError("socket gone")
        self.rtp.append(packet + body)

    def send_rtcp(self, packet: bytes) -> None:
        if self.fail:
            raise ConnectionError("socket gone")
        self.rtcp.append(packet)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _producer(codec=OPUS, kind="audio", ssrc=1111, pt=111, clock=None, sink=None):
    return Producer(
        producer_id="t1",
        kind=kind,
        source="microphone" if kind == "audio" else "camera",
        codec=codec,
        payload_type=pt,
        ssrc=ssrc,
        mid="0",
        extension_ids={1: EXT_AUDIO_LEVEL, 2: EXT_ABS_SEND_TIME, 4: EXT_MID},
        sink=sink or Sink(),
        owner_id="pA",
        clock=clock or Clock(),
    )


def _packet(seq, ts, ssrc=1111, pt=111, payload=b"opus!", level=b"\x9e"):
    return build_rtp_packet(
        payload_type=pt,
        sequence_number=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=payload,
        extensions=[(1, level), (2, b"\x01\x02\x03"), (4, b"0")],
    )


def _feed(producer, data, now):
    producer.receive_rtp(data, parse_rtp_header(data), now)


def _consumer(router, producer, sink, clock, mid="r3", pt=100, ext=None):
    consumer = router.consume(
        producer,
        sink=sink,
        mid=mid,
        payload_types={producer.payload_type: pt},
        cname="pA",
        clock=clock,
        extensions=ext,
        paused=False,
    )
    return consumer


def test_a_forwarded_packet_gets_the_consumers_ssrc_pt_mid_and_extension_ids():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    router.add_producer(producer)
    sink = Sink()
    ext = ConsumerExtensions(mid=9, audio_level=10, abs_send_time=0)
    consumer = _consumer(router, producer, sink, clock, ext=ext)
    _feed(producer, _packet(500, 48000), 1.0)
    (out,) = sink.rtp
    h = parse_rtp_header(out)
    assert h.ssrc == consumer.ssrc and h.payload_type == 100
    assert h.extensions == {9: b"r3", 10: b"\x9e"}  # abs-send-time not negotiated: dropped
    assert out[h.payload_offset :] == b"opus!"


def test_sequence_and_timestamps_stay_continuous_across_pause_and_ssrc_change():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock)
    for i in range(3):
        _feed(producer, _packet(1000 + i, 960 * i), 1.0 + 0.02 * i)
    consumer.pause()
    for i in range(3, 50):  # not forwarded while paused
        _feed(producer, _packet(1000 + i, 960 * i), 1.0 + 0.02 * i)
    consumer.resume()
    _feed(producer, _packet(1050, 960 * 50), 2.0)
    # the publisher restarts with a new SSRC and random sequence/timestamp
    _feed(producer, _packet(7, 123456, ssrc=2222), 2.02)
    _feed(producer, _packet(8, 123456 + 960, ssrc=2222), 2.04)
    headers = [parse_rtp_header(p) for p in sink.rtp]
    seqs = [h.sequence_number for h in headers]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    ts = [h.timestamp for h in headers]
    assert (ts[1] - ts[0]) & 0xFFFFFFFF == 960
    assert 0 < (ts[3] - ts[2]) & 0xFFFFFFFF <= 48000 * 1.1  # ~1 s of wall clock while paused
    assert 0 < (ts[4] - ts[3]) & 0xFFFFFFFF <= 48000 * 0.03
    assert (ts[5] - ts[4]) & 0xFFFFFFFF == 960
    assert {h.ssrc for h in headers} == {consumer.ssrc}


def test_a_failing_consumer_is_counted_and_does_not_disturb_the_others():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    good1, bad, good2 = Sink(), Sink(fail=True), Sink()
    c1 = _consumer(router, producer, good1, clock)
    cb = _consumer(router, producer, bad, clock)
    c2 = _consumer(router, producer, good2, clock)
    for i in range(10):
        _feed(producer, _packet(i, 960 * i), 1 + i * 0.02)
    assert len(good1.rtp) == len(good2.rtp) == 10
    assert cb.stats.errors == 10 and c1.stats.packets == c2.stats.packets == 10


def test_an_unmapped_payload_type_is_dropped_and_counted():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock)
    _feed(producer, _packet(1, 960, pt=13), 1.0)
    assert sink.rtp == [] and consumer.stats.dropped_payload_type == 1


def test_sender_reports_are_translated_into_each_consumers_timestamp_space():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock)
    _feed(producer, _packet(1, 96000), 1.0)
    out_ts = parse_rtp_header(sink.rtp[0]).timestamp
    producer.receive_sender_report(
        RtcpSenderReport(1111, 0xAABBCCDD00112233, 96000 + 480, 1, 5), 1.01
    )
    sr, sdes = parse_rtcp(sink.rtcp[0])
    assert isinstance(sr, RtcpSenderReport) and isinstance(sdes, RtcpSdes)
    assert sr.ssrc == consumer.ssrc and sr.ntp_timestamp == 0xAABBCCDD00112233
    assert sr.rtp_timestamp == (out_ts + 480) & 0xFFFFFFFF
    assert sr.packet_count == 1 and sdes.cnames == {consumer.ssrc: "pA"}


def test_keyframe_requests_reach_the_publisher_at_most_once_per_interval():
    clock = Clock()
    publisher = Sink()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock, sink=publisher)
    router = Router()
    consumer = _consumer(router, producer, Sink(), clock, pt=96)
    consumer.request_keyframe()
    consumer.request_keyframe()
    clock.t += 0.6
    consumer.request_keyframe()
    plis = [parse_rtcp(p)[0] for p in publisher.rtcp]
    assert len(plis) == 2 and all(isinstance(p, RtcpPli) and p.media_ssrc == 1111 for p in plis)


def test_receiver_reports_count_losses():
    clock = Clock()
    producer = _producer(clock=clock)
    for seq in (1, 2, 3, 5, 6, 10):
        _feed(producer, _packet(seq, seq * 960), seq * 0.02)
    block = producer.report_block(1.0)
    assert block is not None
    assert block.highest_sequence == 10 and block.packets_lost == 4
    assert block.fraction_lost == (4 << 8) // 10


def test_closing_a_producer_closes_its_consumers_and_router_close_is_idempotent():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    router.add_producer(producer)
    consumer = _consumer(router, producer, Sink(), clock)
    router.close()
    router.close()
    assert producer.closed and consumer.closed and producer.consumers == ()


def test_a_receivers_nack_is_answered_from_the_history_with_the_same_sequence_numbers():
    clock = Clock()
    router = Router()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=96)
    for i in range(10):
        _feed(producer, _packet(100 + i, 3000 * i, pt=96, payload=bytes([i]) * 20), 1 + i / 30)
    sent = [parse_rtp_header(p) for p in sink.rtp]
    lost = [
        sent[3].sequence_number,
        sent[4].sequence_number,
        (sent[0].sequence_number - 500) & 0xFFFF,
    ]
    clock.t = 1.5  # the packets went 0.2-0.5 s ago
    consumer.retransmit(lost)
    again = sink.rtp[10:]
    assert len(again) == 2 and consumer.stats.retransmitted == 2
    assert again[0] == sink.rtp[3] and again[1] == sink.rtp[4]


def test_a_packet_is_resent_at_most_once_per_round_trip_and_never_once_too_old():
    clock = Clock()
    router = Router()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=96)
    for i in range(10):
        _feed(producer, _packet(100 + i, 3000 * i, pt=96, payload=bytes([i]) * 20), 1 + i / 30)
    seq = parse_rtp_header(sink.rtp[5]).sequence_number
    clock.t = 1.4
    consumer.retransmit([seq])
    consumer.retransmit([seq])  # the same NACK again before a round trip: not resent
    assert consumer.stats.retransmitted == 1 and consumer.stats.retransmit_skipped == 1
    clock.t = 1.4 + consumer.rtt + 0.01
    consumer.retransmit([seq])
    assert consumer.stats.retransmitted == 2
    clock.t = 3.0  # the receiver's jitter buffer gave up on it long ago
    consumer.retransmit([seq])
    assert consumer.stats.retransmitted == 2 and len(sink.rtp) == 12


def test_with_rtx_a_nacked_packet_goes_on_the_rtx_stream_with_its_original_sequence_number():
    clock = Clock()
    router = Router()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=96)
    consumer.rtx_ssrc, consumer.rtx_payload_type = 0xABCD, 97
    for i in range(5):
        _feed(producer, _packet(100 + i, 3000 * i, pt=96, payload=bytes([i]) * 20), 1 + i / 30)
    original = parse_rtp_header(sink.rtp[2])
    clock.t = 1.3
    consumer.retransmit([original.sequence_number])
    rtx = parse_rtp_header(sink.rtp[5])
    assert (rtx.ssrc, rtx.payload_type, rtx.timestamp) == (0xABCD, 97, original.timestamp)
    payload = sink.rtp[5][rtx.payload_offset :]
    assert int.from_bytes(payload[:2], "big") == original.sequence_number
    assert payload[2:] == sink.rtp[2][original.payload_offset :]


def test_a_gap_in_a_publishers_video_is_nacked_once():
    clock = Clock()
    publisher = Sink()
    vp8 = Codec("VP8", 90000, 1, (), ("nack", "nack pli"))
    producer = _producer(codec=vp8, kind="video", pt=96, clock=clock, sink=publisher)
    for seq in (1, 2, 3, 7, 8, 6):
        _feed(producer, _packet(seq, seq * 3000, pt=96), seq / 30)
    (nack,) = [parse_rtcp(p)[0] for p in publisher.rtcp]
    assert nack.media_ssrc == 1111 and nack.lost == [4, 5, 6]


def test_a_receivers_nack_for_a_packet_lost_upstream_too_asks_the_publisher_again():
    # the SFU's own NACK (or the publisher's answer) was lost: the receiver's repeated
    # NACKs drive the repeats upstream, at most once per ASK_AGAIN_INTERVAL per packet
    clock = Clock()
    router = Router()
    publisher = Sink()
    vp8 = Codec("VP8", 90000, 1, (), ("nack", "nack pli"))
    producer = _producer(codec=vp8, kind="video", pt=96, clock=clock, sink=publisher)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=96)
    for seq in (1, 2, 4, 5):
        _feed(producer, _packet(seq, seq * 3000, pt=96), 1 + seq / 30)
    assert [parse_rtcp(p)[0].lost for p in publisher.rtcp] == [[3]]  # the gap, once
    second = parse_rtp_header(sink.rtp[1]).sequence_number
    missing = (second + 1) & 0xFFFF  # what the receiver saw missing after packet 2
    clock.t = 1.2
    consumer.retransmit([missing])
    consumer.retransmit([missing])  # again at once: not repeated upstream
    asked = [parse_rtcp(p)[0] for p in publisher.rtcp]
    assert [(n.media_ssrc, n.lost) for n in asked] == [(1111, [3]), (1111, [3])]
    clock.t = 1.3
    consumer.retransmit([missing])
    assert len(publisher.rtcp) == 3 and consumer.stats.retransmitted == 0


def test_a_packet_still_missing_is_nacked_again_until_it_arrives_at_most_max_nacks_times():
    clock = Clock()
    publisher = Sink()
    vp8 = Codec("VP8", 90000, 1, (), ("nack", "nack pli"))
    producer = _producer(codec=vp8, kind="video", pt=96, clock=clock, sink=publisher)
    stream = producer.streams[0]
    for seq in (1, 2, 5):  # 3 and 4 lost
        _feed(producer, _packet(seq, seq * 3000, pt=96), 1 + seq / 30)
    stream.retry_nacks(1.2)  # too soon after the first NACK (at 1.167)
    stream.retry_nacks(1.27)
    assert [parse_rtcp(p)[0].lost for p in publisher.rtcp] == [[3, 4], [3, 4]]
    _feed(producer, _packet(3, 9000, pt=96), 1.28)  # its retransmission came
    for tick in range(20):
        stream.retry_nacks(1.3 + tick * 0.05)
    lost = [parse_rtcp(p)[0].lost for p in publisher.rtcp]
    assert lost == [[3, 4], [3, 4], [4], [4], [4]]  # five NACKs for 4 in all
    assert not stream.missing


def test_padding_only_packets_are_not_forwarded_and_leave_no_sequence_gap():
    clock = Clock()
    router = Router()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock)
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=96)

    def padding_only(seq):
        base = build_rtp_packet(
            payload_type=96, sequence_number=seq, timestamp=9000, ssrc=1111, payload=b""
        )
        return bytes([base[0] | 0x20]) + base[1:] + bytes(254) + b"\xff"

    for seq in (10, 11):
        _feed(producer, _packet(seq, 3000 * seq, pt=96, payload=bytes([seq]) * 10), seq / 30)
    _feed(producer, padding_only(12), 0.4)
    _feed(producer, padding_only(13), 0.41)
    for seq in (14, 15):
        _feed(producer, _packet(seq, 3000 * seq, pt=96, payload=bytes([seq]) * 10), seq / 30)
    headers = [parse_rtp_header(p) for p in sink.rtp]
    assert len(headers) == 4 and producer.stats.padding_dropped == 2
    seqs = [h.sequence_number for h in headers]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    # a NACK for a packet sent before the skip still finds the right payload
    clock.t = 0.6
    consumer.retransmit([seqs[1], seqs[2]])
    assert sink.rtp[4] == sink.rtp[1] and sink.rtp[5] == sink.rtp[2]


def test_a_muted_producer_forwards_nothing_and_resumes_with_continuous_sequence_numbers():
    clock = Clock()
    router = Router()
    producer = _producer(clock=clock)
    taps = []
    producer.add_tap(lambda data, header, level: taps.append(header.sequence_number))
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock)
    for i in range(3):
        _feed(producer, _packet(1000 + i, 960 * i), 1.0 + 0.02 * i)
    producer.set_muted(True)
    for i in range(3, 50):  # neither forwarded nor mixed while muted
        _feed(producer, _packet(1000 + i, 960 * i), 1.0 + 0.02 * i)
    assert len(sink.rtp) == 3 and len(taps) == 3
    assert producer.muted_dropped == 47
    producer.set_muted(False)
    _feed(producer, _packet(1050, 960 * 50), 2.0)
    _feed(producer, _packet(1051, 960 * 51), 2.02)
    headers = [parse_rtp_header(p) for p in sink.rtp]
    seqs = [h.sequence_number for h in headers]
    assert len(seqs) == 5 and len(taps) == 5
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    ts = [h.timestamp for h in headers]
    assert 0 < (ts[3] - ts[2]) & 0xFFFFFFFF <= 48000 * 1.1  # the time muted, not a jump
    assert (ts[4] - ts[3]) & 0xFFFFFFFF == 960
    assert consumer.stats.packets == 5


def test_unmuting_a_video_producer_asks_the_publisher_for_a_keyframe():
    clock = Clock()
    publisher = Sink()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock, sink=publisher)
    router = Router()
    _consumer(router, producer, Sink(), clock, pt=96)
    producer.set_muted(True)
    producer.set_muted(False)
    assert [type(p) for p in parse_rtcp(publisher.rtcp[-1])] == [RtcpPli]


def test_talking_follows_the_audio_level_with_a_hold_and_never_while_muted():
    clock = Clock()
    producer = _producer(clock=clock)
    assert not producer.talking(1.0, 0.5)
    _feed(producer, _packet(1, 0, level=b"\x7f"), 1.0)  # -127 dBov: silence
    assert not producer.talking(1.0, 0.5)
    _feed(producer, _packet(2, 960, level=b"\x94"), 1.02)  # voice flag, -20 dBov
    assert producer.talking(1.02, 0.5)
    _feed(producer, _packet(3, 1920, level=b"\x7f"), 1.04)
    assert producer.talking(1.4, 0.5)  # a short pause: still talking
    assert not producer.talking(1.6, 0.5)
    _feed(producer, _packet(4, 2880, level=b"\x14"), 1.62)
    producer.set_muted(True)
    assert not producer.talking(1.62, 0.5)


def _simulcast_producer(clock, sink):
    producer = Producer(
        producer_id="t9",
        kind="video",
        source="camera",
        codec=Codec("VP8", 90000, 1, (), ("nack", "nack pli")),
        payload_type=96,
        ssrc=None,
        mid="1",
        extension_ids={},
        sink=sink,
        owner_id="pA",
        clock=clock,
        rids=("q", "h"),
    )
    for stream, ssrc in zip(producer.streams, (10, 20), strict=True):
        stream.ssrc = ssrc
    return producer


def _feed_frame(stream, payloads, seq, ts, now):
    for i, payload in enumerate(payloads):
        data = build_rtp_packet(
            payload_type=96,
            sequence_number=seq + i,
            timestamp=ts,
            ssrc=stream.ssrc,
            payload=payload,
            marker=i == len(payloads) - 1,
        )
        stream.receive_rtp(data, parse_rtp_header(data), now)
    return seq + len(payloads)


def test_a_simulcast_consumer_switches_layer_at_a_keyframe_without_a_gap_for_the_receiver():
    from tests.support.video import encoded_frames

    from snapconf.rtp.vp8 import parse_vp8

    clock = Clock()
    publisher = Sink()
    producer = _simulcast_producer(clock, publisher)
    low, high = producer.streams
    router = Router()
    sink = Sink()
    consumer = _consumer(router, producer, sink, clock, pt=100)
    frames = encoded_frames("VP8", 4)
    seqs = {10: 1000, 20: 5000}
    # both layers send a keyframe, then deltas; the consumer starts on its target (0)
    for n, frame in enumerate(frames[:3]):
        clock.t = 100 + n / 30
        for stream in (low, high):
            seqs[stream.ssrc] = _feed_frame(stream, frame, seqs[stream.ssrc], n * 3000, clock.t)
    sent_low = len(sink.rtp)
    assert sent_low == sum(len(f) for f in frames[:3]) and consumer.layer == 0
    consumer.set_target(1)
    (pli,) = [parse_rtcp(p)[0] for p in publisher.rtcp]
    assert isinstance(pli, RtcpPli) and pli.media_ssrc == 20
    # a delta frame of the target layer is not taken: still the low layer
    clock.t += 1 / 30
    for stream in (low, high):
        seqs[stream.ssrc] = _feed_frame(stream, frames[3], seqs[stream.ssrc], 9000, clock.t)
    assert consumer.layer == 0
    # the high layer's keyframe: from here on only the high layer
    clock.t += 1 / 30
    seqs[20] = _feed_frame(high, frames[0], seqs[20], 12000, clock.t)
    seqs[10] = _feed_frame(low, frames[1], seqs[10], 12000, clock.t)
    assert consumer.layer == 1 and consumer.stats.layer_switches == 1
    headers = [parse_rtp_header(p) for p in sink.rtp]
    assert {h.ssrc for h in headers} == {consumer.ssrc}
    numbers = [h.sequence_number for h in headers]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(numbers))
    stamps = [h.timestamp for h in headers]
    assert all(0 <= (b - a) & 0xFFFFFFFF < 0x80000000 for a, b in itertools.pairwise(stamps))
    # the receiver sees one run of VP8 picture ids: one per frame, consecutive
    pictures = []
    for packet, header in zip(sink.rtp, headers, strict=True):
        descriptor = parse_vp8(packet[header.payload_offset :])
        if descriptor.start and descriptor.partition == 0:
            pictures.append(descriptor.picture_id)
    assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(pictures))
    assert len(pictures) == 5


def test_every_packet_to_a_transport_cc_receiver_carries_the_next_transport_wide_number():
    clock = Clock()
    router = Router()
    audio = _producer(clock=clock)
    video = _producer(codec=VP8, kind="video", ssrc=2222, pt=96, clock=clock)
    video.id = "t2"
    sink = Sink()
    sequence = SentLog()
    first = sequence.value
    ext = ConsumerExtensions(mid=1, audio_level=2, transport_cc=3)
    consumers = [
        _consumer(router, audio, sink, clock, mid="r0", pt=111, ext=ext),
        _consumer(router, video, sink, clock, mid="r1", pt=96, ext=ext),
    ]
    for consumer in consumers:
        consumer.transport_cc = sequence
    for i in range(3):
        _feed(audio, _packet(10 + i, 960 * i), 1 + i / 50)
        _feed(video, _packet(20 + i, 3000 * i, ssrc=2222, pt=96), 1 + i / 50)
    numbers = [int.from_bytes(parse_rtp_header(p).extensions[3], "big") for p in sink.rtp]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(numbers))
    assert numbers[0] == (first + 1) & 0xFFFF and numbers[-1] == sequence.value
    # what the estimator reads: each number's size and send time
    assert [sequence.sizes[n & sequence.mask] for n in numbers] == [len(p) for p in sink.rtp]
    assert sequence.times[numbers[-1] & sequence.mask] == 1 + 2 / 50


def test_padding_probes_go_on_the_rtx_stream_as_padding_only_packets():
    clock = Clock()
    router = Router()
    producer = _producer(codec=VP8, kind="video", pt=96, clock=clock)
    sink = Sink()
    log = SentLog()
    consumer = _consumer(
        router, producer, sink, clock, pt=96, ext=ConsumerExtensions(mid=1, transport_cc=3)
    )
    consumer.transport_cc = log
    assert consumer.send_padding(3, 1.0) == 0  # no RTX stream: nothing
    consumer.rtx_ssrc, consumer.rtx_payload_type = 0xABCD, 97
    _feed(producer, _packet(1, 3000, pt=96), 1.0)
    media = consumer.stats.bytes
    sent = consumer.send_padding(3, 1.01)
    padding = [parse_rtp_header(p) for p in sink.rtp[1:]]
    assert len(padding) == 3 and sent == sum(len(p) for p in sink.rtp[1:])
    assert {(h.ssrc, h.payload_type) for h in padding} == {(0xABCD, 97)}
    assert all(
        h.payload_offset + h.padding_length == len(p)
        for h, p in zip(padding, sink.rtp[1:], strict=True)
    )
    numbers = [int.from_bytes(parse_rtp_header(p).extensions[3], "big") for p in sink.rtp]
    assert [log.probes[n & log.mask] for n in numbers] == [0, 1, 1, 1]
    # padding is not media: the sender report's octet count stays the media's
    assert consumer.stats.bytes == media and consumer.stats.padding_packets == 3
