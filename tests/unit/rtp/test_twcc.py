import random

import pytest

from snapconf.rtp.rtcp import RtcpReceiverReport, parse_rtcp
from snapconf.rtp.twcc import RtcpTransportCc, TransportCcRecorder

# Transport-cc feedback captured from Chrome, as dissected by Wireshark in the test data of
# github.com/olivermichel/webrtc-analysis (test/include/data.h, twcc_pkt1): P bit set, one
# run-length chunk "received, small delta" x 9, nine 1-byte deltas and one byte of padding.
CHROME_TWCC = bytes.fromhex(
    "afcd0007"  # V=2 P=1 FMT=15, PT=205, length 7
    "00000001"  # sender ssrc
    "dd586eb6"  # media ssrc
    "00010009"  # base sequence 1, status count 9
    "5e911000"  # reference time 6197520, feedback count 0
    "2009"  # run-length chunk: small delta x 9
    "1c0c2c38000400081801"  # deltas x250 µs, then padding count 1
)
CHROME_ARRIVALS: list[int | None] = [7000, 10000, 21000, 35000, 35000, 36000, 36000, 38000, 44000]


def test_a_chrome_feedback_parses_to_its_arrivals_and_serialises_to_the_same_bytes() -> None:
    [packet] = parse_rtcp(CHROME_TWCC)
    assert packet == RtcpTransportCc(1, 0xDD586EB6, 1, 6197520, 0, CHROME_ARRIVALS)
    assert bytes(packet) == CHROME_TWCC


def test_a_compound_with_a_receiver_report_and_transport_cc_parses_both() -> None:
    rr = RtcpReceiverReport(0x11223344)
    packets = parse_rtcp(bytes(rr) + CHROME_TWCC)
    assert packets[0] == rr
    assert isinstance(packets[1], RtcpTransportCc)
    assert packets[1].arrivals == CHROME_ARRIVALS


def _fci(packet: bytes) -> bytes:
    return packet[12:]


def test_alternating_losses_are_written_as_a_one_bit_status_vector() -> None:
    packet = bytes(RtcpTransportCc(1, 2, 100, 5, 7, [0, None, 250, None, 500]))
    assert packet == bytes.fromhex(
        "afcd0006 00000001 00000002 00640005 00000507 aa00 000101 000003"
    )
    assert RtcpTransportCc.parse_fci(1, 2, _fci(packet)[:-3]).arrivals == [0, None, 250, None, 500]


def test_a_large_delta_is_written_as_a_two_bit_status_vector_with_two_bytes() -> None:
    packet = bytes(RtcpTransportCc(1, 2, 0, 0, 0, [0, 100_000, None]))
    # symbols small, large, not received: 11 01 10 00 00 00 00 00
    assert _fci(packet) == bytes.fromhex("00000003 00000000 d800 00 0190 000003")
    assert RtcpTransportCc.parse_fci(1, 2, _fci(packet)).arrivals == [0, 100_000, None]


def test_a_packet_that_arrived_before_the_previous_one_gets_a_negative_delta() -> None:
    packet = bytes(RtcpTransportCc(1, 2, 0, 0, 0, [10_000, 5_000]))
    assert _fci(packet) == bytes.fromhex("00000002 00000000 d800 28 ffec 000003")
    assert RtcpTransportCc.parse_fci(1, 2, _fci(packet)).arrivals == [10_000, 5_000]


def test_a_long_run_is_written_as_one_run_length_chunk() -> None:
    arrivals: list[int | None] = [i * 1000 for i in range(300)]
    packet = bytes(RtcpTransportCc(1, 2, 0, 0, 0, arrivals))
    assert _fci(packet)[8:10] == bytes.fromhex("212c")  # small delta x 300
    assert _fci(packet)[10:11] == b"\x00" and _fci(packet)[11:310] == b"\x04" * 299
    assert RtcpTransportCc.parse_fci(1, 2, _fci(packet)).arrivals == arrivals


def test_a_long_gap_of_losses_uses_a_run_length_chunk_between_vectors() -> None:
    arrivals: list[int | None] = [0, *([None] * 200), 1000]
    packet = bytes(RtcpTransportCc(1, 2, 0, 0, 0, arrivals))
    # 1 + 13 lost in a 1-bit vector, 187 lost in a run, the last one received in a run of 1
    assert _fci(packet)[8:] == bytes.fromhex("a000 00bb 2001 00 04")
    assert RtcpTransportCc.parse_fci(1, 2, _fci(packet)).arrivals == arrivals


def test_a_negative_reference_time_round_trips() -> None:
    packet = RtcpTransportCc(1, 2, 0xFFFF, -1, 255, [0])
    assert _fci(bytes(packet))[:8] == bytes.fromhex("ffff0001 ffffffff")
    [parsed] = parse_rtcp(bytes(packet))
    assert parsed == packet


def test_a_delta_beyond_16_bits_cannot_be_serialised() -> None:
    with pytest.raises(
        ValueError, match=r"^RTCP transport-cc receive delta does not fit in 16 bits$"
    ):
        bytes(RtcpTransportCc(1, 2, 0, 0, 0, [0, 0x8000 * 250]))


