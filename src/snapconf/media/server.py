"""MediaServer: every participant's media on one UDP port.

Datagrams are demultiplexed by their first byte (RFC 7983 §7): 0-3 STUN, 20-63 DTLS,
128-191 RTP/RTCP. STUN Binding requests find their transport by the local ICE ufrag in
USERNAME and, once authenticated, bind their source address to it (a transaction id seen
from another address is a replay and is ignored); DTLS and SRTP find it by source address.
Failed STUN spends a per-source budget, beyond which that source's STUN is dropped
unread. Malformed or unexpected datagrams are dropped and counted by reason; the counts
are logged at most once per interval, never per packet.

Everything sent while one datagram is handled (the fan-out of a video packet to every
subscriber) is queued on the socket's :class:`~snapconf.media.egress.Egress` and leaves in
one ``sendmmsg`` when the handler returns; sends made by timers leave on the next turn of
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from aioice.ice import get_host_addresses

from snapconf.media import stun
from snapconf.media.config import MediaConfig
from snapconf.media.dtls import DtlsCertificate
from snapconf.media.egress import Destination, Egress

if TYPE_CHECKING:
    from snapconf.media.transport import Socket, WebRtcTransport

log = logging.getLogger(__name__)

Address = tuple[str, int]
#: seconds DTLS from a closed transport's addresses is ignored without counting a drop: the
#: peer's close_notify (a browser leaving) may come after its ``leave`` closed the transport
CLOSED_DTLS_GRACE = 10.0


class _Endpoint(asyncio.DatagramProtocol):
    """One listening socket; hands every datagram to the server with itself.

    uvloop reads the socket; :attr:`egress` writes it.
    """

    def __init__(self, server: MediaServer, egress: Egress) -> None:
        self.server = server
        self.egress = egress
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport does not subclass asyncio.DatagramTransport
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.server.datagram_received(self, data, addr)

    def error_received(self, exc: Exception) -> None:
        self.server.count_drop("socket_error")


class MediaServer:
    """Owns the UDP sockets and routes datagrams to :class:`WebRtcTransport` objects."""

    def __init__(self, config: MediaConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.certificate = DtlsCertificate()
        self.endpoints: list[_Endpoint] = []
        self.by_ufrag: dict[str, WebRtcTransport] = {}
        self.by_addr: dict[Address, tuple[WebRtcTransport, Socket]] = {}
        self.drops: Counter[str] = Counter()
        self.datagrams_in = 0
        self.bytes_in = 0
        #: RTP packets forwarded by consumers that are closed
        self.retired_forwarded_packets = 0
        self._logged_drops: Counter[str] = Counter()
        #: inside datagram_received: egresses with datagrams queued, flushed on return
        self._receiving = False
        self._to_flush: list[Egress] = []
        self._tasks: list[asyncio.Task[None]] = []
        #: per-source budget of failed STUN requests; None when disabled
        self.stun_failures: stun.FailureLimiter | None = (
            stun.FailureLimiter(
                config.stun_failures_per_second,
                config.stun_failure_burst,
                config.stun_failure_sources,
            )
            if config.stun_failures_per_second > 0
            else None
        )
        #: address -> until when DTLS from it is a closed transport's (see CLOSED_DTLS_GRACE)
        self._closed_addrs: dict[Address, float] = {}
        #: DTLS datagrams that came from a just-closed transport's peer, ignored
        self.dtls_after_close = 0
        self.closed = False

    def totals_out(self) -> tuple[int, int]:
        """Datagrams and bytes sent from the media sockets (RTP, RTCP, STUN, DTLS)."""
        egresses = [endpoint.egress for endpoint in self.endpoints]
        return sum(e.datagrams for e in egresses), sum(e.bytes for e in egresses)

    @property
    def local_addresses(self) -> list[Address]:
        out = []
        for endpoint in self.endpoints:
            if endpoint.transport is not None:
                host, port = endpoint.transport.get_extra_info("sockname")[:2]
                out.append((host, port))
        return out

    @property
    def candidate_addresses(self) -> list[Address]:
        """Addresses for ICE host candidates: announced IPs, else the bound ones."""
        local = self.local_addresses
        if not local:
            return []
        port = local[0][1]
        if self.config.announced:
            return [(ip, port) for ip in self.config.announced]
        out = []
        for host, bound_port in local:
            if host in ("0.0.0.0", "::"):
                # a wildcard socket: announce every address of this host (RFC 8445 §5.1.1.1)
                ipv6 = host == "::"
                out += [(ip, bound_port) for ip in get_host_addresses(use_ipv4=True, use_ipv6=ipv6)]
            else:
                out.append((host, bound_port))
        return out

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host in self.config.listen:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, self.config.socket_buffer)
            sock.bind((host, self.config.port))
            sock.setblocking(False)
            egress = Egress(sock, on_first=self._egress_queued, on_drop=self.count_drops)
            _, protocol = await loop.create_datagram_endpoint(
                functools.partial(_Endpoint, self, egress), sock=sock
            )
            self.endpoints.append(protocol)
        log.info(
            "media: listening on UDP %s", ", ".join(f"{h}:{p}" for h, p in self.local_addresses)
        )
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        self._tasks.append(asyncio.create_task(self._feedback()))

    # -- registry ---------------------------------------------------------------------
    def register(self, transport: WebRtcTransport) -> None:
        self.by_ufrag[transport.ice_ufrag] = transport

    def bind_address(self, transport: WebRtcTransport, addr: Address, via: Socket) -> None:
        """Route ``addr``'s DTLS and SRTP to ``transport``; replies leave through ``via``."""
        previous = self.by_addr.get(addr)
        if previous is not None and previous[0] is not transport:
            previous[0].addrs.discard(addr)
        self.by_addr[addr] = (transport, via)

    def unregister(self, transport: WebRtcTransport) -> None:
        self.by_ufrag.pop(transport.ice_ufrag, None)
        now = self.clock()
        closed = self._closed_addrs
        for addr in [a for a, until in closed.items() if until <= now]:
            del closed[addr]
        for addr in transport.addrs:
            entry = self.by_addr.get(addr)
            if entry is not None and entry[0] is transport:
                del self.by_addr[addr]
                closed[addr] = now + CLOSED_DTLS_GRACE

    def count_drop(self, reason: str) -> None:
        self.drops[reason] += 1

    def count_drops(self, reason: str, count: int) -> None:
        self.drops[reason] += count

    # -- receive path (synchronous) -------------------------------------------------------
    def datagram_received(self, endpoint: _Endpoint, data: bytes, addr: Address) -> None:
        """Handle one datagram, then send everything it caused in one batch per socket."""
        self._receiving = True
        try:
            self._dispatch(endpoint, data, addr)
        finally:
            self._receiving = False
            to_flush = self._to_flush
            if to_flush:
                for egress in to_flush:
                    egress.flush()
                to_flush.clear()

    def _dispatch(self, endpoint: _Endpoint, data: bytes, addr: Address) -> None:
        self.datagrams_in += 1
        self.bytes_in += len(data)
        if not data:
            self.drops["empty"] += 1
            return
        first = data[0]
        if 127 < first < 192:
            entry = self.by_addr.get(addr)
            if entry is None:
                self.drops["unknown_address"] += 1
                return
            entry[0].on_srtp(data, addr, self.clock())
        elif first < 4:
            self._on_stun(endpoint, data, addr)
        elif 19 < first < 64:
            entry = self.by_addr.get(addr)
            if entry is None:
                if self._closed_addrs.get(addr, 0.0) > self.clock():
                    self.dtls_after_close += 1  # a goodbye, not an attack
                    return
                self.drops["unknown_address"] += 1
                return
            entry[0].on_dtls(data, addr)
        else:
            self.drops["unknown_protocol"] += 1

    def _on_stun(self, endpoint: _Endpoint, data: bytes, addr: Address) -> None:
        """Answer an ICE connectivity check; failures spend the source's budget.

        A source that spent its budget is dropped unread, unless its address is already
        bound to a transport: an established peer behind the same address as a flooder
        keeps its consent checks answered (and only its own transport's checks are read).
        """
        limiter = self.stun_failures
        source: str | bytes = ""
        now = 0.0
        bound: WebRtcTransport | None = None
        limited = False
        if limiter is not None:
            source = stun.source_key(addr[0])
            now = self.clock()
            if not limiter.allows(source, now):
                entry = self.by_addr.get(addr)
                if entry is None:
                    self.drops["stun_rate_limited"] += 1
                    return
                bound, limited = entry[0], True
        try:
            request = stun.parse_binding_request(data)
        except ValueError:
            self.drops["stun_malformed"] += 1
            self._stun_failed(source, now)
            return
        transport = self.by_ufrag.get(request.local_ufrag)
        if limited and transport is not bound:
            self.drops["stun_rate_limited"] += 1
            return
        if transport is None:
            self.drops["stun_unknown_ufrag"] += 1
            self._stun_failed(source, now)
            return
        transaction_id = request.message.transaction_id
        if transport.replayed(transaction_id, addr):
            self.drops["stun_replay"] += 1
            self._stun_failed(source, now)
            return
        if not stun.check_integrity(request, transport.ice_pwd):
            self.drops["stun_integrity"] += 1
            if self._stun_failed(source, now):
                error = stun.binding_error(request, 401, "Unauthorized")
                endpoint.egress.send(error, Destination(addr))
            return
        if transport.remote_ufrag is not None and request.remote_ufrag != transport.remote_ufrag:
            self.drops["stun_remote_ufrag"] += 1
            self._stun_failed(source, now)
            return
        transport.on_binding(addr, request.use_candidate, transaction_id, endpoint)
        reply = stun.binding_success(request, addr, transport.ice_pwd)
        endpoint.egress.send(reply, transport.destination(addr))

    def _stun_failed(self, source: str | bytes, now: float) -> bool:
        """Spend a token of ``source``; True when an error reply may still be sent."""
        limiter = self.stun_failures
        return limiter is None or limiter.spend(source, now)

    # -- send path ------------------------------------------------------------------------
    def _egress_queued(self, egress: Egress) -> None:
        """An egress got its first datagram: flush it after this receive, or soon."""
        if self._receiving:
            self._to_flush.append(egress)
            return
        try:
            asyncio.get_running_loop().call_soon(egress.flush)
        except RuntimeError:  # no event loop (a synchronous caller): send now
            egress.flush()

    def egress_for(self, addr: Address) -> Egress:
        """The egress of the socket ``addr`` was learnt on (replies leave where they came)."""
        entry = self.by_addr.get(addr)
        endpoint: Socket | None = (
            entry[1] if entry is not None else (self.endpoints[0] if self.endpoints else None)
        )
        if endpoint is None:
            raise ConnectionError("media server not started")
        return endpoint.egress

    # -- housekeeping ---------------------------------------------------------------------
    def check_transports(self, transports: list[WebRtcTransport], now: float) -> None:
        """DTLS retransmissions, and consent expiry (RFC 7675 §5.1) of connected transports.

        Only a transport whose peer was reached can lose consent: a receive transport waiting
        for its first remote track, or a send transport of someone who publishes nothing,
        has no peer yet and stays (its participant leaves with its signaling socket).
        """
        for transport in transports:
            try:
                transport.handle_timers(now)
                if transport.addrs and now - transport.last_received > self.config.consent_timeout:
                    transport.close("consent expired")
            except Exception:
                log.exception("transport %s: housekeeping failed", transport.id)

    async def _housekeeping(self) -> None:
        """DTLS retransmission timers, RTCP reports, consent expiry and drop logging."""
        tick = 0.2
        next_rtcp = self.clock() + self.config.rtcp_interval
        next_log = self.clock() + self.config.drop_log_interval
        while True:
            await asyncio.sleep(tick)
            now = self.clock()
            transports = list(self.by_ufrag.values())
            self.check_transports(transports, now)
            if now >= next_rtcp:
                next_rtcp = now + self.config.rtcp_interval
                for transport in transports:
                    if transport.closed:
                        continue
                    try:
                        transport.send_reports(now)
                    except Exception:
                        log.exception("transport %s: RTCP reports failed", transport.id)
            if now >= next_log:
                next_log = now + self.config.drop_log_interval
                delta = self.drops - self._logged_drops
                if delta:
                    log.warning("media: dropped datagrams %s", dict(delta))
                    self._logged_drops = Counter(self.drops)

    def tick_transports(self, transports: list[WebRtcTransport], now: float) -> None:
        """Transport-cc feedback and bandwidth allocation of every connected transport."""
        for transport in transports:
            if transport.closed or not transport.connected:
                continue
            try:
                transport.tick(now)
            except Exception:
                log.exception("transport %s: feedback tick failed", transport.id)

    async def _feedback(self) -> None:
        """Every ``feedback_interval``: what congestion control needs more often than RTCP
        reports (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1: feedback every
        50-100 ms)."""
        loop = asyncio.get_running_loop()
        interval = self.config.feedback_interval
        deadline = loop.time()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if loop.time() - deadline > interval:
                deadline = loop.time()  # the loop was late: do not try to catch up
            self.tick_transports(list(self.by_ufrag.values()), self.clock())

    async def close(self) -> None:
        """Close every transport and socket; idempotent."""
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for transport in list(self.by_ufrag.values()):
            transport.close("server closing")
        for endpoint in self.endpoints:
            endpoint.egress.close()
            if endpoint.transport is not None:
                endpoint.transport.close()
