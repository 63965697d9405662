"""Unit tests of the gateway's pure parts: SDP, RTP/DTMF, protection, config, directory,
number masking, prompts and session timers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from snapconf.dialin.bridge import mask_number
from snapconf.dialin.call import SessionTimer
from snapconf.dialin.config import SipConfig, SipTimers
from snapconf.dialin.directory import ConferenceState, StaticConferenceDirectory
from snapconf.dialin.dtmf import DtmfReceiver, parse_dtmf_relay
from snapconf.dialin.message import SipRequest, parse_message
from snapconf.dialin.prompts import PROMPT_NAMES, PromptLibrary, count_prompts
from snapconf.dialin.protection import (
    Allowlist,
    LogThrottle,
    PinFailures,
    PinGuard,
    RateLimiter,
    TokenBucket,
    source_key,
)
from snapconf.dialin.sdp import SdpError, build_answer, negotiate, parse_sdp
from snapconf.media.codecs import get_codec
from snapconf.rtp.packet import parse_rtp_header

OFFER = b"""v=0\r
o=phone 1 1 IN IP4 192.0.2.10\r
s=-\r
c=IN IP4 192.0.2.10\r
t=0 0\r
m=audio 4000 RTP/AVP 0 8 9 111 101 102\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 useinbandfec=1\r
a=rtpmap:101 telephone-event/8000\r
a=rtpmap:102 telephone-event/48000\r
a=ptime:30\r
m=video 5000 RTP/AVP 96\r
a=rtpmap:96 H264/90000\r
"""


def test_sdp_prefers_opus_with_dtmf_at_its_rate() -> None:
    offer = parse_sdp(OFFER)
    n = negotiate(offer, ("opus", "G722", "PCMA", "PCMU"))
    assert (n.codec.name, n.payload_type, n.dtmf_payload_type) == ("opus", 111, 102)
    assert (n.remote_host, n.remote_port, n.remote_rtcp_port) == ("192.0.2.10", 4000, 4001)
    assert n.remote_ptime == 30
    answer = build_answer(offer, n, host="127.0.0.1", port=20000, session_id=7, version=1,
                          ptime=20).decode()
    assert "m=audio 20000 RTP/AVP 111 102\r\n" in answer
    assert "a=rtpmap:111 opus/48000/2\r\n" in answer
    assert "a=rtpmap:102 telephone-event/48000\r\n" in answer
    assert "m=video 0 RTP/AVP 96\r\n" in answer  # refused stream, RFC 3264 section 6
    assert "a=ptime:20\r\n" in answer


@pytest.mark.parametrize(
    ("prefs", "codec", "pt", "dtmf"),
    [(("G722", "PCMA"), "G722", 9, 101), (("PCMA",), "PCMA", 8, 101), (("PCMU",), "PCMU", 0, 101)],
)
def test_sdp_static_payload_types(prefs: tuple[str, ...], codec: str, pt: int, dtmf: int) -> None:
    n = negotiate(parse_sdp(OFFER), prefs)
    assert (n.codec.name, n.payload_type, n.dtmf_payload_type) == (codec, pt, dtmf)


def test_sdp_hold_forms() -> None:
    base = OFFER.replace(b"a=ptime:30\r\n", b"a=ptime:30\r\na=sendonly\r\n")
    n = negotiate(parse_sdp(base), ("PCMU",))
    assert (n.direction, n.answer_direction, n.on_hold) == ("sendonly", "recvonly", True)
    zero = OFFER.replace(b"c=IN IP4 192.0.2.10", b"c=IN IP4 0.0.0.0")
    n = negotiate(parse_sdp(zero), ("PCMU",))
    assert (n.direction, n.on_hold) == ("inactive", True)


def test_sdp_errors() -> None:
    with pytest.raises(SdpError, match="no acceptable audio stream"):
        negotiate(parse_sdp(OFFER), ())
    srtp = OFFER.replace(b"RTP/AVP 0 8", b"RTP/SAVP 0 8")
    with pytest.raises(SdpError, match="no acceptable audio stream"):
        negotiate(parse_sdp(srtp), ("PCMU",))
    for bad, message in [
        (b"", "SDP does not start with v=0"),
        (b"v=0\r\nxyz\r\n", "bad SDP line 'xyz'"),
        (b"v=0\r\nc=IN IP4 nothost\r\n", "c= address 'nothost' is not an IP address"),
        (b"v=0\r\nm=audio x RTP/AVP 0\r\n", "bad m= port 'x'"),
        (b"v=0\r\ns=-\r\n", "SDP has no o= line"),
    ]:
        with pytest.raises(SdpError) as exc:
            parse_sdp(bad)
        assert str(exc.value) == message


def rtp(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 1) + payload


def read_pcap(path: Path) -> list[bytes]:
    """UDP payloads of a classic pcap (Ethernet, IPv4) file."""
    data = path.read_bytes()
    out = []
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        out.append(frame[14 + ihl + 8 :])
    return out


SIPP_PCAPS = Path("/usr/share/sip-tester")


def test_dtmf_from_sipp_captures_deduplicated() -> None:
    """SIPp's shipped RFC 4733 captures: each digit once, even when replayed twice in a row."""
    if not SIPP_PCAPS.exists():
        pytest.fail("sip-tester (SIPp) is required for its DTMF captures")
    digits: list[str] = []
    rx = DtmfReceiver(digits.append)
    sequence = ["1", "1", "2", "pound", "star", "0"]
    for name in sequence:
        for packet in read_pcap(SIPP_PCAPS / f"dtmf_2833_{name}.pcap"):
            h = parse_rtp_header(packet)
            rx.receive(h.marker, h.timestamp, packet[h.payload_offset : len(packet) - h.padding_length])
    assert digits == ["1", "1", "2", "#", "*", "0"]


