"""G.722 (ITU-T G.722 sub-band ADPCM, 64 kbit/s) through PyAV's FFmpeg codec.

G.722 samples at 16 kHz but, "for historical reasons", its RTP clock rate is 8000 Hz
(RFC 3551 §4.5.2): a 20 ms packet holds 320 samples in 160 bytes and advances the RTP
timestamp by 160. Static payload type 9. Use :data:`RTP_CLOCK_RATE` for timestamps and
:data:`SAMPLE_RATE` for PCM. Loss is concealed by fading the last frame out
(:class:`~snapconf.media.codecs.plc.FadeConcealer`).
"""

from __future__ import annotations

from typing import Any, Final

import av
import numpy as np
from av.audio.frame import AudioFrame

from snapconf.media.codecs.base import PCM, check_pcm
from snapconf.media.codecs.plc import FadeConcealer

SAMPLE_RATE: Final = 16000
RTP_CLOCK_RATE: Final = 8000


class G722Encoder:
    """G.722 encoder: any even number of 16 kHz samples in, two samples per byte out."""

    __slots__ = ("_ctx", "_frame_size")

    sample_rate = SAMPLE_RATE

    def __init__(self, frame_size: int = 320) -> None:
        self._ctx: Any = None
        self._frame_size = frame_size
        self._open(frame_size)

    def _open(self, frame_size: int) -> None:
        # FFmpeg's encoder re-chunks input to its frame_size; make that the frame we are given
        ctx = av.CodecContext.create("g722", "w")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.options = {"frame_size": str(frame_size)}
        ctx.open()
        self._ctx = ctx
        self._frame_size = frame_size

    def encode(self, pcm: PCM) -> bytes:
        n = len(check_pcm(pcm))
        if n == 0 or n % 2:
            raise ValueError(f"G.722 frame of {n} samples is not a positive even number")
        if n != self._frame_size:  # a new ptime: a fresh encoder (loses 20 ms of ADPCM state)
            self._open(n)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, n), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        packets = self._ctx.encode(frame)
        if len(packets) == 1:
            return bytes(packets[0])
        return b"".join(bytes(p) for p in packets)

    def reset(self) -> None:
        """Start a fresh ADPCM state."""
        self._open(self._frame_size)


class G722Decoder:
    """G.722 decoder with fade-out concealment."""

    __slots__ = ("_ctx", "_plc")

    sample_rate = SAMPLE_RATE
    supports_fec = False

    def __init__(self, fade_ms: int = 40) -> None:
        self._ctx: Any = None
        self._open()
        self._plc = FadeConcealer(SAMPLE_RATE, fade_ms)

    def _open(self) -> None:
        ctx = av.CodecContext.create("g722", "r")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        self._ctx = ctx

    def samples_in(self, payload: bytes) -> int:
        if not payload:
            raise ValueError("G.722 payload is empty")
        return 2 * len(payload)

    def decode(self, payload: bytes | None, frame_samples: int, fec: bool = False) -> PCM:
        n = frame_samples if payload is None or fec else self.samples_in(payload)
        out = np.empty(n, dtype=np.int16)
        written = self.decode_into(payload, out, fec)
        return out[:written]

    def decode_into(self, payload: bytes | None, out: PCM, fec: bool = False) -> int:
        if payload is None or fec:
            return self._plc.conceal_into(out)
        n = self.samples_in(payload)
        if n > len(out):
            raise ValueError(f"G.722 payload of {n} samples exceeds the output buffer")
        pos = 0
        for frame in self._ctx.decode(av.Packet(payload)):
            samples = frame.to_ndarray().reshape(-1)
            end = min(pos + len(samples), n)
            out[pos:end] = samples[: end - pos]
            pos = end
        if pos < n:  # never expected: FFmpeg's G.722 decoder is not buffered
            out[pos:n] = 0
        self._plc.remember(out[:n])
        return n

    def reset(self) -> None:
        self._open()
        self._plc.reset()
