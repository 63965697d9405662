from pathlib import Path

import pytest
from aiortc.sdp import SessionDescription

from snapconf.media.dtls import Fingerprint
from snapconf.media.router import (
    EXT_ABS_SEND_TIME,
    EXT_AUDIO_LEVEL,
    EXT_MID,
    EXT_REPAIRED_RID,
    EXT_RID,
    EXT_TRANSPORT_CC,
    Codec,
)
from snapconf.media.sdp import (
    LocalEndpoint,
    ReceiveSession,
    SdpError,
    answer_publish,
)

CHROME_OFFER = (Path(__file__).parents[2] / "data" / "chrome_publish_offer.sdp").read_text()
CHROME_OFFER = CHROME_OFFER.replace("\n", "\r\n")
LOCAL = LocalEndpoint(
    "srvufrag",
    "srvpassword0123456789abc",
    Fingerprint("sha-256", "AA:BB"),
    [("198.51.100.7", 10000)],
)


def test_a_chrome_publish_offer_is_answered_with_opus_vp8_rtx_and_transport_cc():
    answer = answer_publish(
        CHROME_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["VP8", "H264"]
    )
    audio, video = answer.tracks
    assert (audio.mid, audio.kind, audio.payload_type, audio.ssrc) == (
        "0",
        "audio",
        111,
        3735928559,
    )
    assert audio.codec.name == "opus" and audio.codec.channels == 2
    assert audio.extension_ids == {
        1: EXT_AUDIO_LEVEL,
        2: EXT_ABS_SEND_TIME,
        3: EXT_TRANSPORT_CC,
        4: EXT_MID,
    }
    assert dict(audio.codec.parameters) == {"minptime": "10", "usedtx": "1", "useinbandfec": "1"}
    assert (video.payload_type, video.ssrc, video.codec.name) == (96, 2882400001, "VP8")
    assert set(video.codec.feedback) == {
        "nack",
        "nack pli",
        "ccm fir",
        "goog-remb",
        "transport-cc",
    }
    assert video.rtx_payload_type == 97 and video.rids == ()
    assert answer.remote_ufrag == "Yx3W" and answer.mid_extension_id == 4
    parsed = SessionDescription.parse(answer.sdp)
    assert [m.direction for m in parsed.media] == ["recvonly", "recvonly"]
    assert [c.mimeType for m in parsed.media for c in m.rtp.codecs] == [
        "audio/opus",
        "video/VP8",
        "video/rtx",
    ]
    assert parsed.media[1].rtp.codecs[1].parameters == {"apt": 96}
    assert parsed.media[0].ice.iceLite and parsed.media[0].dtls.role == "server"
    assert parsed.group[0].items == ["0", "1"]
    assert parsed.media[0].ice_candidates[0].ip == "198.51.100.7"
    assert "a=rtcp-fb:111 transport-cc" in answer.sdp and "a=rtcp-fb:96 transport-cc" in answer.sdp
    assert "a=simulcast" not in answer.sdp


CHROME_SIMULCAST_OFFER = (
    Path(__file__).parents[2] / "data" / "chrome_simulcast_offer.sdp"
).read_text()


def test_a_chrome_simulcast_offer_is_answered_with_its_three_rids_lowest_first():
    answer = answer_publish(
        CHROME_SIMULCAST_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"]
    )
    video = answer.tracks[1]
    assert video.rids == ("q", "h", "f")
    assert video.ssrc is None  # Chromium lists no SSRC with rids: they are learnt from RFC 8852
    assert {EXT_RID, EXT_REPAIRED_RID, EXT_TRANSPORT_CC} <= set(video.extension_ids.values())
    assert video.rtx_payload_type == 97
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\n" in answer.sdp
    assert "a=simulcast:recv q;h;f\r\n" in answer.sdp