def test_dtmf_receiver_end_repeats_and_new_timestamps() -> None:
    digits: list[str] = []
    rx = DtmfReceiver(digits.append)
    for ts, ev in [(100, 5), (900, 5), (1700, 11)]:
        rx.receive(True, ts, bytes([ev, 10, 0, 160]))
        rx.receive(False, ts, bytes([ev, 10, 1, 64]))
        for _ in range(3):
            rx.receive(False, ts, bytes([ev, 0x80 | 10, 2, 128]))
    rx.receive(False, 2500, b"\x01")  # short payload ignored
    assert digits == ["5", "5", "#"]


def test_dtmf_receiver_overlapping_events_counted_once() -> None:
    """A late end repeat of "1" arriving after "2" started must not make a second "1"."""
    digits: list[str] = []
    rx = DtmfReceiver(digits.append)
    rx.receive(True, 100, bytes([1, 10, 0, 160]))
    rx.receive(False, 100, bytes([1, 0x8A, 2, 128]))
    rx.receive(True, 900, bytes([2, 10, 0, 160]))
    rx.receive(False, 100, bytes([1, 0x8A, 2, 128]))
    rx.receive(False, 900, bytes([2, 0x8A, 2, 128]))
    rx.receive(False, 100, bytes([1, 0x8A, 2, 128]))
    rx.receive(False, 900, bytes([2, 0x8A, 2, 128]))
    assert digits == ["1", "2"]


def test_dtmf_relay_bodies() -> None:
    assert parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n") == "5"
    assert parse_dtmf_relay(b"Signal= #\r\nDuration=160") == "#"
    assert parse_dtmf_relay(b"signal=11\r\n") == "#"
    assert parse_dtmf_relay(b"Duration=160") is None
    assert parse_dtmf_relay(b"\xff") is None


def test_token_bucket_and_rate_limiter() -> None:
    b = TokenBucket(rate=2, burst=3, now=0)
    assert [b.take(0) for _ in range(4)] == [True, True, True, False]
    assert b.take(0.5) is True
    assert b.take(0.5) is False
    lim = RateLimiter(rate=1, burst=1, max_sources=2)
    assert lim.allow("a", 0) and not lim.allow("a", 0)
    assert lim.allow("b", 0) and lim.allow("c", 0)  # "a" forgotten (LRU bound)
    assert lim.allow("a", 0)
    assert lim.dropped == 1


def test_allowlist() -> None:
    a = Allowlist(["192.0.2.0/24", "198.51.100.7"])
    assert a.enabled and "192.0.2.55" in a and "198.51.100.7" in a
    assert "198.51.100.8" not in a and "not-an-ip" not in a
    assert Allowlist([]).admits("203.0.113.1")
    assert not a.admits("203.0.113.1")


def test_pin_failures_delay_and_lockout() -> None:
    f = PinFailures(threshold=3, lockout=60, step=2, window=100)
    assert f.delay("c", 0) == 0
    f.record("c", 0)
    f.record("c", 1)
    assert f.delay("c", 2) == 4
    assert not f.locked("c", 2)
    f.record("c", 2)
    assert f.locked("c", 3)
    assert f.locked("c", 61)
    assert not f.locked("c", 63)  # lock-out over
    assert f.count("c", 150) == 0  # window passed


