"""WebRtcTransport: one ICE-lite + DTLS-SRTP association with a browser.

Each transport has its own ICE credentials and learns its remote address from STUN
Binding requests (RFC 8445 §2.5, ICE-lite); DTLS runs to the DTLS server role
(RFC 5763 §5) and yields the SRTP sessions. Datagrams reach it already demultiplexed by
:class:`snapconf.media.server.MediaServer` (RFC 7983); what it sends goes back through
the socket its remote address arrived on. All methods are synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pylibsrtp

from snapconf.media.bwe import BweConfig, SendSideEstimator, SentLog
from snapconf.media.config import MediaConfig
from snapconf.media.dtls import DtlsCertificate, DtlsClosed, DtlsError, DtlsSession, Fingerprint
from snapconf.media.egress import Destination, Egress, SrtpSender, srtp_context
from snapconf.media.pacer import Pacer, PacerConfig
from snapconf.media.router import (
    Consumer,
    Producer,
    ProducerStream,
    SendRtp,
)
from snapconf.rtp.packet import RtpHeader, is_rtcp, parse_rtp_header
from snapconf.rtp.rtcp import (
    ReportBlock,
    RtcpFir,
    RtcpNack,
    RtcpPli,
    RtcpReceiverReport,
    RtcpRemb,
    RtcpSenderReport,
    parse_rtcp,
    serialize_rtcp,
)
from snapconf.rtp.rtx import unwrap_rtx
from snapconf.rtp.twcc import RtcpTransportCc, TransportCcRecorder

log = logging.getLogger(__name__)

Address = tuple[str, int]
#: close reason when the peer ended DTLS with close_notify: a normal end, not a drop
CLOSED_BY_PEER = "closed by peer"
_ICE_CHARS = string.ascii_letters + string.digits + "+/"


class Socket(Protocol):
    """The local socket a remote address was learnt on."""

    egress: Egress


class TransportHost(Protocol):
    """What a transport needs from the media server that routes datagrams to it.

    The transport never sees the server itself: it registers, binds the remote addresses
    it authenticates (with the socket each came on), finds the egress of an address,
    and counts what it drops.
    """

    config: MediaConfig
    clock: Callable[[], float]
    #: RTP packets forwarded by consumers that are gone, kept for /metrics
    retired_forwarded_packets: int

    def register(self, transport: WebRtcTransport) -> None: ...

    def unregister(self, transport: WebRtcTransport) -> None: ...

    def bind_address(self, transport: WebRtcTransport, addr: Address, via: Socket) -> None: ...

    def egress_for(self, addr: Address) -> Egress: ...

    def count_drop(self, reason: str) -> None: ...


def _ice_token(length: int) -> str:
    return "".join(secrets.choice(_ICE_CHARS) for _ in range(length))


@dataclass(slots=True)
class TransportStats:
    packets_in: int = 0
    bytes_in: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0
    #: RTX packets from the publisher unwrapped into their stream (RFC 4588 §4)
    rtx_in: int = 0
    #: padding-only RTX packets from the publisher (its bandwidth probes)
    rtx_padding_in: int = 0
    #: transport-cc feedback packets sent to the publisher / read from the receiver
    transport_cc_out: int = 0
    transport_cc_in: int = 0


class WebRtcTransport:
    """ICE-lite, DTLS-SRTP and RTCP termination for one browser peer connection."""

    def __init__(
        self,
        server: TransportHost,
        certificate: DtlsCertificate,
        *,
        transport_id: str,
        on_close: Callable[[WebRtcTransport, str], None] | None = None,
    ) -> None:
        self.id = transport_id
        self.server = server
        self.ice_ufrag = _ice_token(8)
        self.ice_pwd = _ice_token(24)
        self.remote_ufrag: str | None = None
        self.certificate = certificate
        self.remote_fingerprints: list[Fingerprint] = []
        self.addr: Address | None = None
        self.addrs: set[Address] = set()
        self.nominated = False
        #: Binding transaction ids acted on, with the address each came from; bounded
        #: (oldest forgotten first): the same id from elsewhere is a replay
        self._transactions: dict[bytes, Address] = {}
        #: addresses nominated while the selected one was still heard from: the first to
        #: send an authenticated SRTP/SRTCP packet becomes the selected address
        self.pending_addrs: set[Address] = set()
        self.dtls: DtlsSession | None = None
        self.srtp_rx: pylibsrtp.Session | None = None
        self.srtp_tx: pylibsrtp.Session | None = None
        #: the publisher's streams (one per simulcast layer) by SSRC, and by RTX SSRC
        self.streams_by_ssrc: dict[int, ProducerStream] = {}
        self.rtx_by_ssrc: dict[int, ProducerStream] = {}
        self.producers_by_mid: dict[str, Producer] = {}
        self.consumers_by_ssrc: dict[int, Consumer] = {}
        self.mid_extension_id = 0
        #: RFC 8852 stream id extensions of the publish answer (0: not negotiated)
        self.rid_extension_id = 0
        self.repaired_rid_extension_id = 0
        #: the transport-wide sequence extension the publisher sends (0: none), and the
        #: feedback we write for it (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1)
        self.transport_cc_id = 0
        self.transport_cc_recorder: TransportCcRecorder | None = None
        #: towards a receiver: the transport-wide sequence our consumers stamp and the
        #: send-side estimate of the path (see enable_estimation)
        self.transport_sequence: SentLog | None = None
        self.estimator: SendSideEstimator | None = None
        #: spreads what is sent to a receiver at a multiple of its estimate
        self.pacer: Pacer | None = None
        #: called from :meth:`tick` (every ``media.feedback_interval``): the owner's allocation
        self.on_tick: Callable[[float], None] | None = None
        self.rtcp_ssrc = secrets.randbits(32) | 1
        self.created = server.clock()
        self.last_received = self.created
        #: when an authenticated datagram (check, SRTP, SRTCP) last came from :attr:`addr`
        self.selected_heard_at = self.created
        self.connected_at: float | None = None
        self.closed = False
        self.stats = TransportStats()
        self.max_incoming_bitrate = server.config.max_incoming_bitrate
        self._on_close = on_close
        self.on_connected: Callable[[WebRtcTransport], None] | None = None
        #: DTLS datagrams that came before the remote fingerprint, replayed once it is known
        self._early_dtls: list[tuple[bytes, Address]] = []
        #: where packets go: the egress of the socket the selected address came on, the
        #: address as a sockaddr, and the libsrtp context of srtp_tx (all set together)
        self._egress: Egress | None = None
        self._dest: Destination | None = None
        self._srtp_out: Any = None
        self._destinations: dict[Address, Destination] = {}
        #: protect and queue one RTP packet (``packet + body``): the bound method of the
        #: current SrtpSender once connected, so consumers reach it in one call
        self.send_rtp: SendRtp = self._send_rtp_unconnected
        server.register(self)

    # -- negotiation ----------------------------------------------------------------------
    def set_remote(self, ufrag: str, fingerprints: list[Fingerprint]) -> None:
        """Remote ICE ufrag and DTLS fingerprints from the peer's SDP."""
        if self.dtls is not None and fingerprints != self.remote_fingerprints:
            raise ValueError("DTLS fingerprint changed during the session")
        self.remote_ufrag = ufrag
        self.remote_fingerprints = fingerprints
        early, self._early_dtls = self._early_dtls, []
        for data, addr in early:  # a ClientHello that beat the browser's answer here
            self.on_dtls(data, addr)

    @property
    def connected(self) -> bool:
        return self.srtp_tx is not None and self.addr is not None

    # -- ICE (RFC 8445 §7.3, lite) ----------------------------------------------------------
    def replayed(self, transaction_id: bytes, addr: Address) -> bool:
        """True when this Binding transaction was already acted on from another address.

        Binding requests are authenticated but not bound to their source address: a copy
        sent from elsewhere carries a valid MESSAGE-INTEGRITY (RFC 8445 §19). A
        retransmission comes from the address of the first copy (RFC 8489 §6.2.1).
        """
        first = self._transactions.get(transaction_id)
        return first is not None and first != addr

    def on_binding(
        self, addr: Address, use_candidate: bool, transaction_id: bytes, via: Socket
    ) -> bool:
        """An authenticated Binding request came from ``addr`` on the socket ``via``;
        False for a retransmission.

        Each transaction changes state once; a retransmission is only answered. Before
        nomination the latest check selects its address (ICE-lite, RFC 8445 §7.3.1.5).
        Once nominated, a nomination from another address moves the media at once only
        when the selected address has been silent for ``media.address_switch_quiet``
        seconds (its consent no longer fresh, RFC 7675 §5.1); otherwise the new address
        waits in :attr:`pending_addrs` for an authenticated SRTP or SRTCP packet from it,
        which a replay cannot provide (libsrtp refuses replayed indices). Browsers send
        media where they selected, so the media follows them without flapping between
        pairs they nominate in turn.
        """
        transactions = self._transactions
        if transaction_id in transactions:
            return False
        if len(transactions) >= self.server.config.stun_transaction_memory:
            del transactions[next(iter(transactions))]
        transactions[transaction_id] = addr
        now = self.server.clock()
        self.last_received = now
        if addr not in self.addrs:
            self.addrs.add(addr)
            self.server.bind_address(self, addr, via)
        if addr == self.addr:
            self.selected_heard_at = now
        elif self.addr is None or not self.nominated:
            self._select(addr, now)
        elif use_candidate:
            if now - self.selected_heard_at > self.server.config.address_switch_quiet:
                self._select(addr, now)
            elif addr not in self.pending_addrs:
                self.pending_addrs.add(addr)
                log.info(
                    "transport %s: %s:%d nominated, selected once media comes from it",
                    self.id, addr[0], addr[1],
                )
        if use_candidate and addr == self.addr:
            self.nominated = True
        return True

    def _select(self, addr: Address, now: float) -> None:
        """Send from now on to ``addr``, through the socket it was learnt on."""
        log.info("transport %s: remote address %s:%d", self.id, addr[0], addr[1])
        self.addr = addr
        self.selected_heard_at = now
        self.pending_addrs.clear()
        self._egress = self.server.egress_for(addr)
        self._dest = self.destination(addr)
        self._update_sender()

    def _heard_elsewhere(self, addr: Address, now: float) -> None:
        """Authenticated SRTP or SRTCP from an address other than the selected one."""
        if addr in self.pending_addrs:
            self._select(addr, now)

    def destination(self, addr: Address) -> Destination:
        """``addr`` as a ready sockaddr, made once per remote address of this transport."""
        dest = self._destinations.get(addr)
        if dest is None:
            dest = self._destinations[addr] = Destination(addr)
        return dest

    # -- DTLS ---------------------------------------------------------------------------
    def on_dtls(self, data: bytes, addr: Address) -> None:
        self.last_received = self.server.clock()
        if self.dtls is None:
            if not self.remote_fingerprints:
                # the browser's answer (with its fingerprint) may still be on its way
                if len(self._early_dtls) < 8:
                    self._early_dtls.append((data, addr))
                else:
                    self.server.count_drop("dtls_before_sdp")
                return
            self.dtls = DtlsSession(self.certificate, self.remote_fingerprints, self._send_raw)
        try:
            self.dtls.receive(data)
        except DtlsClosed:
            self.close(CLOSED_BY_PEER)
            return
        except DtlsError as exc:
            log.warning("transport %s: %s", self.id, exc)
            self.server.count_drop("dtls_failed")
            self.close("dtls failed")
            return
        if self.dtls.connected and self.srtp_tx is None and self.dtls.srtp_tx is not None:
            self.srtp_rx = self.dtls.srtp_rx
            self.srtp_tx = self.dtls.srtp_tx
            self._srtp_out = srtp_context(self.srtp_tx)
            self._update_sender()
            self.connected_at = self.server.clock()
            log.info("transport %s: DTLS connected, %s", self.id, self.dtls.srtp_profile)
            if self.on_connected is not None:
                self.on_connected(self)

    def handle_timers(self, now: float) -> None:
        if self.dtls is not None and not self.dtls.connected:
            self.dtls.handle_timeout()

    # -- SRTP / SRTCP (hot path) -----------------------------------------------------------
    def on_srtp(self, data: bytes, addr: Address, now: float) -> None:
        srtp = self.srtp_rx
        if srtp is None:
            self.server.count_drop("srtp_before_dtls")
            return
        self.last_received = now
        if is_rtcp(data):
            try:
                plain = srtp.unprotect_rtcp(data)
            except pylibsrtp.Error:
                self.server.count_drop("srtcp_auth")
                return
            if addr == self.addr:
                self.selected_heard_at = now
            else:
                self._heard_elsewhere(addr, now)
            self.stats.rtcp_in += 1
            self._on_rtcp(plain, now)
            return
        try:
            plain = srtp.unprotect(data)
        except pylibsrtp.Error:
            self.server.count_drop("srtp_auth")
            return
        if addr == self.addr:
            self.selected_heard_at = now
        else:
            self._heard_elsewhere(addr, now)
        try:
            header = parse_rtp_header(plain)
        except ValueError:
            self.server.count_drop("rtp_malformed")
            return
        self.stats.packets_in += 1
        self.stats.bytes_in += len(plain)
        recorder = self.transport_cc_recorder
        if recorder is not None:
            value = header.extensions.get(self.transport_cc_id)
            if value is not None and len(value) == 2:
                recorder.record((value[0] << 8) | value[1], now)
                # libwebrtc reads feedback only when its media SSRC is one it sends
                # (RTCPReceiver: registered SSRCs); it names the latest stream, as
                # libwebrtc's own RemoteEstimatorProxy does
                recorder.media_ssrc = header.ssrc
        stream = self.streams_by_ssrc.get(header.ssrc)
        if stream is None:
            stream = self.rtx_by_ssrc.get(header.ssrc)
            if stream is not None:
                self._on_rtx(stream, plain, header, now)
                return
            stream = self._bind_ssrc(header)
            if stream is None:
                self.server.count_drop("unknown_ssrc")
                return
            if stream.rtx_ssrc == header.ssrc:
                self._on_rtx(stream, plain, header, now)
                return
        stream.receive_rtp(plain, header, now)

    def _on_rtx(self, stream: ProducerStream, plain: bytes, header: RtpHeader, now: float) -> None:
        """Unwrap a publisher's retransmission into its stream (RFC 4588 §4)."""
        if header.padding_length and header.payload_offset + header.padding_length >= len(plain):
            self.stats.rtx_padding_in += 1  # a probe: it only counts for transport-cc
            return
        if stream.ssrc is None:
            self.server.count_drop("rtx_before_media")
            return
        try:
            original = unwrap_rtx(plain, header, stream.producer.payload_type, stream.ssrc)
            original_header = parse_rtp_header(original)
        except ValueError:
            self.server.count_drop("rtx_malformed")
            return
        self.stats.rtx_in += 1
        if stream.is_duplicate(original_header.sequence_number):
            stream.stats.duplicates += 1
            return
        stream.stats.rtx_received += 1
        stream.receive_rtp(original, original_header, now)

    def _bind_ssrc(self, header: RtpHeader) -> ProducerStream | None:
        """Bind a new SSRC to its stream by the MID and RID extensions (RFC 8843 §9.2,
        RFC 8852 §3): a simulcast layer by its rid, an RTX stream by its repaired rid or
        by the RTX payload type."""
        extensions = header.extensions
        mid_id = self.mid_extension_id
        if not mid_id or mid_id not in extensions:
            return None
        producer = self.producers_by_mid.get(extensions[mid_id].decode("ascii", "replace"))
        if producer is None:
            return None
        ssrc = header.ssrc
        rtx = producer.rtx_payload_type is not None and header.payload_type == (
            producer.rtx_payload_type
        )
        if producer.simulcast:
            rid_id = self.repaired_rid_extension_id if rtx else self.rid_extension_id
            rid = extensions.get(rid_id) if rid_id else None
            if rid is None:
                return None
            stream = producer.stream_by_rid(rid.decode("ascii", "replace"))
            if stream is None:
                return None
        else:
            stream = producer.streams[0]
        if rtx:
            if stream.rtx_ssrc is not None:
                self.rtx_by_ssrc.pop(stream.rtx_ssrc, None)
            stream.rtx_ssrc = ssrc
            self.rtx_by_ssrc[ssrc] = stream
        else:
            if stream.ssrc is not None:
                self.streams_by_ssrc.pop(stream.ssrc, None)
            self.streams_by_ssrc[ssrc] = stream
        return stream

    def add_producer(self, producer: Producer, rtx_ssrc: int | None = None) -> None:
        """Receive ``producer`` on this transport: by mid, and by the SSRCs the SDP gave."""
        self.producers_by_mid[producer.mid] = producer
        first = producer.streams[0]
        if first.ssrc is not None:
            self.streams_by_ssrc[first.ssrc] = first
        if rtx_ssrc is not None and not producer.simulcast:
            first.rtx_ssrc = rtx_ssrc
            self.rtx_by_ssrc[rtx_ssrc] = first

    def remove_producer(self, producer: Producer) -> None:
        if self.producers_by_mid.get(producer.mid) is producer:
            del self.producers_by_mid[producer.mid]
        for stream in producer.streams:
            if stream.ssrc is not None and self.streams_by_ssrc.get(stream.ssrc) is stream:
                del self.streams_by_ssrc[stream.ssrc]
            if stream.rtx_ssrc is not None and self.rtx_by_ssrc.get(stream.rtx_ssrc) is stream:
                del self.rtx_by_ssrc[stream.rtx_ssrc]

    def enable_transport_cc_feedback(self, extension_id: int) -> None:
        """The publisher stamps transport-wide sequence numbers with ``extension_id``: send
        it feedback, so that its own send-side estimator runs (draft-holmer §3.1)."""
        self.transport_cc_id = extension_id
        if extension_id and self.transport_cc_recorder is None:
            self.transport_cc_recorder = TransportCcRecorder(self.rtcp_ssrc)
        elif not extension_id:
            self.transport_cc_recorder = None

    def enable_estimation(self, config: BweConfig | None = None) -> SentLog:
        """Estimate what the path to this receiver can take, from its transport-cc
        feedback on what our consumers stamp; idempotent."""
        if self.transport_sequence is None:
            media = self.server.config
            self.estimator = SendSideEstimator(
                config
                or BweConfig(
                    start_bitrate=media.send_start_bitrate,
                    min_bitrate=media.send_min_bitrate,
                    max_bitrate=media.send_max_bitrate,
                )
            )
            self.transport_sequence = SentLog()
            self.estimator.attach(self.transport_sequence)
            if media.pacing_factor > 0:
                self.pacer = Pacer(
                    clock=self.server.clock,
                    schedule=_call_later,
                    log=self.transport_sequence,
                    config=PacerConfig(
                        factor=media.pacing_factor, max_queue_time=media.pacing_max_queue_time
                    ),
                    rate=self.estimator.estimate,
                )
                self._update_sender()
        return self.transport_sequence

    def tick(self, now: float) -> None:
        """Every ``media.feedback_interval``: transport-cc feedback to the publisher, NACKs
        repeated for what it has not resent yet, then the owner's allocation for what this
        transport sends."""
        recorder = self.transport_cc_recorder
        if recorder is not None and self.connected:
            for packet in recorder.feedback():
                self.send_rtcp(packet)
                self.stats.transport_cc_out += 1
        for stream in self.streams_by_ssrc.values():
            if stream.missing:
                stream.retry_nacks(now)
        if self.estimator is not None:
            self.estimator.catch_up()  # the log holds seconds, not minutes
        if self.on_tick is not None and not self.closed:
            self.on_tick(now)

    def _on_rtcp(self, plain: bytes, now: float) -> None:
        try:
            packets = parse_rtcp(plain)
        except ValueError:
            self.server.count_drop("rtcp_malformed")
            return
        for packet in packets:
            if isinstance(packet, RtcpTransportCc):
                self.stats.transport_cc_in += 1
                if self.estimator is not None:
                    self.estimator.on_feedback(packet, now)
            elif isinstance(packet, RtcpSenderReport):
                stream = self.streams_by_ssrc.get(packet.ssrc)
                if stream is not None:
                    stream.producer.receive_sender_report(packet, now, stream.layer)
                self._on_report_blocks(packet.reports, now)
            elif isinstance(packet, RtcpReceiverReport):
                self._on_report_blocks(packet.reports, now)
            elif isinstance(packet, RtcpRemb):
                if self.estimator is not None:
                    self.estimator.on_remb(packet.bitrate, now)
            elif isinstance(packet, RtcpPli):
                consumer = self.consumers_by_ssrc.get(packet.media_ssrc)
                if consumer is not None:
                    consumer.request_keyframe()
            elif isinstance(packet, RtcpNack):
                consumer = self.consumers_by_ssrc.get(packet.media_ssrc)
                if consumer is not None:
                    consumer.retransmit(packet.lost)
            elif isinstance(packet, RtcpFir):
                for ssrc, _ in packet.entries:
                    consumer = self.consumers_by_ssrc.get(ssrc)
                    if consumer is not None:
                        consumer.request_keyframe()

    def _on_report_blocks(self, blocks: list[ReportBlock], now: float) -> None:
        """A receiver's reports on our consumers: round-trip times, and its loss for the
        estimate when it sends no transport-cc feedback (RFC 3550 §6.4.1)."""
        worst = -1
        for block in blocks:
            consumer = self.consumers_by_ssrc.get(block.ssrc)
            if consumer is not None:
                consumer.receive_report(block, now)
                worst = max(worst, block.fraction_lost)
        estimator = self.estimator
        if worst >= 0 and estimator is not None and not self.stats.transport_cc_in:
            estimator.on_loss_report(worst, now)

    def _update_sender(self) -> None:
        """Bind :attr:`send_rtp` to the SRTP context, socket and address now in use."""
        context, egress, dest = self._srtp_out, self._egress, self._dest
        sender = None
        if context is None or egress is None or dest is None or self.closed:
            self.send_rtp = self._send_rtp_unconnected
        else:
            sender = SrtpSender(egress, context, dest)
            self.send_rtp = sender.send_rtp
        if self.pacer is not None:
            self.pacer.attach(sender)

    def _send_rtp_unconnected(self, packet: bytes, body: bytes = b"", /) -> None:
        raise ConnectionError("transport not connected")

    def send_rtcp(self, packet: bytes) -> None:
        """Protect and queue one RTCP compound packet; silently skipped before DTLS."""
        context, egress, dest = self._srtp_out, self._egress, self._dest
        if context is None or egress is None or dest is None:
            return
        egress.send_srtcp(packet, context, dest)
        self.stats.rtcp_out += 1

    def send_reports(self, now: float) -> None:
        """Periodic RTCP: receiver reports and REMB for what we receive (RFC 3550 §6.4.2)."""
        if not self.connected or not self.streams_by_ssrc:
            return
        blocks = []
        video_ssrcs = []
        for stream in self.streams_by_ssrc.values():
            block = stream.report_block(now)
            if block is not None:
                blocks.append(block)
            if stream.producer.kind == "video" and stream.ssrc is not None:
                video_ssrcs.append(stream.ssrc)
        if not blocks:
            return
        packets: list[RtcpReceiverReport | RtcpRemb] = [
            RtcpReceiverReport(ssrc=self.rtcp_ssrc, reports=blocks[:31])
        ]
        if video_ssrcs and self.max_incoming_bitrate:
            packets.append(
                RtcpRemb(
                    sender_ssrc=self.rtcp_ssrc,
                    bitrate=self.max_incoming_bitrate,
                    ssrcs=video_ssrcs,
                )
            )
        self.send_rtcp(serialize_rtcp(list(packets)))

    def _send_raw(self, data: bytes) -> None:
        if self.addr is not None and self._egress is not None:
            self._egress.send(data, self.destination(self.addr))

    # -- lifecycle ------------------------------------------------------------------------
    def close(self, reason: str = "closed") -> None:
        """Close DTLS, forget addresses, tell the owner; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.dtls is not None:
            self.dtls.close()
        self.server.unregister(self)
        for producer in list(self.producers_by_mid.values()):
            producer.close()
        for consumer in list(self.consumers_by_ssrc.values()):
            consumer.close()
        if self.pacer is not None:
            self.pacer.close()
        self.streams_by_ssrc.clear()
        self.rtx_by_ssrc.clear()
        self.producers_by_mid.clear()
        self.consumers_by_ssrc.clear()
        self.srtp_tx = self.srtp_rx = None
        self._srtp_out = None
        self._egress = None
        self._update_sender()
        log.info("transport %s closed: %s", self.id, reason)
        if self._on_close is not None:
            self._on_close(self, reason)


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle | None:
    """The pacer's timer: the running loop's ``call_later``; None without a loop (a
    synchronous caller, as in unit tests), and the pacer then sends what waits at once."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, callback)
