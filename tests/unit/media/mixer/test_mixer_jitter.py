"""Inputs: jitter buffer, loss concealment, bad packets, timeline jumps."""

from __future__ import annotations

import random

import numpy as np
import pytest
from mixer_testkit import Receiver, Sender, band_db, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig


def one_talker(
    codec: str = "opus",
    config: MixerConfig | None = None,
) -> tuple[Mixer, Sender, Receiver]:
    mixer = Mixer(config or MixerConfig(), FakeClock())
    spec = get_codec(codec)
    pt = spec.static_payload_type if spec.static_payload_type is not None else 111
    s = Sender(mixer.add_input("talker", codec, spec.clock_rate, pt), codec, 440.0, 8000.0, pt=pt)
    rx = Receiver("opus")
    mixer.add_output("listener", "opus", 111, 1, rx)
    return mixer, s, rx


def longest_gap_ms(pcm: np.ndarray, rate: int, threshold: int = 200) -> float:
    """Longest run of samples quieter than ``threshold`` (a 440 Hz tone crosses zero often:
    runs shorter than its half period do not count as gaps)."""
    quiet = np.abs(pcm.astype(np.int32)) < threshold
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return 1000 * longest / rate


def play_schedule(
    mixer: Mixer, s: Sender, ticks: int, lost: set[int], delay: dict[int, int]
) -> None:
    """Packet k is made at tick k, dropped if in ``lost``, delivered ``delay[k]`` ticks late."""
    pending: dict[int, list[tuple[int, int, int, bytes, int | None]]] = {}
    for t in range(ticks):
        pkt = s.packet()
        if t not in lost:
            pending.setdefault(t + delay.get(t, 0), []).append(pkt)
        for p in pending.pop(t, []):
            s.inp.push(*p)
        mixer.tick()


@pytest.mark.parametrize("codec", ["opus", "PCMU"])
def test_loss_and_reordering_leave_no_gap(codec: str) -> None:
    mixer, s, rx = one_talker(codec)
    rng = random.Random(7)
    ticks = 250
    lost: set[int] = set()
    for t in range(20, ticks):
        if rng.random() < 0.08 and t - 1 not in lost:
            lost.add(t)  # isolated losses (bursts: next test)
    delay = {t: 1 for t in range(20, ticks) if rng.random() < 0.1 and t not in lost}  # swapped
    play_schedule(mixer, s, ticks, lost, delay)
    st = mixer.stats
    assert st.dropped_late == 0  # a packet one tick late is within the 40 ms playout delay
    assert st.concealed_frames + st.fec_frames >= len(lost)
    pcm = rx.decode(skip_packets=20)
    assert longest_gap_ms(pcm, 48000) < 5.0  # never silent: every loss was concealed
    assert band_db(pcm, 48000, 440.0) > band_db(pcm, 48000, 1500.0) + 30
    if codec == "opus":
        assert st.fec_frames > 0  # the next packet had arrived: in-band FEC was used


@pytest.mark.parametrize("codec", ["opus", "PCMU"])
def test_long_burst_is_concealed_only_up_to_max_plc(codec: str) -> None:
    config = MixerConfig(max_plc_ms=60, hangover_ms=2000)
    mixer, s, rx = one_talker(codec, config)
    burst = set(range(50, 60))  # 200 ms lost
    play_schedule(mixer, s, 100, burst, {})
    pcm = rx.decode(skip_packets=20)
    gap = longest_gap_ms(pcm, 48000, threshold=50)
    # at most 60 ms of the 200 ms are concealed, so silence fills the rest (give or take
    # the codec's fade); never more than the burst itself
    assert 200 - 60 - 30 <= gap <= 200 + 10
    assert mixer.talkers == ["talker"]  # within the hangover, the talker kept its place


def test_duplicates_and_late_packets_are_counted_and_skipped() -> None:
    mixer, s, rx = one_talker()
    packets = [s.packet() for _ in range(30)]
    for pkt in packets[:10]:
        s.inp.push(*pkt)
        s.inp.push(*pkt)  # duplicated by the network
        mixer.tick()
    st = mixer.stats
    assert st.dropped_duplicate == 10
    s.inp.push(*packets[2])  # long played: a duplicate too
    assert st.dropped_duplicate == 11
    # packet 10 is lost... then turns up after its playout time
    for pkt in packets[11:16]:
        s.inp.push(*pkt)
        mixer.tick()
    s.inp.push(*packets[10])
    assert st.dropped_late == 1
    assert st.packets_in == 10 * 2 + 1 + 5 + 1
    for pkt in packets[16:]:
        s.inp.push(*pkt)
        mixer.tick()
    assert st.jitter_stretches == 1  # the late packet made the playout one frame more patient
    assert len(rx.packets) == st.ticks  # one packet per tick whatever happened


