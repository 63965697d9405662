"""A phone's media in its conference: the packet time of its mix, its producer's codec."""

from __future__ import annotations

from snapconf.conference.phone import mix_ptime, phone_codec


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
