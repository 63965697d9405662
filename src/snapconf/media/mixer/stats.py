"""Counters of one mixer, for ``/metrics`` (all plain ints, only ever incremented)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class MixerStats:
    """Everything a mixer counts. Drops are split by reason."""

    ticks: int = 0
    """Ticks run (mixes produced)."""
    late_ticks: int = 0
    """Ticks that started after their deadline (run at once to catch up)."""
    skipped_ticks: int = 0
    """Ticks not run because the task woke more than ``max_catchup_ms`` late."""
    overruns: int = 0
    """Ticks that finished after the next tick's deadline."""
    tick_ns_total: int = 0
    """Wall time spent inside :meth:`Mixer.tick` (``perf_counter_ns``)."""
    tick_ns_max: int = 0

    packets_in: int = 0
    """Packets pushed to any input, accepted or not."""
    decodes: int = 0
    """Decoder calls on real payloads (PLC and FEC are counted apart)."""
    concealed_frames: int = 0
    """Frames made up by PLC or fade-out because a packet was missing."""
    fec_frames: int = 0
    """Lost frames recovered from the next packet's in-band FEC (RFC 7587 §3.3)."""
    skipped_packets: int = 0
    """Packets played out without decoding (input silent, muted or not selected)."""
    encodes: int = 0
    """Encoder calls."""
    packets_out: int = 0
    """RTP packets handed to listeners' ``send``."""
    dtx_suppressed: int = 0
    """Opus DTX payloads (two bytes or fewer) not sent (RFC 7587 §3.1.3)."""
    idle_frames: int = 0
    """Frames of a stream not encoded because nobody was heard (its listeners get a gap)."""
    dormant_ticks: int = 0
    """Ticks not run at all: no input, and only listeners that take silence as a gap."""
    send_errors: int = 0
    callback_errors: int = 0
    talker_changes: int = 0
    resyncs: int = 0
    """Inputs that jumped to a new timeline (new SSRC, restarted sender...)."""
    jitter_stretches: int = 0
    """Frames of delay added to an input after late packets."""
    jitter_shrinks: int = 0
    """Frames of delay removed from an input that buffered more than it needed."""
    limited_ticks: int = 0
    """Ticks whose mix was turned down so that loud talkers together do not clip."""

    dropped_wrong_pt: int = 0
    dropped_malformed: int = 0
    dropped_undecodable: int = 0
    dropped_duplicate: int = 0
    dropped_late: int = 0
    dropped_ts_jump: int = 0
    dropped_overflow: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def dropped(self) -> int:
        """All drops, whatever the reason."""
        return (
            self.dropped_wrong_pt
            + self.dropped_malformed
            + self.dropped_undecodable
            + self.dropped_duplicate
            + self.dropped_late
            + self.dropped_ts_jump
            + self.dropped_overflow
        )
