"""An idle mix costs nothing: no encode while nobody speaks, no tick with nothing to mix."""

from __future__ import annotations

import asyncio
import itertools

from mixer_testkit import Receiver, Sender, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.mixer import Mixer, MixerConfig


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_mixer_with_no_input_and_only_browser_listeners_does_not_tick() -> None:
    clock = FakeClock()
    mixers = []
    for n in range(20):  # twenty empty rooms, each with one mix listener
        mixer = Mixer(MixerConfig(), clock)
        mixer.add_output(f"l{n}", "opus", 111, 0x1000 + n, Receiver("opus"), silent_when_idle=True)
        mixer.start()
        mixers.append(mixer)
    await settle()
    for _ in range(100):  # two seconds
        await clock.advance(0.02)
    assert sum(m.stats.ticks for m in mixers) == 0
    assert sum(m.stats.encodes for m in mixers) == 0
    for mixer in mixers:
        mixer.close()
        await mixer.wait_closed()


async def test_a_dormant_mixer_wakes_for_an_input_and_its_listener_hears_it() -> None:
    clock = FakeClock()
    mixer = Mixer(MixerConfig(), clock)
    rx = Receiver("opus")
    mixer.add_output("l", "opus", 111, 0xABCD, rx, silent_when_idle=True)
    mixer.start()
    await settle()
    for _ in range(10):
        await clock.advance(0.02)
    assert mixer.stats.ticks == 0
    sender = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0)
    await settle()
    for _ in range(30):
        sender.send()
        await clock.advance(0.02)
    assert mixer.stats.dormant_ticks >= 9  # the 200 ms slept through
    assert mixer.stats.ticks >= 25 and mixer.stats.encodes > 0
    assert len(rx.packets) > 0
    stamps = [h[3] for h in rx.headers()]
    assert all((b - a) & 0xFFFFFFFF == 960 for a, b in itertools.pairwise(stamps))
    mixer.close()
    await mixer.wait_closed()


def test_silence_is_not_encoded_for_browser_listeners_but_still_is_for_phones() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    quiet = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 0.0)
    browser, phone = Receiver("opus"), Receiver("PCMU")
    mixer.add_output("b", "opus", 111, 0xB, browser, silent_when_idle=True)
    run_ticks(mixer, [quiet], 50)
    assert mixer.stats.encodes == 0 and browser.packets == []
    assert mixer.stats.idle_frames == 50
    mixer.add_output("p", "PCMU", 0, 0xC, phone)  # a phone line wants packets all along
    run_ticks(mixer, [quiet], 50)
    assert mixer.stats.encodes == 50 and len(phone.packets) == 50 and browser.packets == []


def test_a_browser_listener_gets_the_talkspurt_with_a_marker_and_continuous_timestamps() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    sender = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 0.0)
    rx = Receiver("opus")
    mixer.add_output("b", "opus", 111, 0xB, rx, silent_when_idle=True)
    run_ticks(mixer, [sender], 20)  # silence: nothing sent
    sender.amp = 8000.0
    run_ticks(mixer, [sender], 30)
    headers = rx.headers()
    assert headers and headers[0][1] >> 7 == 1  # a talkspurt starts: marker bit
    stamps = [h[3] for h in headers]
    assert all((b - a) & 0xFFFFFFFF == 960 for a, b in itertools.pairwise(stamps))