def test_pin_failures_lock_only_for_failures_within_the_window_and_for_the_whole_lockout() -> None:
    spread = PinFailures(threshold=3, lockout=100, step=0, window=10)
    for t in (0, 20, 40):  # never three within 10 s
        spread.record("c", t)
    assert not spread.locked("c", 41)
    close = PinFailures(threshold=3, lockout=120, step=0, window=60)
    for t in (0, 50, 59):
        close.record("c", t)
    assert close.locked("c", 130)  # 71 s after the third: still within the lock-out
    assert not close.locked("c", 179)


def test_rate_limiter_retry_after_is_the_whole_seconds_to_the_next_token() -> None:
    lim = RateLimiter(rate=0.25, burst=1)
    assert lim.allow("t", 0) and not lim.allow("t", 1)
    assert lim.retry_after("t") == 3  # 0.25 token at t=1: 3 s to a whole one
    assert RateLimiter(rate=100, burst=1).retry_after("unknown") == 1


def test_source_key_is_the_ipv4_address_or_the_ipv6_64() -> None:
    assert source_key("203.0.113.7") == "203.0.113.7"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9")
    assert source_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"


def guard() -> PinGuard:
    return PinGuard(source_threshold=2, source_lockout=300, trunk_threshold=4, trunk_lockout=60,
                    global_threshold=5, global_lockout=60, window=600, step=1.0)


def test_pin_guard_locks_a_source_address_not_its_neighbours() -> None:
    g = guard()
    assert g.record("192.0.2.1", False, 0) is None
    assert g.delay("192.0.2.1", False, 1) == 1.0
    assert g.record("192.0.2.1", False, 1) == "source"
    assert g.refusal("192.0.2.1", False, 2) == "source"
    assert g.refusal("192.0.2.2", False, 2) is None
    assert g.refusal("192.0.2.1", False, 301) is None  # lock-out over
    assert g.lockouts == {"source": 1}


def test_pin_guard_gives_a_trunk_address_a_larger_budget_and_a_shorter_refusal() -> None:
    g = guard()
    for t in range(3):
        assert g.record("198.51.100.1", True, t) is None
    assert g.delay("198.51.100.1", True, 3) == 1.5  # 3/4 of its budget: 3/4 of a source's 2 s
    assert g.refusal("198.51.100.1", True, 3) is None  # past a source's budget, not a trunk's
    assert g.record("198.51.100.1", True, 3) == "trunk"
    assert g.refusal("198.51.100.1", True, 4) == "trunk"
    assert g.refusal("198.51.100.2", True, 4) is None  # another trunk address
    assert g.refusal("198.51.100.1", True, 63) is None
    assert g.lockouts == {"trunk": 1}


def test_pin_guard_global_ceiling_refuses_everyone_for_a_while() -> None:
    g = guard()
    for n, host in enumerate(["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.1"]):
        assert g.record(host, host.startswith("198"), n) is None
    assert g.record("192.0.2.4", False, 50) == "global"  # the 5th within a minute
    assert g.refusal("192.0.2.200", False, 51) == "global"
    assert g.refusal("198.51.100.2", True, 51) == "global"
    assert g.refusal("192.0.2.200", False, 110) is None
    spread = guard()
    for n in range(5):  # five failures, but never five within a minute
        assert spread.record(f"192.0.2.{n}", False, 20.0 * n) is None
    assert spread.refusal("192.0.2.200", False, 81) is None


def test_log_throttle_lets_one_line_a_minute_per_kind_and_counts_the_rest() -> None:
    t = LogThrottle(60.0)
    assert t.ready("a", 0) == 0
    assert t.ready("a", 10) is None and t.ready("a", 59) is None
    assert t.ready("b", 10) == 0
    assert t.ready("a", 60) == 2
    assert t.ready("a", 61) is None


