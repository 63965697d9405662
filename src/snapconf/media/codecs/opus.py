"""Opus (RFC 6716) through libopus, with preallocated buffers, for RTP per RFC 7587.

RTP carries Opus with a 48 000 Hz clock whatever the encoder's internal bandwidth
(RFC 7587 §4.1), and the SDP always says ``opus/48000/2`` (§7); a mono stream is fine.

We call ``opuslib.api`` (ctypes bindings of libopus) directly:

- every option is applied with ``encoder_ctl`` (opuslib 3.0.1's high-level property setters
  silently do nothing for FEC, DTX and packet loss), and read back in the tests;
- PCM goes through a numpy buffer allocated once, whose ctypes pointer is computed once, and
  payloads through a ctypes buffer allocated once: opuslib's high-level ``decode`` builds a
  Python list per frame, which costs about 50 µs more than libopus itself.

In-band FEC (RFC 7587 §3.3 and RFC 6716 §2.1.7): a packet may carry a low-bitrate copy of the
*previous* frame. When packet *n* is lost and *n + 1* has arrived, ``decode_into(p[n+1], out,
fec=True)`` recovers frame *n*; then ``p[n+1]`` is decoded normally. With DTX (§3.1.3), the
encoder returns payloads of at most two bytes during silence, which need not be sent.
"""

from __future__ import annotations

import ctypes
from typing import Any, Final

import numpy as np
import opuslib
import opuslib.api
import opuslib.api.ctl
import opuslib.api.decoder
import opuslib.api.encoder

from snapconf.media.codecs.base import PCM, check_pcm

SAMPLE_RATES: Final = (8000, 12000, 16000, 24000, 48000)
RTP_CLOCK_RATE: Final = 48000
MAX_PAYLOAD: Final = 4000  # bytes; libopus' recommended upper bound per packet
DTX_MAX_PAYLOAD: Final = 2
"""With DTX, payloads of this many bytes or fewer carry no audio and need not be sent."""

APPLICATIONS: Final = {
    "voip": opuslib.APPLICATION_VOIP,
    "audio": opuslib.APPLICATION_AUDIO,
    "lowdelay": opuslib.APPLICATION_RESTRICTED_LOWDELAY,
}

_libopus = opuslib.api.libopus
_libopus.opus_strerror.argtypes = (ctypes.c_int,)
_libopus.opus_strerror.restype = ctypes.c_char_p
_encode = opuslib.api.encoder.libopus_encode
_decode = opuslib.api.decoder.libopus_decode
_int16_p = opuslib.api.c_int16_pointer


def _strerror(code: int) -> str:
    text: bytes = _libopus.opus_strerror(code)
    return text.decode("ascii", "replace")


def _samples_per_frame(toc: int, rate: int) -> int:
    # RFC 6716 §3.1, Table 2: the configuration number (toc >> 3) sets the frame duration
    if toc & 0x80:  # CELT-only: 2.5, 5, 10, 20 ms
        return (rate << ((toc >> 3) & 3)) // 400
    if toc & 0x60 == 0x60:  # hybrid: 10, 20 ms
        return rate // 50 if toc & 0x08 else rate // 100
    size = (toc >> 3) & 3  # SILK-only: 10, 20, 40, 60 ms
    return rate * 60 // 1000 if size == 3 else (rate << size) // 100


_FRAME_SAMPLES: Final = {
    rate: tuple(_samples_per_frame(toc << 3, rate) for toc in range(32)) for rate in SAMPLE_RATES
}


