"""Pitch-repetition loss concealment for G.711 inputs, after ITU-T G.711 Appendix I.

The mixer decodes G.711 at 8 kHz and conceals there, before resampling to 48 kHz. The
concealer keeps the last 48.75 ms of the input's signal (three of the longest pitch periods
plus a quarter of one: 390 samples at 8 kHz). When a frame is missing:

- **Pitch.** The period ``P`` is the lag, within 5..15 ms (40..120 samples at 8 kHz, 200 to
  66 Hz), that maximises the normalised cross-correlation between the last 20 ms of the
  history and the same span ``P`` samples earlier (one ``np.correlate`` over all lags, and one
  more for the lagged spans' energies).
- **Repetition.** The lost signal is the last pitch period played in a loop. The loop's end is
  cross-faded over a quarter period (``P // 4``) into the samples that precede its start, so
  every wrap is seamless. After 10 ms of loss the loop grows to the last two periods, after
  20 ms to three (less buzz on long losses); each change is cross-faded over a quarter period
  from the old loop to the new one, at the same pitch phase.
- **Attenuation.** Full level for the first 10 ms, then a linear fall of 20 % per 10 ms:
  silence from 60 ms on.
- **Recovery.** The first good frame after a loss is cross-faded from the continued synthesis
  into the decoded signal over a quarter period plus 4 ms per 10 ms of loss beyond the first,
  at most 10 ms. After a loss longer than 60 ms the synthesis is silent, so this is a fade-in.

One departure from Appendix I: its decoder runs 3.75 ms (30 samples) late so that the start
of a loss can be cross-faded into the end of the last good frame. The mixer plays a frame the
tick it is decoded and adds no delay, so the junction is smoothed forward instead: the first
quarter period of the synthesis carries a correction, fading from the difference between the
last real sample and the sample that precedes the loop's start to nothing. The first
concealed sample then continues the real signal's value, and the loop takes over within
1.25-3.75 ms.

Nothing here runs per sample in Python: each call is a handful of numpy operations on at most
a frame, and the normal path (:meth:`PitchConcealer.good` without a loss) is two small copies.
The synthesis is a pure function of the time since the loss began, given the history at that
moment, so a loss may be concealed in pieces of any length (partial frames, 10 or 30 ms
packets) with the same result.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
I16 = NDArray[np.int16]

BASE_RATE = 8000
"""Appendix I's rate; the constants below are in its samples and scale with the input rate."""
_PITCH_MIN = 40  # 5 ms: 200 Hz
_PITCH_MAX = 120  # 15 ms: 66.7 Hz
_CORR_LEN = 160  # 20 ms compared
_STEP = 80  # 10 ms: a loop grows by one period per step, attenuation falls 20 % per step
_MUTE_STEPS = 6  # silent from 60 ms
_MAX_PERIODS = 3
_RECOVER_EXTRA = 32  # 4 ms more of recovery cross-fade per 10 ms of loss beyond the first
_ENERGY_FLOOR = 1.0  # keeps the normalisation finite on digital silence


