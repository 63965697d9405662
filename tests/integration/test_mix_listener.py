"""A browser participant that asks for the conference mix hears every talker in one track."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import numpy as np
from tests.conftest import base_url

from snapconf.client import Client, ColorTrack, ToneTrack

TONES = {"alice": 440.0, "bob": 1000.0, "carol": 1900.0}


def _band_db(signal: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    freqs = np.fft.rfftfreq(len(signal), 1 / rate)
    band = (freqs > freq - 15) & (freqs < freq + 15)
    return float(20 * np.log10(spectrum[band].max() + 1e-9))


def _mono(frames: list) -> tuple[np.ndarray, int]:
    chunks = []
    for frame in frames:
        samples = frame.to_ndarray().reshape(-1)
        chunks.append(samples[:: len(frame.layout.channels)].astype(np.float64))
    return np.concatenate(chunks), frames[-1].sample_rate


async def test_a_mix_listener_hears_each_talker_but_not_itself_in_one_track(server):
    url = base_url(server)
    clients = {}
    try:
        for name, freq in TONES.items():
            client = Client(url, "pont", name, keep_frames=100)
            await client.join()
            await client.publish(
                [(ToneTrack(freq), "microphone"), (ColorTrack((90, 90, 90)), "camera")]
            )
            clients[name] = client
        carol = clients["carol"]
        await carol.wait_for(lambda c: len(c.received) == 4)
        await carol.set_audio_mode("mix")

        def mixed(c: Client) -> bool:
            audio = [t for t in c.received.values() if t.kind == "audio"]
            return len(audio) == 1 and audio[0].source == "mix" and audio[0].frame_count >= 100

        for _ in range(300):
            if mixed(carol):
                break
            await asyncio.sleep(0.05)
        assert mixed(carol), [(t.kind, t.source, t.frame_count) for t in carol.received.values()]
        assert sorted(t.kind for t in carol.received.values()) == ["audio", "video", "video"]
        (mix,) = [t for t in carol.received.values() if t.kind == "audio"]
        signal, rate = _mono(mix.frames[-75:])  # the last 1.5 s
        floor = _band_db(signal, rate, 1500.0)
        assert _band_db(signal, rate, TONES["alice"]) > floor + 25
        assert _band_db(signal, rate, TONES["bob"]) > floor + 25
        assert _band_db(signal, rate, TONES["carol"]) < floor + 10  # not her own voice
        conference = server.conferences.get("pont")
        assert conference is not None and conference.audio is not None
        stats = conference.audio.mixer.stats
        assert stats.encodes > 0 and stats.packets_out > 0
        # everyone is told who speaks
        await carol.wait_for(lambda c: any(e["type"] == "activeSpeakers" for e in c.events))
        speakers = [e for e in clients["alice"].events if e["type"] == "activeSpeakers"][-1]
        assert set(speakers["participantIds"]) <= {c.participant_id for c in clients.values()}
        assert speakers["participantIds"]
        # back to one track per speaker: the bridge stops, forwarded audio returns
        await carol.set_audio_mode("tracks")
        await carol.wait_for(
            lambda c: (
                sorted(t.source for t in c.received.values() if t.kind == "audio")
                == ["microphone", "microphone"]
            )
        )
        assert conference.audio is None
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
            text = await r.text()
        assert "snapconf_mixers 0" in text
        encodes = re.search(r"^snapconf_mixer_encodes_total (\d+)", text, re.M)
        overruns = re.search(r"^snapconf_mixer_overruns_total (\d+)", text, re.M)
        assert encodes is not None and int(encodes.group(1)) >= stats.encodes > 0
        assert overruns is not None
    finally:
        for client in clients.values():
            await client.close()


async def test_mix_listeners_alone_in_their_rooms_cost_no_encode(server):
    """An anonymous mix listener in an empty room starts no work: nobody speaks there."""
    url = base_url(server)
    clients = [Client(url, f"vide-{n}", f"L{n}", decode=False) for n in range(5)]
    try:
        for client in clients:
            await client.join()
            await client.set_audio_mode("mix")
        for n, client in enumerate(clients):
            await client.wait_for(lambda c: any(t.source == "mix" for t in c.received.values()))
            conference = server.conferences.get(f"vide-{n}")
            assert conference is not None and conference.audio is not None
            participant = conference.participants[client.participant_id]
            for _ in range(100):
                if participant.mix_ready:
                    break
                await asyncio.sleep(0.05)
            assert participant.mix_ready
        await asyncio.sleep(0.5)  # time for a ticking mixer to have encoded 25 frames
        mixers = [server.conferences.get(f"vide-{n}").audio.mixer for n in range(5)]
        assert [m.stats.encodes for m in mixers] == [0] * 5
        assert [m.stats.ticks for m in mixers] == [0] * 5
        assert [m.stats.packets_out for m in mixers] == [0] * 5
    finally:
        for client in clients:
            await client.close()
