"""One mixer input: a jitter buffer, a decoder and a resampler to 48 kHz.

The network path calls :meth:`MixerInput.push` once per RTP packet, synchronously; it only
checks the packet and files it by timestamp. Everything else happens on the mixer's tick.

**Playout.** Each input has a playout point ``play`` in its own RTP timestamp units
(RFC 3550 §5.1). It starts ``jitter_initial_ms`` behind the first packet and moves forward by
one 20 ms frame per tick, whether packets come or not, so a sender's silence (DTX, RFC 7587
§3.1.3, or a phone's VAD) needs no special case: its next packet simply lands at the right
time. A packet whose timestamp is behind ``play`` is *late* (or a *duplicate* if it was
already played), and one far from it in either direction (``max_ts_jump_ms``) is a *jump*:
dropped, unless ``resync_packets`` consecutive packets agree on the new timeline (a new SSRC,
a restarted sender), which then replaces the old one. Sequence numbers only serve that check;
the order of play is the timestamp's.

**Adaptation.** A late packet adds one frame of delay (a concealed frame is played while
``play`` stays put), up to ``jitter_max_ms``. When, over two seconds, every packet arrived
more than ``jitter_min_ms`` plus a frame ahead of its playout, one frame is dropped, at a
moment when the input is silent or not heard if possible.

**Loss.** A missing frame is concealed: Opus in-band FEC when the following packet is already
there (RFC 7587 §3.3), else Opus PLC; for G.711, pitch repetition after ITU-T G.711 Appendix I
(:class:`~snapconf.media.mixer.plc.PitchConcealer`: silent after 60 ms, and the first good
frame after a loss is cross-faded in); for G.722, the decoder's fade-out. At most
``max_plc_ms`` in a row, then silence.

**Decoding only what may be heard.** :meth:`peek_level` tells the mixer the level of the
coming frame *without decoding* when the packet carries an RFC 6464 audio level, is G.711
(whose level is read from the codes: one ``bytes.translate`` pass finds frames whose every
sample is below ``silence_dbov``, else a 256-entry table of squares gives the exact RMS; the
mixer measures the frames of all its G.711 inputs in one numpy pass, :meth:`peek_codes` and
:func:`~snapconf.media.mixer.levels.g711_levels`), or is an Opus payload known to be silent:

- three bytes or fewer (``OPUS_SILENT_MAX``). A TOC byte alone is a frame of length zero, which
  RFC 6716 §3.2.1 lets a DTX sender emit and the decoder treats as lost; libopus' DTX makes
  one-byte payloads (RFC 7587 §3.1.3), and libopus in VoIP mode without DTX makes three-byte
  ones of digital silence after speech (they decode to zeros). Sixteen bits of range-coded
  data are far below what a 20 ms SILK frame of speech (gains, LSF, pitch, excitation) or a
  CELT frame (band energies) takes, so no speech is lost;
- a payload identical to one this input decoded, alone, to silence lately (the last
  ``_SILENT_KEEP``): an encoder fed digital silence without DTX repeats one packet (35 bytes
  from libopus in VoIP mode at 32 kbit/s, 21 from ours with FEC; the silent callers of the
  ``janus-bench`` load generator send such a stream). The input goes idle on them as on DTX.
  A payload that once decodes louder is forgotten.

Only other Opus payloads without levels, and G.722, must be decoded (:meth:`decoded_level`)
to measure the frame's energy; they are still not resampled nor mixed unless selected. An
input that is not mixed this tick is then just :meth:`advance`-d: its packets are dropped
unseen, and its decoder and resampler are reset before it is decoded again.

**Idle inputs.** Most participants are silent most of the time. An input whose packets
cannot be heard (their level is at or below ``silence_dbov``, Opus payloads known silent,
G.711 below it in every sample, or the input is muted) and which is not a talker becomes
*idle* once its last audible packet has played: the tick then skips it entirely,
:meth:`push` does not even file its packets (``skipped_packets``), and its playout point
moves on lazily with the tick count. The first packet that may be heard wakes it up, a
playout delay before it plays, in time to be selected. So 47 silent participants cost one
cheap :meth:`push` each per packet and nothing per tick.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from snapconf.media.codecs import AudioCodecSpec, Resampler
from snapconf.media.codecs.g711 import mean_square, quiet_codes
from snapconf.media.mixer.config import FRAME, MIX_RATE, TICK_MS, MixerConfig
from snapconf.media.mixer.levels import SILENCE_DB
from snapconf.media.mixer.levels import dbov as _dbov
from snapconf.media.mixer.plc import PitchConcealer
from snapconf.media.mixer.stats import MixerStats
from snapconf.rtp.packet import parse_rtp_header

OPUS_SILENT_MAX = 3
"""Opus payloads of this many bytes or fewer are silence (see the module documentation)."""
_SILENT_KEEP = 8  # Opus payloads that decoded to silence, remembered per input
_SHRINK_WINDOW = 100  # ticks (2 s)
_RECENT = 16  # played timestamps remembered to tell duplicates from late packets


class MixerInput:
    """An audio stream entering the mixer (create with :meth:`Mixer.add_input`)."""

    __slots__ = (
        "_buf",
        "_cfg",
        "_cur_level",
        "_decoded",
        "_decoder",
        "_decoder_fresh",
        "_f32",
        "_fifo",
        "_fifo_len",
        "_frame_ts",
        "_initial_ts",
        "_is_opus",
        "_jump",
        "_loud_below",
        "_loud_until",
        "_max_delay_ts",
        "_max_jump",
        "_max_plc",
        "_min_margin",
        "_newest_end",
        "_nf",
        "_play",
        "_play_tick",
        "_plc",
        "_plc_ok",
        "_plc_run",
        "_quiet",
        "_ratio",
        "_rendered",
        "_rendered_now",
        "_resampler",
        "_ring",
        "_ring_pos",
        "_shrink_margin",
        "_silent_opus",
        "_started",
        "_stats",
        "_stretch",
        "_supports_fec",
        "_window",
        "challenge_since",
        "clock_rate",
        "closed",
        "codec",
        "filled",
        "id",
        "idle",
        "law",
        "level",
        "loud_tick",
        "muted",
        "payload_type",
        "pcm",
        "score",
        "talker",
    )

    def __init__(
        self,
        input_id: str,
        spec: AudioCodecSpec,
        clock_rate: int,
        payload_type: int,
        config: MixerConfig,
        stats: MixerStats,
    ) -> None:
        if clock_rate != spec.clock_rate:
            raise ValueError(
                f"clock_rate {clock_rate} does not match {spec.name}'s RTP clock rate "
                f"{spec.clock_rate}"
            )
        if not isinstance(payload_type, int) or not 0 <= payload_type <= 127:
            raise ValueError(f"payload_type must be within 0..127, got {payload_type!r}")
        self.id = input_id
        self.codec = spec.name
        self.clock_rate = clock_rate
        self.payload_type = payload_type
        self.muted = False
        """A muted input is never decoded nor mixed; its packets are dropped unseen."""
        self.closed = False
        self._cfg = config
        self._stats = stats
        self._decoder = spec.new_decoder()
        self._decoder_fresh = True
        self._supports_fec = self._decoder.supports_fec
        self._quiet: bytes | None = None
        self._plc: PitchConcealer | None = None  # G.711: ours, not the decoder's fade
        self.law: str | None = None
        """``"PCMU"`` or ``"PCMA"`` for G.711 (levels from the codes), else ``None``."""
        if spec.name in ("PCMU", "PCMA"):
            self.law = spec.name
            self._quiet = quiet_codes(spec.name, int(32768 * 10 ** (config.silence_dbov / 20)))
            self._plc = PitchConcealer(spec.sample_rate)
        self._is_opus = spec.name == "opus"
        self._silent_opus: dict[bytes, None] = {}  # insertion-ordered: the oldest goes first
        self._decoded: bytes | None = None  # the payload this tick's frame was decoded from
        rate = spec.sample_rate
        self._ratio = rate // clock_rate  # PCM samples per timestamp unit: 2 for G.722
        self._frame_ts = clock_rate * TICK_MS // 1000
        self._nf = rate * TICK_MS // 1000
        self._fifo: NDArray[np.int16] = np.zeros(rate * 120 // 1000 + 2 * self._nf, np.int16)
        self._fifo_len = 0
        self._resampler = Resampler(rate, MIX_RATE) if rate != MIX_RATE else None
        self._f32: NDArray[np.float32] = np.zeros(self._nf, np.float32)
        self.pcm: NDArray[np.int16] = np.zeros(FRAME, np.int16)
        """This tick's audio at 48 kHz (valid for talkers, after :meth:`render`)."""
        self._buf: dict[int, tuple[bytes, int | None, int]] = {}
        self._ring: list[int | None] = [None] * _RECENT  # timestamps played lately
        self._ring_pos = 0
        self._jump: list[tuple[int, int, bytes, int | None, int]] = []
        self._started = False
        self._play = 0
        self._play_tick = 0
        self._loud_until = 0
        self._loud_below = math.ceil(-config.silence_dbov)  # RFC 6464 levels below: loud
        self.idle = True
        """Nothing may be heard from this input now: the tick skips it entirely."""
        self._newest_end = 0
        ms = clock_rate // 1000
        self._initial_ts = config.jitter_initial_ms * ms
        self._max_delay_ts = config.jitter_max_ms * ms
        self._shrink_margin = (config.jitter_min_ms + TICK_MS) * ms
        self._max_jump = config.max_ts_jump_ms * ms
        self._max_plc = rate * config.max_plc_ms // 1000
        self._plc_run = 0
        self._plc_ok = False
        self._cur_level: float | None = SILENCE_DB
        self._stretch = False
        self._min_margin = 1 << 62
        self._window = 0
        self._rendered = False
        self._rendered_now = False
        # state of the mixer's tick and talker selection
        self.filled = False
        self.level = SILENCE_DB
        self.score = SILENCE_DB
        self.talker = False
        self.loud_tick = 0
        self.challenge_since: int | None = None

    # ---- network side -------------------------------------------------------------------

    def push(
        self,
        seq: int,
        timestamp: int,
        payload_type: int,
        payload: bytes,
        audio_level: int | None,
        marker: bool = False,
    ) -> None:
        """File one RTP packet (synchronous and cheap; never raises for bad input).

        ``audio_level`` is the RFC 6464 §3 level (0..127, i.e. -dBov) if the packet carried
        the client-to-mixer extension. Bad packets are counted in :class:`MixerStats` by
        reason and skipped. ``marker`` (a talkspurt start, RFC 3551 §4.1) needs no special
        handling: the timestamp alone places the packet after a silence. RFC 4733
        telephone-event packets carry their own payload type: they are the gateway's
        business, and count here as ``dropped_wrong_pt`` if they are pushed.
        """
        st = self._stats
        st.packets_in += 1
        if self.closed:
            return
        if payload_type != self.payload_type:
            st.dropped_wrong_pt += 1
            return
        if audio_level is not None and not 0 <= audio_level <= 127:
            st.dropped_malformed += 1
            return
        try:
            dur = self._decoder.samples_in(payload) // self._ratio
        except ValueError:
            st.dropped_undecodable += 1
            return
        if dur <= 0:
            st.dropped_undecodable += 1
            return
        ts = timestamp & 0xFFFFFFFF
        if not self._started:
            self._restart(ts)
        idle = self.idle
        play = self._play
        if idle:  # the playout point of an idle input moves on without it
            play += (st.ticks - self._play_tick) * self._frame_ts
        margin = ((ts - play + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if margin > self._max_jump or margin < -self._max_jump:
            self._jump_candidate(seq, ts, payload, audio_level, dur)
            return
        if self._jump:
            st.dropped_ts_jump += len(self._jump)
            self._jump.clear()
        # may this packet be heard? (an unknown level must be decoded to be known)
        if self.muted:
            loud = False
        elif audio_level is not None:
            loud = audio_level < self._loud_below
        elif self._quiet is not None:
            loud = bool(payload.translate(None, self._quiet))
        else:
            loud = not self._is_opus or (
                len(payload) > OPUS_SILENT_MAX and payload not in self._silent_opus
            )
        if loud:
            until = st.ticks + margin // self._frame_ts + 3  # until it has been played
            if until > self._loud_until:
                self._loud_until = until
            if idle:
                self._play = play
                self.idle = False
        elif idle:  # unseen: not even filed
            if margin < 0:
                st.dropped_late += 1
            else:
                st.skipped_packets += 1
            return
        ext = play + margin
        if margin < 0 or ext in self._buf:
            if ext in self._buf or ext in self._ring:
                st.dropped_duplicate += 1
            else:
                st.dropped_late += 1
                self._stretch = True
            return
        if len(self._buf) >= self._cfg.max_buffered_packets:
            st.dropped_overflow += 1
            return
        self._buf[ext] = (payload, audio_level, dur)
        if ext + dur > self._newest_end:
            self._newest_end = ext + dur
        if margin < self._min_margin:
            self._min_margin = margin

    def push_rtp(self, packet: bytes, audio_level_id: int | None = None) -> None:
        """Parse a whole RTP packet (RFC 3550 §5.1, with :mod:`snapconf.rtp.packet`) and
        :meth:`push` it; ``audio_level_id`` is the RFC 8285 id of its RFC 6464 level.

        Malformed packets are counted (``dropped_malformed``) and skipped.
        """
        try:
            h = parse_rtp_header(packet)
        except ValueError:
            self._stats.packets_in += 1
            self._stats.dropped_malformed += 1
            return
        level = h.extensions.get(audio_level_id) if audio_level_id is not None else None
        self.push(
            h.sequence_number,
            h.timestamp,
            h.payload_type,
            packet[h.payload_offset : len(packet) - h.padding_length],
            level[0] & 0x7F if level else None,
            h.marker,
        )

    def _restart(self, ts: int) -> None:
        self._started = True
        self._play = ts - self._initial_ts
        self._play_tick = self._stats.ticks
        self._newest_end = self._play
        self._buf.clear()
        self._ring = [None] * _RECENT
        self._stretch = False
        self._min_margin = 1 << 62
        self._window = 0

    def _jump_candidate(
        self, seq: int, ts: int, payload: bytes, level: int | None, dur: int
    ) -> None:
        cand = self._jump
        if cand:
            pseq, pts = cand[-1][0], cand[-1][1]
            step = (ts - pts) & 0xFFFFFFFF
            if not (1 <= (seq - pseq) & 0xFFFF <= 3 and 0 < step <= self.clock_rate):
                self._stats.dropped_ts_jump += len(cand)
                cand.clear()
        cand.append((seq, ts, payload, level, dur))
        if len(cand) < self._cfg.resync_packets:
            return
        # a new timeline: play from the latest packet, keeping the others that still fit
        self._stats.resyncs += 1
        self._restart(cand[-1][1])
        packets = list(cand)
        cand.clear()
        for c_seq, c_ts, c_payload, c_level, _c_dur in packets:
            self.push(c_seq, c_ts, self.payload_type, c_payload, c_level)
            self._stats.packets_in -= 1  # counted once already

    # ---- tick side ------------------------------------------------------------------------

    def peek_level(self) -> float | None:
        """Level (dBov) of the frame about to play, if known without decoding, else ``None``."""
        if self.muted or not self._started:
            return SILENCE_DB
        if self._fifo_len >= self._nf:
            return self._cur_level
        pkt = self._buf.get(self._play)
        if pkt is None:
            return SILENCE_DB
        level = pkt[1]
        if level is not None:
            return -float(level)
        if self._is_opus and (len(pkt[0]) <= OPUS_SILENT_MAX or pkt[0] in self._silent_opus):
            return SILENCE_DB
        if self._quiet is not None:  # G.711: measured from the codes, never decoded for it
            if not pkt[0].translate(None, self._quiet):
                return SILENCE_DB  # even its loudest sample is below the silence level
            return _dbov(mean_square(pkt[0], self.codec))
        return None

    def peek_codes(self) -> bytes | None:
        """G.711: the codes of the frame about to play when its level is to be measured
        from them (a whole 20 ms packet without RFC 6464 level, not quiet in every sample).

        ``None`` otherwise: then :meth:`peek_level` tells. The mixer measures the codes of
        all its G.711 inputs at once (:func:`~snapconf.media.mixer.levels.g711_levels`).
        """
        if self.muted or not self._started or self._fifo_len >= self._nf:
            return None
        pkt = self._buf.get(self._play)
        if pkt is None or pkt[1] is not None:
            return None
        codes = pkt[0]
        if len(codes) != self._nf or self._quiet is None or not codes.translate(None, self._quiet):
            return None
        return codes

    def decoded_level(self) -> float:
        """Decode (:meth:`fill`) the frame about to play and return its level (dBov).

        An Opus payload that decoded, alone, to a frame at or below ``silence_dbov`` is
        remembered: the same bytes again are silence without decoding (see the module
        documentation). One that decoded louder is forgotten.
        """
        self.fill()
        level = self.energy_db()
        payload = self._decoded
        if payload is not None and self._is_opus:
            known = self._silent_opus
            if level <= self._cfg.silence_dbov:
                if payload not in known:
                    if len(known) >= _SILENT_KEEP:
                        del known[next(iter(known))]
                    known[payload] = None
            elif payload in known:
                del known[payload]
        return level

    def fill(self) -> None:
        """Decode (or conceal) until a whole frame is ready. Idempotent within a tick."""
        if self.filled:
            return
        self.filled = True
        self._decoded = None
        if not self._started:
            self._fifo[: self._nf] = 0
            self._fifo_len = self._nf
            return
        if self._stretch and self._fifo_len == 0:
            self._stretch = False
            if self._newest_end - self._play < self._max_delay_ts:
                self._stats.jitter_stretches += 1
                self._conceal(self._fifo[: self._nf], None)
                self._fifo_len = self._nf  # and the playout point stays put
                return
        while self._fifo_len < self._nf:
            self._fill_one()

    def _fill_one(self) -> None:
        st = self._stats
        play = self._play
        ratio = self._ratio
        dst = self._fifo[self._fifo_len :]
        pkt = self._buf.pop(play, None)
        if pkt is not None:
            payload, level, dur = pkt
            self._played(play)
            try:
                n = self._decoder.decode_into(payload, dst)
            except ValueError:
                st.dropped_undecodable += 1
                n = -1
            if n > 0:
                st.decodes += 1
                if self._plc is not None:
                    self._plc.good(dst[:n])
                if n == self._nf and self._fifo_len == 0:  # this frame, from this payload alone
                    self._decoded = payload
                self._fifo_len += n
                self._play = play + n // ratio
                self._cur_level = None if level is None else -float(level)
                self._plc_run = 0
                self._plc_ok = True
                self._decoder_fresh = False
                return
            conceal_ts = dur
            nxt_pkt = self._buf.get(play + dur)
        else:
            need_ts = -(-(self._nf - self._fifo_len) // ratio)
            nxt = min((k for k in self._buf if k > play), default=None)
            conceal_ts = need_ts if nxt is None else min(need_ts, nxt - play)
            nxt_pkt = self._buf.get(play + conceal_ts)
        n = conceal_ts * ratio
        self._conceal(dst[:n], nxt_pkt)
        self._fifo_len += n
        self._play = play + conceal_ts

    def _conceal(
        self, out: NDArray[np.int16], nxt_pkt: tuple[bytes, int | None, int] | None
    ) -> None:
        plc = self._plc
        if plc is not None:
            ok = self._plc_ok and self._plc_run < self._max_plc
            plc.conceal_into(out, mute=not ok)
            if ok:
                self._stats.concealed_frames += 1
                self._plc_run += len(out)
            return
        if self._plc_ok and self._plc_run < self._max_plc:
            try:
                if nxt_pkt is not None and self._supports_fec:
                    self._decoder.decode_into(nxt_pkt[0], out, fec=True)
                    self._stats.fec_frames += 1
                else:
                    self._decoder.decode_into(None, out)
                    self._stats.concealed_frames += 1
                self._plc_run += len(out)
                return
            except ValueError:
                pass
        out[:] = 0

    def energy_db(self) -> float:
        """dBov of the frame filled this tick (RMS relative to full scale)."""
        f = self._f32
        f[:] = self._fifo[: self._nf]
        return _dbov(float(np.dot(f, f)) / self._nf)

    def render(self) -> None:
        """Convert the filled frame to 48 kHz into :attr:`pcm`."""
        frame = self._fifo[: self._nf]
        rs = self._resampler
        if rs is None:
            self.pcm[:] = frame
        else:
            if not self._rendered:  # not heard last tick: its filter history is stale
                rs.reset()
            rs.process_into(frame, self.pcm)
        self._rendered_now = True

    def advance(self) -> None:
        """End of tick: drop the played frame, or skip one frame of packets undecoded."""
        nf = self._nf
        self._rendered, self._rendered_now = self._rendered_now, False
        if self.filled:
            self.filled = False
            left = self._fifo_len - nf
            if left > 0:
                self._fifo[:left] = self._fifo[nf : self._fifo_len]
            self._fifo_len = max(0, left)
        else:
            self._plc_ok = False
            if self._started:
                self._skip()
        self._window += 1
        if self._window >= _SHRINK_WINDOW:
            self._maybe_shrink()
        if not self.talker and self._loud_until <= self._stats.ticks and not self._jump:
            self._go_idle()

    def skip_frames(self, frames: int) -> None:
        """Ticks that did not run (the task woke too late): move the playout point on."""
        if frames <= 0:
            return
        if self.idle:
            self._play_tick -= frames  # the lazy formula adds them
            return
        self._play += frames * self._frame_ts
        self._fifo_len = 0
        for k in [k for k in self._buf if k < self._play]:
            del self._buf[k]
            self._stats.skipped_packets += 1

    def _go_idle(self) -> None:
        """Nothing to hear for now: stop all per-tick work (the playout point moves on
        lazily, packets are not even filed) until a packet that may be heard arrives."""
        self.idle = True
        self._play_tick = self._stats.ticks
        if self._buf:
            self._stats.skipped_packets += len(self._buf)
            self._buf.clear()
        self._fifo_len = 0
        self.level = self.score = SILENCE_DB
        self.challenge_since = None
        self._plc_ok = False
        self._rendered = self._rendered_now = False
        self._stretch = False
        if not self._decoder_fresh:
            self._reset_decoder()

    def _reset_decoder(self) -> None:
        self._decoder.reset()
        if self._plc is not None:
            self._plc.reset()
        self._decoder_fresh = True

    def _skip(self) -> None:
        nf, ratio = self._nf, self._ratio
        take = min(self._fifo_len, nf)
        if take:
            left = self._fifo_len - take
            if left:
                self._fifo[:left] = self._fifo[take : self._fifo_len]
            self._fifo_len = left
        need = nf - take
        if not need:
            return
        if self._stretch:
            self._stretch = False
            if self._newest_end - self._play < self._max_delay_ts:
                self._stats.jitter_stretches += 1
                return
        if not self._decoder_fresh:  # once per unheard stretch: the next decode starts clean
            self._reset_decoder()
        play = self._play
        new_play = play + -(-need // ratio)
        buf = self._buf
        pkt = buf.get(play)
        if pkt is not None and pkt[2] == new_play - play:  # the usual case: this frame's packet
            del buf[play]
            self._played(play)
            self._stats.skipped_packets += 1
            self._cur_level = None if pkt[1] is None else -float(pkt[1])
            self._play = new_play
            return
        if buf:
            end = new_play
            for k in [k for k in buf if k < new_play]:
                _payload, level, dur = buf.pop(k)
                self._played(k)
                self._stats.skipped_packets += 1
                if k + dur > end:
                    end = k + dur
                    self._cur_level = None if level is None else -float(level)
            if end > new_play:  # a long packet continues past this frame: its rest is silence
                extra = (end - new_play) * ratio
                self._fifo[self._fifo_len : self._fifo_len + extra] = 0
                self._fifo_len += extra
                new_play = end
        self._play = new_play

    def _played(self, ts: int) -> None:
        pos = self._ring_pos
        self._ring[pos] = ts
        self._ring_pos = (pos + 1) % _RECENT

    def _maybe_shrink(self) -> None:
        self._window = 0
        stale = [k for k in self._buf if k < self._play]  # overlapped by longer packets
        for k in stale:
            del self._buf[k]
            self._stats.skipped_packets += 1
        margin, self._min_margin = self._min_margin, 1 << 62
        if margin == 1 << 62 or margin <= self._shrink_margin:
            return
        if self.filled or self._fifo_len:
            return
        self._stats.jitter_shrinks += 1
        self._play += self._frame_ts
        for k in [k for k in self._buf if k < self._play]:
            self._buf.pop(k)
            self._played(k)
            self._stats.skipped_packets += 1

    def close(self) -> None:
        self.closed = True
        self._buf.clear()
        self._jump.clear()