def test_config_defaults_and_validation() -> None:
    c = SipConfig()
    assert (c.port, c.tcp, c.max_calls, c.codecs[0]) == (5060, True, 500, "opus")
    assert c.contact_host == "127.0.0.1"
    c2 = SipConfig.from_dict({"port": 5070, "timers": {"t1": 0.1}, "allowlist": ["10.0.0.0/8"]})
    assert c2.timers == SipTimers(t1=0.1) and c2.allowlist == ("10.0.0.0/8",)
    for bad, message in [
        ({"nope": 1}, "sip.nope is not a known setting"),
        ({"allowlist": ["x"]}, "sip.allowlist entry 'x' is not an address"),
        ({"codecs": ["GSM"]}, "sip.codecs: unknown codec 'GSM'"),
        ({"rtp_port_min": 5, "rtp_port_max": 1}, "sip.rtp_port_min/rtp_port_max is not a "
                                                 "valid port range"),
        ({"min_se": 30}, "sip.min_se is below 90 (RFC 4028 section 4)"),
        ({"tls_cert": "a.pem"}, "sip.tls_cert and sip.tls_key must be set together"),
        ({"trunk_invite_rate": 0}, "sip.trunk_invite_rate must be positive"),
        ({"global_lockout_threshold": 0}, "sip.global_lockout_threshold must be positive"),
        ({"trunk_lockout_seconds": -1}, "sip.trunk_lockout_seconds is negative"),
    ]:
        with pytest.raises(ValueError) as exc:
            SipConfig.from_dict(bad)
        assert str(exc.value) == message


async def test_static_directory() -> None:
    d = StaticConferenceDirectory({"alpha": "1234", "beta": "987654"},
                                  {"beta": ConferenceState.ENDED})
    e = await d.lookup("1234")
    assert e is not None and (e.conference_id, e.state) == ("alpha", ConferenceState.OPEN)
    e = await d.lookup("987654")
    assert e is not None and e.state is ConferenceState.ENDED
    assert await d.lookup("123") is None
    with pytest.raises(ValueError, match="PIN is not digits"):
        StaticConferenceDirectory({"x": "12a"})
    with pytest.raises(ValueError, match="two conferences with one PIN"):
        StaticConferenceDirectory({"x": "1", "y": "1"})


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+33612345612", "+33 6 •• •• •• 12"), ("0033612345612", "+33 6 •• •• •• 12"),
     ("0612345612", "06 •• •• •• 12"), ("+4915112345678", "+49 ••••••••• 78"),
     ("1234", "••••"), ("anonymous", ""), ("", "")],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_prompts_shipped_and_encoded() -> None:
    lib = PromptLibrary()
    for name in PROMPT_NAMES:
        assert lib.duration(name) > 0.2, name
    assert 3 < lib.duration("welcome") < 10
    assert count_prompts(1) == ["first"]
    assert count_prompts(7) == ["count_prefix", "n_7", "count_suffix"]
    assert count_prompts(99)[1] == "many"
    frames = lib.frames("wrong_code", "PCMU")
    assert all(len(f) == 160 for f in frames)
    assert len(frames) == int(np.ceil(lib.duration("wrong_code") / 0.02))
    assert lib.frames("wrong_code", "pcmu") is frames  # cached
    assert all(len(f) == 160 for f in lib.frames("muted", "G722"))
    opus = lib.frames("muted", "opus")
    dec = get_codec("opus").new_decoder()
    pcm = np.concatenate([dec.decode(p, 960) for p in opus])
    assert np.abs(pcm.astype(np.int32)).max() > 3000  # speech, not silence
    with pytest.raises(ValueError, match="unknown prompt 'nope'"):
        lib.pcm("nope")


def invite(extra: str) -> SipRequest:
    text = (
        "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
        f"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    m = parse_message(text.encode())
    assert isinstance(m, SipRequest)
    return m


def test_session_timer_negotiation() -> None:
    assert SessionTimer.negotiate(invite(""), 1800, 90) is None
    t = SessionTimer.negotiate(invite("Supported: timer\r\n"), 1800, 90)
    assert isinstance(t, SessionTimer) and (t.interval, t.refresher) == (1800, "uac")
    assert SessionTimer.negotiate(invite("Session-Expires: 30\r\n"), 1800, 90) == 90
    t = SessionTimer.negotiate(invite("Session-Expires: 600;refresher=uas\r\nk: timer\r\n"),
                               1800, 90)
    assert isinstance(t, SessionTimer) and (t.interval, t.refresher) == (600, "uas")
    assert t.headers() == [("Session-Expires", "600;refresher=uas")]
    # the UAC supports timers and chose nobody: it refreshes, and must be told to (Require)
    t = SessionTimer.negotiate(invite("Session-Expires: 3600\r\nSupported: timer\r\n"),
                               1800, 90)
    assert isinstance(t, SessionTimer) and (t.interval, t.refresher) == (1800, "uac")
    assert t.headers() == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    # a proxy asked for timers but the UAC cannot refresh: we do
    t = SessionTimer.negotiate(invite("Session-Expires: 900;refresher=uac\r\n"), 1800, 90)
    assert isinstance(t, SessionTimer) and (t.interval, t.refresher) == (900, "uas")
