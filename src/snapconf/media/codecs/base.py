"""The shape every audio encoder and decoder shares.

PCM is always mono, signed 16-bit, native-endian, as a one-dimensional
``numpy.ndarray`` of dtype ``int16`` at the codec's *sample rate* (which is not always its
RTP *clock rate*: G.722 samples at 16 kHz but its RTP clock runs at 8 kHz, RFC 3551 §4.5.2).

Decoders have two entry points:

- :meth:`AudioDecoder.decode` returns a new array (safe to keep);
- :meth:`AudioDecoder.decode_into` writes into a caller-owned buffer and returns the number of
  samples written, for per-packet paths that must not allocate.

``payload=None`` asks for packet loss concealment (PLC) of ``frame_samples`` samples.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

PCM = NDArray[np.int16]
"""Mono signed 16-bit samples."""


class AudioEncoder(Protocol):
    """Encodes one frame of PCM into one RTP payload."""

    @property
    def sample_rate(self) -> int:
        """PCM sample rate in Hz."""
        ...

    def encode(self, pcm: PCM) -> bytes:
        """Encode ``pcm`` (one frame) into an RTP payload."""
        ...

    def reset(self) -> None:
        """Forget all state, as if freshly created."""
        ...


class AudioDecoder(Protocol):
    """Decodes RTP payloads into PCM, concealing lost packets."""

    @property
    def sample_rate(self) -> int:
        """PCM sample rate in Hz."""
        ...

    @property
    def supports_fec(self) -> bool:
        """True if :meth:`decode_into` with ``fec=True`` recovers a lost frame (Opus)."""
        ...

    def samples_in(self, payload: bytes) -> int:
        """Number of samples (at :attr:`sample_rate`) ``payload`` decodes to.

        Raises ``ValueError`` if the payload cannot be a valid packet of this codec.
        """
        ...

    def decode(self, payload: bytes | None, frame_samples: int, fec: bool = False) -> PCM:
        """Decode ``payload`` into a new array; ``None`` conceals ``frame_samples`` samples."""
        ...

    def decode_into(self, payload: bytes | None, out: PCM, fec: bool = False) -> int:
        """Decode into ``out`` and return the number of samples written.

        With ``payload=None`` (loss concealment) or ``fec=True`` (recover the frame *before*
        ``payload`` from its in-band FEC data), exactly ``len(out)`` samples are produced.
        Otherwise ``out`` must be at least :meth:`samples_in` long.
        Raises ``ValueError`` if the payload is undecodable.
        """
        ...

    def reset(self) -> None:
        """Forget all state, as if freshly created."""
        ...


def check_pcm(pcm: object) -> PCM:
    """Return ``pcm`` if it is a 1-D int16 ndarray, else raise ``ValueError``."""
    if not isinstance(pcm, np.ndarray):
        raise ValueError("pcm is not a numpy array")
    if pcm.dtype != np.int16:
        raise ValueError(f"pcm dtype is {pcm.dtype}, expected int16")
    if pcm.ndim != 1:
        raise ValueError(f"pcm has {pcm.ndim} dimensions, expected 1")
    return pcm
