"""The gateway over real loopback sockets, driven by a scriptable phone (UDP and TCP)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.clock import FakeClock
from tests.support.dialin import EchoBridge, TestPhone, dominant_frequency

from snapconf.clock import SYSTEM_CLOCK
from snapconf.dialin.config import SipConfig, SipTimers
from snapconf.dialin.directory import ConferenceState, StaticConferenceDirectory
from snapconf.dialin.gateway import SipGateway
from snapconf.dialin.message import SipRequest, SipResponse, parse_message
from snapconf.media.codecs import get_codec

PIN = "1234"


def free_port_range(size: int = 40) -> tuple[int, int]:
    """A random even range in 30000-59999 whose first port is free right now."""
    while True:
        low = random.randrange(30000, 60000 - size, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", low))
            except OSError:
                continue
        return low, low + size - 1


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def make_gateway() -> AsyncIterator[GatewayFactory]:
    made: list[SipGateway] = []
    phones: list[TestPhone] = []

    async def factory(**overrides: Any) -> tuple[SipGateway, EchoBridge, Callable[..., Any]]:
        low, high = free_port_range()
        states = overrides.pop("states", None)
        clock = overrides.pop("clock", SYSTEM_CLOCK)
        settings: dict[str, Any] = dict(
            host="127.0.0.1", port=0, ring_time=0.05, rtp_port_min=low, rtp_port_max=high,
            timers=SipTimers(t1=0.05, t2=0.4, t4=0.5),
            static_conferences={"alpha": PIN, "later": "5555", "gone": "6666"},
        )
        settings.update(overrides)
        cfg = SipConfig(**settings)
        bridge = EchoBridge()
        directory = StaticConferenceDirectory(cfg.static_conferences, states)
        gw = SipGateway(cfg, directory, bridge, clock)
        await gw.start()
        made.append(gw)

        async def phone(transport: str = "UDP", **kw: Any) -> TestPhone:
            port = gw.udp_port if transport == "UDP" else gw.tcp_port
            p = TestPhone(("127.0.0.1", port), transport, **kw)
            await p.open()
            phones.append(p)
            return p

        return gw, bridge, phone

    yield factory
    for p in phones:
        p.close()
    for gw in made:
        await gw.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def tone_ulaw(freq: float, frames: int, start: int = 0) -> list[bytes]:
    enc = get_codec("PCMU").new_encoder()
    out = []
    for i in range(start, start + frames):
        t = (np.arange(160) + i * 160) / 8000
        out.append(enc.encode((8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)))
    return out


async def test_options_200_without_server_header(make_gateway: GatewayFactory) -> None:
    _gw, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("OPTIONS"))
    r = await p.recv()
    assert isinstance(r, SipResponse)
    assert r.status == 200
    assert "INVITE" in (r.headers.get("Allow") or "")
    assert r.headers.get("Server") is None
    assert r.headers.get("User-Agent") is None
    # RFC 3581: rport filled with the source port
    assert r.vias[0].params["rport"] == str(p.sip_port)


async def test_pin_join_echo_and_hangup_leaves_nothing(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp("8 0 101"), content_type="application/sdp"))
    trying = await p.recv()
    assert isinstance(trying, SipResponse) and trying.status == 100
    ok = await p.expect_response(200, method="INVITE")
    p.learn(ok)
    p.ack(ok)
    assert b"m=audio" in ok.body and b"RTP/AVP 8 101" in ok.body  # PCMA preferred to PCMU
    assert ok.headers.get("Contact")
    # the welcome prompt arrives
    prompt = await p.collect_rtp(0.3)
    assert len(prompt) >= 10
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    leg = bridge.legs[0]
    assert (leg.conference_id, leg.codec, leg.payload_type) == ("alpha", "PCMA", 8)
    assert leg.masked_number == "+33 6 •• •• •• 12"
    assert leg.caller_display == "Test Phone"
    # after the "first participant" prompt the echo is heard
    await p.collect_rtp(2.6)
    p.drain_rtp()
    enc = get_codec("PCMA").new_encoder()
    for i in range(40):
        t = (np.arange(160) + i * 160) / 8000
        p.send_rtp(8, enc.encode((8000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)))
        await asyncio.sleep(0.02)
    heard = await p.collect_rtp(0.3)
    dec = get_codec("PCMA").new_decoder()
    pcm = np.concatenate([dec.decode(x, 160) for x in p_payloads(p)[-30:]])
    assert heard
    assert abs(dominant_frequency(pcm, 8000) - 700) < 20
    assert leg.received >= 40
    await p.bye()
    await wait_for(lambda: not gw.calls)
    assert leg.closed
    assert gw.ports.in_use == set()


def p_payloads(p: TestPhone) -> list[bytes]:
    from snapconf.rtp.packet import parse_rtp_header

    out = []
    for data in p.rtp_packets:
        h = parse_rtp_header(data)
        out.append(data[h.payload_offset : len(data) - h.padding_length])
    return out


async def test_wrong_pin_three_times_server_hangs_up(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway(failure_delay=0.0)
    p = await phone(number="+33100000001")
    await p.call()
    for _ in range(3):
        await p.send_dtmf("9999#")
        await asyncio.sleep(0.1)
    bye = await p.expect_request("BYE", timeout=15)
    assert bye.to.tag == p.from_tag
    assert gw.stats["pin_failures"] == 3
    assert gw.stats["pin_too_many"] == 1
    await wait_for(lambda: not gw.calls)
    assert not bridge.legs
    assert gw.ports.in_use == set()


async def test_pin_by_sip_info_dtmf_relay(make_gateway: GatewayFactory) -> None:
    _gw, bridge, phone = await make_gateway()
    p = await phone()
    await p.call()
    for d in PIN + "#":
        p.send_raw(p.request("INFO", body=f"Signal={d}\r\nDuration=160\r\n".encode(),
                             content_type="application/dtmf-relay"))
        r = await p.expect_response(200, method="INFO")
        assert r.status == 200
    await wait_for(lambda: len(bridge.legs) == 1)


async def test_rfc4733_end_packets_deduplicated(make_gateway: GatewayFactory) -> None:
    gw, _bridge, phone = await make_gateway()
    p = await phone()
    await p.call()
    await p.send_dtmf("12")
    await wait_for(lambda: gw.stats["dtmf_digits"] == 2)
    await asyncio.sleep(0.2)
    assert gw.stats["dtmf_digits"] == 2  # 6 end packets, 2 digits


async def test_cancel_before_answer_487(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway(ring_time=3.0)
    p = await phone()
    branch = "z9hG4bK-cancel-me"
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                         branch=branch))
    await p.expect_response(180)
    assert gw.ports.in_use
    p.send_raw(p.request("CANCEL", branch=branch, cseq=p.cseq))
    ok = await p.expect_response(200, method="CANCEL")
    assert ok.status == 200
    terminated = await p.expect_response(487, method="INVITE")
    p.send_raw(p.request("ACK", branch=branch, cseq=p.cseq, to_tag=terminated.to.tag))
    await wait_for(lambda: not gw.calls)
    assert gw.ports.in_use == set()
    # the 487 is not retransmitted after the ACK
    await asyncio.sleep(0.3)
    assert p.sip_queue.empty()


async def test_487_retransmitted_until_ack(make_gateway: GatewayFactory) -> None:
    _gw, _, phone = await make_gateway(ring_time=3.0)
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp", branch="z9hG4bKx"))
    await p.expect_response(180)
    p.send_raw(p.request("CANCEL", branch="z9hG4bKx", cseq=p.cseq))
    await p.expect_response(487)
    await p.expect_response(487, timeout=1)  # Timer G


async def test_unknown_dialog_481_and_unknown_cancel(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("BYE", to_tag="nope"))
    assert (await p.expect_response(481)).status == 481
    p.send_raw(p.request("BYE"))  # no To tag at all
    assert (await p.expect_response(481)).status == 481
    p.send_raw(p.request("CANCEL", branch="z9hG4bKnothing"))
    assert (await p.expect_response(481)).status == 481


async def test_retransmitted_invite_absorbed(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway(ring_time=0.3)
    p = await phone()
    invite = p.request("INVITE", body=p.sdp(), content_type="application/sdp")
    p.send_raw(invite)
    await p.expect_response(100)
    p.send_raw(invite)
    p.send_raw(invite)
    await p.expect_response(200)
    assert gw.stats["calls_started"] == 1
    assert gw.stats["retransmissions_absorbed"] == 2


async def test_2xx_retransmitted_then_bye_without_ack(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp"))
    loop = asyncio.get_running_loop()
    times = []
    while len(times) < 5:
        await p.expect_response(200, method="INVITE")
        times.append(loop.time())
    gaps = np.diff(times)
    # T1 = 50 ms doubling: 50, 100, 200, 400 (T2 cap)
    assert gaps[0] < gaps[2] < gaps[3] + 0.05
    bye = await p.expect_request("BYE", timeout=5)
    assert bye.method == "BYE"
    assert gw.stats["ack_timeouts"] == 1
    await wait_for(lambda: not gw.calls)
    assert gw.ports.in_use == set()


async def test_require_100rel_420(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                         extra="Require: 100rel"))
    r = await p.expect_response(420)
    assert r.headers.get("Unsupported") == "100rel"


async def test_session_timer_422_and_negotiated(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                         extra="Session-Expires: 60\nSupported: timer"))
    r = await p.expect_response(422)
    assert r.headers.get("Min-SE") == "90"
    p2 = await phone()
    ok = await p2.call(extra="Session-Expires: 1800;refresher=uac\nSupported: timer")
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert ok.headers.get("Require") == "timer"


async def test_session_timer_expiry_sends_bye(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway(min_se=90)
    p = await phone()
    await p.call(extra="Session-Expires: 90;refresher=uac\nSupported: timer")
    call = next(iter(gw.calls.values()))
    await wait_for(lambda: call.state.value == "confirmed")
    call._last_refresh -= 60  # 90 - min(32, 30) = 60 s without refresh
    bye = await p.expect_request("BYE", timeout=3)
    assert bye.method == "BYE"
    assert gw.stats["session_timer_expired"] == 1


@pytest.mark.parametrize("allow", ["INVITE, ACK, BYE, CANCEL, UPDATE", "INVITE, ACK, BYE"])
async def test_session_refresh_when_we_are_the_refresher(
    make_gateway: GatewayFactory, allow: str
) -> None:
    """RFC 4028 section 10: refresher=uas means we refresh at half the interval, by UPDATE
    when the peer allows it, else by re-INVITE (which we ACK). Time is a FakeClock."""
    clock = FakeClock()
    gw, bridge, phone = await make_gateway(clock=clock, ring_time=0.0, rtp_timeout=10_000.0)
    p = await phone()
    ok = await p.call(extra=f"Session-Expires: 120;refresher=uas\nSupported: timer\n"
                            f"Allow: {allow}")
    assert ok.headers.get("Session-Expires") == "120;refresher=uas"
    assert ok.headers.get("Require") is None  # only when the UAC refreshes
    # join, so the IVR's own timers (digit timeouts) are out of the way
    await p.send_dtmf(PIN + "#")
    while not bridge.legs:
        await clock.advance(0.02)
        await asyncio.sleep(0.005)
    await clock.advance(59.0)
    await asyncio.sleep(0.05)
    assert gw.stats["session_refreshes_sent"] == 0
    await clock.advance(2.0)
    method = "UPDATE" if "UPDATE" in allow else "INVITE"
    refresh = await p.expect_request(method, timeout=3)
    assert refresh.to.tag == p.from_tag and refresh.from_.tag == ok.to.tag
    assert refresh.headers.get("Session-Expires") == "120;refresher=uas"
    if method == "INVITE":
        assert b"m=audio" in refresh.body  # the same SDP, as the offer
        ack = await p.expect_request("ACK", timeout=3, answer=False)
        assert ack.cseq.number == refresh.cseq.number
    else:
        assert refresh.body == b""
    await wait_for(lambda: gw.stats["session_refreshes_sent"] == 1)
    assert gw.calls


async def test_update_without_offer_gets_no_sdp(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway()
    p = await phone()
    await p.call()
    p.send_raw(p.request("UPDATE", extra="Session-Expires: 1800;refresher=uac\nSupported: timer"))
    r = await p.expect_response(200, method="UPDATE", cseq=p.cseq)
    assert r.body == b""
    assert r.headers.get("Session-Expires") == "1800;refresher=uac"
    p.send_raw(p.request("INVITE"))  # offerless re-INVITE: our SDP comes as the offer
    r = await p.expect_response(200, method="INVITE", cseq=p.cseq)
    assert b"m=audio" in r.body
    p.ack(r)


async def test_allowlisted_trunk_is_not_held_to_the_per_source_buckets(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, phone = await make_gateway(allowlist=("127.0.0.1",), invite_rate=1.0,
                                      invite_burst=2.0, request_rate=1.0, request_burst=2.0)
    p = await phone()
    for i in range(5):
        p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                             call_id=f"trunk{i}@x"))
    await wait_for(lambda: gw.stats["calls_started"] == 5)
    assert gw.stats["invite_rate_limited"] == 0 and gw.stats["dropped_rate"] == 0


def sdp_direction(body: bytes) -> str:
    for line in body.decode().splitlines():
        if line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            return line[2:]
    return "sendrecv"


def sdp_port(body: bytes) -> int:
    for line in body.decode().splitlines():
        if line.startswith("m=audio"):
            return int(line.split()[1])
    raise AssertionError("no m=audio")


async def test_hold_by_reinvite_and_update(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway(rtp_timeout=1.0)
    p = await phone()
    ok = await p.call()
    port = sdp_port(ok.body)
    call = next(iter(gw.calls.values()))
    for method, kwargs, expected in [
        ("INVITE", {"direction": "sendonly"}, "recvonly"),
        ("INVITE", {"direction": "inactive"}, "inactive"),
        ("UPDATE", {"host": "0.0.0.0"}, "inactive"),
        ("UPDATE", {"direction": "recvonly"}, "sendonly"),
    ]:
        p.send_raw(p.request(method, body=p.sdp(**kwargs), content_type="application/sdp"))
        r = await p.expect_response(200, method=method, cseq=p.cseq)
        if method == "INVITE":
            p.ack(r)
        assert sdp_direction(r.body) == expected, (method, kwargs, r.body, r.cseq)
        assert sdp_port(r.body) == port
        assert call.on_hold == (expected != "sendonly")
    # on hold (recvonly from us means they send nothing?) - they said recvonly: not on hold
    # put on hold again and check the RTP timeout does not fire while held
    p.send_raw(p.request("INVITE", body=p.sdp(direction="sendonly"),
                         content_type="application/sdp"))
    p.ack(await p.expect_response(200, method="INVITE", cseq=p.cseq))
    await asyncio.sleep(2.2)
    assert gw.calls, "RTP timeout fired while on hold"
    # resume and stay silent: the RTP timeout ends the call
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp"))
    p.ack(await p.expect_response(200, method="INVITE", cseq=p.cseq))
    bye = await p.expect_request("BYE", timeout=4)
    assert bye.method == "BYE"
    assert gw.stats["rtp_timeouts"] == 1


async def test_reinvite_glare_491(make_gateway: GatewayFactory) -> None:
    _gw, _, phone = await make_gateway()
    p = await phone()
    await p.call()
    p.send_raw(p.request("INVITE", body=p.sdp(direction="sendonly"),
                         content_type="application/sdp"))
    first = await p.expect_response(200, method="INVITE", cseq=p.cseq)  # not ACKed yet
    p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp"))
    r = await p.expect_response(491)
    assert r.status == 491
    p.ack(first)


async def test_via_received_and_rport(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway()
    p = await phone()
    raw = p.request("OPTIONS").replace(
        b"Via: SIP/2.0/UDP 127.0.0.1:", b"Via: SIP/2.0/UDP 10.9.9.9:"
    )
    p.send_raw(raw)
    r = await p.expect_response(200)
    assert r.vias[0].params["received"] == "127.0.0.1"
    assert r.vias[0].params["rport"] == str(p.sip_port)


async def test_server_bye_uses_record_route(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway()
    loop = asyncio.get_running_loop()
    proxy_q: asyncio.Queue[bytes] = asyncio.Queue()

    class Proxy(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            proxy_q.put_nowait(data)

    proxy, _ = await loop.create_datagram_endpoint(Proxy, local_addr=("127.0.0.1", 0))
    pport = proxy.get_extra_info("sockname")[1]
    try:
        p = await phone()
        ok = await p.call(extra=f"Record-Route: <sip:127.0.0.1:{pport};lr>")
        assert ok.headers.get("Record-Route") == f"<sip:127.0.0.1:{pport};lr>"
        await p.send_dtmf(PIN + "#")
        await wait_for(lambda: len(bridge.legs) == 1)
        bridge.end_conference("alpha")
        data = await asyncio.wait_for(proxy_q.get(), 3)
        bye = parse_message(data)
        assert isinstance(bye, SipRequest) and bye.method == "BYE"
        assert bye.headers.get("Route") == f"<sip:127.0.0.1:{pport};lr>"
        assert bye.uri == f"sip:phone@127.0.0.1:{p.sip_port}"
        assert bye.from_.tag == ok.to.tag and bye.to.tag == p.from_tag
        await wait_for(lambda: not gw.calls)
        assert bridge.legs[0].closed
    finally:
        proxy.close()


async def test_call_cap_503_retry_after(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway(max_calls=1, retry_after=42)
    p1 = await phone()
    await p1.call()
    p2 = await phone()
    p2.send_raw(p2.request("INVITE", body=p2.sdp(), content_type="application/sdp"))
    r = await p2.expect_response(503)
    assert r.headers.get("Retry-After") == "42"


async def test_allowlist_drops_others_silently(make_gateway: GatewayFactory) -> None:
    _, _, phone = await make_gateway(allowlist=("192.0.2.0/24",))
    p = await phone()
    p.send_raw(p.request("OPTIONS"))
    with pytest.raises(TimeoutError):
        await p.recv(timeout=0.3)


async def test_allowed_peer_gets_server_header_and_400(make_gateway: GatewayFactory) -> None:
    _gw, _, phone = await make_gateway(allowlist=("127.0.0.1",))
    p = await phone()
    p.send_raw(p.request("OPTIONS"))
    r = await p.expect_response(200)
    assert r.headers.get("Server") == "snapconf"
    bad = p.request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 10")
    p.send_raw(bad)
    r = await p.expect_response(400)
    assert r.reason == "Content-Length 10 does not match body length 0"


async def test_malformed_from_unknown_gets_no_reply(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 10"))
    p.send_raw(b"\x00\xff garbage\r\n\r\n")
    with pytest.raises(TimeoutError):
        await p.recv(timeout=0.3)
    assert gw.stats["malformed"] == 2


async def test_invite_rate_limit(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gw, _, phone = await make_gateway(invite_rate=1.0, invite_burst=2.0)
    p = await phone()
    with caplog.at_level(logging.WARNING, logger="snapconf.dialin.gateway"):
        for i in range(4):
            p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                                 call_id=f"rate{i}@x"))
        await asyncio.sleep(0.5)
    assert gw.stats["calls_started"] == 2
    assert gw.stats["invite_rate_limited"] == 2
    # counted each time, logged once a minute
    lines = [r.getMessage() for r in caplog.records if "invite_rate_limited" in r.getMessage()]
    assert lines == ["SIP refusal invite_rate_limited (from 127.0.0.1)"]


@pytest.mark.parametrize(("pin", "state"), [("5555", ConferenceState.NOT_STARTED),
                                            ("6666", ConferenceState.ENDED)])
async def test_conference_not_started_or_ended(
    make_gateway: GatewayFactory, pin: str, state: ConferenceState
) -> None:
    gw, bridge, phone = await make_gateway(states={"later": ConferenceState.NOT_STARTED,
                                                   "gone": ConferenceState.ENDED})
    p = await phone()
    await p.call()
    await p.send_dtmf(pin + "#")
    bye = await p.expect_request("BYE", timeout=10)
    assert bye.method == "BYE"
    assert not bridge.legs
    assert gw.ports.in_use == set()


async def test_star6_mutes_and_unmutes(make_gateway: GatewayFactory) -> None:
    _gw, bridge, phone = await make_gateway()
    p = await phone()
    await p.call()
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    await p.send_dtmf("*6")
    await wait_for(lambda: bridge.legs[0].mute_changes == [True])
    await p.send_dtmf("*6")
    await wait_for(lambda: bridge.legs[0].mute_changes == [True, False], timeout=5)


async def heard_before_bye(gw: SipGateway, p: TestPhone, prompt: str) -> bool:
    """Wait for the server's BYE; True if the last audio the phone got was ``prompt``."""
    await p.expect_request("BYE", timeout=20)
    await p.collect_rtp(0.2)
    frames = gw.prompts.frames(prompt, "PCMU")
    return p_payloads(p)[-len(frames):] == frames


