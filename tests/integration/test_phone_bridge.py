"""A phone leg (no SIP: the gateway's seam) and a browser hear each other through the bridge."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from tests.conftest import base_url
from tests.integration.media_checks import dominant_frequency
from tests.support.dialin import PlainPhone

from snapconf.client import Client, ToneTrack
from snapconf.conference.admission import Grant, JoinRequest
from snapconf.dialin.bridge import ConferenceFull
from snapconf.dialin.conference_bridge import PhoneBridge
from snapconf.media.codecs.g711 import alaw_decode, alaw_encode
from snapconf.rtp.packet import parse_rtp_header

PHONE_TONE = 700.0
BROWSER_TONE = 440.0


def _band_db(signal: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    freqs = np.fft.rfftfreq(len(signal), 1 / rate)
    return float(20 * np.log10(spectrum[(freqs > freq - 15) & (freqs < freq + 15)].max() + 1e-9))


async def test_a_phone_and_a_browser_hear_each_other_and_the_browser_sees_the_caller(server):
    url = base_url(server)
    ended: list[str] = []
    browser = Client(url, "audioconf", "Alice", keep_frames=100)
    try:
        await browser.join()
        await browser.publish([(ToneTrack(BROWSER_TONE), "microphone")])
        bridge = PhoneBridge(server.conferences)
        phone = await PlainPhone.open("PCMA", 8, 8000)
        heard = phone.heard
        leg = await bridge.join_phone(
            "audioconf",
            "Appelant",
            "+33 6 •• •• •• 12",
            phone.media,
            ended.append,
        )
        assert leg.participant_count == 2
        await browser.wait_for(
            lambda c: any(
                p["kind"] == "phone" and p["displayName"] == "+33 6 •• •• •• 12"
                for p in c.participants.values()
            )
        )
        # the phone talks for 3 s (real time: the bridge ticks on the real clock)
        step = 160
        for i in range(150):
            t = (np.arange(step) + i * step) / 8000
            pcm = (0.3 * 32767 * np.sin(2 * math.pi * PHONE_TONE * t)).astype(np.int16)
            phone.send(8, 1000 + i, i * step, alaw_encode(pcm))
            await asyncio.sleep(0.02)
        # the browser receives the caller as an ordinary audio track (PCMA, forwarded)
        phone_id = leg.participant.id
        (track,) = [t for t in browser.received.values() if t.participant_id == phone_id]
        assert track.frame_count > 50
        assert abs(dominant_frequency(track.frames[-50:]) - PHONE_TONE) < 15
        # the phone hears the browser in its own codec, and not itself
        packets = [parse_rtp_header(p) for p in heard]
        assert {h.payload_type for h in packets} == {8} and len(packets) > 50
        pcm = np.concatenate(
            [
                alaw_decode(p[h.payload_offset :])
                for p, h in zip(heard[-75:], packets[-75:], strict=True)
            ]
        )
        signal = pcm.astype(np.float64)
        floor = _band_db(signal, 8000, 1200.0)
        assert _band_db(signal, 8000, BROWSER_TONE) > floor + 25
        assert _band_db(signal, 8000, PHONE_TONE) < floor + 10
        leg.set_muted(True)
        await browser.wait_for(
            lambda c: any(e["type"] == "trackMuted" and e["muted"] for e in c.events)
        )
        leg.close()
        leg.close()
        await browser.wait_for(lambda c: phone_id not in c.participants)
        assert ended == []  # the caller hung up: nothing to end
        conference = server.conferences.get("audioconf")
        assert conference is not None and conference.audio is None  # no listener left
        assert phone.transport.receiver is None
        phone.close()
    finally:
        await browser.close()


async def test_closing_the_conference_ends_the_call(server):
    ended: list[str] = []
    bridge = PhoneBridge(server.conferences)
    phone = await PlainPhone.open("PCMU", 0, 8000)
    leg = await bridge.join_phone("fin", "x", "+33 1 •• •• •• 00", phone.media, ended.append)
    conference = server.conferences.get("fin")
    assert conference is not None and conference.audio is not None
    conference.close("conference ended")
    assert ended == ["conference ended"]
    assert leg.participant.closed
    phone.close()


class _BookedLimit:
    """An admission policy: the booking of "petite" takes one participant."""

    def __init__(self) -> None:
        self.requests: list[JoinRequest] = []

    async def admit(self, request: JoinRequest) -> Grant:
        self.requests.append(request)
        return Grant(max_participants=1 if request.room == "petite" else None)


async def test_a_booked_limit_refuses_the_next_caller(server, monkeypatch: pytest.MonkeyPatch):
    policy = _BookedLimit()
    monkeypatch.setattr(server.conferences, "admission", policy)
    bridge = PhoneBridge(server.conferences)
    phones = [await PlainPhone.open("PCMU", 0, 8000) for _ in range(3)]
    first = await bridge.join_phone(
        "petite", "a", "+33 1 •• •• •• 01", phones[0].media, lambda r: None
    )
    with pytest.raises(ConferenceFull):
        await bridge.join_phone(
            "petite", "b", "+33 1 •• •• •• 02", phones[1].media, lambda r: None
        )
    conference = server.conferences.get("petite")
    assert conference is not None and len(conference.participants) == 1
    other = await bridge.join_phone(
        "libre", "c", "+33 1 •• •• •• 03", phones[2].media, lambda r: None
    )
    assert other.participant_count == 1
    # every caller asked the one door, as a phone
    assert [(r.room, r.kind) for r in policy.requests] == [
        ("petite", "phone"), ("petite", "phone"), ("libre", "phone"),
    ]
    first.close()
    other.close()
    for phone in phones:
        phone.close()


async def test_a_room_at_its_participant_limit_refuses_a_caller_and_keeps_nothing(
    make_server,
):
    server = await make_server(sfu={"max_participants": 1})
    bridge = PhoneBridge(server.conferences)
    phones = [await PlainPhone.open("PCMU", 0, 8000) for _ in range(2)]
    first = await bridge.join_phone("pleine", "a", "", phones[0].media, lambda r: None)
    with pytest.raises(ConferenceFull):
        await bridge.join_phone("pleine", "b", "", phones[1].media, lambda r: None)
    conference = server.conferences.get("pleine")
    assert conference is not None and len(conference.participants) == 1
    assert phones[1].transport.receiver is None  # the refused caller's audio goes nowhere
    first.close()
    assert server.conferences.get("pleine") is None
    for phone in phones:
        phone.close()


async def test_a_caller_without_a_number_is_shown_as_a_phone_not_as_dots(server):
    url = base_url(server)
    browser = Client(url, "sans-numero", "Alice", decode=False)
    try:
        await browser.join()
        bridge = PhoneBridge(server.conferences)
        phone = await PlainPhone.open("PCMA", 8, 8000)
        leg = await bridge.join_phone("sans-numero", "anonymous", "", phone.media, lambda _: None)
        await browser.wait_for(
            lambda c: any(
                p["kind"] == "phone" and p["displayName"] == "Téléphone"
                for p in c.participants.values()
            )
        )
        leg.close()
        phone.close()
    finally:
        await browser.close()


#: every RTP parser snapconf has had (the mixer's and the gateway's own are gone)
PARSERS = ("parse_rtp_header", "parse_audio_packet")


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap every RTP parser any snapconf module holds and count all their calls.

    Returns a one-element counter. Only the phone sends RTP in the tests that use it (the
    browser publishes nothing), so every call is the parse of a packet of the phone's, or
    of the mix on its way back.
    """
    import sys

    count = [0]
    wrapped: dict[object, object] = {}

    def wrap(real: Callable[..., object]) -> Callable[..., object]:
        def counting(*args: object, **kwargs: object) -> object:
            count[0] += 1
            return real(*args, **kwargs)

        return counting

    for name, module in list(sys.modules.items()):
        if not name.startswith("snapconf"):
            continue
        for attr in PARSERS:
            real = getattr(module, attr, None)
            if callable(real):
                if real not in wrapped:
                    wrapped[real] = wrap(real)
                monkeypatch.setattr(module, attr, wrapped[real])
    return count


