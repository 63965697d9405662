"""Our own SDP offer, for INVITEs without one (RFC 3261 section 13.2.1, RFC 3264)."""

from __future__ import annotations

import pytest

from snapconf.dialin.sdp import SdpError, build_offer, negotiate, parse_sdp, provisional

PREFERENCE = ("opus", "G722", "PCMA", "PCMU")


def _offer(preference: tuple[str, ...] = PREFERENCE) -> str:
    return build_offer(
        preference, host="192.0.2.10", port=40000, session_id=7, version=1, ptime=20
    ).decode()


def test_our_offer_lists_every_codec_best_first_with_telephone_event_at_each_clock_rate():
    offer = parse_sdp(_offer().encode())
    (m,) = offer.media
    assert (m.media, m.port, m.proto) == ("audio", 40000, "RTP/AVP")
    assert m.formats == ["111", "9", "8", "0", "101", "110"]
    assert m.rtpmap[111] == ("opus", 48000, 2)
    assert m.rtpmap[101] == ("telephone-event", 8000, 1)
    assert m.rtpmap[110] == ("telephone-event", 48000, 1)
    assert offer.connection == "192.0.2.10"
    assert "a=fmtp:111 useinbandfec=1;minptime=10" in _offer()


def test_a_g711_only_offer_has_one_telephone_event():
    text = _offer(("PCMU",))
    assert "m=audio 40000 RTP/AVP 0 101\r\n" in text
    assert "telephone-event/48000" not in text


def test_the_answer_is_read_with_our_payload_types_and_its_address():
    answer = (
        "v=0\r\no=phone 1 1 IN IP4 198.51.100.4\r\ns=-\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\n"
        "m=audio 5004 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    chosen = negotiate(parse_sdp(answer.encode()), PREFERENCE)
    assert (chosen.codec.name, chosen.payload_type, chosen.dtmf_payload_type) == ("PCMA", 8, 101)
    assert (chosen.remote_host, chosen.remote_port) == ("198.51.100.4", 5004)


def test_an_answer_with_no_codec_of_ours_is_refused():
    answer = (
        "v=0\r\no=phone 1 1 IN IP4 198.51.100.4\r\ns=-\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\n"
        "m=audio 5004 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    with pytest.raises(SdpError):
        negotiate(parse_sdp(answer.encode()), PREFERENCE)


def test_until_the_answer_a_call_expects_our_first_codec():
    first = provisional(("PCMA", "PCMU"))
    assert (first.codec.name, first.payload_type, first.dtmf_payload_type) == ("PCMA", 8, 101)
    assert first.direction == "sendrecv" and not first.on_hold
