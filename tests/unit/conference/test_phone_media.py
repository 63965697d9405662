"""A phone's media in its conference: the packet time of its mix, its producer's codec."""

from __future__ import annotations

from snapconf.conference.phone import mix_ptime, phone_codec, phone_producer
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header


def test_the_mix_uses_the_first_packet_time_the_mixer_can_make_for_the_codec() -> None:
    assert mix_ptime("PCMA", 30, 20) == 30  # the caller's a=ptime first
    assert mix_ptime("PCMU", None, 40) == 40  # no a=ptime: sip.ptime
    assert mix_ptime("opus", 30, 20) == 20  # Opus has no 30 ms frame
    assert mix_ptime("opus", 30, 60) == 60
    assert mix_ptime("G722", 10, 10) == 20  # the mixer ticks every 20 ms
    assert mix_ptime("PCMA", 120, None) == 20


def test_a_phone_producer_announces_opus_as_webrtc_does_and_g711_as_it_is() -> None:
    opus = phone_codec("opus", 48000)
    assert (opus.name, opus.clock_rate, opus.channels) == ("opus", 48000, 2)
    pcma = phone_codec("pcma", 8000)
    assert (pcma.name, pcma.clock_rate, pcma.channels) == ("PCMA", 8000, 1)


def test_a_phone_that_sends_its_audio_level_is_heard_talking_from_the_level_alone() -> None:
    # the SIP answer settled RFC 6464 levels under id 3: the level reaches the mixer's tap
    # and the talking state with the packet, without any decode
    producer = phone_producer("p1", "PCMA", 8, 8000, lambda: 5.0, audio_level_id=3)
    seen: list[bytes | None] = []
    producer.add_tap(lambda data, header, level: seen.append(level))
    for seq, level in ((1, 0x80 | 20), (2, 127)):  # voice at -20 dBov, then silence
        data = build_rtp_packet(
            payload_type=8,
            sequence_number=seq,
            timestamp=seq * 160,
            ssrc=0x1234,
            payload=b"\xd5" * 160,
            extensions=[(3, bytes((level,)))],
        )
        producer.receive_rtp(data, parse_rtp_header(data), 5.0 + seq * 0.02)
    assert seen == [bytes((0x80 | 20,)), bytes((127,))]
    assert producer.talking(5.05, 0.5)
    # without the id (the caller offered no level), nothing is read from the extension
    deaf = phone_producer("p2", "PCMA", 8, 8000, lambda: 5.0)
    heard: list[bytes | None] = []
    deaf.add_tap(lambda data, header, level: heard.append(level))
    deaf.receive_rtp(data, parse_rtp_header(data), 5.1)
    assert heard == [None]
