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
from typing import Any, Protocol

from snapconf.media.bwe.sent import SentLog
from snapconf.rtp.keyframes import is_keyframe
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
from snapconf.rtp.rtx import rtx_prefix
from snapconf.rtp.vp8 import Vp8Descriptor, Vp8Rewriter, parse_vp8
from snapconf.rtp.vp8_frame import vp8_keyframe_size

log = logging.getLogger(__name__)

EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#: RFC 8852 §3.1-3.2: the simulcast stream id of a packet, and of the stream an RTX packet repairs
EXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
EXT_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
EXT_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

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


def _forget_oldest_half(by_seq: dict[int, Any]) -> None:
    """Bound a map keyed by sequence number: drop the half inserted first."""
    for old in list(by_seq)[: len(by_seq) // 2]:
        del by_seq[old]


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
    #: RTX packets unwrapped into this stream (RFC 4588 §4)
    rtx_received: int = 0
    #: packets received again (an RTX copy of a packet that had arrived: a publisher's
    #: bandwidth probe, or a duplicate): neither counted nor forwarded
    duplicates: int = 0


#: seconds over which a stream's bitrate is measured (for the allocator)
BITRATE_WINDOW = 1.0


class ProducerStream:
    """One RTP stream of a producer: its only one, or one simulcast layer (RFC 8853).

    Each stream has its own SSRC, sequence space, reception statistics (one report block
    each), retransmission history and NACKs; packets go on to the producer's fan-out with
    the stream's ``layer``, and each consumer forwards the layer it chose.
    """

    __slots__ = (
        "_asked",
        "_send_nacks",
        "_tid_bytes",
        "_window_bytes",
        "_window_start",
        "bitrate",
        "frame_size",
        "history",
        "layer",
        "missing",
        "producer",
        "rid",
        "rtx_ssrc",
        "ssrc",
        "stats",
        "temporal_bitrates",
    )

    def __init__(self, producer: Producer, layer: int, rid: str | None, ssrc: int | None) -> None:
        self.producer = producer
        self.layer = layer
        self.rid = rid
        self.ssrc = ssrc
        self.rtx_ssrc: int | None = None
        self.stats = ProducerStats()
        #: the last video packets by sequence number (data, header, arrival), for NACKs
        self.history: list[tuple[bytes, RtpHeader, float] | None] | None = (
            [None] * HISTORY_SIZE if producer.kind == "video" else None
        )
        #: bit/s received over the last complete window (0 when the stream stopped)
        self.bitrate = 0
        #: bit/s up to each VP8 temporal layer (index = TID), measured like ``bitrate``
        self.temporal_bitrates: tuple[int, ...] = ()
        #: (width, height) of the last VP8 keyframe (RFC 6386 §9.1), (0, 0) until one came
        self.frame_size = (0, 0)
        self._window_start = -1.0
        self._window_bytes = 0
        self._tid_bytes = [0, 0, 0, 0]
        self._send_nacks = producer.kind == "video" and "nack" in producer.codec.feedback
        #: sequence number -> when the publisher was last asked for it (a NACK)
        self._asked: dict[int, float] = {}
        #: sequence numbers NACKed and not arrived yet -> NACKs sent for each (retry_nacks)
        self.missing: dict[int, int] = {}

    def is_duplicate(self, sequence_number: int) -> bool:
        """Whether the packet ``sequence_number`` of this (video) stream has arrived already.

        Chromium probes for bandwidth with RTX copies of packets it sent moments ago
        (libwebrtc's payload padding): forwarding them would send every receiver each of those
        packets twice, and counting them would make the receiver report's cumulative loss
        negative (RFC 3550 §6.4.1), which a browser reads as loss.
        """
        history = self.history
        if history is None:
            return False
        entry = history[sequence_number % HISTORY_SIZE]
        return entry is not None and entry[1].sequence_number == sequence_number

    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        """Account for one decrypted RTP packet of this stream and forward it."""
        if header.ssrc != self.ssrc:
            self._ssrc_changed(header.ssrc)
        if header.padding_length and header.payload_offset + header.padding_length >= len(data):
            self._padding_only(header, arrival, len(data))
            return
        self._account(header, arrival, len(data))
        history = self.history
        if history is not None:
            history[header.sequence_number % HISTORY_SIZE] = (data, header, arrival)
            if self.rid is not None and self.producer.vp8:
                self._read_vp8(data, header)
        self.producer.forward(data, header, arrival, self.layer)

    def _measure(self, arrival: float, size: int) -> None:
        start = self._window_start
        if arrival - start >= BITRATE_WINDOW:
            if start >= 0:
                elapsed = arrival - start
                # a window that ended long ago says the stream had stopped
                self.bitrate = int(self._window_bytes * 8 / elapsed) if elapsed < 2 else 0
                if any(self._tid_bytes):
                    total = 0
                    rates = []
                    for tid_bytes in self._tid_bytes[:3]:
                        total += tid_bytes
                        rates.append(int(total * 8 / elapsed) if elapsed < 2 else 0)
                    self.temporal_bitrates = tuple(rates)
                    self._tid_bytes = [0, 0, 0, 0]
            self._window_start = arrival
            self._window_bytes = 0
        self._window_bytes += size

    def _read_vp8(self, data: bytes, header: RtpHeader) -> None:
        """Parse the VP8 payload descriptor once for every consumer (RFC 7741 §4.2: they
        rewrite its picture ids and drop by its TID), count the bytes of each temporal
        layer and read the keyframes' size, for the allocator."""
        payload = data[header.payload_offset :]
        try:
            descriptor = parse_vp8(payload)
        except ValueError:
            self.producer.descriptor = None
            return
        self.producer.descriptor = descriptor
        tid = descriptor.tid
        if tid is not None and 0 <= tid <= 3:
            self._tid_bytes[tid] += len(data)
        if descriptor.keyframe:
            size = vp8_keyframe_size(payload, descriptor.size)
            if size is not None:
                self.frame_size = size

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
        # probes are not media: the layer's bitrate (what a consumer of it costs) leaves
        # them out (the window may have started at this packet: then it holds 0 bytes)
        self._window_bytes = max(0, self._window_bytes - size)
        stats.padding_dropped += 1
        if newest:
            for consumer in self.producer.consumers:
                consumer.skip_one(self.layer)

    def _account(self, header: RtpHeader, arrival: float, size: int) -> None:
        stats = self.stats
        stats.packets += 1
        stats.bytes += size
        self._measure(arrival, size)
        seq = header.sequence_number
        if stats.base_seq < 0:
            stats.base_seq = seq
            stats.max_seq = seq
        else:
            delta = (seq - stats.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:
                if delta > 1 and self._send_nacks and delta <= MAX_NACK_GAP:
                    self._nack(stats.max_seq, delta, arrival)
                if seq < stats.max_seq:
                    stats.cycles += 0x10000
                stats.max_seq = seq
            elif self.missing:  # a late packet: perhaps one we asked for
                self.missing.pop(seq, None)
        # interarrival jitter (RFC 3550 §A.8), in timestamp units
        clock_rate = self.producer.codec.clock_rate
        transit = arrival * clock_rate - header.timestamp
        if stats.transit is not None:
            d = abs(transit - stats.transit)
            if d < clock_rate * 10:  # ignore timestamp jumps
                stats.jitter += (d - stats.jitter) / 16.0
        stats.transit = transit

    def _nack(self, last: int, delta: int, now: float) -> None:
        """Ask the publisher for the packets between ``last`` and ``last + delta``."""
        assert self.ssrc is not None
        lost = [(last + i) & 0xFFFF for i in range(1, delta)]
        asked = self._asked
        missing = self.missing
        for seq in lost:
            asked[seq] = now
            missing[seq] = 1
        if len(asked) > HISTORY_SIZE:
            _forget_oldest_half(asked)
        if len(missing) > HISTORY_SIZE:
            _forget_oldest_half(missing)
        self._send_nack(lost)

    def retry_nacks(self, now: float) -> None:
        """NACK again what is still missing (called every ``media.feedback_interval``).

        A NACK or its retransmission may be lost too (RFC 4585 §3.2 lets a receiver repeat
        its NACKs): each missing packet is asked for again at most every
        :data:`NACK_RETRY_INTERVAL`, :data:`MAX_NACKS` times in all, while it is within the
        history behind the newest packet. Without this, a packet lost twice on the
        publisher's link waited for a receiver's repeated NACK (Chromium repeats after its
        round-trip estimate, 100 ms before it has one).
        """
        missing = self.missing
        if not missing or self.ssrc is None:
            return
        asked = self._asked
        newest = self.stats.max_seq
        wanted = []
        for seq, count in list(missing.items()):
            if not 0 < (newest - seq) & 0xFFFF < HISTORY_SIZE or count >= MAX_NACKS:
                del missing[seq]
            elif now - asked.get(seq, -1e9) >= NACK_RETRY_INTERVAL:
                missing[seq] = count + 1
                asked[seq] = now
                wanted.append(seq)
        if wanted:
            self._send_nack(wanted)

    def _send_nack(self, lost: list[int]) -> None:
        assert self.ssrc is not None
        self.stats.nacks_sent += 1
        producer = self.producer
        # a publisher that cannot be reached gets no NACK
        with contextlib.suppress(Exception):
            producer.sink.send_rtcp(
                bytes(RtcpNack(sender_ssrc=producer.rtcp_ssrc, media_ssrc=self.ssrc, lost=lost))
            )

    def ask_again(self, missing: list[int], now: float) -> None:
        """Ask the publisher again for packets a receiver NACKed that never arrived here.

        The gap was NACKed once when it was seen (:meth:`_nack`); when that NACK or its
        retransmission was lost too, the receivers' repeated NACKs (RFC 4585 §3.2: a
        receiver repeats them while it waits) drive the repeats upstream, each sequence
        number at most once per :data:`ASK_AGAIN_INTERVAL`, and only within the history
        behind the newest packet (RFC 4585 §6.2.1).
        """
        if not self._send_nacks or self.ssrc is None:
            return
        asked = self._asked
        newest = self.stats.max_seq
        wanted = []
        for seq in missing:
            behind = (newest - seq) & 0xFFFF
            if not 0 < behind < HISTORY_SIZE or now - asked.get(seq, -1e9) < ASK_AGAIN_INTERVAL:
                continue
            asked[seq] = now
            wanted.append(seq)
        if len(asked) > HISTORY_SIZE:
            _forget_oldest_half(asked)
        if wanted:
            self._send_nack(wanted)

    def _ssrc_changed(self, ssrc: int) -> None:
        if self.ssrc is not None:
            self.stats = ProducerStats()
            self.missing.clear()  # sequence numbers of the old SSRC
            for consumer in self.producer.consumers:
                if consumer.layer == self.layer:
                    consumer.resync()
        self.ssrc = ssrc

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

    def active(self, now: float) -> bool:
        """A packet came within the last two windows (the publisher sends this layer now)."""
        return self._window_start >= 0 and now - self._window_start < 2 * BITRATE_WINDOW

    def current_bitrate(self, now: float) -> int:
        """``bitrate`` while :meth:`active`; 0 when the layer stopped or its first window
        is not over yet."""
        return self.bitrate if self.active(now) else 0


class Producer:
    """One published track of a participant: one RTP stream, or several simulcast layers."""

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
        rids: tuple[str, ...] = (),
        rtx_payload_type: int | None = None,
    ) -> None:
        self.id = producer_id
        self.kind = kind
        self.source = source
        self.codec = codec
        self.payload_type = payload_type
        self.mid = mid
        self.owner_id = owner_id
        #: the RTX payload type the publisher retransmits with (RFC 4588 §8.6)
        self.rtx_payload_type = rtx_payload_type
        #: while muted, packets are counted but neither forwarded nor mixed (see set_muted)
        self.muted = False
        #: arrival time of the last packet whose RFC 6464 level was speech (see talking)
        self.last_loud = -1e9
        #: packets received while muted (not forwarded)
        self.muted_dropped = 0
        self.closed = False
        self.consumers: tuple[Consumer, ...] = ()
        self.sink = sink
        self._clock = clock
        self._keyframe_interval = keyframe_interval
        self._last_keyframe_request: dict[int, float] = {}
        self._level_id = 0
        self._ast_id = 0
        for ext_id, uri in extension_ids.items():
            if uri == EXT_AUDIO_LEVEL:
                self._level_id = ext_id
            elif uri == EXT_ABS_SEND_TIME:
                self._ast_id = ext_id
        self.rtcp_ssrc = secrets.randbits(32)
        #: one stream per simulcast layer, lowest first; a single stream otherwise
        self.streams: tuple[ProducerStream, ...] = (
            tuple(ProducerStream(self, i, rid, None) for i, rid in enumerate(rids))
            if len(rids) > 1
            else (ProducerStream(self, 0, None, ssrc),)
        )
        self.simulcast = len(self.streams) > 1
        self.vp8 = codec.name.lower() == "vp8"
        #: the VP8 payload descriptor of the packet being forwarded (simulcast VP8 only)
        self.descriptor: Vp8Descriptor | None = None
        # hooks for listeners that are not RTP consumers (the audio mixer)
        self.taps: tuple[Callable[[bytes, RtpHeader, bytes | None], None], ...] = ()

    # -- the first stream, as a single-stream producer is known --------------------------------
    @property
    def ssrc(self) -> int | None:
        return self.streams[0].ssrc

    @ssrc.setter
    def ssrc(self, ssrc: int | None) -> None:
        self.streams[0].ssrc = ssrc

    @property
    def stats(self) -> ProducerStats:
        return self.streams[0].stats

    @property
    def history(self) -> list[tuple[bytes, RtpHeader, float] | None] | None:
        return self.streams[0].history

    def stream_by_rid(self, rid: str) -> ProducerStream | None:
        for stream in self.streams:
            if stream.rid == rid:
                return stream
        return None

    # -- forwarding (hot path) -------------------------------------------------------
    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        """One decrypted RTP packet of the first (or only) stream."""
        self.streams[0].receive_rtp(data, header, arrival)

    def forward(self, data: bytes, header: RtpHeader, arrival: float, layer: int) -> None:
        """Hand one accounted packet of stream ``layer`` to the taps and every consumer."""
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
            consumer.send(data, header, body, level, ast, arrival, layer)

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

    # -- RTCP --------------------------------------------------------------------------
    def receive_sender_report(
        self, report: RtcpSenderReport, arrival: float, layer: int = 0
    ) -> None:
        """Keep the SR for our receiver reports, and translate it for the consumers of
        that layer (RFC 3550 §6.4.1)."""
        stats = self.streams[layer].stats
        stats.sr_ntp_middle = (report.ntp_timestamp >> 16) & 0xFFFFFFFF
        stats.sr_arrival = arrival
        for consumer in self.consumers:
            if consumer.layer == layer:
                consumer.send_sender_report(report)

    def report_block(self, now: float) -> ReportBlock | None:
        """The reception report block of the first stream (see ProducerStream)."""
        return self.streams[0].report_block(now)

    def request_keyframe(self, layer: int = 0) -> bool:
        """Send a PLI for stream ``layer``, at most once per ``keyframe_interval`` each."""
        if self.kind != "video" or self.closed or not 0 <= layer < len(self.streams):
            return False
        ssrc = self.streams[layer].ssrc
        if ssrc is None:
            return False
        now = self._clock()
        if now - self._last_keyframe_request.get(layer, -1e9) < self._keyframe_interval:
            return False
        self._last_keyframe_request[layer] = now
        self.streams[layer].stats.keyframe_requests += 1
        self.sink.send_rtcp(bytes(RtcpPli(sender_ssrc=self.rtcp_ssrc, media_ssrc=ssrc)))
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
        for stream in self.streams:
            stream.history = None


@dataclass(slots=True)
class ConsumerStats:
    packets: int = 0
    bytes: int = 0
    errors: int = 0
    dropped_payload_type: int = 0
    keyframe_requests: int = 0
    retransmitted: int = 0
    #: bytes of those retransmissions (they count against the receiver's estimate)
    retransmitted_bytes: int = 0
    #: NACKed packets not resent: gone from the history, too old, or resent within an RTT
    retransmit_skipped: int = 0
    #: simulcast layer changes (RFC 8853) made at a keyframe
    layer_switches: int = 0
    #: VP8 frames of a temporal layer above the one chosen, not sent (RFC 7741 §4.2 TID)
    temporal_dropped: int = 0
    #: padding-only packets sent on the RTX stream to probe for bandwidth
    padding_packets: int = 0
    padding_bytes: int = 0


@dataclass(slots=True)
class ConsumerExtensions:
    """Header extension ids the consuming transport negotiated (0: not negotiated)."""

    mid: int = 0
    audio_level: int = 0
    abs_send_time: int = 0
    transport_cc: int = 0

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
            elif uri == EXT_TRANSPORT_CC:
                ext.transport_cc = ext_id
        return ext


#: a NACKed packet is not resent when it was first sent longer ago than this: the
#: receiver's jitter buffer has given up on it (libwebrtc waits at most ~1 s for video)
RETRANSMIT_MAX_AGE = 1.0
#: NACKs sent at most for one packet missing from a publisher (the first one included)
MAX_NACKS = 5
#: seconds before a packet still missing at the SFU is asked of its publisher again when a
#: receiver NACKs it
ASK_AGAIN_INTERVAL = 0.02
#: seconds between the SFU's own repeated NACKs of a packet (the publisher's round trip is
#: not known here: libwebrtc assumes 100 ms before it knows one)
NACK_RETRY_INTERVAL = 0.1
#: round-trip time assumed until the receiver's reports give one (RFC 3550 §6.4.1)
DEFAULT_RTT = 0.1
_U16 = struct.Struct("!H")
#: the payload of a padding-only probe packet: 255 bytes of padding, the last its count
_PADDING = bytes(254) + b"\xff"


@dataclass(slots=True)
class Consumer:
    """One outgoing copy of a producer on one transport.

    For a simulcast producer it forwards one layer: ``layer`` (the one being sent, -1
    before the first keyframe) moves to ``target_layer`` at that layer's next keyframe,
    with sequence numbers, timestamps and VP8 picture ids continuous for the receiver
    (RFC 7667 §3.7, RFC 7741 §4.2).
    """

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
    #: the simulcast layer sent now (-1: none yet), and the one to switch to
    layer: int = 0
    target_layer: int = 0
    #: the highest VP8 temporal layer (TID) sent, -1 for all
    temporal: int = -1
    target_temporal: int = -1
    #: the RTX stream towards the receiver (RFC 4588), when it accepted one
    rtx_ssrc: int = 0
    rtx_payload_type: int = 0
    #: transport-wide sequence numbers of the receive transport, when negotiated
    transport_cc: SentLog | None = None
    #: round-trip time to the receiver (from its receiver reports)
    rtt: float = DEFAULT_RTT
    #: paused by the receiver's bandwidth allocation (a video that does not fit)
    suspended: bool = False
    _rtx_seq: int = field(default_factory=lambda: secrets.randbits(16))
    _vp8: Vp8Rewriter | None = None
    #: the rewriter when there is work for it (ids to continue, temporal layers to shed);
    #: None while a simulcast VP8 consumer's packets pass unchanged
    _vp8_active: Vp8Rewriter | None = None
    #: (consumer seq, payload) of the last VP8 packets sent with rewritten picture ids
    _sent_bodies: list[tuple[int, bytes] | None] = field(default_factory=list)
    #: VP8 ids go through unchanged (no switch, no drop yet); the last payload sent
    _vp8_passthrough: bool = True
    _vp8_last: bytes = b""
    _seq_offset: int = 0
    #: (first consumer seq, seq offset, ts offset, layer) for each mapping used recently,
    #: for retransmissions
    _seq_epochs: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: consumer sequence number -> when it was last retransmitted
    _resent: dict[int, float] = field(default_factory=dict)
    #: (NTP middle 32 bits, when sent) of recent sender reports, for the RTT (RFC 3550 §6.4.1)
    _reports_sent: list[tuple[int, float]] = field(default_factory=list)
    _ts_offset: int = 0
    _last_seq: int = field(default_factory=lambda: secrets.randbits(16))
    _last_ts: int = field(default_factory=lambda: secrets.randbits(32))
    _last_time: float = -1.0
    _resync: bool = True
    _mid_element: bytes = b""
    _level_header: bytes = b""
    _ast_header: bytes = b""
    _twcc_header: bytes = b""
    _twcc_prefix: bytes = b""
    _twcc_suffix: bytes = b""
    _static_block: bytes = b""

    def __post_init__(self) -> None:
        self.set_extensions(self.extensions)
        if self.producer.simulcast:
            self.layer = -1
            if self.producer.codec.name.lower() == "vp8":
                self._vp8 = Vp8Rewriter()
                self._sent_bodies = [None] * HISTORY_SIZE

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
        self._twcc_header = (
            bytes(((extensions.transport_cc << 4) | 1,)) if extensions.transport_cc else b""
        )
        self._static_block = (
            serialize_header_extensions([(extensions.mid, mid)]) if self._mid_element else b""
        )
        # the block of a packet with only the mid and the transport-wide number: its
        # header and padding are the same every time, around the 2-byte number
        body = len(self._mid_element) + 3
        pad = -body % 4
        self._twcc_prefix = (
            _EXT_HEADER.pack(ONE_BYTE_PROFILE, (body + pad) >> 2)
            + self._mid_element
            + self._twcc_header
        )
        self._twcc_suffix = _ZEROS[pad]

    def resync(self) -> None:
        """Make the next packet continue this consumer's sequence and timestamp spaces."""
        self._resync = True

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._resync = True
            if self.producer.simulcast:
                self.layer = -1  # start again at the target layer's next keyframe
            self.request_keyframe()

    def suspend(self) -> None:
        """Stop sending until :meth:`unsuspend`: the receiver's estimate has no room for it."""
        self.suspended = True
        self.paused = True

    def unsuspend(self) -> None:
        """Send again (from a keyframe), as the estimate allows it now."""
        if self.suspended:
            self.suspended = False
            self.resume()

    def set_target(self, layer: int, temporal: int = -1) -> None:
        """Forward simulcast layer ``layer`` from its next keyframe (asked for now), and
        VP8 temporal layers up to ``temporal`` (-1: all)."""
        layer = max(0, min(layer, len(self.producer.streams) - 1))
        self.target_temporal = temporal
        self._update_vp8()
        if layer != self.target_layer or self.layer != layer:
            self.target_layer = layer
            if self.layer != layer:
                self.request_keyframe()

    def request_keyframe(self) -> None:
        layer = self.target_layer if self.producer.simulcast else 0
        if self.producer.request_keyframe(layer):
            self.stats.keyframe_requests += 1

    def send(
        self,
        data: bytes,
        header: RtpHeader,
        body: bytes,
        level: bytes | None,
        ast: bytes | None,
        now: float,
        layer: int = 0,
    ) -> None:
        """Rewrite and send one packet; a failure is counted here and goes no further.

        ``body`` is ``data[header.payload_offset:]``, sliced once for all consumers. The hot
        path: one dict lookup, integer arithmetic, one ``pack`` for the new header, then
        the sink's protect and send. The extension block is precomputed unless the packet
        carries a value (audio level, abs-send-time, transport-wide sequence) to write.
        """
        if self.paused or self.closed:
            return
        if layer != self.layer:
            # another simulcast layer: taken only at its keyframe, when it is the target
            if layer != self.target_layer or not is_keyframe(self.producer.codec.name, body):
                return
            self._switch(layer)
        payload_type = self.payload_types.get(header.payload_type)
        if payload_type is None:
            self.stats.dropped_payload_type += 1
            return
        vp8 = self._vp8_active
        if vp8 is not None:
            body = self._rewrite_vp8(vp8, body)
            if not body:
                return
        elif self._vp8 is not None:
            self._vp8_last = body  # ids pass unchanged: keep where they stand
        seq_in = header.sequence_number
        ts_in = header.timestamp
        if self._resync:
            self._resync = False
            advance = 1
            if self._last_time >= 0:
                advance = max(1, int((now - self._last_time) * self.producer.codec.clock_rate))
            self._ts_offset = (self._last_ts + advance - ts_in) & 0xFFFFFFFF
            self._set_seq_offset((self._last_seq + 1 - seq_in) & 0xFFFF, layer)
        seq = (seq_in + self._seq_offset) & 0xFFFF
        ts = (ts_in + self._ts_offset) & 0xFFFFFFFF
        if 0 < ((seq - self._last_seq) & 0xFFFF) < 0x8000:
            self._last_seq = seq
            self._last_ts = ts
            self._last_time = now
        if vp8 is not None and not self._vp8_passthrough:
            self._sent_bodies[seq % HISTORY_SIZE] = (seq, body)
        if (level is not None and self._level_header) or (ast is not None and self._ast_header):
            self._emit(data, header, body, payload_type, seq, ts, self.ssrc, level, ast, now)
            return
        # the common case, inline: a precomputed block, or one with the transport-wide number
        twcc = self.transport_cc if self._twcc_header else None
        if twcc is None:
            block = self._static_block
        else:
            twcc.value = number = (twcc.value + 1) & 0xFFFF
            block = self._twcc_prefix + _U16.pack(number) + self._twcc_suffix
        head = rewrite_rtp_header(data, header, payload_type, seq, ts, self.ssrc, block)
        try:
            self.sink.send_rtp(head, body)
        except Exception as exc:
            self.stats.errors += 1
            if self.on_error is not None:
                self.on_error(self, exc)
            return
        size = len(head) + len(body)
        stats = self.stats
        stats.packets += 1
        stats.bytes += size
        if twcc is not None:  # SentLog.record, inline: what the estimator reads
            i = number & twcc.mask
            twcc.times[i] = now
            twcc.sizes[i] = size

    def _emit(
        self,
        data: bytes,
        header: RtpHeader,
        body: bytes,
        payload_type: int,
        seq: int,
        ts: int,
        ssrc: int,
        level: bytes | None,
        ast: bytes | None,
        now: float,
        probe: bool = False,
    ) -> None:
        """Write the header (with this consumer's extensions) and send ``head + body``."""
        twcc = self.transport_cc if self._twcc_header else None
        plain = (level is None or not self._level_header) and (ast is None or not self._ast_header)
        if plain and twcc is None:
            block = self._static_block
        elif plain and twcc is not None:
            twcc.value = (twcc.value + 1) & 0xFFFF
            block = self._twcc_prefix + _U16.pack(twcc.value) + self._twcc_suffix
        else:
            ext = self._mid_element
            if level is not None and self._level_header:
                ext += self._level_header + level[:1]
            if ast is not None and self._ast_header and len(ast) == 3:
                ext += self._ast_header + ast
            if twcc is not None:
                twcc.value = (twcc.value + 1) & 0xFFFF
                ext += self._twcc_header + _U16.pack(twcc.value)
            pad = -len(ext) % 4
            block = _EXT_HEADER.pack(ONE_BYTE_PROFILE, (len(ext) + pad) >> 2) + ext + _ZEROS[pad]
        head = rewrite_rtp_header(data, header, payload_type, seq, ts, ssrc, block)
        try:
            self.sink.send_rtp(head, body)
        except Exception as exc:
            self.stats.errors += 1
            if self.on_error is not None:
                self.on_error(self, exc)
            return
        size = len(head) + len(body)
        stats = self.stats
        stats.packets += 1
        stats.bytes += size
        if twcc is not None:
            i = twcc.value & twcc.mask
            twcc.times[i] = now
            twcc.sizes[i] = size
            twcc.probes[i] = probe

    def _rewrite_vp8(self, vp8: Vp8Rewriter, body: bytes) -> bytes:
        """Continuous picture ids across layers, and the temporal layers chosen
        (RFC 7741 §4.2); empty when the packet is not to be sent.

        Until the first layer switch or dropped frame the ids pass unchanged, so the
        rewriter is not run: only the last payload is kept, to start it from when needed.
        """
        descriptor = self.producer.descriptor
        if descriptor is None:
            return body  # not ours to judge: the receiver's decoder will
        tid = descriptor.tid
        if tid is not None:
            target = self.target_temporal
            if target != self.temporal and descriptor.start and (
                target < 0 or tid == 0 or descriptor.layer_sync or target < self.temporal
            ):
                self.temporal = target
                self._update_vp8()
            if self.temporal >= 0 and tid > self.temporal:
                self._vp8_start(vp8)
                vp8.drop(descriptor)
                self.stats.temporal_dropped += 1
                self._set_seq_offset((self._seq_offset - 1) & 0xFFFF, self.layer)
                return b""
        if self._vp8_passthrough:
            self._vp8_last = body
            return body
        return vp8.rewrite(body, descriptor)

    def _vp8_start(self, vp8: Vp8Rewriter) -> None:
        """Leave pass-through: the rewriter learns the last ids sent, to continue them."""
        if self._vp8_passthrough:
            self._vp8_passthrough = False
            self._update_vp8()
            last = self._vp8_last
            if last:
                with contextlib.suppress(ValueError):
                    vp8.rewrite(last, parse_vp8(last))

    def _update_vp8(self) -> None:
        """Run the rewriter only when it has something to do."""
        busy = not self._vp8_passthrough or self.temporal >= 0 or self.target_temporal >= 0
        self._vp8_active = self._vp8 if busy else None

    def _switch(self, layer: int) -> None:
        """Start forwarding simulcast layer ``layer`` at this (keyframe) packet."""
        vp8 = self._vp8
        if self.layer >= 0:
            self.stats.layer_switches += 1
            if vp8 is not None:
                self._vp8_start(vp8)
        self.layer = layer
        self._resync = True
        if vp8 is not None and not self._vp8_passthrough:
            vp8.switch()

    def _set_seq_offset(self, offset: int, layer: int = 0) -> None:
        """Change the sequence offset from the next packet on, remembering the old ones."""
        self._seq_offset = offset
        epochs = self._seq_epochs
        epochs.append(((self._last_seq + 1) & 0xFFFF, offset, self._ts_offset, layer))
        if len(epochs) > 64:
            del epochs[:-64]

    def skip_one(self, layer: int = 0) -> None:
        """The producer's next sequence number of ``layer`` will not be sent: close the gap."""
        if layer == self.layer and not self._resync and not self.paused:
            self._set_seq_offset((self._seq_offset - 1) & 0xFFFF, layer)

    def _origin(self, seq: int) -> tuple[int, int, int]:
        """The (producer sequence number, ts offset, layer) that was sent as our ``seq``."""
        for first, offset, ts_offset, layer in reversed(self._seq_epochs):
            if ((seq - first) & 0xFFFF) < 0x8000:
                return (seq - offset) & 0xFFFF, ts_offset, layer
        return (seq - self._seq_offset) & 0xFFFF, self._ts_offset, max(self.layer, 0)

    def retransmit(self, lost: list[int]) -> None:
        """Resend packets a receiver reported lost (RFC 4585 §6.2.1), from the history.

        With RTX negotiated the packet goes on the RTX stream (RFC 4588 §4); without, again
        in the same stream with the same sequence number, which libsrtp allows with
        ``allow_repeat_tx``. A packet is resent at most once per round trip, and not when
        it is older than :data:`RETRANSMIT_MAX_AGE` (the receiver stopped waiting for it).
        """
        if self.paused or self.closed:
            return
        now = self.clock()
        streams = self.producer.streams
        resent = self._resent
        missing: dict[int, list[int]] | None = None
        for seq in lost:
            producer_seq, ts_offset, layer = self._origin(seq)
            history = streams[layer].history if layer < len(streams) else None
            entry = history[producer_seq % HISTORY_SIZE] if history is not None else None
            if entry is None or entry[1].sequence_number != producer_seq:
                self.stats.retransmit_skipped += 1
                if history is not None:  # lost on its way here too: ask the publisher
                    if missing is None:
                        missing = {}
                    missing.setdefault(layer, []).append(producer_seq)
                continue
            data, header, arrival = entry
            if now - arrival > RETRANSMIT_MAX_AGE or now - resent.get(seq, -1e9) < self.rtt:
                self.stats.retransmit_skipped += 1
                continue
            resent[seq] = now
            if len(resent) > HISTORY_SIZE:
                _forget_oldest_half(resent)
            payload_type = self.payload_types.get(header.payload_type)
            if payload_type is None:
                continue
            body = data[header.payload_offset :]
            if self._vp8 is not None and not self._vp8_passthrough:
                # the payload as first sent, with the picture ids it had then
                sent = self._sent_bodies[seq % HISTORY_SIZE]
                if sent is None or sent[0] != seq:
                    self.stats.retransmit_skipped += 1
                    continue
                body = sent[1]
            ts = (header.timestamp + ts_offset) & 0xFFFFFFFF
            before = self.stats.bytes
            if self.rtx_payload_type:
                self._rtx_seq = rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                self._emit(
                    data, header, rtx_prefix(seq) + body, self.rtx_payload_type, rtx_seq,
                    ts, self.rtx_ssrc, None, None, now,
                )
            else:
                self._emit(data, header, body, payload_type, seq, ts, self.ssrc, None, None, now)
            self.stats.retransmitted += 1
            self.stats.retransmitted_bytes += self.stats.bytes - before
        if missing is not None:
            for layer, seqs in missing.items():
                streams[layer].ask_again(seqs, now)

    def send_padding(self, count: int, now: float) -> int:
        """Send ``count`` padding-only packets on the RTX stream to probe the path
        (RFC 3550 §5.1 P bit; receivers drop them, their transport-cc feedback counts
        them). Returns the bytes sent; 0 without RTX, before the first packet, or paused."""
        if not self.rtx_payload_type or self._last_time < 0 or self.paused or self.closed:
            return 0
        sent = 0
        fixed = _PADDING_HEADER
        for _ in range(count):
            self._rtx_seq = rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            data = _FIXED_PADDING.pack(0xA0, self.rtx_payload_type, rtx_seq, self._last_ts, 0)
            before = self.stats.bytes
            self._emit(
                data, fixed, _PADDING, self.rtx_payload_type, rtx_seq, self._last_ts,
                self.rtx_ssrc, None, None, now, True,
            )
            delta = self.stats.bytes - before
            if not delta:
                break
            # padding is not media: keep it out of the media counters (SR octet count)
            self.stats.packets -= 1
            self.stats.bytes = before
            self.stats.padding_packets += 1
            self.stats.padding_bytes += delta
            sent += delta
        return sent

    def receive_report(self, block: ReportBlock, now: float) -> None:
        """A receiver report block about this consumer: the round-trip time from its
        LSR and DLSR (RFC 3550 §6.4.1)."""
        if not block.lsr:
            return
        for middle, sent_at in self._reports_sent:
            if middle == block.lsr:
                rtt = now - sent_at - block.dlsr / 65536
                if 0 <= rtt < 10:
                    self.rtt = rtt
                return

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
        reports = self._reports_sent
        reports.append(((report.ntp_timestamp >> 16) & 0xFFFFFFFF, self.clock()))
        if len(reports) > 4:
            del reports[0]
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


_FIXED_PADDING = struct.Struct("!BBHII")
#: the parsed header of a padding packet as :meth:`Consumer._emit` needs it: fixed header
#: only (its P bit and CSRC count are taken from the data written with it)
_PADDING_HEADER = RtpHeader(payload_type=0, marker=False, sequence_number=0, timestamp=0, ssrc=0)


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
