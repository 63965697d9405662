"""Audio codecs for the bridge and the SIP gateway, by SDP encoding name.

>>> spec = get_codec("PCMU")
>>> spec.clock_rate, spec.sample_rate, spec.static_payload_type
(8000, 8000, 0)
>>> enc, dec = spec.new_encoder(), spec.new_decoder()

=======  ==========  ===========  ==========  =========================================
name     clock rate  sample rate  static PT   reference
=======  ==========  ===========  ==========  =========================================
opus     48000       48000        (dynamic)   RFC 7587 (SDP ``opus/48000/2``)
PCMU     8000        8000         0           RFC 3551 §4.5.14
PCMA     8000        8000         8           RFC 3551 §4.5.14
G722     8000        16000        9           RFC 3551 §4.5.2 (clock rate != sample rate)
=======  ==========  ===========  ==========  =========================================

RTP timestamps advance by ``clock_rate * ptime``; PCM frames hold ``sample_rate * ptime``
samples. Names are matched case-insensitively (SDP encoding names are, RFC 4566 §6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snapconf.media.codecs.base import PCM, AudioDecoder, AudioEncoder, check_pcm
from snapconf.media.codecs.g711 import (
    G711Decoder,
    G711Encoder,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from snapconf.media.codecs.g722 import G722Decoder, G722Encoder
from snapconf.media.codecs.opus import OpusDecoder, OpusEncoder
from snapconf.media.codecs.plc import FadeConcealer
from snapconf.media.codecs.resample import Resampler

__all__ = [
    "CODECS",
    "PCM",
    "AudioCodecSpec",
    "AudioDecoder",
    "AudioEncoder",
    "FadeConcealer",
    "G711Decoder",
    "G711Encoder",
    "G722Decoder",
    "G722Encoder",
    "OpusDecoder",
    "OpusEncoder",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "check_pcm",
    "get_codec",
    "ulaw_decode",
    "ulaw_encode",
]


@dataclass(frozen=True, slots=True)
class AudioCodecSpec:
    """What the bridge and the gateway need to know about one audio codec."""

    name: str
    """Canonical SDP encoding name."""
    clock_rate: int
    """RTP timestamp units per second (the SDP ``rtpmap`` rate)."""
    sample_rate: int
    """PCM samples per second of its encoder and decoder."""
    channels: int
    """Channel count written in SDP (``2`` for Opus, RFC 7587 §7; we code mono)."""
    static_payload_type: int | None
    """RFC 3551 static payload type, or ``None`` for a dynamic one."""
    encoder_factory: Callable[..., AudioEncoder]
    decoder_factory: Callable[[], AudioDecoder]

    def new_encoder(self, **options: Any) -> AudioEncoder:
        """A fresh encoder; ``options`` go to its constructor (Opus: bitrate, fec, dtx...)."""
        return self.encoder_factory(**options)

    def new_decoder(self) -> AudioDecoder:
        """A fresh decoder."""
        return self.decoder_factory()

    def frame_samples(self, ptime_ms: int) -> int:
        """PCM samples in a frame of ``ptime_ms``."""
        return self.sample_rate * ptime_ms // 1000

    def timestamp_step(self, ptime_ms: int) -> int:
        """RTP timestamp increment for a frame of ``ptime_ms``."""
        return self.clock_rate * ptime_ms // 1000

    @property
    def rtpmap(self) -> str:
        """The SDP ``a=rtpmap`` encoding, e.g. ``opus/48000/2`` or ``PCMU/8000``."""
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_rate}{suffix}"


def _pcmu_encoder() -> AudioEncoder:
    return G711Encoder("PCMU")


def _pcma_encoder() -> AudioEncoder:
    return G711Encoder("PCMA")


def _pcmu_decoder() -> AudioDecoder:
    return G711Decoder("PCMU")


def _pcma_decoder() -> AudioDecoder:
    return G711Decoder("PCMA")


CODECS: dict[str, AudioCodecSpec] = {
    spec.name.lower(): spec
    for spec in (
        AudioCodecSpec("opus", 48000, 48000, 2, None, OpusEncoder, OpusDecoder),
        AudioCodecSpec("PCMU", 8000, 8000, 1, 0, _pcmu_encoder, _pcmu_decoder),
        AudioCodecSpec("PCMA", 8000, 8000, 1, 8, _pcma_encoder, _pcma_decoder),
        AudioCodecSpec("G722", 8000, 16000, 1, 9, G722Encoder, G722Decoder),
    )
}
"""Supported codecs, keyed by lower-case SDP encoding name."""


def get_codec(name: str) -> AudioCodecSpec:
    """The codec whose SDP encoding name is ``name`` (case-insensitive).

    Raises ``ValueError("unsupported audio codec: 'xyz'")`` otherwise.
    """
    spec = CODECS.get(name.lower()) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unsupported audio codec: {name!r}")
    return spec