class PitchConcealer:
    """Conceals the lost frames of one input by pitch repetition (see the module doc).

    Call :meth:`good` with every decoded frame (it cross-fades the first one after a loss in
    place), :meth:`conceal_into` for every missing stretch, :meth:`reset` when the input's
    decoding starts over (after a stretch of not being heard).
    """

    __slots__ = (
        "_erased",
        "_gain",
        "_hist",
        "_loops",
        "_max_ola",
        "_mute_at",
        "_ncorr",
        "_nhist",
        "_offset",
        "_ones",
        "_pitch",
        "_pmax",
        "_pmin",
        "_q",
        "_snap",
        "_starts",
        "_step",
        "_tmp",
        "_tmp2",
        "_up",
        "_work",
        "rate",
    )

    def __init__(self, rate: int = BASE_RATE) -> None:
        if rate <= 0 or rate % BASE_RATE:
            raise ValueError(f"rate must be a positive multiple of {BASE_RATE}, got {rate!r}")
        k = rate // BASE_RATE
        self.rate = rate
        self._pmin = _PITCH_MIN * k
        self._pmax = _PITCH_MAX * k
        self._ncorr = _CORR_LEN * k
        self._step = _STEP * k
        self._mute_at = _MUTE_STEPS * self._step
        self._max_ola = self._step
        self._nhist = _MAX_PERIODS * self._pmax + self._pmax // 4  # 390 at 8 kHz: 48.75 ms
        self._hist: I16 = np.zeros(self._nhist, np.int16)
        self._snap: F32 = np.zeros(self._nhist, np.float32)
        self._work: F32 = np.zeros(rate * 120 // 1000, np.float32)
        self._ones: F32 = np.ones(self._ncorr, np.float32)
        # precomputed curves: sample centres 0.5, 1.5, ... (fades are ``_up[a:b] / length``)
        # and the attenuation by loss time (1 until 10 ms, -20 % per 10 ms, 0 from 60 ms)
        self._up: F32 = np.arange(self._step, dtype=np.float32) + np.float32(0.5)
        t = np.arange(self._mute_at, dtype=np.float32)
        self._gain: F32 = np.clip(1 - (t - self._step) / (self._mute_at - self._step), 0, 1)
        self._tmp: F32 = np.zeros(self._step, np.float32)
        self._tmp2: F32 = np.zeros(self._step, np.float32)
        self._erased = 0  # samples concealed in the current loss; 0: not in a loss
        self._pitch = 0
        self._q = 0
        self._offset = 0.0
        self._loops: list[F32 | None] = [None] * _MAX_PERIODS
        self._starts = (0, 0, 0)  # loop position at the start of each loop's span

    # ---- the normal path -------------------------------------------------------------

    def good(self, frame: I16) -> None:
        """A decoded frame: cross-fade it in after a loss (in place), then remember it."""
        if self._erased:
            self._recover(frame)
        self._remember(frame)

    def _remember(self, frame: I16) -> None:
        n = len(frame)
        h = self._hist
        if n >= self._nhist:
            h[:] = frame[n - self._nhist :]
        else:
            h[:-n] = h[n:]
            h[-n:] = frame

    def reset(self) -> None:
        """Forget the signal: the next loss is silent until a good frame is remembered."""
        self._hist[:] = 0
        self._erased = 0

    # ---- a loss ----------------------------------------------------------------------

    def conceal_into(self, out: I16, mute: bool = False) -> None:
        """Fill ``out`` with the next samples of the current loss (starting one if needed).

        ``mute`` fills silence but counts the time as lost: the next good frame then fades in.
        """
        n = len(out)
        if n > len(self._work):
            raise ValueError(f"concealment of {n} samples exceeds the maximum frame")
        if not self._erased:
            if mute or not self._hist.any():
                out[:] = 0
                self._remember(out)
                return  # nothing to repeat: silence, and no cross-fade afterwards
            self._start()
        t0 = self._erased
        if mute:
            out[:] = 0
            self._erased = max(t0 + n, self._mute_at)  # the synthesis is silent from here
        else:
            w = self._work[:n]
            self._synth(t0, w)
            np.rint(w, out=w)
            np.clip(w, -32768, 32767, out=w)
            out[:] = w
            self._erased = t0 + n
        self._remember(out)

    def _start(self) -> None:
        """A loss begins: estimate the pitch and make the one-period loop."""
        snap = self._snap
        snap[:] = self._hist
        p = self._find_pitch(snap)
        self._pitch = p
        self._q = max(1, p // 4)
        self._loops = [None] * _MAX_PERIODS
        loop = self._loop(1)
        # the real signal ends at snap[-1]; the loop starts at snap[-p], whose predecessor in
        # the loop is loop[-1] (about snap[-p - 1]): fade that difference out over q samples
        self._offset = float(snap[-1]) - float(loop[-1])
        # where each loop starts reading: the two- and three-period loops take over at 10 and
        # 20 ms at the pitch phase reached (the position modulo p), in their oldest period
        s2 = self._step % p
        self._starts = (0, s2, (s2 + self._step) % p)

    def _find_pitch(self, x: F32) -> int:
        """The lag (pmin..pmax) whose span best matches the last ``ncorr`` samples."""
        c, pmin, pmax = self._ncorr, self._pmin, self._pmax
        end = len(x)
        target = x[end - c :]
        lagged = x[end - c - pmax : end - pmin]  # every lagged span, oldest lag first
        corr = np.correlate(lagged, target, "valid")  # corr[k]: lag pmax - k
        energy = np.correlate(np.square(lagged), self._ones, "valid")
        np.maximum(energy, _ENERGY_FLOOR, out=energy)
        np.sqrt(energy, out=energy)
        corr /= energy
        return int(pmax - int(np.argmax(corr)))

    def _loop(self, periods: int) -> F32:
        """The last ``periods`` pitch periods, their end cross-faded into what precedes them."""
        cached = self._loops[periods - 1]
        if cached is not None:
            return cached
        snap, q = self._snap, self._q
        n = periods * self._pitch
        end = len(snap)
        loop = snap[end - n :].copy()
        fade_in = self._up[:q] / q
        before = snap[end - n - q : end - n]
        tail = loop[n - q :]
        tail += (before - tail) * fade_in
        self._loops[periods - 1] = loop
        return loop

    def _span(self, t: int) -> int:
        """Number of periods looped at loss time ``t`` (1, 2 or 3)."""
        return min(_MAX_PERIODS, t // self._step + 1)

    def _read(self, periods: int, t0: int, out: F32) -> None:
        """The ``periods`` loop's samples for loss times ``t0...`` (its span or past it)."""
        loop = self._loop(periods)
        n = len(loop)
        pos = (self._starts[periods - 1] + t0 - (periods - 1) * self._step) % n
        done, total = 0, len(out)
        while done < total:  # a few slices: a loop is at least 5 ms long
            take = min(n - pos, total - done)
            out[done : done + take] = loop[pos : pos + take]
            done += take
            pos = 0

    def _synth(self, t0: int, out: F32) -> None:
        """The concealment for loss times ``t0 .. t0 + len(out)`` (a pure function of t)."""
        n = len(out)
        step, q, mute_at = self._step, self._q, self._mute_at
        t1 = t0 + n
        if t0 >= mute_at:
            out[:] = 0.0
            return
        # 1. the loops, each over its span
        t = t0
        while t < t1:
            periods = self._span(t)
            end = t1 if periods == _MAX_PERIODS else min(t1, periods * step)
            self._read(periods, t, out[t - t0 : end - t0])
            t = end
        # 2. each change of loop: a quarter period from the old loop into the new one
        for a in (step, 2 * step):
            lo, hi = max(t0, a), min(t1, a + q)
            if lo >= hi:
                continue
            old = self._tmp[: hi - lo]
            self._read(a // step, lo, old)
            fade_in = self._tmp2[: hi - lo]
            np.multiply(self._up[lo - a : hi - a], 1.0 / q, out=fade_in)
            seg = out[lo - t0 : hi - t0]
            seg -= old
            seg *= fade_in
            seg += old
        # 3. the start: the real signal's last value, faded into the loop
        if t0 < q and self._offset:
            hi = min(t1, q)
            corr = self._tmp[: hi - t0]  # offset * (1 - (t + 0.5) / q)
            np.multiply(self._up[t0:hi], -self._offset / q, out=corr)
            corr += self._offset
            out[: hi - t0] += corr
        # 4. attenuation
        if t1 > step:
            lo = max(t0, step)
            hi = min(t1, mute_at)
            out[lo - t0 : hi - t0] *= self._gain[lo:hi]
            out[hi - t0 :] = 0.0

    def _recover(self, frame: I16) -> None:
        """Cross-fade the continued synthesis into the first good frame after a loss."""
        erased = self._erased
        self._erased = 0
        steps = -(-erased // self._step)
        n = min(len(frame), self._q + _RECOVER_EXTRA * (self.rate // BASE_RATE) * (steps - 1))
        n = min(n, self._max_ola)
        if n <= 0:
            return
        syn = self._work[:n]
        self._synth(erased, syn)
        fade_in = self._tmp2[:n]
        np.multiply(self._up[:n], 1.0 / n, out=fade_in)
        real = self._tmp[:n]
        real[:] = frame[:n]
        real -= syn
        real *= fade_in
        real += syn
        np.rint(real, out=real)
        frame[:n] = real
