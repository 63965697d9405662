"""Three loud talkers at once: the mix is turned down, never clamped (issue #15)."""

from __future__ import annotations

import numpy as np
import pytest
from mixer_testkit import Receiver, Sender, run_ticks
from tests.support.clock import FakeClock

from snapconf.media.mixer import Mixer, MixerConfig
from snapconf.media.mixer.limiter import Limiter

TONES = (500.0, 700.0, 1100.0)


def _tone_share(pcm: np.ndarray, rate: int, freqs: tuple[float, ...]) -> float:
    """The share of ``pcm``'s energy within 20 Hz of ``freqs``: 1.0 for clean tones;
    clamping a sum of tones spreads energy into intermodulation products."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm)))) ** 2
    bins = np.fft.rfftfreq(len(pcm), 1 / rate)
    near = np.zeros(len(bins), dtype=bool)
    for f in freqs:
        near |= np.abs(bins - f) < 20
    return float(spectrum[near].sum() / spectrum.sum())


def _room(amp: float) -> tuple[Mixer, list[Sender], Receiver]:
    mixer = Mixer(MixerConfig(), FakeClock())
    senders = [
        Sender(mixer.add_input(f"t{k}", "PCMU", 8000, 0), "PCMU", f, amp, pt=0)
        for k, f in enumerate(TONES)
    ]
    rx = Receiver("PCMU")
    mixer.add_output("listener", "PCMU", 0, 1, rx)
    return mixer, senders, rx


@pytest.mark.parametrize("limited", [True, False])
def test_three_loud_talkers_reach_a_listener_turned_down_not_clipped(
    limited: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not limited:  # what the listener heard before: the sum clamped to 16 bits
        monkeypatch.setattr(Limiter, "envelope", lambda self, mix: None)
    mixer, senders, rx = _room(16000.0)  # each at -6 dBFS: their sum peaks at 1.5x full scale
    run_ticks(mixer, senders, 100)
    assert sorted(mixer.talkers) == ["t0", "t1", "t2"]
    pcm = rx.decode(skip_packets=10)
    # energy outside the three tones: mu-law's own noise (measured 1.7e-4, -38 dB) when
    # turned down; clamped, intermodulation products 70 times as strong (1.2e-2, -19 dB)
    distortion = 1.0 - _tone_share(pcm, 8000, TONES)
    if limited:
        assert distortion < 1e-3, distortion
        assert mixer.stats.limited_ticks >= 90
        # turned down by what the peak needed, no more: the loudest samples near the top
        assert 26000 < int(np.abs(pcm).max()) <= 32124, int(np.abs(pcm).max())
    else:
        assert distortion > 5e-3, distortion


def test_one_loud_talker_passes_untouched_and_the_gain_comes_back_after_a_loud_moment() -> None:
    mixer, senders, rx = _room(16000.0)
    run_ticks(mixer, senders, 50)
    assert mixer.stats.limited_ticks > 0
    # two stop: the one left, alone, is heard at its own level again within a second or two
    for s in senders[1:]:
        s.amp = 0.0
    run_ticks(mixer, senders, 150)
    limited = mixer.stats.limited_ticks
    first = len(rx.packets)
    run_ticks(mixer, senders, 50)
    assert mixer.stats.limited_ticks == limited
    pcm = rx.decode(skip_packets=first)
    assert int(np.abs(pcm).max()) == pytest.approx(16000, rel=0.04)


def test_the_gain_falls_within_the_tick_and_no_sample_passes_the_ceiling() -> None:
    limiter = Limiter(960, 48000, 20)
    quiet = np.full(960, 1000, np.int32)
    assert limiter.envelope(quiet) is None  # gain 1, nothing to do
    loud = (40000 * np.sin(np.arange(960) / 5.0)).astype(np.int32)
    loud[0] = 40000  # the loudest sample at the very start of the attack ramp
    env = limiter.envelope(loud)
    assert env is not None
    assert np.abs(loud * env.astype(np.float64)).max() <= 32000.5
    assert env[0] <= 32000 / 40000 + 1e-6 and env[-1] == pytest.approx(32000 / 40000)
    # release: back up slowly, and smoothly from where the last tick ended
    env = limiter.envelope(quiet)
    assert env is not None and env[0] == pytest.approx(0.8, abs=0.01)
    assert 0.8 < env[-1] < 0.82