def packet_samples(payload: bytes, sample_rate: int = 48000) -> int:
    """Samples per channel in an Opus packet, from its TOC byte (RFC 6716 §3.1).

    The same checks as libopus' ``opus_packet_get_nb_samples``, without a C call: code 0
    holds one frame, codes 1 and 2 two, code 3 the count in its second byte; more than 120 ms
    is invalid. Raises ``ValueError`` (the messages of :class:`OpusDecoder`).
    """
    if not payload:
        raise ValueError("opus payload is empty")
    toc = payload[0]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code != 3:
        frames = 2
    elif len(payload) < 2:
        raise ValueError(f"opus decode failed: {_strerror(opuslib.INVALID_PACKET)}")
    else:
        frames = payload[1] & 0x3F
    samples = frames * _FRAME_SAMPLES[sample_rate][toc >> 3]
    if samples * 25 > sample_rate * 3:
        raise ValueError(f"opus decode failed: {_strerror(opuslib.INVALID_PACKET)}")
    return samples


def frame_sizes(sample_rate: int) -> frozenset[int]:
    """Frame sizes (samples per channel) libopus accepts at ``sample_rate``: 2.5 to 120 ms."""
    return frozenset(sample_rate * tenths // 400 for tenths in (1, 2, 4, 8, 16, 24, 32, 40, 48))


class OpusEncoder:
    """An Opus encoder whose options are really applied (``encoder_ctl``).

    ``packet_loss_perc`` tells the encoder how much loss to expect, which decides how much
    in-band FEC (``fec=True``) it spends bits on; FEC is only produced when it is above zero.
    """

    __slots__ = (
        "_max_frame",
        "_out",
        "_pcm",
        "_pcm_p",
        "_state",
        "channels",
        "dtx",
        "sample_rate",
    )

    def __init__(
        self,
        sample_rate: int = 48000,
        channels: int = 1,
        bitrate: int = 32000,
        fec: bool = True,
        dtx: bool = False,
        packet_loss_perc: int = 10,
        complexity: int = 5,
        application: str = "voip",
    ) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"opus sample_rate must be one of {SAMPLE_RATES}, got {sample_rate}")
        if channels not in (1, 2):
            raise ValueError(f"opus channels must be 1 or 2, got {channels}")
        if not 6000 <= bitrate <= 510000:
            raise ValueError(f"opus bitrate must be within 6000..510000, got {bitrate}")
        if not 0 <= packet_loss_perc <= 100:
            raise ValueError(f"opus packet_loss_perc must be within 0..100, got {packet_loss_perc}")
        if not 0 <= complexity <= 10:
            raise ValueError(f"opus complexity must be within 0..10, got {complexity}")
        if application not in APPLICATIONS:
            raise ValueError(f"opus application must be one of {sorted(APPLICATIONS)}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.dtx = dtx
        self._state: Any = None
        self._state = opuslib.api.encoder.create_state(
            sample_rate, channels, APPLICATIONS[application]
        )
        ctl = opuslib.api.encoder.encoder_ctl
        ctl(self._state, opuslib.api.ctl.set_bitrate, bitrate)
        ctl(self._state, opuslib.api.ctl.set_complexity, complexity)
        ctl(self._state, opuslib.api.ctl.set_inband_fec, int(fec))
        ctl(self._state, opuslib.api.ctl.set_packet_loss_perc, packet_loss_perc)
        ctl(self._state, opuslib.api.ctl.set_dtx, int(dtx))
        ctl(self._state, opuslib.api.ctl.set_signal, opuslib.SIGNAL_VOICE)
        self._max_frame = sample_rate * 120 // 1000
        self._pcm = np.zeros(self._max_frame * channels, dtype=np.int16)
        self._pcm_p = self._pcm.ctypes.data_as(_int16_p)
        self._out = ctypes.create_string_buffer(MAX_PAYLOAD)

    def get(self, name: str) -> int:
        """Read an encoder setting back from libopus, e.g. ``get("inband_fec")``."""
        getter = getattr(opuslib.api.ctl, f"get_{name}", None)
        if getter is None:
            raise ValueError(f"unknown opus encoder setting: {name!r}")
        value: int = opuslib.api.encoder.encoder_ctl(self._state, getter)
        return value

    def encode(self, pcm: PCM) -> bytes:
        """Encode one frame (2.5 to 120 ms; interleaved if stereo) into one Opus packet."""
        n = len(check_pcm(pcm))
        frame = n // self.channels
        if frame * self.channels != n or frame not in frame_sizes(self.sample_rate):
            raise ValueError(
                f"opus frame of {n} samples is not 2.5 to 120 ms at {self.sample_rate} Hz"
            )
        self._pcm[:n] = pcm
        result: int = _encode(self._state, self._pcm_p, frame, self._out, MAX_PAYLOAD)
        if result < 0:
            raise ValueError(f"opus encode failed: {_strerror(result)}")
        return ctypes.string_at(self._out, result)

    def reset(self) -> None:
        """``OPUS_RESET_STATE``: forget the signal history (settings are kept)."""
        opuslib.api.encoder.encoder_ctl(self._state, opuslib.api.ctl.reset_state)

    def __del__(self) -> None:
        if getattr(self, "_state", None) is not None:
            opuslib.api.encoder.destroy(self._state)
            self._state = None


class OpusDecoder:
    """An Opus decoder with packet loss concealment (PLC) and in-band FEC recovery."""

    __slots__ = ("_max_frame", "_pcm", "_pcm_p", "_state", "channels", "sample_rate")

    supports_fec = True

    def __init__(self, sample_rate: int = 48000, channels: int = 1) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"opus sample_rate must be one of {SAMPLE_RATES}, got {sample_rate}")
        if channels not in (1, 2):
            raise ValueError(f"opus channels must be 1 or 2, got {channels}")
        self.sample_rate = sample_rate
        self.channels = channels
        self._state: Any = None
        self._state = opuslib.api.decoder.create_state(sample_rate, channels)
        self._max_frame = sample_rate * 120 // 1000
        self._pcm = np.zeros(self._max_frame * channels, dtype=np.int16)
        self._pcm_p = self._pcm.ctypes.data_as(_int16_p)

    def samples_in(self, payload: bytes) -> int:
        """Samples per channel in ``payload`` (RFC 6716 §3.1 TOC byte and frame count)."""
        return packet_samples(payload, self.sample_rate)

    def decode(self, payload: bytes | None, frame_samples: int, fec: bool = False) -> PCM:
        """Decode into a new array; ``payload=None`` conceals ``frame_samples`` samples."""
        n = frame_samples if payload is None or fec else self.samples_in(payload)
        out = np.empty(n * self.channels, dtype=np.int16)
        written = self.decode_into(payload, out, fec)
        return out[: written * self.channels]

    def decode_into(self, payload: bytes | None, out: PCM, fec: bool = False) -> int:
        """Decode into ``out``; returns samples per channel written (see the module doc)."""
        if payload is None or fec:
            frame = len(out) // self.channels
            if frame not in frame_sizes(self.sample_rate):
                raise ValueError(
                    f"opus concealment of {frame} samples is not 2.5 to 120 ms "
                    f"at {self.sample_rate} Hz"
                )
        else:
            frame = self._max_frame
        if payload is not None and not payload:
            raise ValueError("opus payload is empty")
        size = 0 if payload is None else len(payload)
        result: int = _decode(self._state, payload, size, self._pcm_p, frame, int(fec))
        if result < 0:
            raise ValueError(f"opus decode failed: {_strerror(result)}")
        total = result * self.channels
        if total > len(out):
            raise ValueError(f"opus payload of {result} samples exceeds the output buffer")
        out[:total] = self._pcm[:total]
        return result

    def reset(self) -> None:
        """``OPUS_RESET_STATE``: forget the signal history."""
        opuslib.api.decoder.decoder_ctl(self._state, opuslib.api.ctl.reset_state)

    def __del__(self) -> None:
        if getattr(self, "_state", None) is not None:
            opuslib.api.decoder.destroy(self._state)
            self._state = None
