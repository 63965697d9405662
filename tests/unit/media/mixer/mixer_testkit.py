"""Helpers for the mixer tests: senders of tones with real codecs, receivers that decode."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from snapconf.media.codecs import PCM, AudioEncoder, get_codec
from snapconf.media.mixer import Mixer, MixerInput

RTP_HEADER = struct.Struct("!BBHII")


def tone(freq: float, rate: int, n: int, start: int, amp: float) -> PCM:
    t = (np.arange(n) + start) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level_of(amp: float) -> int:
    """RFC 6464 level (-dBov) of a sine of amplitude ``amp``."""
    if amp <= 0:
        return 127
    return min(127, round(-20 * np.log10(amp / np.sqrt(2) / 32768)))


@dataclass
class Sender:
    """A participant sending a tone (or silence) in 20 ms packets."""

    inp: MixerInput
    codec: str
    freq: float = 0.0
    amp: float = 0.0
    levels: bool = True  # send the RFC 6464 extension
    pt: int = 111
    seq: int = 1000
    ts: int = 5000
    n: int = 0
    encoder: AudioEncoder = field(init=False)

    def __post_init__(self) -> None:
        self.spec = get_codec(self.codec)
        self.encoder = self.spec.new_encoder()
        self.frame = self.spec.frame_samples(20)
        self.step = self.spec.timestamp_step(20)

    def packet(self) -> tuple[int, int, int, bytes, int | None]:
        """The next packet as push() arguments (and advance)."""
        if self.amp > 0:
            pcm = tone(self.freq, self.spec.sample_rate, self.frame, self.n * self.frame, self.amp)
        else:
            pcm = np.zeros(self.frame, np.int16)
        payload = self.encoder.encode(pcm)
        level = level_of(self.amp) if self.levels else None
        pkt = (self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.pt, payload, level)
        self.seq += 1
        self.ts += self.step
        self.n += 1
        return pkt

    def send(self) -> None:
        self.inp.push(*self.packet())


@dataclass
class Receiver:
    """A listener that keeps the RTP packets it gets."""

    codec: str
    packets: list[bytes] = field(default_factory=list)

    def __call__(self, data: bytes) -> None:
        self.packets.append(data)

    def headers(self) -> list[tuple[int, int, int, int, int]]:
        return [RTP_HEADER.unpack_from(p) for p in self.packets]

    def decode(self, skip_packets: int = 0) -> PCM:
        spec = get_codec(self.codec)
        dec = spec.new_decoder()
        frame = spec.frame_samples(20)
        out = [dec.decode(p[12:], frame) for p in self.packets]
        return np.concatenate(out[skip_packets:]) if out[skip_packets:] else np.zeros(0, np.int16)


def band_db(x: PCM, rate: int, freq: float, width: float = 15.0) -> float:
    """Peak magnitude (dB) of ``x``'s spectrum within ``freq`` +- ``width``."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = spectrum[(freqs > freq - width) & (freqs < freq + width)]
    return float(20 * np.log10(band.max() + 1e-9))


def run_ticks(
    mixer: Mixer, senders: list[Sender], ticks: int, each: Callable[[int], None] | None = None
) -> None:
    """Each tick: every sender sends one packet, then the mixer ticks."""
    for t in range(ticks):
        if each is not None:
            each(t)
        for s in senders:
            s.send()
        mixer.tick()
