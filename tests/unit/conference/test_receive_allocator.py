"""A receiver's estimate applied to what it is sent (conference/receiver.py)."""

from snapconf.conference.participant import TrackView
from snapconf.conference.receiver import AllocatorConfig, ReceiveAllocator, layer_options
from snapconf.media.router import Codec, Producer, Router
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header

VP8 = Codec("VP8", 90000, 1, (), ("nack", "nack pli"))
OPUS = Codec("opus", 48000, 2)


class Sink:
    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        self.rtp.append(packet + body)

    def send_rtcp(self, packet: bytes) -> None:
        self.rtcp.append(packet)


class Estimator:
    def __init__(self, estimate: int) -> None:
        self.estimate = estimate

    def probe_bytes(self, now: float, target: int) -> int:
        return 0


class Transport:
    def __init__(self, estimate: int | None) -> None:
        self.estimator = Estimator(estimate) if estimate is not None else None


def _producer(pid, owner, kind="video", rids=("q", "h", "f"), source="camera"):
    producer = Producer(
        producer_id=pid,
        kind=kind,
        source=source,
        codec=VP8 if kind == "video" else OPUS,
        payload_type=96 if kind == "video" else 111,
        ssrc=None,
        mid=pid,
        extension_ids={},
        sink=Sink(),
        owner_id=owner,
        clock=lambda: 0.0,
        rids=rids if kind == "video" else (),
    )
    for i, stream in enumerate(producer.streams):
        stream.ssrc = 100 * (i + 1) + len(pid)
    return producer


def _measure(producer, rates, now=10.0):
    """Give each stream of ``producer`` a measured bitrate, as a second of packets would."""
    for stream, rate in zip(producer.streams, rates, strict=True):
        stream.bitrate = rate
        stream._window_start = now - 0.5
        stream.stats.packets = 1


def _room(estimate, owners=("a", "b", "c"), views=None, last_n=-1):
    router = Router()
    consumers = {}
    producers = []
    for owner in owners:
        video = _producer("v" + owner, owner)
        audio = _producer("s" + owner, owner, kind="audio")
        _measure(video, (150_000, 500_000, 1_500_000))
        _measure(audio, (32_000,))
        for producer in (video, audio):
            consumer = router.consume(
                producer,
                sink=Sink(),
                mid=producer.id,
                payload_types={producer.payload_type: producer.payload_type},
                cname=owner,
                clock=lambda: 10.0,
                paused=False,
            )
            consumer.negotiated = True
            consumers[producer.id] = consumer
        producers.append(video)
    allocator = ReceiveAllocator(
        consumers,
        lambda: views or {},
        AllocatorConfig(last_n=last_n),
        rank=lambda owner: owners.index(owner),
    )
    return allocator, consumers, Transport(estimate)


def test_a_fast_receiver_gets_every_camera_at_its_top_layer():
    allocator, consumers, transport = _room(10_000_000)
    allocator.reallocate(transport, 10.0)
    targets = {k: c.target_layer for k, c in consumers.items() if k.startswith("v")}
    assert targets == {"va": 2, "vb": 2, "vc": 2}
    assert not any(c.suspended for c in consumers.values())


def test_a_slow_receiver_gets_all_audio_and_the_dominant_speaker_before_the_others():
    allocator, consumers, transport = _room(800_000)
    allocation = allocator.reallocate(transport, 10.0)
    assert allocation.allocated <= 800_000
    assert consumers["va"].target_layer == 1  # "a" holds the floor (rank 0)
    assert consumers["vb"].target_layer == 0 and not consumers["vb"].suspended
    assert consumers["vc"].suspended
    assert not any(consumers[k].suspended for k in ("sa", "sb", "sc"))


def test_retransmissions_count_against_the_estimate():
    allocator, consumers, transport = _room(5_000_000)
    allocator.reallocate(transport, 10.0)
    assert {consumers[k].target_layer for k in ("va", "vb", "vc")} == {2}
    # 1.7 Mbit/s of the receiver's NACKs answered over the next 200 ms leaves 3.3 for media
    consumers["va"].stats.retransmitted_bytes += 1_700_000 // 8 // 5
    allocation = allocator.reallocate(transport, 10.2)
    assert allocator.stats.retransmission_bitrate == 1_700_000
    assert allocation.allocated <= 0.95 * (5_000_000 - 1_700_000)
    assert [consumers[k].target_layer for k in ("va", "vb", "vc")] == [2, 1, 1]