@pytest.mark.parametrize(
    ("fci", "message"),
    [
        (bytes.fromhex("000100090000"), "RTCP transport-cc feedback is shorter than 8 bytes"),
        (bytes.fromhex("0001000000000000"), "RTCP transport-cc packet status count is zero"),
        (bytes.fromhex("00010009 5e911000"), "RTCP transport-cc packet chunks are truncated"),
        (
            bytes.fromhex("00010009 5e911000 2009 1c0c"),
            "RTCP transport-cc receive deltas are truncated",
        ),
        (bytes.fromhex("00010002 00000000 d000"), "RTCP transport-cc receive deltas are truncated"),
        (
            bytes.fromhex("00010001 00000000 6001 00"),
            "RTCP transport-cc packet status symbol is reserved",
        ),
    ],
)
def test_a_truncated_or_invalid_feedback_is_rejected(fci: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        RtcpTransportCc.parse_fci(1, 2, fci)


def _parse(packets: list[bytes]) -> list[RtcpTransportCc]:
    parsed = [parse_rtcp(p)[0] for p in packets]
    assert all(isinstance(p, RtcpTransportCc) for p in parsed)
    return parsed  # type: ignore[return-value]


def test_the_recorder_reports_packets_across_the_sequence_wrap() -> None:
    recorder = TransportCcRecorder(0xAAAA, 0xBBBB)
    for i, seq in enumerate((65534, 65535, 0, 1)):
        recorder.record(seq, 10.0 + i * 0.001)
    [feedback] = _parse(recorder.feedback())
    assert (feedback.sender_ssrc, feedback.media_ssrc) == (0xAAAA, 0xBBBB)
    assert feedback.base_sequence == 65534
    assert feedback.reference_time == 10_000_000 // 64_000
    assert feedback.arrivals == [16000, 17000, 18000, 19000]  # 10 s is 156 x 64 ms + 16 ms
    assert recorder.feedback() == []


def test_the_recorder_reports_losses_and_reordered_packets() -> None:
    recorder = TransportCcRecorder(1)
    recorder.record(10, 1.000)
    recorder.record(13, 1.002)
    recorder.record(12, 1.003)
    [feedback] = _parse(recorder.feedback())
    assert feedback.base_sequence == 10
    start = feedback.arrivals[0]
    assert start is not None
    assert [None if a is None else a - start for a in feedback.arrivals] == [0, None, 3000, 2000]


def test_a_packet_older_than_what_was_reported_is_dropped_and_counted() -> None:
    recorder = TransportCcRecorder(1)
    recorder.record(10, 1.0)
    recorder.record(12, 1.001)
    assert len(recorder.feedback()) == 1
    recorder.record(11, 1.002)
    assert recorder.feedback() == []
    assert recorder.stats.late == 1
    recorder.record(13, 1.003)
    [feedback] = _parse(recorder.feedback())
    assert (feedback.base_sequence, len(feedback.arrivals), feedback.feedback_count) == (13, 1, 1)


def test_a_gap_longer_than_the_window_is_reported_from_its_last_window_packets() -> None:
    recorder = TransportCcRecorder(1, window=16)
    recorder.record(0, 1.0)
    recorder.record(100, 1.1)
    [feedback] = _parse(recorder.feedback())
    assert feedback.base_sequence == 85
    assert feedback.arrivals[:-1] == [None] * 15 and feedback.arrivals[-1] is not None
    assert recorder.stats.gap_skipped == 85


def test_a_delta_too_large_for_16_bits_starts_a_new_feedback_packet() -> None:
    recorder = TransportCcRecorder(1)
    recorder.record(1, 5.0)
    recorder.record(2, 15.0)
    first, second = _parse(recorder.feedback())
    assert (first.base_sequence, first.feedback_count, len(first.arrivals)) == (1, 0, 1)
    assert (second.base_sequence, second.feedback_count, len(second.arrivals)) == (2, 1, 1)
    assert second.reference_time * 64_000 + (second.arrivals[0] or 0) == 15_000_000


def test_many_packets_are_split_into_feedback_packets_under_the_size_limit() -> None:
    recorder = TransportCcRecorder(1, max_packet_size=1200)
    for seq in range(3000):
        recorder.record(seq & 0xFFFF, 2.0 + seq * 0.0005)
    packets = recorder.feedback()
    assert len(packets) > 1
    assert all(len(p) <= 1200 for p in packets)
    parsed = _parse(packets)
    covered = sum(len(p.arrivals) for p in parsed)
    assert covered == 3000
    assert parsed[0].base_sequence == 0
    assert all(a is not None for p in parsed for a in p.arrivals)


@pytest.mark.parametrize("seed", range(5))
def test_random_feedback_round_trips_through_bytes(seed: int) -> None:
    rng = random.Random(seed)
    arrivals: list[int | None] = []
    at = rng.randrange(0, 64_000, 250)
    for _ in range(rng.randrange(1, 600)):
        if rng.random() < 0.2:
            arrivals.append(None)
            continue
        at += rng.choice((0, 250, 1000, 20_000, 70_000, -5_000))
        arrivals.append(at)
    if all(a is None for a in arrivals):
        arrivals[0] = 0
    packet = RtcpTransportCc(7, 8, rng.randrange(0x10000), -3, seed, arrivals)
    [parsed] = parse_rtcp(bytes(packet))
    assert parsed == packet


def test_a_sender_whose_numbering_jumps_back_for_good_is_followed_after_64_packets() -> None:
    recorder = TransportCcRecorder(1)
    for seq in range(40000, 40010):
        recorder.record(seq, 1.0 + (seq - 40000) * 0.001)
    recorder.feedback()
    for i in range(70):
        recorder.record(20000 + i, 2.0 + i * 0.001)  # 20000 back: late, then a restart
    [feedback] = _parse(recorder.feedback())
    assert recorder.stats.late == 64 and recorder.stats.restarts == 1
    assert (feedback.base_sequence, len(feedback.arrivals)) == (20063, 7)
