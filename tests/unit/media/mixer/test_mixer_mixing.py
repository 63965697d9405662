"""What listeners hear: others' voices, never their own; shared encodes; saturation."""

from __future__ import annotations

import numpy as np
import pytest
from mixer_testkit import Receiver, Sender, band_db, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig

FREQS = {"a": 440.0, "b": 620.0, "c": 910.0}  # distinct and not harmonics of each other


def build(
    codec: str,
    pt: int,
    n_silent: int,
    levels: bool = True,
    out_codec: str | None = None,
    config: MixerConfig | None = None,
) -> tuple[Mixer, dict[str, Sender], dict[str, Receiver]]:
    mixer = Mixer(config or MixerConfig(), FakeClock())
    clock = get_codec(codec).clock_rate
    senders: dict[str, Sender] = {}
    receivers: dict[str, Receiver] = {}
    ids = list(FREQS) + [f"s{i}" for i in range(n_silent)]
    for k, pid in enumerate(ids):
        inp = mixer.add_input(pid, codec, clock, pt)
        freq = FREQS.get(pid, 0.0)
        senders[pid] = Sender(inp, codec, freq, 8000.0 if freq else 0.0, levels=levels, pt=pt)
        rx = Receiver(out_codec or codec)
        receivers[pid] = rx
        out_spec = get_codec(out_codec or codec)
        out_pt = out_spec.static_payload_type if out_spec.static_payload_type is not None else 111
        mixer.add_output(pid, out_spec.name, out_pt, 0x1000 + k, rx, own_input_id=pid)
    return mixer, senders, receivers


def assert_hears_others_not_self(rx: Receiver, own: str | None, rate: int) -> None:
    pcm = rx.decode(skip_packets=25)  # steady state: after the first half second
    assert len(pcm) >= rate // 2  # half a second or more of audio
    levels = {pid: band_db(pcm, rate, f) for pid, f in FREQS.items()}
    others = [lvl for pid, lvl in levels.items() if pid != own]
    floor = band_db(pcm, rate, 1500.0)  # a frequency nobody sends
    for lvl in others:
        assert lvl > floor + 30, levels
    if own is not None:
        assert levels[own] < min(others) - 25, levels


@pytest.mark.parametrize(
    ("codec", "pt", "levels"),
    [("opus", 111, True), ("opus", 111, False), ("PCMU", 0, False), ("G722", 9, False)],
)
def test_each_listener_hears_the_others_and_not_itself(codec: str, pt: int, levels: bool) -> None:
    mixer, senders, receivers = build(codec, pt, n_silent=2, levels=levels)
    run_ticks(mixer, list(senders.values()), 80)
    assert sorted(mixer.talkers) == ["a", "b", "c"]
    rate = get_codec(codec).sample_rate
    for pid in FREQS:
        assert_hears_others_not_self(receivers[pid], pid, rate)
    assert_hears_others_not_self(receivers["s0"], None, rate)


def test_fifty_participants_three_talkers_two_formats() -> None:
    """Browsers (Opus, with audio levels) and phones (PCMA) in one 50-person bridge."""
    mixer = Mixer(MixerConfig(), FakeClock())
    senders, receivers = [], {}
    for k in range(50):
        pid = f"p{k}"
        inp = mixer.add_input(pid, "opus", 48000, 111)
        freq = list(FREQS.values())[k] if k < 3 else 0.0
        senders.append(Sender(inp, "opus", freq, 8000.0 if freq else 0.0))
        phone = k >= 40
        rx = Receiver("PCMA" if phone else "opus")
        receivers[pid] = rx
        mixer.add_output(pid, "PCMA" if phone else "opus", 8 if phone else 111, k, rx, pid)
    run_ticks(mixer, senders, 10)  # fill the jitter buffers, pick the talkers
    assert sorted(mixer.talkers) == ["p0", "p1", "p2"]
    st = mixer.stats
    before = (st.encodes, st.decodes, st.skipped_packets, st.packets_out)
    run_ticks(mixer, senders, 50)
    encodes, decodes, skipped, sent = (
        st.encodes - before[0],
        st.decodes - before[1],
        st.skipped_packets - before[2],
        st.packets_out - before[3],
    )
    assert encodes == 50 * (3 + 2)  # K talkers (their own mix-minus) + 2 formats (opus, PCMA)
    assert decodes == 50 * 3  # only the talkers: 47 silent inputs are never decoded
    assert skipped == 50 * 47
    assert sent == 50 * 50
    assert_hears_others_not_self(receivers["p0"], "a", 48000)  # p0 sends FREQS["a"]
    assert_hears_others_not_self(receivers["p20"], None, 48000)
    assert_hears_others_not_self(receivers["p45"], None, 8000)  # a phone hears the browsers


