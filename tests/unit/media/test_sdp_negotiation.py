from pathlib import Path

import pytest
from aiortc.sdp import SessionDescription

from snapconf.media.dtls import Fingerprint
from snapconf.media.router import EXT_ABS_SEND_TIME, EXT_AUDIO_LEVEL, EXT_MID, Codec
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


def test_a_chrome_publish_offer_is_answered_with_opus_vp8_and_the_forwarded_extensions():
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
    assert audio.extension_ids == {1: EXT_AUDIO_LEVEL, 2: EXT_ABS_SEND_TIME, 4: EXT_MID}
    assert (video.payload_type, video.ssrc, video.codec.name) == (96, 2882400001, "VP8")
    assert set(video.codec.feedback) == {"nack", "nack pli", "ccm fir", "goog-remb"}
    assert answer.remote_ufrag == "Yx3W" and answer.mid_extension_id == 4
    parsed = SessionDescription.parse(answer.sdp)
    assert [m.direction for m in parsed.media] == ["recvonly", "recvonly"]
    assert [c.mimeType for m in parsed.media for c in m.rtp.codecs] == ["audio/opus", "video/VP8"]
    assert parsed.media[0].ice.iceLite and parsed.media[0].dtls.role == "server"
    assert parsed.group[0].items == ["0", "1"]
    assert parsed.media[0].ice_candidates[0].ip == "198.51.100.7"
    assert "transport-cc" not in answer.sdp and "rtx" not in answer.sdp


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
    second = SessionDescription.parse(session.offer(LOCAL))
    assert second.media[1].port == 0 and second.group[0].items == ["r0", "r2"]
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
    empty = SessionDescription.parse(session.offer(LOCAL))
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
    session.add(consumer_key="a", kind="audio", codec=pcmu, ssrc=1, cname="p", stream_id="p", track_id="a")
    session.add(consumer_key="b", kind="audio", codec=opus, ssrc=2, cname="p", stream_id="p", track_id="b")
    offer = SessionDescription.parse(session.offer(LOCAL))
    assert [m.rtp.codecs[0].payloadType for m in offer.media] == [0, 111]