def test_the_dominant_speakers_video_keeps_its_lowest_layer_through_a_dip_then_pauses():
    allocator, consumers, transport = _room(800_000)
    allocator.reallocate(transport, 10.0)
    transport.estimator.estimate = 120_000  # audio only fits: a dip of the estimate
    allocator.reallocate(transport, 10.2)
    assert not consumers["va"].suspended and consumers["va"].target_layer == 0
    assert consumers["vb"].suspended and consumers["vc"].suspended
    allocator.reallocate(transport, 11.9)
    assert not consumers["va"].suspended
    allocator.reallocate(transport, 12.3)  # no room for 2 s: paused after all
    assert consumers["va"].suspended


def test_a_video_that_does_not_fit_is_paused_and_resumed_when_the_estimate_allows():
    allocator, consumers, transport = _room(200_000)
    allocator.reallocate(transport, 10.0)
    paused = {k for k, c in consumers.items() if c.suspended}
    assert paused and all(k.startswith("v") for k in paused)
    assert allocator.stats.suspensions == len(paused)
    transport.estimator.estimate = 10_000_000
    allocator.reallocate(transport, 10.2)  # too soon after the decrease: kept as it is
    assert {k for k, c in consumers.items() if c.suspended} == paused
    for consumer in consumers.values():  # the publishers kept sending meanwhile
        rates = [s.bitrate for s in consumer.producer.streams]
        _measure(consumer.producer, rates, now=11.5)
    allocator.reallocate(transport, 11.5)
    assert not any(c.suspended for c in consumers.values())
    assert allocator.stats.resumptions == len(paused)


def test_a_small_tile_never_gets_the_layer_wider_than_it():
    views = {"vb": TrackView(visible=True, width=320, height=180)}
    allocator, consumers, transport = _room(10_000_000, views=views)
    for key in ("va", "vb", "vc"):
        for i, stream in enumerate(consumers[key].producer.streams):
            stream.frame_size = (320 * 2**i, 180 * 2**i)
    allocator.reallocate(transport, 10.0)
    assert consumers["vb"].target_layer == 0 and consumers["va"].target_layer == 2


def test_an_invisible_tile_is_paused_and_last_n_keeps_the_most_recent_speakers():
    views = {"vc": TrackView(visible=False)}
    allocator, consumers, transport = _room(
        10_000_000, owners=("a", "b", "c", "d"), views=views, last_n=2
    )
    allocator.reallocate(transport, 10.0)
    assert consumers["vc"].suspended
    assert not consumers["va"].suspended and not consumers["vb"].suspended
    assert consumers["vd"].suspended  # the third most recent speaker: beyond last-N


def test_a_receiver_without_feedback_is_limited_by_its_tiles_only():
    allocator, consumers, transport = _room(None)
    allocator.reallocate(transport, 10.0)
    assert not any(c.suspended for c in consumers.values())


def test_a_layer_the_publisher_stopped_sending_is_not_an_option():
    video = _producer("v1", "a")
    _measure(video, (150_000, 500_000, 1_500_000), now=10.0)
    video.streams[2]._window_start = 5.0  # nothing for five seconds
    options = layer_options(video, 10.0)
    assert {o.spatial for o in options} == {0, 1}


def test_a_suspended_consumer_sends_nothing_and_starts_again_at_a_keyframe():
    producer = _producer("v1", "a", rids=())
    producer.ssrc = 5
    router = Router()
    sink = Sink()
    consumer = router.consume(
        producer,
        sink=sink,
        mid="r0",
        payload_types={96: 96},
        cname="a",
        clock=lambda: 1.0,
        paused=False,
    )
    consumer.negotiated = True
    consumer.suspend()
    data = build_rtp_packet(payload_type=96, sequence_number=1, timestamp=1, ssrc=5, payload=b"x")
    producer.receive_rtp(data, parse_rtp_header(data), 1.0)
    assert sink.rtp == []
    consumer.unsuspend()
    assert len(producer.sink.rtcp) == 1  # a PLI: the decoder needs a keyframe
    producer.receive_rtp(
        data[:2] + b"\x00\x02" + data[4:], parse_rtp_header(data[:2] + b"\x00\x02" + data[4:]), 1.1
    )
    assert len(sink.rtp) == 1
