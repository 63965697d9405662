"""The IVR's French prompts: shipped WAV files (``scripts/make_prompts.sh``), encoded on demand.

Files are 16 kHz mono 16-bit WAV. :meth:`PromptLibrary.frames` resamples a prompt to the codec's
sample rate with :class:`snapconf.media.codecs.Resampler`, cuts it into ``ptime`` frames and
encodes them with :func:`snapconf.media.codecs.get_codec`; the payloads are cached per
(prompt, codec, ptime), so each prompt is encoded once per process and codec.
"""

from __future__ import annotations

import wave
from importlib import resources
from pathlib import Path

import numpy as np

from snapconf.media.codecs import PCM, Resampler, get_codec

__all__ = ["PROMPT_NAMES", "PROMPT_RATE", "PromptLibrary", "count_prompts"]

PROMPT_RATE = 16000
PROMPT_NAMES = (
    "welcome",
    "enter_code",
    "wrong_code",
    "too_many",
    "first",
    "count_prefix",
    "count_suffix",
    "many",
    "not_started",
    "ended",
    "muted",
    "unmuted",
    "hand_raised",
    "hand_lowered",
    "unavailable",
    "lobby_wait",
    "locked",
    "refused",
    "removed",
    "muted_by_moderator",
    "unmute_requested",
    *(f"n_{n}" for n in range(2, 21)),
)


def count_prompts(participants: int) -> list[str]:
    """Prompts announcing ``participants`` (this caller included): "vous êtes le premier
    participant" or "il y a N participants dans la conférence"."""
    if participants <= 1:
        return ["first"]
    number = f"n_{participants}" if participants <= 20 else "many"
    return ["count_prefix", number, "count_suffix"]


class PromptLibrary:
    """Loads prompt PCM from a directory (the packaged one by default) and encodes it."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is None:
            directory = Path(str(resources.files("snapconf.dialin") / "prompts"))
        self.directory = directory
        self._pcm: dict[str, PCM] = {}
        self._frames: dict[tuple[str, str, int], list[bytes]] = {}

    def pcm(self, name: str) -> PCM:
        """The prompt's samples at :data:`PROMPT_RATE`."""
        cached = self._pcm.get(name)
        if cached is not None:
            return cached
        if name not in PROMPT_NAMES:
            raise ValueError(f"unknown prompt {name!r}")
        with wave.open(str(self.directory / f"{name}.wav"), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, PROMPT_RATE):
                raise ValueError(f"prompt {name!r} is not 16 kHz mono 16-bit")
            data = w.readframes(w.getnframes())
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self._pcm[name] = pcm
        return pcm

    def duration(self, name: str) -> float:
        return len(self.pcm(name)) / PROMPT_RATE

    def cached(self, name: str, codec: str, ptime: int = 20) -> list[bytes] | None:
        """The encoded frames if already encoded, else None (never encodes)."""
        return self._frames.get((name, codec.lower(), ptime))

    def warm(self, codecs: tuple[str, ...], ptime: int = 20) -> None:
        """Encode every prompt for ``codecs`` (run it in a thread: this takes a while)."""
        for codec in codecs:
            for name in PROMPT_NAMES:
                self.frames(name, codec, ptime)

    def frames(self, name: str, codec: str, ptime: int = 20) -> list[bytes]:
        """The prompt as RTP payloads of ``ptime`` ms for ``codec``."""
        key = (name, codec.lower(), ptime)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        spec = get_codec(codec)
        pcm = self.pcm(name)
        step_in = PROMPT_RATE * ptime // 1000
        pad = -len(pcm) % step_in
        if pad:
            pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
        resampler = (
            Resampler(PROMPT_RATE, spec.sample_rate) if spec.sample_rate != PROMPT_RATE else None
        )
        encoder = spec.new_encoder()
        out: list[bytes] = []
        for start in range(0, len(pcm), step_in):
            frame = np.ascontiguousarray(pcm[start : start + step_in])
            if resampler is not None:
                frame = resampler.process(frame)
            out.append(encoder.encode(frame))
        self._frames[key] = out
        return out
