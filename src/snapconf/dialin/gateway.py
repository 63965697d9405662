"""The SIP gateway: listeners, server transactions, dialog dispatch and protection.

``SipGateway(config, directory, bridge, clock)``; ``await start()``, ``await close()``
(idempotent). Incoming messages go through, in order:

1. the allowlist (others silently dropped) and the per-source token bucket;
2. the strict parser (malformed: no reply, except a best-effort 400 to allowlisted peers);
3. RFC 3581 ``received``/``rport`` on the top Via, the response address (RFC 3261 18.2.2);
4. transaction matching (section 17.2.3): retransmitted requests get the last response again;
5. a Request-URI scheme other than sip, sips or tel: 416 (section 8.2.2.1);
6. dispatch: ACK and CANCEL to their INVITE, in-dialog requests to their :class:`Call`
   (481 if none), OPTIONS answered 200, a new INVITE throttled (per source: dropped; per
   trunk: 503 with ``Retry-After``), checked (420, 422, 488, 503) and turned into a
   :class:`Call`. An INVITE without SDP is a delayed offer (section 13.2.1): the 200
   carries our offer and the ACK the answer; an ACK without a usable one ends the call.

Every refusal is counted in :attr:`SipGateway.stats` (``/metrics``) and logged at most once
a minute per kind (:meth:`SipGateway.note_refusal`).

No ``Server`` header goes to peers outside the allowlist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference.phone import mix_ptime
from snapconf.dialin.bridge import ConferenceBridge
from snapconf.dialin.call import ALLOW, Call, SessionTimer
from snapconf.dialin.config import SipConfig
from snapconf.dialin.directory import ConferenceDirectory
from snapconf.dialin.ivr import IvrServices
from snapconf.dialin.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
    split_header_list,
)
from snapconf.dialin.prompts import PromptLibrary
from snapconf.dialin.protection import Allowlist, LogThrottle, PinFailures, PinGuard, RateLimiter
from snapconf.dialin.sdp import SdpError, negotiate, parse_sdp, provisional
from snapconf.dialin.transport import Source, TcpConnection, TcpListener, UdpListener
from snapconf.media.plain_transport import PortAllocator

__all__ = ["SipGateway"]

#: seconds a closing gateway waits for the ACKs of calls it has just answered
ACK_GRACE = 2.0

log = logging.getLogger(__name__)

KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "PRACK", "REGISTER",
    "SUBSCRIBE", "NOTIFY", "MESSAGE", "PUBLISH", "REFER",
})
"""Methods counted by name in :attr:`SipGateway.stats` (others as ``request_other``, so a
peer cannot grow the counters without bound)."""

SUPPORTED_OPTIONS = frozenset({"timer"})
"""Option tags we support in ``Require`` (RFC 3261 section 8.2.2.3); 100rel is not one."""

URI_SCHEMES = frozenset({"sip", "sips", "tel"})
"""Request-URI schemes we serve (tel: as trunks may send it, RFC 3966); others get 416."""

IMPLEMENTED = frozenset(m.strip() for m in ALLOW.split(","))
"""Methods we implement (the ``Allow`` list): the ones whose Request-URI scheme is checked."""


def _warning(code: int, exc: Exception) -> str:
    """A Warning header value (RFC 3261 section 20.43) with a safe quoted text."""
    text = "".join(c for c in str(exc) if c.isprintable()).replace('"', "'").replace("\\", "/")
    return f'{code} snapconf "{text[:100]}"'


def _scheme(uri: str) -> str:
    return uri.partition(":")[0].lower()


def _returning(listener: UdpListener) -> Callable[[], UdpListener]:
    return lambda: listener


@dataclass
class _ServerTransaction:
    """RFC 3261 section 17.2: what a server transaction needs to absorb retransmissions."""

    key: tuple[str, str, str]
    method: str
    source: Source
    dest: tuple[str, int]
    request: SipRequest
    trusted: bool
    created: float = 0.0
    last_response: bytes | None = None
    status: int = 0
    expires: float | None = None
    call: Call | None = None
    acked: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class SipGateway:
    """An asyncio SIP UAS that answers phone calls, runs the IVR and joins conferences."""

    def __init__(
        self,
        config: SipConfig,
        directory: ConferenceDirectory,
        bridge: ConferenceBridge,
        clock: Clock = SYSTEM_CLOCK,
        prompts: PromptLibrary | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self.bridge = bridge
        self.clock = clock
        self.prompts = prompts or PromptLibrary()
        self.stats: Counter[str] = Counter()
        self.allowlist = Allowlist(config.allowlist)
        self.request_limiter = RateLimiter(config.request_rate, config.request_burst)
        self.invite_limiter = RateLimiter(config.invite_rate, config.invite_burst)
        self.trunk_invite_limiter = RateLimiter(config.trunk_invite_rate,
                                                config.trunk_invite_burst)
        self.pin_guard = PinGuard(
            source_threshold=config.lockout_threshold,
            source_lockout=config.lockout_seconds,
            trunk_threshold=config.trunk_lockout_threshold,
            trunk_lockout=config.trunk_lockout_seconds,
            global_threshold=config.global_lockout_threshold,
            global_lockout=config.global_lockout_seconds,
            window=config.failure_window,
            step=config.failure_delay,
        )
        self.log_throttle = LogThrottle(60.0)
        # per number dialed: only the delay is used (see Call._ivr), so no threshold
        self.access_failures = PinFailures(
            threshold=2**31,
            lockout=0.0,
            step=config.failure_delay,
            window=config.failure_window,
        )
        self.ports = PortAllocator(config.rtp_port_min, config.rtp_port_max)
        #: what every call's IVR uses (the gateway is each call's narrow CallHost otherwise)
        self.ivr_services = IvrServices(
            config=config,
            clock=clock,
            stats=self.stats,
            directory=directory,
            bridge=bridge,
            pin_guard=self.pin_guard,
            allowlist=self.allowlist,
            access_failures=self.access_failures,
            note_refusal=self.note_refusal,
        )
        self.rtp_host = config.rtp_host or config.host
        self.calls: dict[tuple[str, str], Call] = {}
        self._transactions: dict[tuple[str, str, str], _ServerTransaction] = {}
        self._client_tx: dict[str, asyncio.Future[SipResponse]] = {}
        self._invite_calls: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp: UdpListener | None = None
        self._tcp: TcpListener | None = None
        self._tls: TcpListener | None = None
        self.udp_port = 0
        self.tcp_port = 0
        self.tls_port = 0
        self._started = False
        self._closed = False
        self._warm: asyncio.Future[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind UDP (and TCP, TLS when configured) listeners and start the sweeper."""
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        c = self.config
        for attempt in range(20):
            udp = UdpListener(self._on_message, c.limits)
            await loop.create_datagram_endpoint(_returning(udp), local_addr=(c.host, c.port))
            self._udp = udp
            self.udp_port = udp.port
            if not c.tcp:
                break
            self._tcp = TcpListener(self._on_message, c.limits, admit=self._admit_connection,
                                    max_connections=c.max_tcp_connections)
            try:
                self.tcp_port = await self._tcp.start(c.host, self.udp_port)
                break
            except OSError:
                # port 0 picked a UDP port whose TCP twin is taken: pick another pair
                if udp.transport is not None:
                    udp.transport.close()
                if c.port != 0 or attempt == 19:
                    raise
        if c.tls_cert and c.tls_key:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(c.tls_cert, c.tls_key)
            self._tls = TcpListener(self._on_message, c.limits, ctx, admit=self._admit_connection,
                                    max_connections=c.max_tcp_connections)
            self.tls_port = await self._tls.start(c.host, c.tls_port)
        self._spawn(self._sweeper())
        # encode the prompts for our codecs in a thread now, not on the loop at the first call
        self._warm = asyncio.ensure_future(asyncio.to_thread(self._warm_prompts))
        self._tasks.add(self._warm)
        self._warm.add_done_callback(self._tasks.discard)
        log.info("SIP gateway on %s:%d (UDP%s)", c.host, self.udp_port,
                 ", TCP" if c.tcp else "")

    def _warm_prompts(self) -> None:
        """Encode the prompts for each codec at the packet time its callers hear by default
        (``sip.ptime``, or 20 ms where the codec has no such frame)."""
        for codec in self.config.codecs:
            self.prompts.warm((codec,), mix_ptime(codec, self.config.ptime))

    async def prompts_ready(self) -> None:
        """Wait until every prompt is encoded for every configured codec (tests and benchmarks
        wait for it so the encoding thread does not compete with the first calls)."""
        if self._warm is not None:
            await asyncio.shield(self._warm)

    async def close(self) -> None:
        """Hang up every call (BYE), stop listening; idempotent.

        RFC 3261 section 15: no BYE before the ACK of our 2xx. Calls answered but not yet
        acknowledged get up to ``ACK_GRACE`` seconds for their ACK (usually in flight);
        after that they get their BYE anyway, as the gateway is going away.
        """
        if self._closed:
            return
        self._closed = True
        unacknowledged = [call.acknowledged() for call in self.calls.values() if call.awaiting_ack]
        if unacknowledged:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*unacknowledged), ACK_GRACE)
        for call in list(self.calls.values()):
            call.hangup("gateway closing")
        await asyncio.sleep(0)  # let the BYE transactions start (and send)
        if self._client_tx:
            # give the BYEs a moment to get their 200 before the sockets close
            pending = list(self._client_tx.values())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 0.5)
        for task in list(self._tasks):
            task.cancel()
        for tx in self._transactions.values():
            for task in tx.tasks:
                task.cancel()
        self._transactions.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        for listener in (self._tcp, self._tls):
            if listener is not None:
                await listener.close()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweeper(self) -> None:
        """Forget finished transactions (Timers J, H, I, L) once a second."""
        while True:
            await self.clock.sleep_until(self.clock.now() + 1.0)
            now = self.clock.now()
            stale = 128 * self.config.timers.t1
            for key, tx in list(self._transactions.items()):
                # a transaction never answered (its request failed half-way) or whose call
                # is over is forgotten too, so nothing accumulates
                abandoned = tx.expires is None and now - tx.created > stale and (
                    tx.call is None or tx.call.ended
                )
                if abandoned or (tx.expires is not None and tx.expires <= now):
                    del self._transactions[key]
                    for task in tx.tasks:
                        task.cancel()

    def _admit_connection(self, host: str) -> bool:
        if self.allowlist.enabled and host not in self.allowlist:
            self.stats["tcp_refused_not_allowed"] += 1
            return False
        return True

    def note_refusal(self, kind: str, host: str) -> None:
        """Count a refusal (``stats[kind]``) and log it, at most once a minute per kind."""
        self.stats[kind] += 1
        held = self.log_throttle.ready(kind, self.clock.now())
        if held is not None:
            log.warning("SIP refusal %s (from %s)%s", kind, host,
                        f", {held} more since the last report" if held else "")

    def port_for(self, transport: str) -> int:
        if transport == "TLS":
            return self.tls_port
        if transport == "TCP":
            return self.tcp_port
        return self.udp_port

    # -- sending ---------------------------------------------------------------------------

    def send_to(self, source: Source, dest: tuple[str, int], data: bytes) -> None:
        if source.connection is not None:
            source.connection.send(data)
        elif self._udp is not None:
            self._udp.send(data, dest)
        self.stats["sent"] += 1

    def respond(self, tx: _ServerTransaction, response: SipResponse) -> None:
        """Send ``response`` on ``tx``, remembered for retransmitted requests."""
        if tx.trusted:
            response.headers.set("Server", self.config.user_agent)
        data = bytes(response)
        tx.last_response = data
        tx.status = response.status
        self.send_to(tx.source, tx.dest, data)
        self.stats[f"response_{response.status}"] += 1
        if response.status >= 200:
            t1 = self.config.timers.t1
            if tx.method == "INVITE":
                tx.expires = self.clock.now() + 64 * t1
                if response.status >= 300 and not tx.source.stream:
                    self._spawn_tx(tx, self._retransmit_final(tx))
            else:
                # Timer J: 64*T1 on UDP, 0 on reliable transports
                tx.expires = self.clock.now() + (0 if tx.source.stream else 64 * t1)

    def _spawn_tx(self, tx: _ServerTransaction, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        tx.tasks.add(task)
        task.add_done_callback(tx.tasks.discard)

    async def _retransmit_final(self, tx: _ServerTransaction) -> None:
        """Timer G: a non-2xx final response to INVITE again at T1, doubling to T2, until
        the ACK; Timer H gives up after 64*T1 (section 17.2.1)."""
        t1, t2 = self.config.timers.t1, self.config.timers.t2
        interval = t1
        start = self.clock.now()
        while not tx.acked and self.clock.now() - start < 64 * t1:
            await self.clock.sleep_until(self.clock.now() + interval)
            if tx.acked or tx.last_response is None:
                return
            self.send_to(tx.source, tx.dest, tx.last_response)
            self.stats["final_retransmissions"] += 1
            interval = min(interval * 2, t2)

    def send_bye(self, call: Call) -> None:
        request, dest, branch = call.build_bye()
        self.stats["bye_sent"] += 1
        self._spawn(self.send_request(call, request, dest, branch))

    async def send_request(
        self, call: Call, request: SipRequest, dest: tuple[str, int], branch: str
    ) -> int:
        """Send an in-dialog request as a client transaction (section 17.1): retransmitted
        at T1 doubling (to T2 for non-INVITE) over UDP until a final response, given up after
        64*T1 (Timers B/F, reported as 408). A 2xx to INVITE is ACKed, again on each
        retransmission of it (section 13.2.2.4). Returns the final status."""
        fut: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._client_tx[branch] = fut
        if request.method == "INVITE":
            self._invite_calls[branch] = call
        data = bytes(request)
        t1, t2 = self.config.timers.t1, self.config.timers.t2
        source = call.source
        try:
            if source.connection is not None and source.connection.closed:
                if source.transport == "TCP" and self._tcp is not None:
                    try:
                        conn = await self._tcp.connect(*dest)
                    except OSError:
                        self.stats["request_failed"] += 1
                        return 503
                    source = Source("TCP", dest[0], dest[1], conn)
                else:
                    return 503
            self.send_to(source, dest, data)
            interval = t1
            start = self.clock.now()
            while not fut.done() and self.clock.now() - start < 64 * t1:
                sleep = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + interval))
                try:
                    waiters: set[asyncio.Future[Any]] = {sleep, fut}
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleep.cancel()
                if fut.done():
                    break
                if not source.stream:
                    self.send_to(source, dest, data)
                interval = interval * 2 if request.method == "INVITE" else min(interval * 2, t2)
            if not fut.done():
                self.stats[f"{request.method.lower()}_timeouts"] += 1
                return 408
            return fut.result().status
        finally:
            self._client_tx.pop(branch, None)
            if not fut.done():
                fut.cancel()
            if request.method == "INVITE":
                # keep answering retransmitted 2xx with ACKs for a while (Timer D spirit)
                self._loop_later(64 * t1, lambda: self._invite_calls.pop(branch, None))

    def _loop_later(self, delay: float, callback: Callable[[], object]) -> None:
        asyncio.get_running_loop().call_later(delay, callback)

    # -- receiving -------------------------------------------------------------------------

    def _on_message(self, data: bytes, source: Source) -> None:
        self.stats["received"] += 1
        trusted = source.host in self.allowlist
        if self.allowlist.enabled and not trusted:
            self.stats["dropped_not_allowed"] += 1
            return
        if not data.strip(b"\r\n"):
            self.stats["keepalives"] += 1  # RFC 5626 CRLF keep-alive
            return
        now = self.clock.now()
        # allowlisted trunks carry every caller from one address: they are not held to this
        # bucket (their new INVITEs have one of their own, in _on_invite)
        if not trusted and not self.request_limiter.allow(source.host, now):
            self.note_refusal("dropped_rate", source.host)
            return
        try:
            message = parse_message(data, self.config.limits, stream=source.stream)
        except SipParseError as exc:
            self.stats["malformed"] += 1
            log.debug("malformed SIP from %s: %s", source.host, exc)
            if trusted:
                self._best_effort_400(data, source, str(exc))
            return
        if isinstance(message, SipResponse):
            self._on_response(message)
            return
        try:
            self._on_request(message, source, trusted)
        except SipParseError as exc:  # a header parsed lazily (Contact, Session-Expires...)
            self.stats["malformed"] += 1
            log.debug("bad SIP request from %s: %s", source.host, exc)
            if trusted and message.method != "ACK":
                self._best_effort_400(data, source, str(exc))

    def _on_response(self, response: SipResponse) -> None:
        branch = (response.vias[0].branch if response.vias else None) or ""
        fut = self._client_tx.get(branch)
        if fut is not None and response.status >= 200 and not fut.done():
            fut.set_result(response)
        call = self._invite_calls.get(branch)
        if call is not None and response.cseq.method == "INVITE" and (
            200 <= response.status < 300
        ):
            ack, dest, _ = call.build_ack(response.cseq.number)
            self.send_to(call.source, dest, bytes(ack))

    def _response_dest(self, request: SipRequest, source: Source) -> tuple[str, int]:
        """RFC 3261 section 18.2.2 with RFC 3581: answer the source address, at the source
        port when the client asked for ``rport``, else at the Via port."""
        top = request.vias[0]
        if source.stream or "rport" in top.params:
            return (source.host, source.port)
        return (source.host, top.port or 5060)

    @staticmethod
    def _stamp_via(request: SipRequest, source: Source) -> None:
        """Add ``received`` (section 18.2.1) and fill ``rport`` (RFC 3581 section 4)."""
        top = request.vias[0]
        changed = False
        if top.host.strip("[]") != source.host:
            top.params["received"] = source.host
            changed = True
        if "rport" in top.params and top.params["rport"] is None:
            top.params["rport"] = str(source.port)
            changed = True
        if not changed:
            return
        vias = request.headers.get_all("Via")
        first = split_header_list(vias[0])
        first[0] = str(top)
        headers = Headers()
        done = False
        for name, value in request.headers:
            if name == "Via" and not done:
                headers.add("Via", ", ".join(first))
                done = True
            else:
                headers.add(name, value)
        request.headers = headers

    def _tx_key(self, request: SipRequest, method: str) -> tuple[str, str, str]:
        top = request.vias[0]
        branch = top.branch or ""
        sent_by = f"{top.host}:{top.port or ''}"
        if branch.startswith("z9hG4bK"):
            return (branch, sent_by, method)
        # RFC 2543 peers: match on the request's identity (section 17.2.3, last paragraph)
        return (
            f"{request.call_id}|{request.from_.tag}|{request.cseq.number}|{top}",
            sent_by,
            method,
        )

    def _on_request(self, request: SipRequest, source: Source, trusted: bool) -> None:
        known = request.method in KNOWN_METHODS
        self.stats[f"request_{request.method if known else 'other'}"] += 1
        self._stamp_via(request, source)
        dest = self._response_dest(request, source)
        method = request.method
        lookup = "INVITE" if method == "ACK" else method
        key = self._tx_key(request, lookup)
        existing = self._transactions.get(key)
        if method == "ACK":
            self._on_ack(request, existing)
            return
        if existing is not None:
            self.stats["retransmissions_absorbed"] += 1
            if existing.last_response is not None:
                if method == "INVITE" and existing.call is not None and (
                    existing.call.retransmit_2xx()
                ):
                    return
                self.send_to(source, dest, existing.last_response)
            return
        tx = _ServerTransaction(key, method, source, dest, request, trusted, self.clock.now())
        self._transactions[key] = tx
        if request.version != "SIP/2.0":
            self.respond(tx, make_response(request, 505, "Version Not Supported"))
            return
        if method == "CANCEL":
            self._on_cancel(request, tx)
            return
        if method in IMPLEMENTED and _scheme(request.uri) not in URI_SCHEMES:
            # section 8.2.2.1, after method inspection (others get their 405 or 501 below)
            self.respond(tx, make_response(request, 416, "Unsupported URI Scheme",
                                           to_tag=self._tag()))
            return
        if method == "INVITE":
            # 100 Trying at once (section 17.2.1), before anything slow
            self.respond(tx, make_response(request, 100, "Trying"))
        unsupported = [
            t for t in request.headers.get_list("Require") if t.lower() not in SUPPORTED_OPTIONS
        ] if request.headers.get("Require") else []
        if unsupported:
            self.respond(tx, make_response(request, 420, "Bad Extension", to_tag=self._tag(),
                                           extra=[("Unsupported", ", ".join(unsupported))]))
            return
        mf = request.headers.get("Max-Forwards")
        if mf is not None and int(mf) == 0 and method != "OPTIONS":
            self.respond(tx, make_response(request, 483, "Too Many Hops", to_tag=self._tag()))
            return
        to_tag = request.to.tag
        if to_tag is not None:
            call = self.calls.get((request.call_id, to_tag))
            if call is None or call.remote_tag != (request.from_.tag or ""):
                if method == "OPTIONS":
                    self._options(request, tx)
                else:
                    self.respond(tx, make_response(request, 481,
                                                   "Call/Transaction Does Not Exist"))
                return
            tx.call = call
            call.on_request(request, tx)
            return
        if method == "INVITE":
            self._on_invite(request, tx, trusted)
        elif method == "OPTIONS":
            self._options(request, tx)
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY"):
            self.respond(tx, make_response(request, 481, "Call/Transaction Does Not Exist"))
        elif method in ("REGISTER", "SUBSCRIBE", "MESSAGE", "PUBLISH", "REFER"):
            self.respond(tx, make_response(request, 405, "Method Not Allowed", to_tag=self._tag(),
                                           extra=[("Allow", ALLOW)]))
        else:
            self.respond(tx, make_response(request, 501, "Not Implemented", to_tag=self._tag(),
                                           extra=[("Allow", ALLOW)]))

    @staticmethod
    def _tag() -> str:
        return secrets.token_hex(6)

    def _options(self, request: SipRequest, tx: _ServerTransaction) -> None:
        """Section 11.2: trunks use OPTIONS as a health check."""
        self.respond(tx, make_response(
            request, 200, "OK", to_tag=self._tag(),
            extra=[("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "timer")],
        ))

    def _on_ack(self, ack: SipRequest, tx: _ServerTransaction | None) -> None:
        if tx is not None and tx.status >= 300:
            # ACK of a non-2xx final response: same branch (section 17.2.1), Timer I
            tx.acked = True
            tx.expires = self.clock.now() + (0 if tx.source.stream else self.config.timers.t4)
            for task in tx.tasks:
                task.cancel()
            return
        if ack.to.tag is None:
            return
        call = self.calls.get((ack.call_id, ack.to.tag))
        if call is not None:
            call.on_ack(ack)

    def _on_cancel(self, cancel: SipRequest, tx: _ServerTransaction) -> None:
        """Section 9.2: 200 to the CANCEL, then 487 to the INVITE if not answered yet."""
        invite_tx = self._transactions.get(self._tx_key(cancel, "INVITE"))
        if invite_tx is None:
            self.respond(tx, make_response(cancel, 481, "Call/Transaction Does Not Exist"))
            return
        call = invite_tx.call
        to_tag = call.local_tag if call is not None else self._tag()
        self.respond(tx, make_response(cancel, 200, "OK", to_tag=to_tag))
        if invite_tx.status >= 200:
            return
        self.stats["cancelled"] += 1
        self.respond(invite_tx, make_response(invite_tx.request, 487, "Request Terminated",
                                              to_tag=to_tag))
        if call is not None:
            call.end("cancelled")

    def _on_invite(self, invite: SipRequest, tx: _ServerTransaction, trusted: bool) -> None:
        now = self.clock.now()
        host = tx.source.host
        if trusted:
            # a trunk's calls are real callers: tell it to retry (or use another server) rather
            # than leave it retransmitting (RFC 3261 section 21.5.4)
            if not self.trunk_invite_limiter.allow(host, now):
                self.note_refusal("invite_rate_limited_trunk", host)
                retry = self.trunk_invite_limiter.retry_after(host)
                self.respond(tx, make_response(invite, 503, "Service Unavailable",
                                               to_tag=self._tag(),
                                               extra=[("Retry-After", str(retry))]))
                return
        elif not self.invite_limiter.allow(host, now):
            # silently dropped; forgotten so retransmissions are re-evaluated (and re-limited)
            self.note_refusal("invite_rate_limited", host)
            tx.expires = now
            return
        if len(self.calls) >= self.config.max_calls or self._closed:
            self.stats["calls_rejected_full"] += 1
            self.respond(tx, make_response(
                invite, 503, "Service Unavailable", to_tag=self._tag(),
                extra=[("Retry-After", str(self.config.retry_after))]))
            return
        timer = SessionTimer.negotiate(invite, self.config.session_expires, self.config.min_se)
        if isinstance(timer, int):
            self.respond(tx, make_response(invite, 422, "Session Interval Too Small",
                                           to_tag=self._tag(), extra=[("Min-SE", str(timer))]))
            return
        offer = None
        negotiated = provisional(self.config.codecs)
        if invite.body and invite.content_type != "application/sdp":
            # an offer we cannot read: RFC 3261 section 21.4.26
            self.respond(tx, make_response(invite, 488, "Not Acceptable Here",
                                           to_tag=self._tag()))
            return
        if invite.body:
            try:
                offer = parse_sdp(invite.body)
                negotiated = negotiate(offer, self.config.codecs)
            except SdpError as exc:
                self.stats["sdp_refused"] += 1
                self.respond(tx, make_response(invite, 488, "Not Acceptable Here",
                                               to_tag=self._tag(),
                                               extra=[("Warning", _warning(304, exc))]))
                return
        else:  # no offer: ours goes in the 2xx, the answer comes in the ACK (section 13.2.1)
            self.stats["delayed_offers"] += 1
        try:
            call = Call(self, self.ivr_services, invite, tx.source, tx.dest, offer, negotiated,
                        timer)
        except SipParseError as exc:  # a Contact or Request-URI we cannot use
            self.respond(tx, make_response(invite, 400, "Bad Request", to_tag=self._tag(),
                                           extra=[("Warning", _warning(399, exc))]))
            return
        call.invite_tx = tx
        tx.call = call
        self.calls[call.key] = call
        self.stats["calls_started"] += 1
        self._spawn(self._start_call(call, tx))

    async def _start_call(self, call: Call, tx: _ServerTransaction) -> None:
        try:
            await call.open_media()
        except OSError:
            log.warning("no RTP port for call %s", call.call_id)
            self.stats["rtp_ports_exhausted"] += 1
            call.end("no RTP port")
            self.respond(tx, make_response(tx.request, 503, "Service Unavailable",
                                           to_tag=call.local_tag,
                                           extra=[("Retry-After", str(self.config.retry_after))]))
            return
        if call.ended:  # CANCEL while binding
            if call.rtp is not None:
                call.rtp.close()
            return
        call.spawn(call.ring_and_answer(), "answer")

    def forget_call(self, call: Call) -> None:
        if self.calls.get(call.key) is call:
            del self.calls[call.key]
        self.stats["calls_ended"] += 1

    # -- malformed input -------------------------------------------------------------------

    def _best_effort_400(self, data: bytes, source: Source, reason: str) -> None:
        """A 400 for an allowlisted peer, built from whatever core headers can be found."""
        text = data.decode("utf-8", "replace")
        head = text.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        if not lines or lines[0].startswith("SIP/") or lines[0].startswith("ACK "):
            return
        wanted = {"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
                  "call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}
        found: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            canon = wanted.get(name.strip().lower())
            if colon and canon:
                found.append((canon, value.strip()))
        names = {n for n, _ in found}
        if not {"Via", "From", "To", "Call-ID", "CSeq"} <= names:
            return
        phrase = "Bad Request" if len(reason) > 60 else reason
        out = [f"SIP/2.0 400 {phrase}".replace("\r", "").replace("\n", "")]
        out += [f"{n}: {v}" for n, v in found]
        out += [f"Server: {self.config.user_agent}", "Content-Length: 0"]
        payload = ("\r\n".join(out) + "\r\n\r\n").encode()
        dest = (source.host, source.port)
        self.send_to(source, dest, payload)
        self.stats["response_400"] += 1

    # -- introspection ---------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        return len(self.calls)

    def call_states(self) -> dict[str, int]:
        out: Counter[str] = Counter(c.state.value for c in self.calls.values())
        return dict(out)

    def tcp_connections(self) -> set[TcpConnection]:
        conns: set[TcpConnection] = set()
        for listener in (self._tcp, self._tls):
            if listener is not None:
                conns |= listener.connections
        return conns