async def test_a_phone_packet_is_parsed_once_on_its_way_to_the_mixer_and_to_browsers(
    server, monkeypatch: pytest.MonkeyPatch
):
    browser = Client(base_url(server), "une-fois", "Alice", keep_frames=50)
    phone = await PlainPhone.open("PCMA", 8, 8000)
    try:
        await browser.join()
        leg = await PhoneBridge(server.conferences).join_phone(
            "une-fois", "Appelant", "+33 6 •• •• •• 12", phone.media, lambda _: None
        )
        conference = server.conferences.get("une-fois")
        assert conference is not None and conference.audio is not None
        mixer_in = conference.audio.mixer.stats
        await browser.wait_for(lambda c: any(t.kind == "audio" for t in c.received.values()))
        parses = _count_parses(monkeypatch)
        before = mixer_in.packets_in
        step = 160
        sent = 100
        for i in range(sent):
            t = (np.arange(step) + i * step) / 8000
            pcm = (0.3 * 32767 * np.sin(2 * math.pi * PHONE_TONE * t)).astype(np.int16)
            phone.send(8, 2000 + i, i * step, alaw_encode(pcm))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        received = phone.transport.stats.packets_in
        assert received == sent
        # every packet reached the mixer and the browser...
        assert mixer_in.packets_in - before == sent
        (track,) = [t for t in browser.received.values() if t.participant_id == leg.participant.id]
        assert track.frame_count > 50
        assert abs(dominant_frequency(track.frames[-50:]) - PHONE_TONE) < 15
        # ...and was parsed once, by the phone's plain transport; nor is the mix going back
        # to the phone parsed again
        assert phone.heard
        assert parses[0] == sent
        leg.close()
    finally:
        phone.close()
        await browser.close()


