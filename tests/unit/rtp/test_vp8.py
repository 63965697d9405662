from dataclasses import dataclass

import pytest
from aiortc.codecs.vpx import VpxPayloadDescriptor
from tests.support.video import encoded_frames

from snapconf.rtp.vp8 import Vp8Descriptor, Vp8Rewriter, parse_vp8

KEY_BODY = encoded_frames("VP8")[0][0][4:]  # a real keyframe's VP8 payload header and data
DELTA_BODY = encoded_frames("VP8")[1][0][4:]


def vp8(
    picture_id: int | None,
    *,
    tl0: int | None = None,
    tid: int | None = None,
    keyframe: bool = False,
    start: bool = True,
    short: bool = False,
) -> bytes:
    """A VP8 payload: aiortc's descriptor (15-bit picture ID) or a 7-bit one, then real data."""
    body = KEY_BODY if keyframe else DELTA_BODY
    if short:
        assert picture_id is not None and picture_id < 128 and tl0 is None and tid is None
        return bytes((0x90 if start else 0x80, 0x80, picture_id)) + body
    descriptor = VpxPayloadDescriptor(
        partition_start=int(start),
        partition_id=0,
        picture_id=picture_id,
        tl0picidx=tl0,
        tid=None if tid is None else (tid, 0),
    )
    return bytes(descriptor) + body


@dataclass
class Sent:
    picture_id: int | None
    tl0picidx: int | None


def forward(rewriter: Vp8Rewriter, payload: bytes) -> Sent:
    d = parse_vp8(payload)
    out = rewriter.rewrite(payload, d)
    assert len(out) == len(payload) and out[d.size :] == payload[d.size :]
    back = parse_vp8(out)
    assert (back.start, back.tid, back.keyframe, back.size) == (d.start, d.tid, d.keyframe, d.size)
    return Sent(back.picture_id, back.tl0picidx)