def test_paused_and_unsent_rids_are_left_out_of_the_simulcast_answer():
    offer = CHROME_SIMULCAST_OFFER.replace("a=rid:h send", "a=rid:h recv").replace(
        "a=simulcast:send q;h;f", "a=simulcast:send q;h;~f"
    )
    answer = answer_publish(offer, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"])
    # one stream left is no simulcast at all
    assert answer.tracks[1].rids == ()
    assert "a=simulcast" not in answer.sdp


def test_h264_with_packetization_mode_1_is_chosen_when_preferred():
    answer = answer_publish(CHROME_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["H264"])
    video = answer.tracks[1]
    assert video.payload_type == 102
    assert dict(video.codec.parameters)["profile-level-id"] == "42001f"


def test_a_section_without_an_acceptable_codec_is_rejected_with_port_0():
    answer = answer_publish(CHROME_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["AV2"])
    assert [t.kind for t in answer.tracks] == ["audio"]
    parsed = SessionDescription.parse(answer.sdp)
    assert parsed.media[1].port == 0 and parsed.group[0].items == ["0"]


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("", "sdp is empty"),
        ("hello", "sdp does not start with v=0"),
        ("v=0\r\n" + "a=x\r\n" * 20000, "sdp is too long"),
        (
            CHROME_OFFER.replace("a=ice-pwd:hW1mNQq2jMuMmlcvJ6d7dZ2Q\r\n", ""),
            "sdp has no ice-ufrag or ice-pwd",
        ),
        (
            CHROME_OFFER.replace("a=sendonly", "a=recvonly"),
            "sdp offers no audio or video track the server can receive",
        ),
    ],
)
def test_bad_offers_raise_clear_errors(sdp, message):
    with pytest.raises(SdpError) as info:
        answer_publish(sdp, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"])
    assert str(info.value) == message


def test_a_garbled_offer_is_an_sdp_error_not_a_crash():
    with pytest.raises(SdpError, match="sdp is malformed"):
        answer_publish(
            "v=0\r\nm=audio x y z\r\n", LOCAL, audio_codecs=["opus"], video_codecs=["VP8"]
        )


def test_receive_offers_recycle_closed_sections_with_new_mids_and_unique_payload_types():
    session = ReceiveSession()
    opus = Codec("opus", 48000, 2, (("minptime", "10"),))
    vp8 = Codec("VP8", 90000)
    h264 = Codec("H264", 90000, 1, (("packetization-mode", "1"), ("profile-level-id", "42e01f")))
    session.add(
        consumer_key="a", kind="audio", codec=opus, ssrc=1, cname="p1", stream_id="p1", track_id="a"
    )
    session.add(
        consumer_key="v", kind="video", codec=vp8, ssrc=2, cname="p1", stream_id="p1", track_id="v"
    )
    session.add(
        consumer_key="h", kind="video", codec=h264, ssrc=3, cname="p2", stream_id="p2", track_id="h"
    )
    first = SessionDescription.parse(session.offer(LOCAL))
    pts = [m.rtp.codecs[0].payloadType for m in first.media]
    assert len(set(pts)) == 3 and pts[0] == 111
    assert [m.direction for m in first.media] == ["sendonly"] * 3
    assert first.media[0].msid == "p1 a" and first.media[0].ssrc[0].ssrc == 1
    session.remove("v")
    second_sdp = session.offer(LOCAL)
    second = SessionDescription.parse(second_sdp)
    assert second.media[1].port == 0 and second.group[0].items == ["r0", "r2"]
    session.apply_answer(_browser_answer(second_sdp))  # the browser has r1 closed now
    session.add(
        consumer_key="b", kind="audio", codec=opus, ssrc=4, cname="p3", stream_id="p3", track_id="b"
    )
    third = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.muxId for m in third.media] == ["r0", "r3", "r2"]
    assert third.media[1].kind == "audio" and third.media[1].port != 0
    assert session.version == 3


def test_an_offer_without_any_remote_track_keeps_its_bundle_tag():
    session = ReceiveSession()
    opus = Codec("opus", 48000, 2)
    session.add(
        consumer_key="a", kind="audio", codec=opus, ssrc=1, cname="p", stream_id="p", track_id="a"
    )
    session.add(
        consumer_key="b", kind="audio", codec=opus, ssrc=2, cname="p", stream_id="p", track_id="b"
    )
    session.offer(LOCAL)
    session.remove("a")
    session.remove("b")
    empty_sdp = session.offer(LOCAL)
    session.apply_answer(_browser_answer(empty_sdp))
    empty = SessionDescription.parse(empty_sdp)
    assert empty.group[0].items == ["r0"]
    assert empty.media[0].port == 10000 and empty.media[0].direction == "inactive"
    assert empty.media[1].port == 0
    session.add(
        consumer_key="c", kind="audio", codec=opus, ssrc=3, cname="q", stream_id="q", track_id="c"
    )
    again = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.muxId for m in again.media] == ["r0", "r2"]  # the tag is never recycled
    assert again.group[0].items == ["r0", "r2"]