@pytest.mark.parametrize("ptime", [30, 40])
async def test_a_phone_hears_the_mix_at_its_packet_time_and_the_browser_hears_the_phone(
    server, ptime: int
):
    browser = Client(base_url(server), f"ptime{ptime}", "Alice", keep_frames=100)
    phone = await PlainPhone.open("PCMA", 8, 8000, ptime_ms=ptime)
    try:
        await browser.join()
        await browser.publish([(ToneTrack(BROWSER_TONE), "microphone")])
        leg = await PhoneBridge(server.conferences).join_phone(
            f"ptime{ptime}", "Appelant", "+33 6 •• •• •• 12", phone.media, lambda _: None
        )
        # the phone talks in its own packet time for 2.5 s
        step = 8 * ptime
        for i in range(2500 // ptime):
            t = (np.arange(step) + i * step) / 8000
            pcm = (0.3 * 32767 * np.sin(2 * math.pi * PHONE_TONE * t)).astype(np.int16)
            phone.send(8, 3000 + i, i * step, alaw_encode(pcm))
            await asyncio.sleep(ptime / 1000)
        (track,) = [t for t in browser.received.values() if t.participant_id == leg.participant.id]
        assert track.frame_count > 50
        assert abs(dominant_frequency(track.frames[-50:]) - PHONE_TONE) < 15
        # the phone hears the browser in packets of its packet time, in one RTP stream
        heard = phone.heard[-40:]
        headers = [parse_rtp_header(p) for p in heard]
        assert len(heard) == 40 and {h.ssrc for h in headers} == {phone.transport.ssrc}
        assert {len(p) - h.payload_offset for p, h in zip(heard, headers, strict=True)} == {step}
        # one packet time per packet; after a stall of the loop (a loaded machine) the
        # timestamp follows the clock, in whole packet times, with a marker
        steps = [
            ((b.timestamp - a.timestamp) & 0xFFFFFFFF, b.marker)
            for a, b in itertools.pairwise(headers)
        ]
        assert all(n == step for n, marker in steps if not marker)
        assert all(n % step == 0 for n, _ in steps)
        signal = np.concatenate([alaw_decode(p[12:]) for p in heard]).astype(np.float64)
        floor = _band_db(signal, 8000, 1200.0)
        assert _band_db(signal, 8000, BROWSER_TONE) > floor + 25
        assert _band_db(signal, 8000, PHONE_TONE) < floor + 10
        leg.close()
    finally:
        phone.close()
        await browser.close()
