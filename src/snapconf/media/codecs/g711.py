"""G.711 PCMU (mu-law) and PCMA (A-law), RFC 3551 §4.5.14, with numpy lookup tables.

Both are 8 kHz, one byte per sample, RTP clock rate 8000 and static payload types 0 (PCMU) and
8 (PCMA). Encoding is a 65536-entry table indexed by the sample's 16 bits; decoding a
256-entry table indexed by the byte. Tables are built once, at import, with the bit-exact
segment arithmetic of ITU-T G.711 (the same as the classic Sun reference ``g711.c``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from snapconf.media.codecs.base import PCM, check_pcm
from snapconf.media.codecs.plc import FadeConcealer

SAMPLE_RATE = 8000

_BIAS14 = 0x21  # 0x84 >> 2
_CLIP14 = 8159


def _build_ulaw_encode() -> NDArray[np.uint8]:
    # 14-bit arithmetic of the reference g711.c (bit-exact with it, and with audioop)
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = x >> 2
    mask = np.where(v >= 0, 0xFF, 0x7F)
    v = np.minimum(np.abs(v), _CLIP14) + _BIAS14
    seg_end = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_end, v, side="left")
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (seg + 1)) & 0x0F))
    table: NDArray[np.uint8] = ((uval ^ mask) & 0xFF).astype(np.uint8)
    return table


def _build_ulaw_decode() -> PCM:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def _build_alaw_encode() -> NDArray[np.uint8]:
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    v = x >> 3
    mask = np.where(v >= 0, 0xD5, 0x55)
    v = np.where(v >= 0, v, -v - 1)
    seg_end = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_end, v, side="left")
    seg_c = np.minimum(seg, 7)
    low = np.where(seg_c < 2, (v >> 1) & 0x0F, (v >> seg_c) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, (seg_c << 4) | low)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_decode() -> PCM:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


ULAW_ENCODE: NDArray[np.uint8] = _build_ulaw_encode()
ULAW_DECODE: PCM = _build_ulaw_decode()
ALAW_ENCODE: NDArray[np.uint8] = _build_alaw_encode()
ALAW_DECODE: PCM = _build_alaw_decode()
for _table in (ULAW_ENCODE, ULAW_DECODE, ALAW_ENCODE, ALAW_DECODE):
    _table.flags.writeable = False


def _magnitude_tables(decode: PCM) -> tuple[bytes, tuple[int, ...]]:
    """A ``bytes.translate`` table from code to magnitude rank, and rank -> magnitude."""
    mags = np.abs(decode.astype(np.int32))
    values = sorted(set(mags.tolist()))
    rank = {v: i for i, v in enumerate(values)}
    return bytes(rank[int(m)] for m in mags), tuple(values)


_ULAW_RANK, _ULAW_PEAK = _magnitude_tables(ULAW_DECODE)
_ALAW_RANK, _ALAW_PEAK = _magnitude_tables(ALAW_DECODE)


def peak(payload: bytes, law: str) -> int:
    """Largest sample magnitude in a G.711 payload, without decoding it (0 if empty).

    One ``bytes.translate`` and one ``max`` in C: a fraction of a decode's cost. The mixer
    uses it to call a frame silent without decoding it (an RMS is never above the peak).
    """
    if not payload:
        return 0
    if law == "PCMU":
        return _ULAW_PEAK[max(payload.translate(_ULAW_RANK))]
    return _ALAW_PEAK[max(payload.translate(_ALAW_RANK))]


_ULAW_SQ = ULAW_DECODE.astype(np.float64) ** 2
_ALAW_SQ = ALAW_DECODE.astype(np.float64) ** 2


def mean_square(payload: bytes, law: str) -> float:
    """Mean of the squared samples of a G.711 payload, without decoding it (0.0 if empty).

    Exactly what decoding then squaring would give, from a 256-entry table of squares.
    """
    if not payload:
        return 0.0
    table = _ULAW_SQ if law == "PCMU" else _ALAW_SQ
    return float(table[np.frombuffer(payload, dtype=np.uint8)].mean())


def quiet_codes(law: str, max_magnitude: int) -> bytes:
    """The codes of ``law`` whose magnitude is at most ``max_magnitude``.

    ``not payload.translate(None, quiet_codes(...))`` tells, in one C pass and without
    decoding, that every sample of a payload is that quiet.
    """
    table = ULAW_DECODE if law == "PCMU" else ALAW_DECODE
    return bytes(c for c in range(256) if abs(int(table[c])) <= max_magnitude)


def ulaw_encode(pcm: PCM) -> bytes:
    """Encode int16 PCM to mu-law bytes."""
    return ULAW_ENCODE[check_pcm(pcm).view(np.uint16)].tobytes()


def ulaw_decode(payload: bytes) -> PCM:
    """Decode mu-law bytes to int16 PCM."""
    return ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def alaw_encode(pcm: PCM) -> bytes:
    """Encode int16 PCM to A-law bytes."""
    return ALAW_ENCODE[check_pcm(pcm).view(np.uint16)].tobytes()


def alaw_decode(payload: bytes) -> PCM:
    """Decode A-law bytes to int16 PCM."""
    return ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


class G711Encoder:
    """Stateless G.711 encoder (``law`` is ``"PCMU"`` or ``"PCMA"``)."""

    __slots__ = ("_out", "_table", "law")

    sample_rate = SAMPLE_RATE

    def __init__(self, law: str) -> None:
        if law == "PCMU":
            self._table = ULAW_ENCODE
        elif law == "PCMA":
            self._table = ALAW_ENCODE
        else:
            raise ValueError(f"G.711 law must be 'PCMU' or 'PCMA', got {law!r}")
        self.law = law
        self._out: NDArray[np.uint8] = np.zeros(SAMPLE_RATE * 120 // 1000, np.uint8)

    def encode(self, pcm: PCM) -> bytes:
        """Encode one frame; any number of samples (one byte each)."""
        n = len(check_pcm(pcm))
        if n > len(self._out):
            self._out = np.zeros(n, np.uint8)
        out = self._out[:n]
        np.take(self._table, pcm.view(np.uint16), out=out)
        return out.tobytes()

    def reset(self) -> None:
        """Nothing to forget: G.711 is stateless."""


class G711Decoder:
    """G.711 decoder with fade-out concealment (:class:`FadeConcealer`)."""

    __slots__ = ("_plc", "_table", "law")

    sample_rate = SAMPLE_RATE
    supports_fec = False

    def __init__(self, law: str, fade_ms: int = 40) -> None:
        if law == "PCMU":
            self._table = ULAW_DECODE
        elif law == "PCMA":
            self._table = ALAW_DECODE
        else:
            raise ValueError(f"G.711 law must be 'PCMU' or 'PCMA', got {law!r}")
        self.law = law
        self._plc = FadeConcealer(SAMPLE_RATE, fade_ms)

    def peak(self, payload: bytes) -> int:
        """Largest magnitude in ``payload`` without decoding it (see :func:`peak`)."""
        return peak(payload, self.law)

    def samples_in(self, payload: bytes) -> int:
        if not payload:
            raise ValueError("G.711 payload is empty")
        return len(payload)

    def decode(self, payload: bytes | None, frame_samples: int, fec: bool = False) -> PCM:
        n = frame_samples if payload is None or fec else len(payload)
        out = np.empty(n, dtype=np.int16)
        written = self.decode_into(payload, out, fec)
        return out[:written]

    def decode_into(self, payload: bytes | None, out: PCM, fec: bool = False) -> int:
        if payload is None or fec:
            return self._plc.conceal_into(out)
        n = len(payload)
        if n == 0:
            raise ValueError("G.711 payload is empty")
        if n > len(out):
            raise ValueError(f"G.711 payload of {n} samples exceeds the output buffer")
        np.take(self._table, np.frombuffer(payload, dtype=np.uint8), out=out[:n])
        self._plc.remember(out[:n])
        return n

    def reset(self) -> None:
        self._plc.reset()
