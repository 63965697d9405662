"""The audio bridge: K loudest inputs mixed at 48 kHz, encoded once per output format.

One :class:`Mixer` per conference. Every 20 ms (:meth:`Mixer.tick`):

1. **Levels.** Each input reports the level of its coming frame without decoding when it can
   (RFC 6464 audio level, G.711 codes, Opus DTX and silence; see
   :mod:`snapconf.media.mixer.input`); the frames of all G.711 inputs are measured together
   in one numpy pass. Otherwise the frame is decoded and its energy measured. Muted inputs
   are silent.
2. **Talker selection.** Inputs whose current level is above ``silence_dbov`` are candidates;
   they are ranked by a smoothed level (it rises at once and falls by ``release_db_per_s``,
   so syllables do not make it flicker). A free place among the K goes at once to the
   loudest candidate, so the start of speech is never cut. A talker whose level has been at
   or below ``silence_dbov`` for ``hangover_ms`` leaves (a pause between sentences does not
   make it lose the floor). A candidate replaces the quietest talker only after being louder
   than it by ``hysteresis_db`` for ``hold_ms`` without interruption. Each change of the set
   calls ``on_talkers(ids)`` (synchronously, from the tick; exceptions are counted).
3. **Decode** the talkers (only they are heard), resample to 48 kHz, **mix** in int32.
4. **Encode once per stream.** Listeners who are not talkers share one mix; a talker hears
   the mix minus itself. A stream is a (mix, format) pair where the format is (codec, ptime):
   the payload type is only in the header, so two listeners with different payload types for
   the same codec share the encode. Encodes per tick are then (number of talkers that
   listen) + (number of formats in use): K + F, not N. When several talkers together would
   pass full scale, a limiter (:mod:`snapconf.media.mixer.limiter`) turns the mix down with a
   smooth gain, the same for every stream; then the int32 mix is *saturated* to int16 (never
   wrapped: clamped to -32768..32767 before the narrowing copy), which it no longer needs.
5. **Send.** Per listener, only a 12-byte RTP header (RFC 3550 §5.1) is made: its own SSRC,
   sequence number (+1 per packet sent) and timestamp (+ clock rate x ptime per packet, also
   across packets not sent). The marker bit is set on the first packet and on the first
   packet after a gap (a talkspurt start, RFC 3551 §4.1): Opus DTX payloads of two bytes or
   fewer are not sent when ``opus_dtx`` is on (RFC 7587 §3.1.3).

**Idle.** While nobody is heard (no talker), a stream whose listeners all accept silence as
no packets (``silent_when_idle``: browsers, whose jitter buffer plays comfort noise over a
gap) is not encoded: its time passes as for DTX (``idle_frames``), and the next packet
starts a talkspurt. A mixer with no input at all and only such listeners does not tick: it
sleeps until an input or another listener is added (``dormant_ticks`` counts the ticks it
slept through), so an idle mix costs nothing.

**Timing.** :meth:`Mixer.start` runs one task that keeps absolute deadlines
(``deadline += 0.02``, then ``clock.sleep_until(deadline)``) so that no drift accumulates. If
it wakes late by up to ``max_catchup_ms``, the missed ticks run back to back (``late_ticks``);
later than that, they are skipped (``skipped_ticks``), the deadline jumps to now, and the
outputs' RTP timestamps jump by the skipped time so receivers stay in step. A tick ending
after the next deadline is an ``overrun``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.media.codecs import AudioCodecSpec, AudioEncoder, OpusEncoder, Resampler, get_codec
from snapconf.media.codecs.opus import DTX_MAX_PAYLOAD
from snapconf.media.mixer.config import FRAME, MIX_RATE, TICK_MS, MixerConfig
from snapconf.media.mixer.input import MixerInput
from snapconf.media.mixer.levels import SILENCE_DB, g711_levels
from snapconf.media.mixer.limiter import Limiter
from snapconf.media.mixer.stats import MixerStats
from snapconf.rtp.packet import FIXED_HEADER as HEADER

logger = logging.getLogger(__name__)

TICK = TICK_MS / 1000
_INT16_MIN, _INT16_MAX = -32768, 32767


def _score(inp: MixerInput) -> float:
    return inp.score


FormatKey = tuple[str, int]
"""(codec name, ptime in ms)."""
StreamKey = tuple[str | None, FormatKey]
"""(talker input id, or None for the shared mix; format)."""

#: packet times an output may use (30 ms: not for Opus, whose frames are 20, 40 or 60 ms)
PTIMES = (20, 30, 40, 60)


class PayloadSink(Protocol):
    """A listener that stamps payloads into an RTP stream of its own (a plain transport).

    ``send_mix(payload, samples, marker)``: one packet covering ``samples`` RTP clock ticks;
    ``marker`` starts a talkspurt (RFC 3551 §4.1). The sink owns SSRC, sequence numbers and
    timestamps, so what it sends between the mix's packets (a prompt) stays in one stream.
    """

    def send_mix(self, payload: bytes, samples: int, marker: bool) -> None: ...


class MixerOutput:
    """One listener's RTP stream (create with :meth:`Mixer.add_output`)."""

    __slots__ = (
        "_gap",
        "_seq",
        "_ts",
        "closed",
        "codec",
        "errors",
        "format",
        "listener_id",
        "octets",
        "own_input_id",
        "packets",
        "payload_type",
        "ptime_ms",
        "send",
        "silent_when_idle",
        "sink",
        "ssrc",
        "ts_step",
    )

    def __init__(
        self,
        listener_id: str,
        spec: AudioCodecSpec,
        payload_type: int,
        ssrc: int,
        send: Callable[[bytes], None],
        own_input_id: str | None,
        ptime_ms: int,
        silent_when_idle: bool = False,
        sink: PayloadSink | None = None,
    ) -> None:
        self.listener_id = listener_id
        #: when set, payloads go to it rather than to ``send`` as whole packets
        self.sink = sink
        #: this listener takes silence as no packets (see the module documentation)
        self.silent_when_idle = silent_when_idle
        self.codec = spec.name
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.send = send
        self.own_input_id = own_input_id
        self.ptime_ms = ptime_ms
        self.format: FormatKey = (spec.name, ptime_ms)
        self.ts_step = spec.timestamp_step(ptime_ms)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._gap = True  # the next packet sent starts a talkspurt
        self.packets = 0
        """RTP packets sent (for RTCP sender reports, RFC 3550 §6.4.1)."""
        self.octets = 0
        """Payload octets sent (idem)."""
        self.errors = 0
        self.closed = False

    @property
    def next_seq(self) -> int:
        return self._seq

    @property
    def next_timestamp(self) -> int:
        return self._ts

    def _deliver(self, payload: bytes) -> int:
        """Send one packet (an empty payload: account for one not sent); 1 if sent, -1 error."""
        ts = self._ts
        self._ts = (ts + self.ts_step) & 0xFFFFFFFF
        if not payload:
            self._gap = True
            return 0
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        gap = self._gap
        self._gap = False
        try:
            sink = self.sink
            if sink is not None:
                sink.send_mix(payload, self.ts_step, gap)
            else:
                b1 = self.payload_type | 0x80 if gap else self.payload_type
                self.send(HEADER.pack(0x80, b1, seq, ts, self.ssrc) + payload)
        except Exception:  # one listener's failure never stops the others
            self.errors += 1
            if self.errors == 1:
                logger.exception("mixer: send to listener %s failed", self.listener_id)
            return -1
        self.packets += 1
        self.octets += len(payload)
        return 1

    def _skip_time(self, ticks: int) -> None:
        self._ts = (self._ts + ticks * self.ts_step * TICK_MS // self.ptime_ms) & 0xFFFFFFFF
        self._gap = True


class _Stream:
    """One encode per tick (or per ptime): a mix variant in one output format."""

    __slots__ = (
        "_acc",
        "_acc_len",
        "_frame",
        "_packet",
        "dtx",
        "encoder",
        "outputs",
        "resampler",
        "silent_ok",
    )

    def __init__(self, spec: AudioCodecSpec, ptime_ms: int, config: MixerConfig) -> None:
        if spec.name == "opus":
            self.encoder: AudioEncoder = OpusEncoder(
                bitrate=config.opus_bitrate,
                complexity=config.opus_complexity,
                fec=config.opus_fec,
                dtx=config.opus_dtx,
                packet_loss_perc=config.opus_packet_loss_perc,
            )
            self.dtx = config.opus_dtx
        else:
            self.encoder = spec.new_encoder()
            self.dtx = False
        rate = spec.sample_rate
        self.resampler = Resampler(MIX_RATE, rate) if rate != MIX_RATE else None
        #: samples per 20 ms tick and per packet, in the codec's rate
        self._frame = rate * TICK_MS // 1000
        self._packet = rate * ptime_ms // 1000
        # room for a packet plus one tick: a 30 ms packet is complete after 40 ms of a
        # 20 ms tick, and the 10 ms left over start the next one
        self._acc: NDArray[np.int16] = np.zeros(self._packet + self._frame, np.int16)
        self._acc_len = 0
        self.outputs: list[MixerOutput] = []
        #: every listener of this stream takes silence as no packets
        self.silent_ok = False

    def feed(self, pcm48: NDArray[np.int16], stats: MixerStats) -> bytes | None:
        """Add one 20 ms frame; returns a payload when a packet is complete, else ``None``.

        An empty payload means "a packet's worth of time passed, send nothing" (DTX).
        """
        n = self._frame
        dst = self._acc[self._acc_len : self._acc_len + n]
        if self.resampler is None:
            dst[:] = pcm48
        else:
            self.resampler.process_into(pcm48, dst)
        if not self._complete(n):
            return None
        stats.encodes += 1
        payload = self.encoder.encode(self._acc[: self._packet])
        self._carry()
        if self.dtx and len(payload) <= DTX_MAX_PAYLOAD:
            stats.dtx_suppressed += 1
            return b""
        return payload

    def feed_silence(self, stats: MixerStats) -> bytes | None:
        """One 20 ms frame of silence, not encoded: ``b""`` when a packet's time is up."""
        n = self._frame
        self._acc[self._acc_len : self._acc_len + n] = 0
        stats.idle_frames += 1
        if not self._complete(n):
            return None
        self._carry()
        return b""

    def _complete(self, added: int) -> bool:
        self._acc_len += added
        return self._acc_len >= self._packet

    def _carry(self) -> None:
        """Keep what is beyond the packet just made as the start of the next one."""
        extra = self._acc_len - self._packet
        if extra:
            self._acc[:extra] = self._acc[self._packet : self._acc_len]
        self._acc_len = extra

    def copy_progress(self, other: _Stream) -> None:
        """Start mid-packet from another stream's accumulated frames (same format)."""
        self._acc_len = other._acc_len
        self._acc[: self._acc_len] = other._acc[: self._acc_len]


class Mixer:
    """An audio bridge ticking every 20 ms on ``clock`` (see the module documentation).

    ``on_talkers(ids)`` is called from the tick whenever the set of talkers changes, with
    the talkers' input ids in the order they took the floor. :attr:`stats` holds the
    counters; :meth:`tick` may be called directly (tests) instead of :meth:`start`.
    """

    def __init__(
        self,
        config: MixerConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        on_talkers: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.config = config or MixerConfig()
        self.clock = clock
        self.on_talkers = on_talkers
        self.stats = MixerStats()
        self._inputs: dict[str, MixerInput] = {}
        self._input_list: tuple[MixerInput, ...] = ()
        self._outputs: dict[str, MixerOutput] = {}
        self._streams: dict[StreamKey, _Stream] = {}
        self._plan_dirty = True
        self._plan: list[tuple[_Stream, MixerInput | None, tuple[MixerOutput, ...]]] = []
        self._talkers: list[MixerInput] = []
        self._challenging: list[MixerInput] = []
        self._tick_no = 0
        self._mix: NDArray[np.int32] = np.zeros(FRAME, np.int32)
        self._tmp: NDArray[np.int32] = np.zeros(FRAME, np.int32)
        self._shared: NDArray[np.int16] = np.zeros(FRAME, np.int16)
        self._minus: NDArray[np.int16] = np.zeros(FRAME, np.int16)
        self._limiter = Limiter(FRAME, MIX_RATE, TICK_MS)
        self._limited: NDArray[np.int32] = np.zeros(FRAME, np.int32)
        self._scaled: NDArray[np.float32] = np.zeros(FRAME, np.float32)
        ms = 1000 / TICK_MS
        self._hold_ticks = round(self.config.hold_ms * ms / 1000)
        self._hangover_ticks = round(self.config.hangover_ms * ms / 1000)
        self._release = self.config.release_db_per_s * TICK
        self._task: asyncio.Task[None] | None = None
        #: set while the tick task sleeps with nothing to mix (see _dormant)
        self._wake: asyncio.Event | None = None
        self._closed = False

    # ---- membership -------------------------------------------------------------------

    @property
    def inputs(self) -> dict[str, MixerInput]:
        return dict(self._inputs)

    @property
    def outputs(self) -> dict[str, MixerOutput]:
        return dict(self._outputs)

    @property
    def talkers(self) -> list[str]:
        """Current talkers, in the order they took the floor."""
        return [t.id for t in self._talkers]

    @property
    def closed(self) -> bool:
        return self._closed

    def add_input(
        self, input_id: str, codec: str, clock_rate: int, payload_type: int
    ) -> MixerInput:
        """A new input; ``codec`` is an SDP encoding name (see :func:`get_codec`)."""
        if self._closed:
            raise ValueError("mixer is closed")
        if not isinstance(input_id, str) or not input_id:
            raise ValueError("input_id is not a non-empty string")
        if input_id in self._inputs:
            raise ValueError(f"input {input_id!r} already exists")
        inp = MixerInput(
            input_id, get_codec(codec), clock_rate, payload_type, self.config, self.stats
        )
        self._inputs[input_id] = inp
        self._input_list = (*self._input_list, inp)
        self._rouse()
        return inp

    def remove_input(self, input_id: str) -> None:
        """Remove an input (no-op if unknown); it leaves the talkers on the next tick."""
        inp = self._inputs.pop(input_id, None)
        if inp is None:
            return
        inp.close()
        self._input_list = tuple(i for i in self._input_list if i is not inp)

    def add_output(
        self,
        listener_id: str,
        codec: str,
        payload_type: int,
        ssrc: int,
        send: Callable[[bytes], None],
        own_input_id: str | None = None,
        ptime_ms: int = 20,
        *,
        silent_when_idle: bool = False,
        sink: PayloadSink | None = None,
    ) -> MixerOutput:
        """A listener: ``send(rtp_packet)`` is called with each packet (synchronously), or
        ``sink.send_mix(payload, samples, marker)`` when a sink is given.

        ``own_input_id`` is the listener's own input, subtracted from what it hears while it
        is a talker. ``ptime_ms`` must be 20, 30 (not for Opus), 40 or 60.
        ``silent_when_idle``: the listener gets no packets (rather than encoded silence)
        while nobody speaks.
        """
        if self._closed:
            raise ValueError("mixer is closed")
        if not isinstance(listener_id, str) or not listener_id:
            raise ValueError("listener_id is not a non-empty string")
        if listener_id in self._outputs:
            raise ValueError(f"output {listener_id!r} already exists")
        spec = get_codec(codec)
        if not isinstance(payload_type, int) or not 0 <= payload_type <= 127:
            raise ValueError(f"payload_type must be within 0..127, got {payload_type!r}")
        if not isinstance(ssrc, int) or not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError(f"ssrc must be a 32-bit unsigned integer, got {ssrc!r}")
        if ptime_ms not in PTIMES or (ptime_ms == 30 and spec.name == "opus"):
            raise ValueError(f"ptime_ms must be 20, 30 (not for opus), 40 or 60, got {ptime_ms!r}")
        out = MixerOutput(
            listener_id,
            spec,
            payload_type,
            ssrc,
            send,
            own_input_id,
            ptime_ms,
            silent_when_idle,
            sink,
        )
        self._outputs[listener_id] = out
        self._plan_dirty = True
        self._rouse()
        return out

    def remove_output(self, listener_id: str) -> None:
        """Stop sending to a listener (no-op if unknown)."""
        out = self._outputs.pop(listener_id, None)
        if out is not None:
            out.closed = True
            self._plan_dirty = True

    # ---- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the tick task on the running loop (idempotent)."""
        if self._closed:
            raise ValueError("mixer is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mixer")

    def _dormant(self) -> bool:
        """Nothing to mix and nobody who needs packets of silence: no need to tick."""
        outputs = self._outputs
        return (
            not self._input_list
            and bool(outputs)
            and all(o.silent_when_idle for o in outputs.values())
        )

    def _rouse(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        clock = self.clock
        st = self.stats
        catchup = self.config.max_catchup_ms / 1000
        deadline = clock.now()
        while not self._closed:
            if self._dormant():
                self._wake = asyncio.Event()
                try:
                    await self._wake.wait()
                finally:
                    self._wake = None
                if self._closed:
                    break
                # the time slept passes for the listeners as a gap (RTP timestamps move on)
                slept = int((clock.now() - deadline) / TICK)
                if slept > 0:
                    st.dormant_ticks += slept
                    deadline += slept * TICK
                    for out in self._outputs.values():
                        out._skip_time(slept)
            deadline += TICK
            await clock.sleep_until(deadline)
            if self._closed:
                break
            late = clock.now() - deadline
            if late > catchup:
                missed = int(late / TICK)
                st.skipped_ticks += missed
                deadline += missed * TICK
                for out in self._outputs.values():
                    out._skip_time(missed)
                for inp in self._input_list:
                    inp.skip_frames(missed)
            elif late > 0.001:
                st.late_ticks += 1
            try:
                self.tick()
            except Exception:  # never let one bad tick stop the bridge
                logger.exception("mixer: tick failed")
            if clock.now() > deadline + TICK:
                st.overruns += 1

    def close(self) -> None:
        """Stop ticking and forget inputs and outputs (idempotent, synchronous).

        The tick task is cancelled; :meth:`wait_closed` waits for it to end.
        """
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._rouse()
        for inp in self._input_list:
            inp.close()
        for out in self._outputs.values():
            out.closed = True
        self._inputs.clear()
        self._input_list = ()
        self._outputs.clear()
        self._streams.clear()
        self._plan = []
        self._talkers = []

    async def wait_closed(self) -> None:
        """After :meth:`close`: wait until the tick task has ended."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the tick -----------------------------------------------------------------------

    def tick(self) -> None:
        """Produce one 20 ms frame for every listener (synchronous; tests call it directly)."""
        t0 = time.perf_counter_ns()
        st = self.stats
        st.ticks += 1
        self._tick_no += 1
        inputs = self._input_list

        # 1. levels, decoding only the inputs whose level cannot be known otherwise
        release = self._release
        g711: dict[str, tuple[list[MixerInput], list[bytes]]] | None = None
        for inp in inputs:
            if inp.idle:
                continue
            law = inp.law
            if law is not None:
                codes = inp.peek_codes()
                if codes is not None:  # measured below, with the other G.711 inputs
                    if g711 is None:
                        g711 = {}
                    batch = g711.get(law)
                    if batch is None:
                        batch = g711[law] = ([], [])
                    batch[0].append(inp)
                    batch[1].append(codes)
                    continue
            level = inp.peek_level()
            if level is None:
                level = inp.decoded_level()
            inp.level = level
            score = inp.score - release
            inp.score = level if level > score else score
        if g711 is not None:
            for law, (batch_inputs, frames) in g711.items():
                levels = g711_levels(law, frames, len(frames[0]))
                for inp, level in zip(batch_inputs, levels, strict=True):
                    inp.level = level
                    score = inp.score - release
                    inp.score = level if level > score else score

        # 2. who is heard
        if self._select(inputs):
            self._plan_dirty = True

        # 3. decode and mix the talkers
        mix = self._mix
        mix[:] = 0
        for t in self._talkers:
            t.fill()
            t.render()
            mix += t.pcm
        for inp in inputs:
            if not inp.idle:
                inp.advance()
        # loud talkers together are turned down rather than clamped (limiter.py)
        limiter = self._limiter
        env = None
        if len(self._talkers) > 1 or limiter.gain < 1.0:
            env = limiter.envelope(mix)
            if env is not None:
                st.limited_ticks += 1

        # 4 and 5. one encode per stream, one header per listener
        if self._plan_dirty:
            self._make_plan()
        shared = None
        idle = not self._talkers  # the mix is silence
        for stream, minus, outs in self._plan:
            if idle and stream.silent_ok:
                payload = stream.feed_silence(st)
            else:
                if minus is None:
                    if shared is None:
                        src = mix if env is None else self._apply(mix, env)
                        shared = self._saturate(src, self._shared)
                    pcm = shared
                else:
                    np.subtract(mix, minus.pcm, out=self._tmp)
                    src = self._tmp if env is None else self._apply(self._tmp, env)
                    pcm = self._saturate(src, self._minus)
                payload = stream.feed(pcm, st)
            if payload is None:
                continue
            for out in outs:
                sent = out._deliver(payload)
                if sent > 0:
                    st.packets_out += 1
                elif sent < 0:
                    st.send_errors += 1
        elapsed = time.perf_counter_ns() - t0
        st.tick_ns_total += elapsed
        if elapsed > st.tick_ns_max:
            st.tick_ns_max = elapsed

    def _apply(self, src: NDArray[np.int32], env: NDArray[np.float32]) -> NDArray[np.int32]:
        """``src`` times the limiter's envelope, rounded, in a scratch buffer."""
        np.multiply(src, env, out=self._scaled)
        np.rint(self._scaled, out=self._scaled)
        self._limited[:] = self._scaled
        return self._limited

    def _saturate(self, src: NDArray[np.int32], dst: NDArray[np.int16]) -> NDArray[np.int16]:
        """Clamp to 16 bits (never wrap); two ufunc calls (``np.clip`` costs twice as much)."""
        np.maximum(src, _INT16_MIN, out=self._tmp)
        np.minimum(self._tmp, _INT16_MAX, out=dst, casting="unsafe")
        return dst

    def _select(self, inputs: tuple[MixerInput, ...]) -> bool:
        """Update the talker set; True if it changed (then ``on_talkers`` was called)."""
        cfg = self.config
        now = self._tick_no
        silence = cfg.silence_dbov
        talkers = self._talkers
        before = [t.id for t in talkers]
        # leave: closed, muted, or silent for longer than the hangover
        kept = []
        for t in talkers:
            if t.closed or t.muted:
                t.talker = False
                continue
            if t.level > silence:
                t.loud_tick = now
            elif now - t.loud_tick > self._hangover_ticks:
                t.talker = False
                continue
            kept.append(t)
        talkers = kept
        candidates = [
            i for i in inputs if not i.idle and not i.talker and not i.muted and i.level > silence
        ]
        if candidates:
            candidates.sort(key=_score, reverse=True)
            # free places go at once to the loudest
            while len(talkers) < cfg.talkers and candidates:
                c = candidates.pop(0)
                c.talker = True
                c.loud_tick = now
                c.challenge_since = None
                talkers.append(c)
            # a challenger must beat the quietest by the hysteresis for the hold time
            challenging = []
            weakest = min(talkers, key=_score) if talkers else None
            for c in candidates:
                if weakest is None:
                    break
                if c.score > weakest.score + cfg.hysteresis_db:
                    if c.challenge_since is None:
                        c.challenge_since = now
                    challenging.append(c)
                    if now - c.challenge_since >= self._hold_ticks:
                        weakest.talker = False
                        weakest.challenge_since = None
                        c.talker = True
                        c.loud_tick = now
                        c.challenge_since = None
                        talkers[talkers.index(weakest)] = c
                        weakest = min(talkers, key=_score)
                else:
                    c.challenge_since = None
        else:
            challenging = []
        for c in self._challenging:  # fell silent: the challenge is over
            if c.challenge_since is not None and c not in challenging:
                c.challenge_since = None
        self._challenging = [c for c in challenging if c.challenge_since is not None]
        self._talkers = talkers
        after = [t.id for t in talkers]
        if after == before:
            return False
        self.stats.talker_changes += 1
        if self.on_talkers is not None:
            try:
                self.on_talkers(list(after))
            except Exception:
                self.stats.callback_errors += 1
                logger.exception("mixer: on_talkers callback failed")
        return True

    def _make_plan(self) -> None:
        """Group listeners into streams; create and drop encoders as needed."""
        self._plan_dirty = False
        talking = {t.id: t for t in self._talkers}
        groups: dict[StreamKey, list[MixerOutput]] = {}
        for out in self._outputs.values():
            own = out.own_input_id if out.own_input_id in talking else None
            groups.setdefault((own, out.format), []).append(out)
        streams: dict[StreamKey, _Stream] = {}
        for key in groups:
            stream = self._streams.get(key)
            if stream is None:
                codec, ptime = key[1]
                stream = _Stream(get_codec(codec), ptime, self.config)
                model = self._streams.get((None, key[1])) or next(
                    (s for k, s in self._streams.items() if k[1] == key[1]), None
                )
                if model is not None:
                    stream.copy_progress(model)
            streams[key] = stream
        self._streams = streams
        # the shared mix first, so the talkers' variants reuse the saturated buffer order
        plan = []
        for key, outs in sorted(groups.items(), key=lambda kv: kv[0][0] is not None):
            stream = streams[key]
            stream.outputs = outs
            stream.silent_ok = all(o.silent_when_idle for o in outs)
            plan.append((stream, talking[key[0]] if key[0] is not None else None, tuple(outs)))
        self._plan = plan

    def level_of(self, input_id: str) -> float:
        """The smoothed level (dBov) of an input, as used for talker selection."""
        inp = self._inputs.get(input_id)
        return SILENCE_DB if inp is None else inp.score
