"""The RFC 6464 audio level of callers, negotiated with RFC 8285 ``a=extmap`` in SDP."""

from __future__ import annotations

from snapconf.dialin.sdp import build_answer, build_offer, negotiate, parse_sdp

LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
PREFERENCE = ("opus", "PCMA", "PCMU")


def _offer(*extmaps: str) -> bytes:
    lines = [
        "v=0",
        "o=phone 1 1 IN IP4 198.51.100.4",
        "s=-",
        "c=IN IP4 198.51.100.4",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0 101",
        "a=rtpmap:101 telephone-event/8000",
        *extmaps,
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _answer_to(offer: bytes) -> tuple[int | None, str]:
    parsed = parse_sdp(offer)
    chosen = negotiate(parsed, PREFERENCE)
    answer = build_answer(
        parsed, chosen, host="192.0.2.10", port=40000, session_id=7, version=1, ptime=20
    )
    return chosen.audio_level_id, answer.decode()


def test_a_caller_that_offers_its_audio_level_gets_it_accepted_under_its_id() -> None:
    level_id, answer = _answer_to(_offer("a=extmap:3 " + LEVEL + " vad=on"))
    assert level_id == 3
    assert f"a=extmap:3 {LEVEL}\r\n" in answer


def test_a_caller_without_audio_level_gets_no_extension_in_the_answer() -> None:
    level_id, answer = _answer_to(_offer("a=extmap:2 urn:ietf:params:rtp-hdrext:toffset"))
    assert level_id is None
    assert "a=extmap" not in answer


def test_an_audio_level_the_caller_would_not_send_or_out_of_the_one_byte_range_is_ignored() -> None:
    for extmap in (f"a=extmap:4/recvonly {LEVEL}", f"a=extmap:15 {LEVEL}", f"a=extmap:x {LEVEL}"):
        level_id, answer = _answer_to(_offer(extmap))
        assert level_id is None, extmap
        assert "a=extmap" not in answer


def test_our_offer_proposes_the_audio_level_and_an_answer_that_keeps_it_is_read() -> None:
    offer = build_offer(
        PREFERENCE, host="192.0.2.10", port=40000, session_id=7, version=1, ptime=20
    )
    assert f"a=extmap:1 {LEVEL}\r\n" in offer.decode()
    answer = _offer(f"a=extmap:1/sendonly {LEVEL}").replace(b"RTP/AVP 0 101", b"RTP/AVP 8")
    assert negotiate(parse_sdp(answer), PREFERENCE).audio_level_id == 1