def test_static_codecs_keep_their_rfc_3551_payload_types_and_opus_keeps_111():
    session = ReceiveSession()
    pcmu, opus = Codec("PCMU", 8000), Codec("opus", 48000, 2)
    session.add(
        consumer_key="a", kind="audio", codec=pcmu, ssrc=1, cname="p", stream_id="p", track_id="a"
    )
    session.add(
        consumer_key="b", kind="audio", codec=opus, ssrc=2, cname="p", stream_id="p", track_id="b"
    )
    offer = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.codecs[0].payloadType for m in offer.media] == [0, 111]


# ------------------------------------------------------------------- Firefox and rejections

FIREFOX_OFFER = (Path(__file__).parents[2] / "data" / "firefox_publish_offer.sdp").read_text()
FIREFOX_OFFER = FIREFOX_OFFER.replace("\n", "\r\n")


def test_a_firefox_offer_with_a_bundle_only_video_section_gets_its_video_accepted():
    # Firefox (max-bundle) offers every section but the first with port 0 and a=bundle-only
    assert "m=video 0 " in FIREFOX_OFFER and "a=bundle-only" in FIREFOX_OFFER
    answer = answer_publish(FIREFOX_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"])
    audio, video = answer.tracks
    assert (audio.mid, audio.payload_type, audio.ssrc) == ("0", 109, 78883118)
    assert (video.mid, video.kind, video.codec.name) == ("1", "video", "VP8")
    assert (video.payload_type, video.ssrc) == (120, 2275645327)
    assert answer.rejected == []
    parsed = SessionDescription.parse(answer.sdp)
    assert [m.port for m in parsed.media] == [10000, 10000]
    assert [m.direction for m in parsed.media] == ["recvonly", "recvonly"]
    assert parsed.group[0].items == ["0", "1"]
    assert "bundle-only" not in answer.sdp  # never in an answer (RFC 8843 §7.3.1)
    assert answer.remote_ufrag == "6b2b61e0" and answer.mid_extension_id == 3


def _stopped_video(offer: str) -> str:
    """The offer as Firefox writes it once the video transceiver is stopped: port 0, out
    of the BUNDLE group, no bundle-only (RFC 8829 §5.2.2)."""
    out = offer.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
    return out.replace("a=bundle-only\r\n", "").replace(
        "a=sendonly\r\na=extmap:3", "a=inactive\r\na=extmap:3"
    )


def test_a_stopped_transceiver_with_port_0_outside_the_bundle_group_stays_rejected():
    answer = answer_publish(
        _stopped_video(FIREFOX_OFFER), LOCAL, audio_codecs=["opus"], video_codecs=["VP8"]
    )
    assert [t.kind for t in answer.tracks] == ["audio"]
    assert [(r.mid, r.kind, r.reason) for r in answer.rejected] == [("1", "video", "stopped")]
    parsed = SessionDescription.parse(answer.sdp)
    assert parsed.media[1].port == 0 and parsed.group[0].items == ["0"]


def test_a_port_0_section_outside_the_bundle_group_is_stopped_even_if_it_says_sendonly():
    offer = FIREFOX_OFFER.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
    answer = answer_publish(offer, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"])
    assert [(r.mid, r.reason) for r in answer.rejected] == [("1", "stopped")]


def test_every_rejected_section_is_reported_with_its_mid_kind_and_reason():
    answer = answer_publish(CHROME_OFFER, LOCAL, audio_codecs=["opus"], video_codecs=["AV2"])
    assert [(r.mid, r.kind, r.reason) for r in answer.rejected] == [("1", "video", "no_codec")]
    assert answer.rejected[0].describe() == {"mid": "1", "kind": "video", "reason": "no_codec"}
    recvonly = CHROME_OFFER.replace(
        "a=sendonly\r\na=msid:0c6dbbf4-6d8c-4e5e-a5c9-5b5b8e0a1e2f 9c0b",
        "a=recvonly\r\na=msid:0c6dbbf4-6d8c-4e5e-a5c9-5b5b8e0a1e2f 9c0b",
    )
    answer = answer_publish(recvonly, LOCAL, audio_codecs=["opus"], video_codecs=["VP8"])
    assert [(r.mid, r.reason) for r in answer.rejected] == [("1", "not_sending")]


# ------------------------------------------------------------------- receive m-line order


def _browser_answer(offer_sdp: str) -> str:
    """A browser's answer to a receive offer: every open section taken ``recvonly``."""
    offer = SessionDescription.parse(offer_sdp)
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    open_mids = [m.rtp.muxId for m in offer.media if m.port != 0]
    lines.append("a=group:BUNDLE " + " ".join(open_mids))
    for media in offer.media:
        port = 9 if media.port != 0 else 0
        fmt = " ".join(str(f) for f in media.fmt)
        lines += [f"m={media.kind} {port} UDP/TLS/RTP/SAVPF {fmt}", "c=IN IP4 0.0.0.0"]
        lines += [f"a=mid:{media.rtp.muxId}"]
        lines.append("a=recvonly" if media.direction == "sendonly" else "a=inactive")
        lines += [
            "a=ice-ufrag:brws",
            "a=ice-pwd:browserpassword0123456789",
            "a=fingerprint:sha-256 CC:DD",
            "a=setup:active",
            "a=rtcp-mux",
        ]
        for codec in media.rtp.codecs:
            lines.append(
                f"a=rtpmap:{codec.payloadType} {codec.mimeType.split('/')[1]}/{codec.clockRate}"
            )
    return "\r\n".join(lines) + "\r\n"


def _add(session: ReceiveSession, key: str, codec: Codec, ssrc: int) -> None:
    session.add(
        consumer_key=key,
        kind="audio",
        codec=codec,
        ssrc=ssrc,
        cname="p",
        stream_id="p",
        track_id=key,
    )


def test_a_section_closed_in_this_round_is_announced_closed_before_it_is_reused():
    """Tracks -> mix: both audio consumers go and the mix comes before the next offer."""
    session = ReceiveSession()
    opus = Codec("opus", 48000, 2)
    _add(session, "a", opus, 1)
    _add(session, "b", opus, 2)
    first_sdp = session.offer(LOCAL)
    first = SessionDescription.parse(first_sdp)
    assert [m.rtp.muxId for m in first.media] == ["r0", "r1"]
    session.apply_answer(_browser_answer(first_sdp))
    session.remove("a")
    session.remove("b")
    _add(session, "mix", opus, 3)

    second_sdp = session.offer(LOCAL)
    second = SessionDescription.parse(second_sdp)
    # the m-lines of the previous offer keep their place and mid; r1 is announced closed
    assert [m.rtp.muxId for m in second.media][:2] == ["r0", "r1"]
    assert [m.rtp.muxId for m in second.media] == ["r0", "r1", "r2"]
    assert second.media[1].port == 0 and second.media[2].direction == "sendonly"
    assert second.group[0].items == ["r0", "r2"]
    answer = session.apply_answer(_browser_answer(second_sdp))
    assert list(answer.accepted) == ["mix"] and answer.refused == []

    # now the browser has r1 closed too: a newcomer may take its place, with a new mid
    _add(session, "c", opus, 4)
    third = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.muxId for m in third.media] == ["r0", "r3", "r2"]
    assert third.media[1].port != 0 and third.media[1].direction == "sendonly"


def test_a_closure_offered_but_not_yet_answered_is_not_reused():
    session = ReceiveSession()
    opus = Codec("opus", 48000, 2)
    _add(session, "a", opus, 1)
    _add(session, "b", opus, 2)
    session.apply_answer(_browser_answer(session.offer(LOCAL)))
    session.remove("b")
    pending = session.offer(LOCAL)  # announces r1 closed; the browser has not answered
    _add(session, "c", opus, 3)  # arrives while that offer waits
    answer = session.apply_answer(_browser_answer(pending))
    assert "c" not in answer.refused  # not in the answered offer: the next offer carries it
    nxt = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.muxId for m in nxt.media] == ["r0", "r1", "r2"]
    assert nxt.media[2].direction == "sendonly"


def test_a_consumer_that_comes_and_goes_between_two_offers_leaves_no_trace():
    session = ReceiveSession()
    opus = Codec("opus", 48000, 2)
    _add(session, "a", opus, 1)
    _add(session, "b", opus, 2)
    session.apply_answer(_browser_answer(session.offer(LOCAL)))
    session.remove("b")
    session.apply_answer(_browser_answer(session.offer(LOCAL)))
    _add(session, "c", opus, 3)  # takes r1's place...
    session.remove("c")  # ...and goes before any offer named it
    _add(session, "d", opus, 4)
    session.remove("d")
    again = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.muxId for m in again.media] == ["r0", "r1"]
    assert again.media[1].port == 0
