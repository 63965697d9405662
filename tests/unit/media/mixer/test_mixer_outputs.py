"""Per-listener RTP: headers, continuity, ptime, DTX, send failures, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mixer_testkit import Receiver, Sender, band_db, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.codecs.g711 import alaw_decode
from snapconf.media.mixer import Mixer, MixerConfig


@pytest.mark.parametrize(
    ("codec", "pt", "step", "payload_len"),
    [("opus", 111, 960, None), ("PCMU", 0, 160, 160), ("PCMA", 8, 160, 160), ("G722", 9, 160, 160)],
)
def test_headers_are_continuous_per_listener(
    codec: str, pt: int, step: int, payload_len: int | None
) -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    a, b = Receiver(codec), Receiver(codec)
    mixer.add_output("a", codec, pt, 0xAAAA0001, a)
    mixer.add_output("b", codec, pt, 0xBBBB0002, b)
    run_ticks(mixer, [s], 30)
    for rx, ssrc in ((a, 0xAAAA0001), (b, 0xBBBB0002)):
        headers = rx.headers()
        assert len(headers) == 30
        assert all(h[0] == 0x80 for h in headers)  # V=2, no padding, extension or CSRC
        assert [h[1] & 0x7F for h in headers] == [pt] * 30
        assert [h[1] >> 7 for h in headers] == [1] + [0] * 29  # marker: first packet only
        assert all(h[4] == ssrc for h in headers)
        seqs, stamps = [h[2] for h in headers], [h[3] for h in headers]
        assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
        assert all((y - x) & 0xFFFFFFFF == step for x, y in itertools.pairwise(stamps))
        if payload_len is not None:
            assert all(len(p) == 12 + payload_len for p in rx.packets)
    # the two listeners share one encode: identical payloads, different headers
    assert [p[12:] for p in a.packets] == [p[12:] for p in b.packets]
    assert a.packets[0][:12] != b.packets[0][:12]


def test_ptime_40() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    rx20, rx40, pcmu40 = Receiver("opus"), Receiver("opus"), Receiver("PCMU")
    mixer.add_output("a", "opus", 111, 1, rx20)
    mixer.add_output("b", "opus", 111, 2, rx40, ptime_ms=40)
    mixer.add_output("c", "PCMU", 0, 3, pcmu40, ptime_ms=40)
    run_ticks(mixer, [s], 20)
    assert len(rx20.packets) == 20 and len(rx40.packets) == 10 and len(pcmu40.packets) == 10
    stamps = [h[3] for h in rx40.headers()]
    assert all((y - x) & 0xFFFFFFFF == 1920 for x, y in itertools.pairwise(stamps))
    assert all(len(p) == 12 + 320 for p in pcmu40.packets)
    assert mixer.stats.encodes == 20 + 10 + 10


def test_ptime_30_sends_two_packets_every_three_ticks_of_240_samples_each() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    pcma30 = Receiver("PCMA")
    mixer.add_output("c", "PCMA", 8, 3, pcma30, ptime_ms=30)
    sizes: list[int] = []
    run_ticks(mixer, [s], 30, each=lambda t: sizes.append(len(pcma30.packets)))
    assert len(pcma30.packets) == 20  # 600 ms of 30 ms packets
    # never more than one packet per 20 ms tick
    assert all(b - a <= 1 for a, b in itertools.pairwise([*sizes, len(pcma30.packets)]))
    stamps = [h[3] for h in pcma30.headers()]
    assert all((y - x) & 0xFFFFFFFF == 240 for x, y in itertools.pairwise(stamps))
    assert all(len(p) == 12 + 240 for p in pcma30.packets)
    # the tone goes through whole: 30 ms packets cut 20 ms frames without a seam
    pcm = np.concatenate([alaw_decode(p[12:]) for p in pcma30.packets[5:]])
    assert band_db(pcm, 8000, 440.0) > band_db(pcm, 8000, 1500.0) + 30


def test_a_payload_sink_gets_payloads_with_their_duration_and_the_talkspurt_marker() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    got: list[tuple[bytes, int, bool]] = []

    class Sink:
        def send_mix(self, payload: bytes, samples: int, marker: bool) -> None:
            got.append((payload, samples, marker))

    whole = Receiver("PCMA")
    mixer.add_output("a", "PCMA", 8, 1, whole, ptime_ms=40)
    mixer.add_output("b", "PCMA", 8, 2, lambda p: None, ptime_ms=40, sink=Sink())
    run_ticks(mixer, [s], 20)
    assert [(len(p), n) for p, n, _ in got] == [(320, 320)] * 10
    assert [m for _, _, m in got] == [True] + [False] * 9
    assert [p for p, _, _ in got] == [p[12:] for p in whole.packets]  # one encode, no header


def test_dtx_silence_is_not_sent_and_speech_restarts_with_a_marker() -> None:
    mixer = Mixer(MixerConfig(opus_dtx=True), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 0.0)
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 9, rx)
    run_ticks(mixer, [s], 60)  # silence
    quiet = len(rx.packets)
    assert quiet < 20  # DTX: most silent frames were not sent
    assert mixer.stats.dtx_suppressed > 40
    s.amp = 8000.0
    run_ticks(mixer, [s], 20)
    headers = rx.headers()
    talk = headers[quiet:]
    assert len(talk) >= 15
    assert talk[0][1] & 0x80  # marker on the talkspurt's first packet (RFC 3551 §4.1)
    seqs = [h[2] for h in headers]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    # the timestamp kept running through the silence
    assert (talk[0][3] - headers[0][3]) & 0xFFFFFFFF >= 960 * 60


def test_failing_send_is_counted_and_others_still_receive() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)

    def broken(data: bytes) -> None:
        raise OSError("network is unreachable")

    good = Receiver("opus")
    mixer.add_output("broken", "opus", 111, 1, broken)
    mixer.add_output("good", "opus", 111, 2, good)
    run_ticks(mixer, [s], 10)
    assert mixer.stats.send_errors == 10
    assert mixer.outputs["broken"].errors == 10
    assert len(good.packets) == 10


def test_remove_output_stops_sending() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 1, rx)
    run_ticks(mixer, [], 3)
    mixer.remove_output("l")
    mixer.remove_output("l")  # no-op
    run_ticks(mixer, [], 3)
    assert len(rx.packets) == 3


def test_talker_listener_gets_its_own_stream_only_while_talking() -> None:
    mixer = Mixer(MixerConfig(hangover_ms=100), FakeClock())
    s = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    other = Sender(mixer.add_input("o", "opus", 48000, 111), "opus", 700.0, 8000.0)
    me, them = Receiver("opus"), Receiver("opus")
    mixer.add_output("t", "opus", 111, 1, me, own_input_id="t")
    mixer.add_output("x", "opus", 111, 2, them)
    run_ticks(mixer, [s, other], 10)
    assert me.packets[-1][12:] != them.packets[-1][12:]  # mix minus itself
    s.amp = other.amp = 0.0
    run_ticks(mixer, [s, other], 30)
    assert mixer.talkers == []
    before = mixer.stats.encodes
    run_ticks(mixer, [s, other], 5)
    assert mixer.stats.encodes - before == 5  # everybody shares the one mix now
    assert np.array_equal(
        np.frombuffer(me.packets[-1][12:], np.uint8), np.frombuffer(them.packets[-1][12:], np.uint8)
    )


def test_validation_errors_name_the_field() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    with pytest.raises(ValueError, match=r"^unsupported audio codec: 'G729'$"):
        mixer.add_input("a", "G729", 8000, 18)
    with pytest.raises(
        ValueError, match=r"^clock_rate 16000 does not match G722's RTP clock rate 8000$"
    ):
        mixer.add_input("a", "G722", 16000, 9)
    with pytest.raises(ValueError, match=r"^payload_type must be within 0..127, got 128$"):
        mixer.add_input("a", "opus", 48000, 128)
    mixer.add_input("a", "opus", 48000, 111)
    with pytest.raises(ValueError, match=r"^input 'a' already exists$"):
        mixer.add_input("a", "opus", 48000, 111)
    with pytest.raises(
        ValueError, match=r"^ptime_ms must be 20, 30 \(not for opus\), 40 or 60, got 30$"
    ):
        mixer.add_output("l", "opus", 111, 1, Receiver("opus"), ptime_ms=30)
    with pytest.raises(
        ValueError, match=r"^ptime_ms must be 20, 30 \(not for opus\), 40 or 60, got 25$"
    ):
        mixer.add_output("l", "PCMU", 0, 1, Receiver("PCMU"), ptime_ms=25)
    with pytest.raises(ValueError, match=r"^ssrc must be a 32-bit unsigned integer, got -1$"):
        mixer.add_output("l", "PCMU", 0, -1, Receiver("PCMU"))
    mixer.add_output("l", "PCMU", 0, 1, Receiver("PCMU"))
    with pytest.raises(ValueError, match=r"^output 'l' already exists$"):
        mixer.add_output("l", "PCMU", 0, 1, Receiver("PCMU"))
