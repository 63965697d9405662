"""Two real softphones and a browser participant in one conference.

`snapconf`'s own server (gateway, PhoneBridge, conference, audio bridge, SFU) with baresip
(PCMU), linphonec (Opus) and the project's aiortc client, each sending its own tone. Each
phone's recording holds the two other tones and not its own; the browser receives both
callers as ordinary audio tracks and sees them, numbers masked, in the participant list.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import base_url
from tests.e2e.dialin.test_sip_phones import (
    PIN,
    Baresip,
    Linphonec,
    band_db,
    free_even_range,
    read_wav,
)
from tests.integration.media_checks import dominant_frequency

from snapconf.client import Client, ToneTrack
from snapconf.dialin.conference_bridge import PHONE_NAME

pytestmark = pytest.mark.e2e

BROWSER_TONE = 440.0


async def test_two_phones_and_a_browser_each_hear_the_two_others(make_server, tmp_path: Path):
    low, high = free_even_range(40)
    server = await make_server(
        sip={
            "port": 0,
            "ring_time": 0.1,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "static_conferences": {"alpha": PIN},
        }
    )
    gateway = server.gateway
    assert gateway is not None
    await gateway.prompts_ready()
    browser = Client(base_url(server), "alpha", "Navigateur", keep_frames=150)
    await browser.join()
    await browser.publish([(ToneTrack(BROWSER_TONE), "microphone")])
    phones: list[Baresip | Linphonec] = [
        Baresip(tmp_path, "baresip", 700.0),
        Linphonec(tmp_path, "linphonec", 1300.0),
    ]
    uri = f"sip:conf@127.0.0.1:{gateway.udp_port}"
    loop = asyncio.get_running_loop()
    try:
        for joined, phone in enumerate(phones, start=1):
            await phone.start()
            await phone.dial(uri)
            end = loop.time() + 10
            while not any(
                c.state.value == "confirmed" and c.leg is None for c in gateway.calls.values()
            ):
                assert loop.time() < end, f"{phone.name}'s call was not answered"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            await phone.dtmf(PIN + "#")
            await browser.wait_for(
                lambda c, n=joined: sum(p["kind"] == "phone" for p in c.participants.values()) == n,
                timeout=15,
            )
        while any(c.prompt_playing for c in gateway.calls.values()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # everyone talks and listens
        callers = {p["id"]: p for p in browser.participants.values() if p["kind"] == "phone"}
        assert len(callers) == 2
        # the softphones' caller ids (baresip, linphonec) have no digits: each is shown as a
        # phone, never by the id it chose
        assert all(p["displayName"] == PHONE_NAME for p in callers.values())
        heard_by_browser = sorted(
            round(dominant_frequency(t.frames[-100:]))
            for t in browser.received.values()
            if t.participant_id in callers and t.kind == "audio"
        )
        assert len(heard_by_browser) == 2
        assert abs(heard_by_browser[0] - 700) < 15 and abs(heard_by_browser[1] - 1300) < 15
    finally:
        await asyncio.gather(*(phone.stop() for phone in phones))
        await browser.close()
    end = loop.time() + 10
    while gateway.calls:
        assert loop.time() < end, "calls left behind after the phones hung up"
        await asyncio.sleep(0.1)
    assert gateway.ports.in_use == set()
    tones = {"browser": BROWSER_TONE, **{p.name: p.tone_hz for p in phones}}
    for phone in phones:
        pcm, rate = read_wav(phone.recording())
        tail = pcm[-int(2.0 * rate) - int(0.3 * rate) : -int(0.3 * rate)]
        own = band_db(tail, rate, phone.tone_hz)
        for other, hz in tones.items():
            if other != phone.name:
                heard = band_db(tail, rate, hz)
                assert heard > -10, f"{phone.name} does not hear {other}: {heard:.1f} dB"
                assert heard - own > 20, f"{phone.name} hears itself: own {own:.1f} dB"
