"""A phone leg (no SIP: the gateway's seam) and a browser hear each other through the bridge."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from tests.conftest import base_url
from tests.integration.media_checks import dominant_frequency

from snapconf.client import Client, ToneTrack
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
    heard: list[bytes] = []
    ended: list[str] = []
    browser = Client(url, "audioconf", "Alice", keep_frames=100)
    try:
        await browser.join()
        await browser.publish([(ToneTrack(BROWSER_TONE), "microphone")])
        bridge = PhoneBridge(server.conferences)
        leg = await bridge.join_phone(
            "audioconf",
            "Appelant",
            "+33 6 •• •• •• 12",
            "PCMA",
            8,
            8000,
            heard.append,
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
            leg.receive_rtp(8, 1000 + i, i * step, alaw_encode(pcm), None)
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
    finally:
        await browser.close()


async def test_closing_the_conference_ends_the_call(server):
    ended: list[str] = []
    bridge = PhoneBridge(server.conferences)
    leg = await bridge.join_phone(
        "fin", "x", "+33 1 •• •• •• 00", "PCMU", 0, 8000, lambda p: None, ended.append
    )
    conference = server.conferences.get("fin")
    assert conference is not None and conference.audio is not None
    conference.close("conference ended")
    assert ended == ["conference ended"]
    assert leg.participant.closed


async def test_a_booked_limit_refuses_the_next_caller(server):
    async def limit(conference_id: str) -> int | None:
        return 1 if conference_id == "petite" else None

    bridge = PhoneBridge(server.conferences, limit=limit)
    first = await bridge.join_phone(
        "petite", "a", "+33 1 •• •• •• 01", "PCMU", 0, 8000, lambda p: None, lambda r: None
    )
    with pytest.raises(ConferenceFull):
        await bridge.join_phone(
            "petite", "b", "+33 1 •• •• •• 02", "PCMU", 0, 8000, lambda p: None, lambda r: None
        )
    conference = server.conferences.get("petite")
    assert conference is not None and len(conference.participants) == 1
    other = await bridge.join_phone(
        "libre", "c", "+33 1 •• •• •• 03", "PCMU", 0, 8000, lambda p: None, lambda r: None
    )
    assert other.participant_count == 1
    first.close()
    other.close()


async def test_a_caller_without_a_number_is_shown_as_a_phone_not_as_dots(server):
    url = base_url(server)
    browser = Client(url, "sans-numero", "Alice", decode=False)
    try:
        await browser.join()
        bridge = PhoneBridge(server.conferences)
        leg = await bridge.join_phone(
            "sans-numero", "anonymous", "", "PCMA", 8, 8000, lambda _: None, lambda _: None
        )
        await browser.wait_for(
            lambda c: any(
                p["kind"] == "phone" and p["displayName"] == "Téléphone"
                for p in c.participants.values()
            )
        )
        leg.close()
    finally:
        await browser.close()