async def failures_reach(gw: SipGateway, goal: int) -> None:
    await wait_for(lambda: gw.stats["pin_failures"] >= goal, timeout=10)


async def wrong_pins(gw: SipGateway, p: TestPhone, n: int) -> None:
    """Type ``n`` wrong PINs, each once the previous one is counted."""
    goal = gw.stats["pin_failures"]
    for _ in range(n):
        goal += 1
        await p.send_dtmf("9999#")
        await failures_reach(gw, goal)


async def test_rotating_caller_numbers_from_one_address_are_locked_out_after_its_budget(
    make_gateway: GatewayFactory,
) -> None:
    gw, bridge, phone = await make_gateway(lockout_threshold=4, failure_delay=0.0)
    first = await phone(number="+33100000001")
    await first.call()
    await wrong_pins(gw, first, 3)  # three attempts per call: goodbye
    assert await heard_before_bye(gw, first, "too_many")
    second = await phone(number="+33100000002")  # another number, the same address
    await second.call()
    await wrong_pins(gw, second, 1)  # the address's 4th wrong PIN spends its budget
    assert await heard_before_bye(gw, second, "too_many")
    refused = 0
    for i in range(3):  # every further call from it is refused, whatever it claims to be
        p = await phone(number=f"+3310000001{i}")
        await p.call()
        await p.send_dtmf(PIN + "#")
        assert await heard_before_bye(gw, p, "too_many")
        refused += 1
    assert refused == gw.stats["pin_refused_source"] == 3
    assert gw.stats["pin_failures"] == 4 and gw.stats["pin_lockout_source"] == 1
    assert not bridge.legs


