"""Mixer settings, each with its default written beside it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

TICK_MS = 20
"""The mixer's period: one 20 ms frame of 960 samples at 48 kHz."""
MIX_RATE = 48000
FRAME = MIX_RATE * TICK_MS // 1000


@dataclass(frozen=True, slots=True)
class MixerConfig:
    """Tuning of one audio bridge. Every field is checked; errors name the field."""

    talkers: int = 3
    """K: at most this many inputs are mixed at once (the loudest)."""
    hold_ms: int = 400
    """A challenger must stay louder than the quietest talker (by ``hysteresis_db``) for this
    long before it takes that talker's place."""
    hangover_ms: int = 600
    """A talker that falls silent keeps its place (and is still decoded) this long."""
    hysteresis_db: float = 6.0
    """How much louder than the quietest talker a challenger must be."""
    silence_dbov: float = -55.0
    """Levels at or below this are silence: such an input is neither a talker nor decoded."""
    release_db_per_s: float = 40.0
    """How fast an input's smoothed level falls (it rises at once)."""
    jitter_initial_ms: int = 40
    """Playout delay given to a new input (or after a resync)."""
    jitter_min_ms: int = 20
    """Safety margin kept when shrinking the delay."""
    jitter_max_ms: int = 200
    """Late packets grow the delay by one frame at a time up to this."""
    max_plc_ms: int = 100
    """Consecutive concealed audio (PLC, FEC or fade) before an input goes silent."""
    max_ts_jump_ms: int = 1000
    """A packet further than this from the playout point is a jump: dropped, unless
    ``resync_packets`` consecutive packets agree on the new timeline (then: resync)."""
    resync_packets: int = 3
    max_buffered_packets: int = 64
    """Per input; more is an overflow (dropped and counted)."""
    max_catchup_ms: int = 100
    """A tick task woken later than this skips the missed ticks instead of running them."""
    opus_bitrate: int = 32000
    opus_complexity: int = 5
    opus_fec: bool = True
    opus_dtx: bool = False
    opus_packet_loss_perc: int = 10

    def __post_init__(self) -> None:
        positive = ("talkers", "resync_packets", "max_buffered_packets", "jitter_max_ms")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"mixer.{name} must be a positive integer, got {value!r}")
        non_negative = (
            "hold_ms",
            "hangover_ms",
            "jitter_initial_ms",
            "jitter_min_ms",
            "max_plc_ms",
            "max_ts_jump_ms",
            "max_catchup_ms",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"mixer.{name} must be a non-negative integer, got {value!r}")
        for name in ("hysteresis_db", "release_db_per_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"mixer.{name} must be a non-negative number, got {value!r}")
        if not -127 <= self.silence_dbov <= 0:
            raise ValueError(f"mixer.silence_dbov must be within -127..0, got {self.silence_dbov}")
        if not self.jitter_min_ms <= self.jitter_initial_ms <= self.jitter_max_ms:
            raise ValueError(
                "mixer.jitter_initial_ms must be within jitter_min_ms..jitter_max_ms, "
                f"got {self.jitter_initial_ms}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixerConfig:
        """Build from a config section, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"mixer.{key} is not a mixer setting")
        return cls(**data)