def l1t3(first_picture_id: int, first_tl0: int, frames: int) -> list[tuple[bytes, int]]:
    """``frames`` first packets of an L1T3 stream (TID pattern 0 2 1 2), keyframe first."""
    stream = []
    for i in range(frames):
        tid = (0, 2, 1, 2)[i % 4]
        tl0 = (first_tl0 + i // 4) & 0xFF
        payload = vp8((first_picture_id + i) & 0x7FFF, tl0=tl0, tid=tid, keyframe=i == 0)
        stream.append((payload, tid))
    return stream


def test_real_aiortc_vp8_packets_parse_with_a_15_bit_picture_id_and_a_keyframe_start():
    keyframe, delta = encoded_frames("VP8")[:2]
    first = parse_vp8(keyframe[0])
    assert first.start and first.partition == 0 and first.keyframe
    assert first.long_picture_id and first.size == 4
    assert (first.tl0picidx, first.tid, first.keyidx, first.layer_sync) == (None, None, None, False)
    assert not any(parse_vp8(p).keyframe or parse_vp8(p).start for p in keyframe[1:])
    assert {parse_vp8(p).picture_id for p in keyframe} == {first.picture_id}
    assert not parse_vp8(delta[0]).keyframe and parse_vp8(delta[0]).start
    assert first.picture_id is not None
    assert parse_vp8(delta[0]).picture_id == (first.picture_id + 1) & 0x7FFF


def test_every_field_of_a_full_descriptor_parses_as_aiortc_wrote_it():
    descriptor = VpxPayloadDescriptor(1, 0, picture_id=0x1234, tl0picidx=200, tid=(2, 1), keyidx=9)
    d = parse_vp8(bytes(descriptor) + DELTA_BODY)
    assert d == Vp8Descriptor(
        start=True,
        partition=0,
        picture_id=0x1234,
        long_picture_id=True,
        tl0picidx=200,
        tid=2,
        layer_sync=True,
        keyidx=9,
        size=6,
        keyframe=False,
    )


def test_a_7_bit_picture_id_and_the_n_and_pid_bits_parse():
    d = parse_vp8(bytes((0xD0, 0x80, 0x11)) + KEY_BODY)  # mediasoup's test vector, then data
    assert (d.picture_id, d.long_picture_id, d.size, d.keyframe) == (17, False, 3, True)
    later = parse_vp8(bytes((0xA3, 0x80, 0x11)) + KEY_BODY)
    assert later.non_reference and not later.start and later.partition == 3
    assert not later.keyframe  # not the start of partition 0
    minimal = parse_vp8(b"\x10" + KEY_BODY)
    assert minimal.size == 1 and minimal.picture_id is None and minimal.keyframe


def test_every_truncation_of_a_descriptor_raises_the_exact_error():
    full = bytes(VpxPayloadDescriptor(1, 0, picture_id=300, tl0picidx=1, tid=(1, 0), keyidx=2))
    with pytest.raises(ValueError, match=r"^VP8 payload is empty$"):
        parse_vp8(b"")
    for cut in range(1, len(full)):
        with pytest.raises(ValueError, match=r"^VP8 payload descriptor is truncated$"):
            parse_vp8(full[:cut])
    with pytest.raises(ValueError, match=r"^VP8 payload has no data after the descriptor$"):
        parse_vp8(full)


def test_the_first_stream_passes_through_with_its_own_ids():
    rewriter = Vp8Rewriter()
    for payload in encoded_frames("VP8")[0][:3] + encoded_frames("VP8")[1]:
        assert rewriter.rewrite(payload, parse_vp8(payload)) == payload


def test_a_switch_to_another_layer_continues_the_picture_id_and_tl0picidx():
    rewriter = Vp8Rewriter()
    sent = [forward(rewriter, p) for p, _ in l1t3(1000, 50, 6)]
    assert [s.picture_id for s in sent] == list(range(1000, 1006))
    assert [s.tl0picidx for s in sent] == [50, 50, 50, 50, 51, 51]
    rewriter.switch()
    after = [forward(rewriter, p) for p, _ in l1t3(30000, 7, 9)]
    assert [s.picture_id for s in after] == list(range(1006, 1015))
    assert [s.tl0picidx for s in after] == [52, 52, 52, 52, 53, 53, 53, 53, 54]
    rewriter.switch()
    back = [forward(rewriter, p) for p, _ in l1t3(1020, 55, 2)]
    assert [(s.picture_id, s.tl0picidx) for s in back] == [(1015, 55), (1016, 55)]


def test_every_packet_of_a_frame_gets_the_same_rewritten_ids():
    rewriter = Vp8Rewriter()
    forward(rewriter, vp8(10, tl0=3, tid=0, keyframe=True))
    rewriter.switch()
    packets = [vp8(500, tl0=90, tid=0, keyframe=True), vp8(500, tl0=90, tid=0, start=False)]
    assert [forward(rewriter, p) for p in packets] == [Sent(11, 4), Sent(11, 4)]


def test_dropping_the_tid_2_frames_leaves_no_picture_id_gap_and_keeps_tl0picidx():
    rewriter = Vp8Rewriter()
    sent = []
    for payload, tid in l1t3(2000, 9, 12):
        if tid == 2:
            d = parse_vp8(payload)
            rewriter.drop(d)
            rewriter.drop(d)  # a second packet of the same frame
        else:
            sent.append(forward(rewriter, payload))
    assert [s.picture_id for s in sent] == list(range(2000, 2006))
    assert [s.tl0picidx for s in sent] == [9, 9, 10, 10, 11, 11]


def test_dropping_base_layer_frames_while_paused_continues_tl0picidx():
    rewriter = Vp8Rewriter()
    stream = l1t3(100, 250, 12)
    sent = [forward(rewriter, p) for p, _ in stream[:4]]
    for payload, _ in stream[4:8]:
        rewriter.drop(parse_vp8(payload))
    sent += [forward(rewriter, p) for p, _ in stream[8:]]
    assert [s.picture_id for s in sent] == list(range(100, 108))
    assert [s.tl0picidx for s in sent] == [250] * 4 + [251] * 4


def test_a_late_packet_of_an_earlier_frame_keeps_its_own_id_after_a_newer_drop():
    rewriter = Vp8Rewriter()
    assert forward(rewriter, vp8(7, keyframe=True)).picture_id == 7
    assert forward(rewriter, vp8(8)).picture_id == 8
    rewriter.drop(parse_vp8(vp8(9)))
    assert forward(rewriter, vp8(10)).picture_id == 9
    assert forward(rewriter, vp8(8, start=False)).picture_id == 8  # reordered packet of frame 8
    rewriter.drop(parse_vp8(vp8(9, start=False)))  # a late packet of the dropped frame
    assert forward(rewriter, vp8(11)).picture_id == 10


def test_the_15_bit_picture_id_and_tl0picidx_wrap_without_a_gap():
    rewriter = Vp8Rewriter()
    stream = l1t3(0x7FFD, 0xFF, 8)
    sent = [forward(rewriter, p) for p, _ in stream]
    assert [s.picture_id for s in sent] == [0x7FFD, 0x7FFE, 0x7FFF, 0, 1, 2, 3, 4]
    assert [s.tl0picidx for s in sent] == [0xFF] * 4 + [0] * 4
    rewriter.switch()
    wrapped = [forward(rewriter, p) for p, _ in l1t3(0x7FF0, 0xF0, 1)]
    assert wrapped == [Sent(5, 1)]


def test_a_7_bit_picture_id_wraps_at_128_and_a_switch_continues_the_same_count():
    rewriter = Vp8Rewriter()
    ids = [126, 127, 0, 1]
    sent = [forward(rewriter, vp8(i, short=True, keyframe=i == 126)) for i in ids]
    assert [s.picture_id for s in sent] == ids
    rewriter.switch()
    long_layer = forward(rewriter, vp8(20000, keyframe=True))
    assert long_layer.picture_id == 130  # 126, 127, 128, 129 were sent modulo 128
    rewriter.switch()
    assert forward(rewriter, vp8(40, short=True, keyframe=True)).picture_id == 131 & 0x7F


def test_a_long_run_of_drops_stays_continuous_past_many_wraps():
    rewriter = Vp8Rewriter()
    sent = []
    for payload, tid in l1t3(5, 0, 70000):
        if tid == 2:
            rewriter.drop(parse_vp8(payload))
        else:
            sent.append(forward(rewriter, payload))
    ids = [s.picture_id for s in sent]
    assert ids == [(5 + i) & 0x7FFF for i in range(35000)]
    tl0s = [s.tl0picidx for s in sent]
    assert tl0s == [(i // 2) & 0xFF for i in range(35000)]


def test_the_descriptor_alone_is_the_rewritten_prefix_of_the_payload():
    payload = vp8(0x2345, tl0=17, tid=1)
    first, second = Vp8Rewriter(), Vp8Rewriter()
    for rewriter in (first, second):
        rewriter.drop(parse_vp8(vp8(0x2340, tl0=16, tid=0, keyframe=True)))  # nothing sent yet
        forward(rewriter, vp8(0x2000, tl0=1, tid=0, keyframe=True))
        rewriter.switch()
    d = parse_vp8(payload)
    descriptor = first.rewrite_descriptor(payload, d)
    assert isinstance(descriptor, bytes) and len(descriptor) == d.size
    assert descriptor + payload[d.size :] == second.rewrite(payload, d)
    assert (parse_vp8(descriptor + payload[d.size :]).picture_id, descriptor[4]) == (0x2001, 2)


def test_a_payload_without_picture_id_or_tl0picidx_is_returned_unchanged():
    payload = b"\x10" + KEY_BODY
    rewriter = Vp8Rewriter()
    assert rewriter.rewrite(payload, parse_vp8(payload)) is payload
    assert rewriter.rewrite_descriptor(payload, parse_vp8(payload)) == b"\x10"


def test_a_long_stream_without_drops_still_continues_after_a_late_drop_and_a_switch():
    rewriter = Vp8Rewriter()
    last = None
    for i in range(20000):
        last = forward(rewriter, vp8((100 + i) & 0x7FFF, keyframe=i == 0))
    assert last is not None and last.picture_id == (100 + 19999) & 0x7FFF
    rewriter.drop(parse_vp8(vp8((100 + 20000) & 0x7FFF)))
    assert forward(rewriter, vp8((100 + 20001) & 0x7FFF)).picture_id == (100 + 20000) & 0x7FFF
    rewriter.switch()
    assert forward(rewriter, vp8(3, keyframe=True)).picture_id == (100 + 20001) & 0x7FFF


def test_a_late_drop_of_a_frame_older_than_one_sent_leaves_the_sent_frame_its_id():
    rewriter = Vp8Rewriter()
    forward(rewriter, vp8(7, keyframe=True))
    assert forward(rewriter, vp8(9)).picture_id == 9
    rewriter.drop(parse_vp8(vp8(8)))  # frame 8 arrives after frame 9 started
    assert forward(rewriter, vp8(9, start=False)).picture_id == 9
    assert forward(rewriter, vp8(10)).picture_id == 10


def test_the_same_descriptor_after_a_switch_continues_from_the_last_id():
    rewriter = Vp8Rewriter()
    payload = vp8(500, tl0=5, tid=0, keyframe=True)
    assert forward(rewriter, payload) == Sent(500, 5)
    rewriter.switch()
    assert forward(rewriter, payload) == Sent(501, 6)