def test_encodes_per_tick_is_talkers_plus_formats() -> None:
    mixer, senders, _ = build("opus", 111, n_silent=6)
    extra = {
        "g": ("PCMU", 0),
        "h": ("PCMU", 0),
        "i": ("G722", 9),
        "j": ("opus", 109),  # pt 109: same opus format
    }
    for k, (lid, (codec, pt)) in enumerate(extra.items()):
        mixer.add_output(lid, codec, pt, 0x2000 + k, Receiver(codec))
    run_ticks(mixer, list(senders.values()), 10)
    before = mixer.stats.encodes
    run_ticks(mixer, list(senders.values()), 20)
    formats = 3  # opus, PCMU, G722
    assert mixer.stats.encodes - before == 20 * (3 + formats)


def test_muted_input_leaves_the_mix() -> None:
    mixer, senders, receivers = build("opus", 111, n_silent=1)
    senders["b"].inp.muted = True
    run_ticks(mixer, list(senders.values()), 60)
    assert sorted(mixer.talkers) == ["a", "c"]
    pcm = receivers["s0"].decode(skip_packets=25)
    assert band_db(pcm, 48000, FREQS["b"]) < band_db(pcm, 48000, FREQS["a"]) - 25
    assert band_db(pcm, 48000, FREQS["c"]) > band_db(pcm, 48000, 1500) + 30


@pytest.mark.parametrize(("codec", "out_codec"), [("opus", "opus"), ("PCMU", "PCMU")])
def test_loud_inputs_saturate_instead_of_wrapping(codec: str, out_codec: str) -> None:
    """Three in-phase tones at half scale sum to 1.5 x full scale: the mix must clip.

    Wrapped to 16 bits, every peak would flip sign (48000 - 65536 = -17536): the output would
    correlate negatively with the tone (about -0.4); saturated, it stays a flattened sine.
    """
    mixer = Mixer(MixerConfig(), FakeClock())
    spec, out_spec = get_codec(codec), get_codec(out_codec)
    pt = 111 if codec == "opus" else 0
    senders = [
        Sender(mixer.add_input(f"t{k}", codec, spec.clock_rate, pt), codec, 200.0, 16000.0, pt=pt)
        for k in range(3)
    ]
    rx = Receiver(out_codec)
    mixer.add_output("listener", out_codec, 111 if out_codec == "opus" else 0, 1, rx)
    run_ticks(mixer, senders, 60)
    rate = out_spec.sample_rate
    got = rx.decode(skip_packets=25).astype(np.float64)
    n, period = len(got), rate // 200
    sine = np.sin(2 * np.pi * 200 * np.arange(n + period) / rate)
    delay = max(range(period), key=lambda d: float(np.dot(got, sine[d : d + n])))
    sine = sine[delay : delay + n]
    assert np.corrcoef(got, sine)[0, 1] > 0.95
    peaks = np.abs(sine) > 0.95
    assert np.all(np.sign(got[peaks]) == np.sign(sine[peaks]))
    assert np.abs(got[peaks]).min() > 25000  # pinned near full scale
