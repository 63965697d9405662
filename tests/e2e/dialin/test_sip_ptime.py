"""A softphone at 30 or 40 ms packets (``sip.ptime`` and its own a=ptime) and a browser.

`snapconf`'s own server with baresip (PCMU, ``ptime`` account parameter) and the project's
aiortc client, each sending its own tone: the phone hears the browser in packets of its
packet time (the mixer's output to it, counted at the call's plain RTP transport), and the
browser hears the phone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import base_url
from tests.e2e.dialin.test_sip_phones import PIN, Baresip, band_db, free_even_range, read_wav
from tests.integration.media_checks import dominant_frequency

from snapconf.client import Client, ToneTrack

pytestmark = pytest.mark.e2e

BROWSER_TONE = 440.0
PHONE_TONE = 700.0


@pytest.mark.parametrize("ptime", [30, 40])
async def test_a_phone_at_its_packet_time_hears_the_browser_and_the_browser_hears_it(
    make_server, tmp_path: Path, ptime: int
):
    low, high = free_even_range(20)
    server = await make_server(
        sip={
            "port": 0,
            "ring_time": 0.1,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "ptime": ptime,
            "codecs": ["PCMU"],
            "static_conferences": {"paquets": PIN},
        }
    )
    gateway = server.gateway
    assert gateway is not None
    await gateway.prompts_ready()
    browser = Client(base_url(server), "paquets", "Navigateur", keep_frames=150)
    await browser.join()
    await browser.publish([(ToneTrack(BROWSER_TONE), "microphone")])
    phone = Baresip(tmp_path, "baresip", PHONE_TONE, ptime=ptime)
    loop = asyncio.get_running_loop()
    try:
        await phone.start()
        await phone.dial(f"sip:conf@127.0.0.1:{gateway.udp_port}")
        end = loop.time() + 10
        while not any(c.state.value == "confirmed" for c in gateway.calls.values()):
            assert loop.time() < end, "the call was not answered"
            await asyncio.sleep(0.1)
        (call,) = gateway.calls.values()
        assert call.negotiated.remote_ptime == ptime and call.ptime == ptime
        await asyncio.sleep(0.5)
        await phone.dtmf(PIN + "#")
        await browser.wait_for(
            lambda c: any(p["kind"] == "phone" for p in c.participants.values()), timeout=15
        )
        while call.prompt_playing:
            await asyncio.sleep(0.05)
        assert call.rtp is not None
        sent_before = (call.rtp.stats.packets_out, call.rtp.stats.bytes_out)
        await asyncio.sleep(3.0)  # both talk and listen
        packets = call.rtp.stats.packets_out - sent_before[0]
        octets = call.rtp.stats.bytes_out - sent_before[1]
        # the mix reaches the phone in PCMU packets of its packet time: 8 bytes per ms
        assert packets > 0 and octets == packets * 8 * ptime
        assert 0.7 * 3000 / ptime < packets < 1.3 * 3000 / ptime
        (caller,) = [p for p in browser.participants.values() if p["kind"] == "phone"]
        (track,) = [
            t for t in browser.received.values()
            if t.participant_id == caller["id"] and t.kind == "audio"
        ]
        assert abs(dominant_frequency(track.frames[-100:]) - PHONE_TONE) < 15
    finally:
        await phone.stop()
        await browser.close()
    end = loop.time() + 10
    while gateway.calls:
        assert loop.time() < end, "the call was left behind after the phone hung up"
        await asyncio.sleep(0.1)
    pcm, rate = read_wav(phone.recording())
    tail = pcm[-int(2.0 * rate) - int(0.3 * rate) : -int(0.3 * rate)]
    heard, own = band_db(tail, rate, BROWSER_TONE), band_db(tail, rate, PHONE_TONE)
    assert heard > -10, f"the phone does not hear the browser: {heard:.1f} dB"
    assert heard - own > 20, f"the phone hears itself: own {own:.1f} dB"