def test_adaptive_delay_grows_on_lateness_then_shrinks() -> None:
    mixer, s, _ = one_talker()
    # every packet arrives 3 ticks late for a while: the delay grows to absorb it
    delay = {t: 3 for t in range(10, 60)}
    play_schedule(mixer, s, 60, set(), delay)
    st = mixer.stats
    late_at_first = st.dropped_late
    assert late_at_first >= 1
    assert st.jitter_stretches >= 1
    # from now on the network is fast again: after a 2 s window, the extra delay is removed
    play_schedule(mixer, s, 400, set(), {})
    assert st.dropped_late == late_at_first
    assert st.jitter_shrinks >= 1


def test_bad_packets_are_counted_and_the_bridge_keeps_ticking() -> None:
    mixer, s, rx = one_talker()
    bad = mixer.add_input("bad", "opus", 48000, 111)
    mixer.add_output("bad", "opus", 111, 2, Receiver("opus"), own_input_id="bad")
    seq, ts = 1, 100
    for t in range(60):
        s.send()
        bad.push_rtp(b"\x80\x6f\x00")  # truncated header
        bad.push_rtp(b"\x40" + bytes(20))  # RTP version 1
        bad.push(seq, ts, 111, b"\xfc", 300)  # audio level out of range
        bad.push(seq, ts, 96, b"\xfc", 10)  # payload type not negotiated
        bad.push(seq, ts, 111, b"\xff\xff\xff\xff", 10)  # impossible Opus framing
        bad.push(seq, ts, 111, b"", 10)  # empty
        # on even ticks a packet that parses (20 ms) but fails to decode, else a good one
        bad.push(seq, ts, 111, b"\x0b\x41" if t % 2 == 0 else b"\xfc", 0)
        bad.push(seq + 1, ts + 2_000_000_000, 111, b"\xfc", 10)  # huge timestamp jump
        seq += 2
        ts += 960
        mixer.tick()
    st = mixer.stats
    assert st.dropped_malformed == 60 * 3
    assert st.dropped_wrong_pt == 60
    assert st.dropped_ts_jump >= 59  # counted when the next packet is back on the timeline
    assert st.resyncs == 0
    assert 60 * 2 + 25 <= st.dropped_undecodable <= 60 * 2 + 30  # 2 at push, 1 when played
    assert st.ticks == 60
    assert len(rx.packets) == 60  # the listener got every tick
    pcm = rx.decode(skip_packets=20)
    assert band_db(pcm, 48000, 440.0) > band_db(pcm, 48000, 1500.0) + 30


def test_sender_restart_resynchronises() -> None:
    mixer, s, rx = one_talker()
    run_ticks(mixer, [s], 30)
    s.seq += 31000  # a new SSRC: new random sequence and timestamp bases
    s.ts += 1_234_567_890
    s.freq = 660.0
    run_ticks(mixer, [s], 40)
    st = mixer.stats
    assert st.resyncs == 1
    assert st.dropped_ts_jump == 0
    assert mixer.talkers == ["talker"]
    pcm = rx.decode(skip_packets=len(rx.packets) - 30)
    assert band_db(pcm, 48000, 660.0) > band_db(pcm, 48000, 1500.0) + 30
    assert longest_gap_ms(pcm, 48000) < 5.0


def test_silent_inputs_are_not_decoded() -> None:
    """Silent inputs cost no decode: RFC 6464 level 127, Opus DTX frames, and G.711 without
    levels (measured from its codes)."""
    mixer = Mixer(MixerConfig(), FakeClock())
    talker = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    quiet = [Sender(mixer.add_input(f"q{k}", "opus", 48000, 111), "opus") for k in range(5)]
    dtx = mixer.add_input("dtx", "opus", 48000, 111)
    phone = mixer.add_input("phone", "PCMU", 8000, 0)
    noise = np.random.default_rng(5).normal(0, 20, 160 * 50)  # line noise, about -64 dBov
    encoder = get_codec("PCMU").new_encoder()
    mixer.add_output("l", "opus", 111, 1, Receiver("opus"))
    for t in range(50):
        talker.send()
        for q in quiet:
            q.send()  # RFC 6464 level 127: silence
        dtx.push(t, t * 960, 111, b"\xf8", None)  # a one-byte Opus DTX frame, no level
        faint = np.rint(noise[t * 160 : (t + 1) * 160]).astype(np.int16)
        phone.push(t, t * 160, 0, encoder.encode(faint), None)  # no level: peak from codes
        mixer.tick()
    st = mixer.stats
    assert st.decodes == 50 - 2  # the talker only (after the 40 ms playout delay)
    # the others' packets were dropped unseen (the last ones may still wait in a buffer)
    assert 50 * 7 - 7 * 2 <= st.skipped_packets <= 50 * 7
