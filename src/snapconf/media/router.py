"""Producer -> Consumers fan-out: the forwarding core of the SFU.

A :class:`Producer` is one incoming RTP stream; each :class:`Consumer` is one outgoing
copy of it to one transport, with its own SSRC, payload type, sequence number and
timestamp space (RFC 7667 §3.7, "selective forwarding middlebox") and its own header
extension ids. Everything here is synchronous: :meth:`Producer.receive_rtp` runs inside
``datagram_received`` and ends in ``sendto``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from snapconf.rtp.packet import (
    ONE_BYTE_PROFILE,
    RtpHeader,
    rewrite_rtp_header,
    serialize_header_extensions,
)
from snapconf.rtp.rtcp import (
    ReportBlock,
    RtcpNack,
    RtcpPli,
    RtcpSdes,
    RtcpSenderReport,
    serialize_rtcp,
)

log = logging.getLogger(__name__)

EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

_EXT_HEADER = struct.Struct("!HH")
_ZEROS = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")
#: video packets kept per producer for retransmission on NACK (about 1 s at 2 Mbit/s)
HISTORY_SIZE = 256
#: the widest sequence gap we ask a publisher to fill (RFC 4585 §6.2.1)
MAX_NACK_GAP = 64
#: an RFC 6464 level at or below this (i.e. -50 dBov or louder) is speech, not silence
LOUD_LEVEL = 50


class SendRtp(Protocol):
    """Send one RTP packet given as ``packet + body`` (see :class:`RtpSink`)."""

    def __call__(self, packet: bytes, body: bytes = b"", /) -> None: ...


class RtpSink(Protocol):
    """What a consumer sends through: a connected transport (SRTP) or a test double.

    ``send_rtp`` sends one RTP packet given in two parts, ``packet + body``: a forwarded
    packet's rewritten header and its unchanged payload, which are never joined in Python.
    """

    @property
    def send_rtp(self) -> SendRtp: ...

    def send_rtcp(self, packet: bytes) -> None: ...


@dataclass(slots=True, frozen=True)
class Codec:
    """A negotiated RTP codec: SDP encoding name, clock rate, channels, fmtp, feedback."""

    name: str
    clock_rate: int
    channels: int = 1
    parameters: tuple[tuple[str, str], ...] = ()
    feedback: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "audio" if self.name.lower() in AUDIO_CODECS else "video"

    def key(self) -> tuple[str, int, int, tuple[tuple[str, str], ...]]:
        """Identity for "same codec": H.264 profiles and packetization modes differ."""
        relevant = tuple(
            (k, v) for k, v in self.parameters if k in ("packetization-mode", "profile-level-id")
        )
        return (self.name.lower(), self.clock_rate, self.channels, relevant)


AUDIO_CODECS = frozenset({"opus", "pcmu", "pcma", "g722", "telephone-event"})


@dataclass(slots=True)
class ProducerStats:
    """Reception statistics for receiver reports (RFC 3550 §6.4.1, §A.3, §A.8)."""

    packets: int = 0
    bytes: int = 0
    base_seq: int = -1
    max_seq: int = 0
    cycles: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    jitter: float = 0.0
    transit: float | None = None
    sr_ntp_middle: int = 0
    sr_arrival: float = 0.0
    keyframe_requests: int = 0
    nacks_sent: int = 0
    padding_dropped: int = 0


class Producer:
    """One incoming stream of a participant's transport."""

    def __init__(
        self,
        *,
        producer_id: str,
        kind: str,
        source: str,
        codec: Codec,
        payload_type: int,
        ssrc: int | None,
        mid: str,
        extension_ids: dict[int, str],
        sink: RtpSink,
        owner_id: str,
        clock: Callable[[], float],
        keyframe_interval: float = 0.5,
    ) -> None:
        self.id = producer_id
        self.kind = kind
        self.source = source
        self.codec = codec
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.mid = mid
        self.owner_id = owner_id
        #: while muted, packets are counted but neither forwarded nor mixed (see set_muted)
        self.muted = False
        #: arrival time of the last packet whose RFC 6464 level was speech (see talking)
        self.last_loud = -1e9
        #: packets received while muted (not forwarded)
        self.muted_dropped = 0
        self.closed = False
        self.consumers: tuple[Consumer, ...] = ()
        self.stats = ProducerStats()
        self._sink = sink
        self._clock = clock
        self._keyframe_interval = keyframe_interval
        self._last_keyframe_request = -1e9
        self._level_id = 0
        self._ast_id = 0
        for ext_id, uri in extension_ids.items():
            if uri == EXT_AUDIO_LEVEL:
                self._level_id = ext_id
            elif uri == EXT_ABS_SEND_TIME:
                self._ast_id = ext_id
        self.rtcp_ssrc = secrets.randbits(32)
        #: the last video packets by sequence number, for consumers' NACKs
        self.history: list[tuple[bytes, RtpHeader] | None] | None = (
            [None] * HISTORY_SIZE if kind == "video" else None
        )
        self._send_nacks = kind == "video" and "nack" in codec.feedback
        # hooks for listeners that are not RTP consumers (the audio mixer)
        self.taps: tuple[Callable[[bytes, RtpHeader, bytes | None], None], ...] = ()

    # -- forwarding (hot path) -------------------------------------------------------
    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        """Account for one decrypted RTP packet and forward it to every consumer."""
        if header.ssrc != self.ssrc:
            self._ssrc_changed(header.ssrc)
        if header.padding_length and header.payload_offset + header.padding_length >= len(data):
            self._padding_only(header, arrival, len(data))
            return
        self._account(header, arrival, len(data))
        history = self.history
        if history is not None:
            history[header.sequence_number % HISTORY_SIZE] = (data, header)
        if self.muted:
            self.muted_dropped += 1
            return
        level = ast = None
        exts = header.extensions
        if exts:
            if self._level_id:
                level = exts.get(self._level_id)
                if level and (level[0] & 0x7F) <= LOUD_LEVEL:
                    self.last_loud = arrival
            if self._ast_id:
                ast = exts.get(self._ast_id)
        for tap in self.taps:
            tap(data, header, level)
        body = data[header.payload_offset :]  # one copy of the payload for every consumer
        for consumer in self.consumers:
            consumer.send(data, header, body, level, ast, arrival)

    def set_muted(self, muted: bool) -> None:
        """Stop (or resume) forwarding this stream; receivers see no gap when it resumes.

        A muted producer's packets still update the reception statistics (RTCP receiver
        reports stay right) but go to no consumer and no tap. On resume each consumer
        continues its own sequence numbers from where it stopped (RFC 3550 §5.1: a jump
        would read as loss) and its timestamps by the time that passed; a video consumer
        asks for a keyframe, since the decoder missed the frames in between.
        """
        if muted == self.muted:
            return
        self.muted = muted
        if muted:
            self.last_loud = -1e9
            return
        for consumer in self.consumers:
            consumer.resync()
            if self.kind == "video":
                consumer.request_keyframe()

    def talking(self, now: float, hold: float) -> bool:
        """Heard speech (RFC 6464 level) within the last ``hold`` seconds, and not muted."""
        return not self.muted and now - self.last_loud < hold

    def _padding_only(self, header: RtpHeader, arrival: float, size: int) -> None:
        """Swallow a padding-only packet (bandwidth probing, RFC 3550 §5.1 P bit).

        Receivers would make an empty frame of it; consumers close the sequence gap
        instead, so that the receiver neither sees the packet nor NACKs it.
        """
        stats = self.stats
        newest = (
            stats.base_seq < 0 or 0 < ((header.sequence_number - stats.max_seq) & 0xFFFF) < 0x8000
        )
        self._account(header, arrival, size)
        stats.padding_dropped += 1
        if newest:
            for consumer in self.consumers:
                consumer.skip_one()

    def _account(self, header: RtpHeader, arrival: float, size: int) -> None:
        stats = self.stats
        stats.packets += 1
        stats.bytes += size
        seq = header.sequence_number
        if stats.base_seq < 0:
            stats.base_seq = seq
            stats.max_seq = seq
        else:
            delta = (seq - stats.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:
                if delta > 1 and self._send_nacks and delta <= MAX_NACK_GAP:
                    self._nack(stats.max_seq, delta)
                if seq < stats.max_seq:
                    stats.cycles += 0x10000
                stats.max_seq = seq
        # interarrival jitter (RFC 3550 §A.8), in timestamp units
        transit = arrival * self.codec.clock_rate - header.timestamp
        if stats.transit is not None:
            d = abs(transit - stats.transit)
            if d < self.codec.clock_rate * 10:  # ignore timestamp jumps
                stats.jitter += (d - stats.jitter) / 16.0
        stats.transit = transit

    def _nack(self, last: int, delta: int) -> None:
        """Ask the publisher for the packets between ``last`` and ``last + delta``."""
        assert self.ssrc is not None
        lost = [(last + i) & 0xFFFF for i in range(1, delta)]
        self.stats.nacks_sent += 1
        # a publisher that cannot be reached gets no NACK
        with contextlib.suppress(Exception):
            self._sink.send_rtcp(
                bytes(RtcpNack(sender_ssrc=self.rtcp_ssrc, media_ssrc=self.ssrc, lost=lost))
            )

    def _ssrc_changed(self, ssrc: int) -> None:
        if self.ssrc is not None:
            self.stats = ProducerStats()
            for consumer in self.consumers:
                consumer.resync()
        self.ssrc = ssrc

    # -- RTCP --------------------------------------------------------------------------
    def receive_sender_report(self, report: RtcpSenderReport, arrival: float) -> None:
        """Keep the SR for our receiver reports, and translate it for every consumer."""
        self.stats.sr_ntp_middle = (report.ntp_timestamp >> 16) & 0xFFFFFFFF
        self.stats.sr_arrival = arrival
        for consumer in self.consumers:
            consumer.send_sender_report(report)

    def report_block(self, now: float) -> ReportBlock | None:
        """The reception report block for this stream (RFC 3550 §6.4.1, §A.3)."""
        stats = self.stats
        if self.ssrc is None or stats.base_seq < 0:
            return None
        extended_max = stats.cycles + stats.max_seq
        expected = extended_max - stats.base_seq + 1
        lost = expected - stats.packets
        expected_interval = expected - stats.expected_prior
        received_interval = stats.packets - stats.received_prior
        stats.expected_prior = expected
        stats.received_prior = stats.packets
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if stats.sr_arrival:
            dlsr = int((now - stats.sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=lost,
            highest_sequence=extended_max & 0xFFFFFFFF,
            jitter=int(stats.jitter),
            lsr=stats.sr_ntp_middle,
            dlsr=dlsr,
        )

    def request_keyframe(self) -> bool:
        """Send a PLI to the publisher, at most once per ``keyframe_interval``."""
        if self.kind != "video" or self.ssrc is None or self.closed:
            return False
        now = self._clock()
        if now - self._last_keyframe_request < self._keyframe_interval:
            return False
        self._last_keyframe_request = now
        self.stats.keyframe_requests += 1
        self._sink.send_rtcp(bytes(RtcpPli(sender_ssrc=self.rtcp_ssrc, media_ssrc=self.ssrc)))
        return True

    # -- fan-out membership (copy-on-write) ----------------------------------------------
    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers = (*self.consumers, consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers = tuple(c for c in self.consumers if c is not consumer)

    def add_tap(self, tap: Callable[[bytes, RtpHeader, bytes | None], None]) -> None:
        self.taps = (*self.taps, tap)

    def remove_tap(self, tap: Callable[[bytes, RtpHeader, bytes | None], None]) -> None:
        self.taps = tuple(t for t in self.taps if t is not tap)

    def close(self) -> None:
        """Close this producer and every consumer of it; idempotent."""
        if self.closed:
            return
        self.closed = True
        for consumer in self.consumers:
            consumer.close()
        self.consumers = ()
        self.taps = ()
        self.history = None


@dataclass(slots=True)
class ConsumerStats:
    packets: int = 0
    bytes: int = 0
    errors: int = 0
    dropped_payload_type: int = 0
    keyframe_requests: int = 0
    retransmitted: int = 0


@dataclass(slots=True)
class ConsumerExtensions:
    """Header extension ids the consuming transport negotiated (0: not negotiated)."""

    mid: int = 0
    audio_level: int = 0
    abs_send_time: int = 0

    @classmethod
    def from_map(cls, extension_ids: dict[int, str]) -> ConsumerExtensions:
        ext = cls()
        for ext_id, uri in extension_ids.items():
            if uri == EXT_MID:
                ext.mid = ext_id
            elif uri == EXT_AUDIO_LEVEL:
                ext.audio_level = ext_id
            elif uri == EXT_ABS_SEND_TIME:
                ext.abs_send_time = ext_id
        return ext


@dataclass(slots=True)
class Consumer:
    """One outgoing copy of a producer on one transport."""

    id: str
    producer: Producer
    sink: RtpSink
    mid: str
    ssrc: int
    payload_types: dict[int, int]  # producer payload type -> consumer payload type
    cname: str
    clock: Callable[[], float]
    extensions: ConsumerExtensions = field(default_factory=ConsumerExtensions)
    paused: bool = False
    closed: bool = False
    #: the receiving peer accepted this consumer's m-section
    negotiated: bool = False
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    on_error: Callable[[Consumer, Exception], None] | None = None
    _seq_offset: int = 0
    #: (first consumer seq, offset) for each offset used recently, for retransmissions
    _seq_epochs: list[tuple[int, int]] = field(default_factory=list)
    _ts_offset: int = 0
    _last_seq: int = field(default_factory=lambda: secrets.randbits(16))
    _last_ts: int = field(default_factory=lambda: secrets.randbits(32))
    _last_time: float = -1.0
    _resync: bool = True
    _mid_element: bytes = b""
    _level_header: bytes = b""
    _ast_header: bytes = b""
    _static_block: bytes = b""

    def __post_init__(self) -> None:
        self.set_extensions(self.extensions)

    def set_extensions(self, extensions: ConsumerExtensions) -> None:
        """Precompute the one-byte extension elements for this consumer (RFC 8285 §4.2)."""
        self.extensions = extensions
        mid = self.mid.encode()
        self._mid_element = (
            bytes(((extensions.mid << 4) | (len(mid) - 1),)) + mid
            if extensions.mid and 1 <= len(mid) <= 16
            else b""
        )
        self._level_header = (
            bytes((extensions.audio_level << 4,)) if extensions.audio_level else b""
        )
        self._ast_header = (
            bytes(((extensions.abs_send_time << 4) | 2,)) if extensions.abs_send_time else b""
        )
        self._static_block = (
            serialize_header_extensions([(extensions.mid, mid)]) if self._mid_element else b""
        )

    def resync(self) -> None:
        """Make the next packet continue this consumer's sequence and timestamp spaces."""
        self._resync = True

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._resync = True
            self.request_keyframe()

    def request_keyframe(self) -> None:
        if self.producer.request_keyframe():
            self.stats.keyframe_requests += 1

    def send(
        self,
        data: bytes,
        header: RtpHeader,
        body: bytes,
        level: bytes | None,
        ast: bytes | None,
        now: float,
    ) -> None:
        """Rewrite and send one packet; a failure is counted here and goes no further.

        ``body`` is ``data[header.payload_offset:]``, sliced once for all consumers. The hot
        path: one dict lookup, integer arithmetic, one ``pack`` for the new header, then
        the sink's protect and send. The extension block is precomputed unless the packet
        carries a value (audio level, abs-send-time) to copy.
        """
        if self.paused or self.closed:
            return
        payload_type = self.payload_types.get(header.payload_type)
        if payload_type is None:
            self.stats.dropped_payload_type += 1
            return
        seq_in = header.sequence_number
        ts_in = header.timestamp
        if self._resync:
            self._resync = False
            self._set_seq_offset((self._last_seq + 1 - seq_in) & 0xFFFF)
            advance = 1
            if self._last_time >= 0:
                advance = max(1, int((now - self._last_time) * self.producer.codec.clock_rate))
            self._ts_offset = (self._last_ts + advance - ts_in) & 0xFFFFFFFF
        seq = (seq_in + self._seq_offset) & 0xFFFF
        ts = (ts_in + self._ts_offset) & 0xFFFFFFFF
        if 0 < ((seq - self._last_seq) & 0xFFFF) < 0x8000:
            self._last_seq = seq
            self._last_ts = ts
            self._last_time = now
        if (level is None or not self._level_header) and (ast is None or not self._ast_header):
            block = self._static_block
        else:
            ext = self._mid_element
            if level is not None and self._level_header:
                ext += self._level_header + level[:1]
            if ast is not None and self._ast_header and len(ast) == 3:
                ext += self._ast_header + ast
            pad = -len(ext) % 4
            block = _EXT_HEADER.pack(ONE_BYTE_PROFILE, (len(ext) + pad) >> 2) + ext + _ZEROS[pad]
        head = rewrite_rtp_header(data, header, payload_type, seq, ts, self.ssrc, block)
        try:
            self.sink.send_rtp(head, body)
        except Exception as exc:
            self.stats.errors += 1
            if self.on_error is not None:
                self.on_error(self, exc)
            return
        stats = self.stats
        stats.packets += 1
        stats.bytes += len(head) + len(body)

    def _set_seq_offset(self, offset: int) -> None:
        """Change the sequence offset from the next packet on, remembering the old ones."""
        self._seq_offset = offset
        epochs = self._seq_epochs
        epochs.append(((self._last_seq + 1) & 0xFFFF, offset))
        if len(epochs) > 64:
            del epochs[:-64]

    def skip_one(self) -> None:
        """The producer's next sequence number will not be sent: close the gap."""
        if not self._resync and not self.paused:
            self._set_seq_offset((self._seq_offset - 1) & 0xFFFF)

    def _producer_seq(self, seq: int) -> int:
        """The producer sequence number that was sent as our ``seq``."""
        for first, offset in reversed(self._seq_epochs):
            if ((seq - first) & 0xFFFF) < 0x8000:
                return (seq - offset) & 0xFFFF
        return (seq - self._seq_offset) & 0xFFFF

    def retransmit(self, lost: list[int]) -> None:
        """Resend packets a receiver reported lost (RFC 4585 §6.2.1), from the history.

        Without RTX the packet goes again in the same stream with the same sequence number,
        which libsrtp allows with ``allow_repeat_tx``.
        """
        history = self.producer.history
        if history is None or self.paused or self.closed:
            return
        now = self.clock()
        current = self._seq_offset
        for seq in lost:
            producer_seq = self._producer_seq(seq)
            entry = history[producer_seq % HISTORY_SIZE]
            if entry is None or entry[1].sequence_number != producer_seq:
                continue
            # resend under the number it had, then restore the current mapping
            self._seq_offset = (seq - producer_seq) & 0xFFFF
            data, header = entry
            self.send(data, header, data[header.payload_offset :], None, None, now)
            self._seq_offset = current
            self.stats.retransmitted += 1

    def send_sender_report(self, report: RtcpSenderReport) -> None:
        """Translate the producer's SR into this consumer's SSRC and timestamp space.

        Keeping the producer's NTP/RTP pair (RFC 3550 §6.4.1) with our timestamp offset is
        what keeps audio and video of one participant in sync at the receiver.
        """
        if self.closed or self._last_time < 0:
            return
        translated = RtcpSenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=report.ntp_timestamp,
            rtp_timestamp=(report.rtp_timestamp + self._ts_offset) & 0xFFFFFFFF,
            packet_count=self.stats.packets,
            octet_count=self.stats.bytes,
        )
        try:
            self.sink.send_rtcp(
                serialize_rtcp([translated, RtcpSdes(cnames={self.ssrc: self.cname})])
            )
        except Exception as exc:
            self.stats.errors += 1
            if self.on_error is not None:
                self.on_error(self, exc)

    def close(self) -> None:
        """Stop sending and leave the producer's fan-out; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.producer.remove_consumer(self)


class Router:
    """The producers of one conference, by id; consumers hang off their producer."""

    def __init__(self) -> None:
        self.producers: dict[str, Producer] = {}
        self.closed = False

    def add_producer(self, producer: Producer) -> None:
        self.producers[producer.id] = producer

    def remove_producer(self, producer_id: str) -> Producer | None:
        producer = self.producers.pop(producer_id, None)
        if producer is not None:
            producer.close()
        return producer

    def consume(
        self,
        producer: Producer,
        *,
        sink: RtpSink,
        mid: str,
        payload_types: dict[int, int],
        cname: str,
        clock: Callable[[], float],
        extensions: ConsumerExtensions | None = None,
        paused: bool = True,
    ) -> Consumer:
        """Create a consumer of ``producer``; it starts paused until its transport is ready."""
        consumer = Consumer(
            id=secrets.token_hex(6),
            producer=producer,
            sink=sink,
            mid=mid,
            ssrc=secrets.randbits(32) | 1,
            payload_types=payload_types,
            cname=cname,
            clock=clock,
            extensions=extensions or ConsumerExtensions(),
            paused=paused,
        )
        producer.add_consumer(consumer)
        return consumer

    def close(self) -> None:
        """Close every producer (and so every consumer); idempotent."""
        if self.closed:
            return
        self.closed = True
        for producer in list(self.producers.values()):
            producer.close()
        self.producers.clear()
