"""Decoding only what may be heard: levels from G.711 codes, Opus silence known undecoded."""

from __future__ import annotations

import numpy as np
import pytest
from mixer_testkit import Receiver, Sender, band_db, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig

G711 = [("PCMU", 0), ("PCMA", 8)]


def _dbov(pcm: np.ndarray) -> float:
    """RFC 6464 level of decoded PCM: RMS relative to full scale, in dB."""
    mean_sq = float(np.mean(pcm.astype(np.float64) ** 2))
    return max(-127.0, 10 * np.log10(mean_sq / 32768.0**2)) if mean_sq > 0 else -127.0


@pytest.mark.parametrize(("law", "pt"), G711)
def test_a_silent_g711_phone_is_never_decoded_and_a_loud_one_is_mixed(law: str, pt: int) -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    loud = Sender(mixer.add_input("loud", law, 8000, pt), law, 440.0, 8000.0, levels=False, pt=pt)
    silent = Sender(mixer.add_input("silent", law, 8000, pt), law, levels=False, pt=pt)
    rx = Receiver(law)
    mixer.add_output("listener", law, pt, 1, rx)
    run_ticks(mixer, [loud, silent], 50)
    assert mixer.talkers == ["loud"]
    assert mixer.stats.decodes == 50 - 2  # the loud phone's frames (after a 40 ms playout delay)
    pcm = rx.decode(skip_packets=10)
    assert band_db(pcm, 8000, 440.0) > band_db(pcm, 8000, 1500.0) + 30


@pytest.mark.parametrize(("law", "pt"), G711)
@pytest.mark.parametrize("phones", [1, 12])  # one alone, and enough to be measured together
def test_g711_levels_read_from_the_codes_match_the_decoded_pcm_within_1_db(
    law: str, pt: int, phones: int
) -> None:
    spec = get_codec(law)
    encoder = spec.new_encoder()
    rng = np.random.default_rng(3)
    mixer = Mixer(MixerConfig(talkers=1), FakeClock())
    inputs, payloads = [], []
    for k in range(phones):
        dbov = -50.0 + 47.0 * k / max(1, phones - 1)  # -50 to -3 dBov
        noise = rng.normal(0, 32768 * 10 ** (dbov / 20), 160).clip(-32768, 32767)
        payloads.append(encoder.encode(np.rint(noise).astype(np.int16)))
        inputs.append(mixer.add_input(f"p{k}", law, 8000, pt))
    for t in range(5):
        for inp, payload in zip(inputs, payloads, strict=True):
            inp.push(t, t * 160, pt, payload, None)  # the same frame again: a steady level
        mixer.tick()
    decoder = spec.new_decoder()
    for inp, payload in zip(inputs, payloads, strict=True):
        assert inp.level == pytest.approx(_dbov(decoder.decode(payload, 160)), abs=1.0)
    assert mixer.stats.decodes <= 3  # the one talker's frames, none to measure a level


@pytest.mark.parametrize(("law", "pt"), G711)
def test_among_many_noisy_g711_phones_the_loudest_are_heard_and_only_they_decoded(
    law: str, pt: int
) -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    voices = {"a": (440.0, 12000.0), "b": (620.0, 9000.0), "c": (910.0, 6000.0)}
    senders = [
        Sender(mixer.add_input(pid, law, 8000, pt), law, freq, amp, levels=False, pt=pt)
        for pid, (freq, amp) in voices.items()
    ]
    encoder = get_codec(law).new_encoder()
    rng = np.random.default_rng(9)
    noisy = [mixer.add_input(f"n{k}", law, 8000, pt) for k in range(20)]
    rx = Receiver(law)
    mixer.add_output("listener", law, pt, 1, rx)

    def room_noise(t: int) -> None:  # open microphones at -40 dBov: above silence_dbov
        for inp in noisy:
            frame = np.rint(rng.normal(0, 328, 160)).astype(np.int16)
            inp.push(1000 + t, 5000 + t * 160, pt, encoder.encode(frame), None)

    run_ticks(mixer, senders, 60, each=room_noise)
    assert sorted(mixer.talkers) == ["a", "b", "c"]
    assert mixer.stats.decodes <= 3 * 60  # the talkers only
    pcm = rx.decode(skip_packets=20)
    for freq, _amp in voices.values():
        assert band_db(pcm, 8000, freq) > band_db(pcm, 8000, 1500.0) + 20


def test_opus_dtx_and_frames_of_three_bytes_or_fewer_are_not_decoded() -> None:
    mixer = Mixer(MixerConfig(), FakeClock())
    talker = Sender(mixer.add_input("t", "opus", 48000, 111), "opus", 440.0, 8000.0, levels=False)
    dtx = mixer.add_input("dtx", "opus", 48000, 111)
    tiny = mixer.add_input("tiny", "opus", 48000, 111)
    mixer.add_output("l", "opus", 111, 1, Receiver("opus"))
    for t in range(50):
        talker.send()
        dtx.push(t, t * 960, 111, b"\xf8", None)  # a TOC byte alone (RFC 6716 §3.2.1)
        tiny.push(t, t * 960, 111, b"\xf8\xff\xfe", None)  # a TOC byte and two bytes
        mixer.tick()
    assert mixer.talkers == ["t"]
    assert mixer.stats.decodes == 50 - 2  # the talker only
    assert dtx.idle and tiny.idle


def test_an_opus_phone_sending_silence_without_dtx_is_decoded_until_known_then_heard() -> None:
    """An encoder fed digital silence without DTX repeats one payload: once it has decoded to
    silence, the same bytes are not decoded again; speech is still selected and heard."""
    mixer = Mixer(MixerConfig(), FakeClock())
    phone = Sender(mixer.add_input("phone", "opus", 48000, 111), "opus", 620.0, 0.0, levels=False)
    rx = Receiver("opus")
    mixer.add_output("listener", "opus", 111, 1, rx)
    run_ticks(mixer, [phone], 100)
    silent_decodes = mixer.stats.decodes
    assert silent_decodes <= 10  # the encoder's first, distinct packets
    assert mixer.talkers == []
    assert phone.inp.idle
    run_ticks(mixer, [phone], 50)
    assert mixer.stats.decodes == silent_decodes  # two more seconds of silence: no decode
    phone.amp = 8000.0
    run_ticks(mixer, [phone], 50)
    assert mixer.talkers == ["phone"]
    pcm = rx.decode(skip_packets=len(rx.packets) - 30)
    assert band_db(pcm, 48000, 620.0) > band_db(pcm, 48000, 1500.0) + 30