async def test_a_caller_number_locked_out_at_one_address_still_joins_from_another(
    make_gateway: GatewayFactory,
) -> None:
    gw, bridge, phone = await make_gateway(lockout_threshold=2, failure_delay=0.0)
    attacker = await phone(number="anonymous")
    await attacker.call()
    await wrong_pins(gw, attacker, 2)
    assert await heard_before_bye(gw, attacker, "too_many")
    again = await phone(number="anonymous")
    await again.call()
    assert await heard_before_bye(gw, again, "too_many")
    assert gw.stats["pin_refused_source"] == 1
    # "anonymous" from another address is somebody else: not locked out
    caller = await phone(number="anonymous", host="127.0.0.2")
    await caller.call()
    await caller.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    assert bridge.legs[0].conference_id == "alpha"
    assert gw.stats["pin_refused_source"] == 1


async def test_a_trunk_address_has_its_own_larger_pin_budget(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway(
        allowlist=("127.0.0.1", "127.0.0.2"), lockout_threshold=2, trunk_lockout_threshold=5,
        failure_delay=0.0)
    first = await phone(number="+33100000001")
    await first.call()
    await wrong_pins(gw, first, 3)  # past the budget of an ordinary address
    assert await heard_before_bye(gw, first, "too_many")
    second = await phone(number="+33100000002")
    await second.call()
    await wrong_pins(gw, second, 1)
    assert gw.stats["pin_refused_trunk"] == 0 and gw.stats["pin_lockout_trunk"] == 0
    await wrong_pins(gw, second, 1)  # the trunk's 5th: spent
    assert await heard_before_bye(gw, second, "too_many")
    assert gw.stats["pin_lockout_trunk"] == 1
    third = await phone(number="+33100000003")
    await third.call()
    await third.send_dtmf(PIN + "#")
    assert await heard_before_bye(gw, third, "too_many")
    assert gw.stats["pin_refused_trunk"] == 1
    # the other trunk address has a budget of its own
    other = await phone(number="+33100000003", host="127.0.0.2")
    await other.call()
    await other.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    assert gw.stats["pin_failures"] == 5 and gw.stats["pin_refused_source"] == 0


async def test_the_global_ceiling_refuses_pin_entry_to_callers_not_yet_in_a_conference(
    make_gateway: GatewayFactory,
) -> None:
    gw, bridge, phone = await make_gateway(global_lockout_threshold=3, failure_delay=0.0)
    inside = await phone(host="127.0.0.5")
    await inside.call()
    await inside.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    a = await phone(host="127.0.0.2")
    b = await phone(host="127.0.0.3")
    await a.call()
    await b.call()
    await wrong_pins(gw, a, 2)
    await wrong_pins(gw, b, 1)  # the third wrong PIN within a minute, from any address
    assert await heard_before_bye(gw, b, "unavailable")
    assert gw.stats["pin_lockout_global"] == 1
    await a.send_dtmf(PIN + "#")  # even the right PIN is refused for now
    assert await heard_before_bye(gw, a, "unavailable")
    late = await phone(host="127.0.0.4")
    await late.call()
    assert await heard_before_bye(gw, late, "unavailable")
    assert gw.stats["pin_refused_global"] == 2
    assert len(bridge.legs) == 1 and not bridge.legs[0].closed  # who was in stays in
    assert gw.stats["pin_refused_source"] == 0


def raw_request(method: str, uri: str, port: int, n: int) -> bytes:
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKraw{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@127.0.0.1>;tag=raw{n}\r\n"
        "To: <sip:conf@127.0.0.1>\r\n"
        f"Call-ID: raw{n}@test\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def test_a_request_uri_scheme_other_than_sip_sips_or_tel_gets_416(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, _ = await make_gateway()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    cases = [
        ("OPTIONS", "http://example.com/conf", 416),
        ("INVITE", "mailto:conf@example.com", 416),
        ("BYE", "urn:service:sos", 416),
        ("OPTIONS", "tel:+33123456789", 200),
        ("OPTIONS", f"sips:conf@127.0.0.1:{gw.udp_port}", 200),
        ("OPTIONS", f"SIP:conf@127.0.0.1:{gw.udp_port}", 200),
    ]
    try:
        for n, (method, uri, status) in enumerate(cases):
            sock.sendto(raw_request(method, uri, port, n), ("127.0.0.1", gw.udp_port))
            while True:
                r = parse_message(await asyncio.wait_for(loop.sock_recv(sock, 65535), 5))
                assert isinstance(r, SipResponse)
                if r.call_id == f"raw{n}@test" and r.status >= 200:
                    break
            assert (r.status, r.cseq.method) == (status, method), uri
            if status == 416:
                assert r.reason == "Unsupported URI Scheme"
                assert r.to.tag
    finally:
        sock.close()
    assert gw.stats["response_416"] == 3
    assert not gw.calls and gw.stats["calls_started"] == 0


async def test_an_invite_flood_from_a_trunk_gets_503_retry_after_and_options_still_answered(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, phone = await make_gateway(allowlist=("127.0.0.1",), trunk_invite_rate=1.0,
                                      trunk_invite_burst=5.0)
    p = await phone()
    for i in range(12):
        p.send_raw(p.request("INVITE", body=p.sdp(), content_type="application/sdp",
                             call_id=f"flood{i}@trunk"))
    for i in range(20):
        p.send_raw(p.request("OPTIONS", call_id=f"ping{i}@trunk"))
    options: set[str] = set()
    refused: dict[str, SipResponse] = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + 15
    while len(options) < 20 or len(refused) < 7:
        r = await p.recv(max(0.01, end - loop.time()))
        if not isinstance(r, SipResponse):
            continue
        if r.cseq.method == "OPTIONS" and r.status == 200:
            options.add(r.call_id)
        elif r.cseq.method == "INVITE" and r.status == 503:
            refused[r.call_id] = r
    assert len(options) == 20  # the trunk's health checks are all answered
    assert gw.stats["invite_rate_limited_trunk"] == 7 and gw.stats["calls_started"] == 5
    for r in refused.values():
        retry = r.headers.get("Retry-After") or ""
        assert retry.isdigit() and int(retry) >= 1


async def test_gateway_close_byes_everyone(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway()
    p = await phone()
    await p.call()
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    close = asyncio.create_task(gw.close())
    bye = await p.expect_request("BYE", timeout=3)
    assert bye.method == "BYE"
    await close
    await gw.close()  # idempotent
    assert bridge.legs[0].closed
    assert gw.ports.in_use == set()


async def test_tcp_call(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway()
    p = await phone("TCP")
    p.send_raw(p.request("OPTIONS"))
    assert (await p.expect_response(200)).status == 200
    ok = await p.call()
    assert ";transport=tcp" in (ok.headers.get("Contact") or "")
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    await p.bye()
    await wait_for(lambda: not gw.calls)


async def test_peer_crash_rtp_timeout_frees_everything(make_gateway: GatewayFactory) -> None:
    gw, bridge, phone = await make_gateway(rtp_timeout=1.0)
    p = await phone()
    await p.call()
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    p.close()  # the phone vanishes without BYE
    await wait_for(lambda: not gw.calls, timeout=6)
    assert bridge.legs[0].closed
    assert gw.ports.in_use == set()
    assert gw.stats["rtp_timeouts"] == 1


async def test_uas_fuzz_keeps_answering(make_gateway: GatewayFactory) -> None:
    """10,000 mutated messages straight into the UAS, then a well-formed OPTIONS."""
    gw, _, phone = await make_gateway(request_rate=1e9, request_burst=1e9,
                                      invite_rate=1e9, invite_burst=1e9, max_calls=50)
    p = await phone()
    rng = random.Random(4475)
    seeds = [
        p.request("OPTIONS"),
        p.request("INVITE", body=p.sdp(), content_type="application/sdp"),
        p.request("BYE", to_tag="x"),
        p.request("INFO", to_tag="x", body=b"Signal=1\r\n", content_type="application/dtmf-relay"),
        p.request("CANCEL", branch="z9hG4bKc"),
    ]
    from snapconf.dialin.transport import Source

    source = Source("UDP", "127.0.0.1", p.sip_port)
    for _ in range(10_000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            op = rng.randrange(4)
            if op == 0:
                del data[pos]
            elif op == 1:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            elif op == 2:
                data[pos] = rng.choice(b":;,<>\"\\ \t\r\n@=0")
            else:
                data[pos:pos] = rng.choice([b"\r\n", b"Require: 100rel\r\n", b"l: 3\r\n",
                                            b";tag=", b"Session-Expires: x\r\n"])
        gw._on_message(bytes(data), source)
    await asyncio.sleep(0.2)
    while not p.sip_queue.empty():
        p.sip_queue.get_nowait()
    p.send_raw(p.request("OPTIONS"))
    r = await p.expect_response(200)
    assert r.status == 200
    for call in list(gw.calls.values()):
        call.end("test over")
    assert gw.stats["call_task_errors"] == 0



async def test_tls_listener_answers_options(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """With a certificate configured, SIP over TLS answers like TCP (RFC 3261 section 26.2)."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    gw, _, _ = await make_gateway(tls_cert=str(cert_path), tls_key=str(key_path),
                                      tls_port=0)
    assert gw.tls_port
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.tls_port, ssl=client)
    p = TestPhone(("127.0.0.1", gw.tls_port), "TLS")
    p.sip_port = writer.get_extra_info("sockname")[1]
    writer.write(p.request("OPTIONS"))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"SIP/2.0 200 OK\r\n")
    response = parse_message(head)
    assert isinstance(response, SipResponse)
    assert response.vias[0].transport == "TLS"
    writer.close()
    await writer.wait_closed()


async def test_tcp_connections_capped_and_allowlisted(make_gateway: GatewayFactory) -> None:
    gw, _, _ = await make_gateway(max_tcp_connections=2)
    conns = [await asyncio.open_connection("127.0.0.1", gw.tcp_port) for _ in range(3)]
    reader, _ = conns[2]
    assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the gateway
    for _, w in conns:
        w.close()
    gw2, _, _ = await make_gateway(allowlist=("192.0.2.9",))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw2.tcp_port)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    assert gw2.stats["tcp_refused_not_allowed"] == 1


async def test_unknown_methods_do_not_grow_counters(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    for i in range(5):
        p.send_raw(p.request(f"X-M{i}"))
        assert (await p.expect_response(501)).status == 501
    assert gw.stats["request_other"] == 5
    assert not any(k.startswith("request_X") for k in gw.stats)


async def test_bad_contact_gets_400_and_sdp_refusal_488(make_gateway: GatewayFactory) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    invite = p.request("INVITE", body=p.sdp(), content_type="application/sdp").replace(
        f"Contact: <sip:phone@127.0.0.1:{p.sip_port}>".encode(),
        b"Contact: <sip:phone@127.0.0.1:99999>")
    p.send_raw(invite)
    r = await p.expect_response(400)
    assert r.headers.get("Warning") == "399 snapconf \"URI: port out of range\""
    p2 = await phone()
    p2.send_raw(p2.request("INVITE", body=p2.sdp("18"), content_type="application/sdp"))
    r = await p2.expect_response(488)
    assert r.headers.get("Warning") == "304 snapconf \"no acceptable audio stream in the offer\""
    assert not gw.calls and gw.ports.in_use == set()


async def test_an_invite_without_sdp_gets_our_offer_and_the_call_runs_on_the_acks_answer(
    make_gateway: GatewayFactory,
) -> None:
    gw, bridge, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE"))  # delayed offer (RFC 3261 section 13.2.1)
    ok = await p.expect_response(200, timeout=10, method="INVITE")
    offer = ok.body.decode()
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert "m=audio " in offer and " RTP/AVP 111 9 8 0 101 110" in offer  # best first
    assert "a=rtpmap:101 telephone-event/8000" in offer and "a=sendrecv" in offer
    p.learn(ok)
    # the phone answers with PCMU (and telephone-event) in the ACK
    p.send_raw(p.request("ACK", cseq=ok.cseq.number, body=p.sdp("0 101"),
                         content_type="application/sdp"))
    p.audio_pt = 0
    prompt = await p.collect_rtp(0.5)
    assert len(prompt) >= 10
    assert {packet[1] & 0x7F for packet in p.rtp_packets} == {0}  # the prompt speaks PCMU
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    leg = bridge.legs[0]
    assert (leg.conference_id, leg.codec, leg.payload_type) == ("alpha", "PCMU", 0)
    assert gw.stats["delayed_offers"] == 1
    await p.bye()
    await wait_for(lambda: not gw.calls)
    assert gw.ports.in_use == set()


async def test_an_ack_without_the_answer_to_our_offer_ends_the_call_with_bye(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE"))
    ok = await p.expect_response(200, timeout=10, method="INVITE")
    p.learn(ok)
    p.ack(ok)  # no SDP: the offer in our 2xx is never answered
    await p.expect_request("BYE")
    await wait_for(lambda: not gw.calls)
    assert gw.stats["sdp_refused"] == 1
    assert gw.ports.in_use == set()


async def test_a_closing_gateway_waits_for_the_ack_of_a_call_it_just_answered_before_bye(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, phone = await make_gateway()
    p = await phone()
    p.send_raw(p.request("INVITE", body=p.sdp("8 0 101"), content_type="application/sdp"))
    ok = await p.expect_response(200, timeout=10, method="INVITE")
    p.learn(ok)
    close = asyncio.create_task(gw.close())
    # RFC 3261 section 15: while our 2xx is unacknowledged, no BYE comes
    with pytest.raises(TimeoutError):
        await p.expect_request("BYE", timeout=0.4)
    p.ack(ok)
    bye = await p.expect_request("BYE", timeout=3)
    assert bye.call_id == p.call_id
    await close
    assert not gw.calls and gw.ports.in_use == set()


async def test_star6_unmutes_a_caller_a_moderator_muted(make_gateway: GatewayFactory) -> None:
    _gw, bridge, phone = await make_gateway()
    p = await phone()
    await p.call()
    await p.send_dtmf(PIN + "#")
    await wait_for(lambda: len(bridge.legs) == 1)
    bridge.legs[0].set_muted(True)  # as the conference does for a moderator's mute
    await p.send_dtmf("*6")
    await wait_for(lambda: bridge.legs[0].mute_changes == [True, False])
    assert not bridge.legs[0].muted


async def test_prompts_are_made_at_the_packet_time_each_codec_is_heard_at(
    make_gateway: GatewayFactory,
) -> None:
    # Opus has no 30 ms frame: its callers hear 20 ms packets, G.711 ones 30 ms
    gw, _, _ = await make_gateway(ptime=30, codecs=("opus", "PCMA"))
    await asyncio.wait_for(gw.prompts_ready(), 60)
    assert gw.prompts.cached("welcome", "opus", 20) is not None
    assert gw.prompts.cached("welcome", "PCMA", 30) is not None
