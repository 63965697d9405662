"""Media sources for the client: a tone, a solid colour, and pre-encoded loops.

The generated tracks are encoded by aiortc like a real browser's; the pre-encoded ones
hand aiortc ``av.Packet`` objects it only packetises, so a benchmark's clients spend
their CPU on the network and not on VP8 or Opus encoders.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc import MediaStreamTrack

AUDIO_RATE = 48000
AUDIO_PTIME = 0.020
VIDEO_CLOCK = 90000


class _Paced(MediaStreamTrack):
    """Releases one item per ``interval`` seconds against an absolute start time."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._start: float | None = None
        self._index = 0

    async def _next_slot(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        index = self._index
        self._index += 1
        delay = self._start + index * self._interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return index


class ToneTrack(_Paced):
    """A sine wave of ``frequency`` Hz, 20 ms mono frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__(AUDIO_PTIME)
        self.frequency = frequency
        self.amplitude = amplitude
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)

    async def recv(self) -> av.AudioFrame:
        index = await self._next_slot()
        t = (np.arange(self._samples) + index * self._samples) / AUDIO_RATE
        pcm = (self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


class ColorTrack(_Paced):
    """A solid colour (R, G, B), ``fps`` frames per second."""

    kind = "video"

    def __init__(
        self, rgb: tuple[int, int, int], width: int = 320, height: int = 240, fps: int = 15
    ) -> None:
        super().__init__(1 / fps)
        self.rgb = rgb
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[:, :] = rgb
        self._image = image
        self._fps = fps

    async def recv(self) -> av.VideoFrame:
        index = await self._next_slot()
        frame = av.VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts = int(index * VIDEO_CLOCK / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


def encode_vp8_loop(
    seconds: float = 2.0,
    fps: int = 30,
    bitrate: int = 500_000,
    width: int = 640,
    height: int = 360,
) -> list[bytes]:
    """Encode a moving pattern once; the loop starts with a keyframe."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = int(seconds * fps)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    y, x = np.mgrid[0:height, 0:width]
    for i in range(int(seconds * fps)):
        # a moving gradient with a moving square: real motion, natural-video-like bitrate
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[..., 0] = (x + 4 * i) % 256
        image[..., 1] = (y + 2 * i) % 256
        image[..., 2] = ((x + y) // 2 + 3 * i) % 256
        left = (8 * i) % (width - 64)
        image[100:164, left : left + 64] = (255, 255, 255)
        noise = np.random.default_rng(i).integers(0, 24, (height, width, 3), dtype=np.uint8)
        image = image - np.minimum(image, noise)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    return frames


def encode_opus_loop(frequency: float = 440.0, seconds: float = 1.0) -> list[bytes]:
    """Encode a tone once as 20 ms Opus frames."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    samples = int(AUDIO_RATE * AUDIO_PTIME)
    packets: list[bytes] = []
    for i in range(int(seconds / AUDIO_PTIME)):
        t = (np.arange(samples) + i * samples) / AUDIO_RATE
        mono = (0.3 * 32767 * np.sin(2 * math.pi * frequency * t)).astype(np.int16)
        stereo = np.repeat(mono, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * samples
        packets.extend(bytes(p) for p in codec.encode(frame))
    return packets


class PacketLoopTrack(_Paced):
    """Replays pre-encoded frames as ``av.Packet`` objects, forever."""

    def __init__(self, kind: str, frames: list[bytes], interval: float, clock_rate: int) -> None:
        super().__init__(interval)
        self.kind = kind
        self._frames = frames
        self._ticks = round(interval * clock_rate)
        self._time_base = fractions.Fraction(1, clock_rate)

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        index = await self._next_slot()
        packet = av.Packet(self._frames[index % len(self._frames)])
        packet.pts = index * self._ticks
        packet.time_base = self._time_base
        return packet


def preencoded_video(fps: int = 30, bitrate: int = 500_000) -> PacketLoopTrack:
    return PacketLoopTrack("video", encode_vp8_loop(fps=fps, bitrate=bitrate), 1 / fps, VIDEO_CLOCK)


def preencoded_audio(frequency: float = 440.0) -> PacketLoopTrack:
    return PacketLoopTrack("audio", encode_opus_loop(frequency), AUDIO_PTIME, AUDIO_RATE)
