"""A limiter for the mix: several loud talkers together never clip a listener's audio.

The mixer sums up to K talkers in 32 bits and clamps the sum to 16 bits; three people
talking loudly at once exceed full scale, and clamping is audible distortion. Each tick the
:class:`Limiter` measures the sum's peak and answers a gain envelope for the tick's samples:

* **attack within the tick**: when the peak would pass ``ceiling``, the gain falls from its
  value at the end of the last tick to ``ceiling / peak`` over ``attack_ms``. The mix of a
  tick is known whole before it is sent, so the samples inside that ramp are held under the
  ceiling too (each is given at most ``ceiling / |sample|``): nothing is clamped;
* **release**: while the peak allows, the gain rises back towards 1, by the fraction
  ``1 - exp(-tick / release_ms)`` of what remains each tick, ramped across the tick;
* at gain 1 with a peak under the ceiling (one talker, or quiet ones) it answers ``None``:
  the mix goes out untouched, at no cost beyond two reductions.

The same envelope applies to the shared mix and to every talker's mix-minus-self, so each
listener hears the same balance. Pure numpy; no allocation per tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Limiter", "LimiterConfig"]


@dataclass(frozen=True, slots=True)
class LimiterConfig:
    #: the highest sample value let out (32000: 0.2 dB under full scale)
    ceiling: int = 32000
    #: how long the gain takes to fall to what a louder tick needs
    attack_ms: float = 2.0
    #: time constant of the gain's return to 1
    release_ms: float = 400.0


class Limiter:
    """The gain envelope of one mix (see the module documentation)."""

    __slots__ = ("_abs", "_attack", "_env", "_ramp", "_release", "ceiling", "gain")

    def __init__(
        self, frame: int, sample_rate: int, tick_ms: int, config: LimiterConfig | None = None
    ) -> None:
        cfg = config or LimiterConfig()
        self.ceiling = float(cfg.ceiling)
        self.gain = 1.0
        self._attack = max(1, min(frame, round(sample_rate * cfg.attack_ms / 1000)))
        self._release = 1.0 - math.exp(-tick_ms / cfg.release_ms)
        self._ramp = np.linspace(0.0, 1.0, frame + 1, dtype=np.float32)[1:]
        self._env = np.empty(frame, dtype=np.float32)
        self._abs = np.empty(frame, dtype=np.float32)

    def envelope(self, mix: NDArray[np.int32]) -> NDArray[np.float32] | None:
        """The gain of each sample of this tick's ``mix``; ``None`` for 1 throughout."""
        peak = max(int(mix.max()), -int(mix.min()))
        target = 1.0 if peak <= self.ceiling else self.ceiling / peak
        start = self.gain
        if start >= 1.0 and target >= 1.0:
            return None
        env = self._env
        if target < start:  # attack: down to target within attack samples
            n = self._attack
            np.multiply(self._ramp[:n], (target - start) * len(env) / n, out=env[:n])
            env[:n] += start
            env[n:] = target
            # inside the ramp, no sample above the ceiling either
            a = self._abs[:n]
            np.abs(mix[:n], out=a)
            np.maximum(a, 1.0, out=a)
            np.divide(self.ceiling, a, out=a)
            np.minimum(env[:n], a, out=env[:n])
            end = target
        else:  # release towards 1, never above what this tick's peak allows
            end = min(target, start + (1.0 - start) * self._release)
            if end >= 0.995:  # 0.04 dB from 1: let the mix go untouched again
                end = 1.0
            np.multiply(self._ramp, end - start, out=env)
            env += start
        self.gain = end
        return env
