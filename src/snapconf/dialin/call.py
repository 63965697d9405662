"""One phone call: its dialog, its media leg and its IVR, and what ties them together.

A :class:`Call` is created by the gateway for a new INVITE. It answers (180 then 200 with the SDP
answer), retransmits the 2xx until the ACK (section 13.3.1.4), handles the requests inside its
dialog (re-INVITE and UPDATE for hold and session refresh, INFO digits, BYE), keeps the RFC 4028
session timer, and runs its :class:`~snapconf.dialin.ivr.Ivr` once confirmed (welcome, PIN by
RFC 4733 or SIP INFO, 3 attempts, then the conference). Its parts:

- :class:`~snapconf.dialin.dialog.Dialog`: the RFC 3261 dialog (identity, responses,
  in-dialog requests), no I/O;
- :class:`~snapconf.dialin.media_leg.MediaLeg`: the plain RTP transport, DTMF and prompts;
- :class:`~snapconf.dialin.ivr.Ivr`: PIN entry, the join and the in-call digits.

The gateway is the call's :class:`CallHost` (a narrow protocol: sending, the transaction layer,
counters, the RTP ports), so this module never imports the gateway. Every way a call ends goes
through :meth:`Call.end`, which closes the leg, the RTP sockets and the tasks exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from typing import Any, Protocol

from snapconf.clock import Clock
from snapconf.dialin.bridge import ConferenceLeg
from snapconf.dialin.config import SipConfig
from snapconf.dialin.dialog import (
    ALLOW,
    CallState,
    Dialog,
    SessionTimer,
    caller_number,
    dialed,
)
from snapconf.dialin.dtmf import parse_dtmf_relay
from snapconf.dialin.ivr import Ivr, IvrServices
from snapconf.dialin.media_leg import MediaLeg
from snapconf.dialin.message import SipRequest, SipResponse
from snapconf.dialin.prompts import PromptLibrary
from snapconf.dialin.sdp import (
    Negotiated,
    SdpError,
    SessionDescription,
    build_answer,
    build_offer,
    negotiate,
    parse_sdp,
)
from snapconf.dialin.transport import Source
from snapconf.media.plain_transport import PlainTransport, PortAllocator

__all__ = ["ALLOW", "Call", "CallHost", "CallState", "SessionTimer"]

log = logging.getLogger(__name__)


class CallHost(Protocol):
    """What a call needs from its gateway: sending, transactions, counters, RTP ports.

    ``tx`` arguments are the gateway's server transactions, opaque to the call: it gets one
    with each request and hands it back with the response.
    """

    @property
    def config(self) -> SipConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def stats(self) -> Counter[str]: ...

    @property
    def rtp_host(self) -> str:
        """Where calls bind their RTP ports."""
        ...

    @property
    def ports(self) -> PortAllocator:
        """The RTP ports calls may use."""
        ...

    @property
    def prompts(self) -> PromptLibrary: ...

    def port_for(self, transport: str) -> int: ...

    def respond(self, tx: Any, response: SipResponse) -> None: ...

    def send_to(self, source: Source, dest: tuple[str, int], data: bytes) -> None: ...

    async def send_request(
        self, call: Call, request: SipRequest, dest: tuple[str, int], branch: str
    ) -> int: ...

    def send_bye(self, call: Call) -> None: ...

    def forget_call(self, call: Call) -> None: ...


class Call:
    """A dialog created by an INVITE, with its media and IVR."""

    def __init__(
        self,
        host: CallHost,
        services: IvrServices,
        invite: SipRequest,
        source: Source,
        dest: tuple[str, int],
        offer: SessionDescription | None,
        negotiated: Negotiated,
        timer: SessionTimer | None,
    ) -> None:
        """``offer`` is None for an INVITE without SDP: ``negotiated`` is then provisional
        until the ACK brings the answer to the offer our 2xx makes."""
        self.host = host
        self.config = host.config
        self.clock = host.clock
        self.invite = invite
        self.dialog = Dialog(invite, source, dest, host.config, host.port_for)
        self.offer = offer
        self.negotiated = negotiated
        self.timer = timer
        self.state = CallState.RINGING
        self.on_hold = negotiated.on_hold
        self.sdp_session_id = random.randint(1, 2**31)
        self.sdp_version = 1
        self.media = MediaLeg(
            clock=host.clock,
            prompts=host.prompts,
            stats=host.stats,
            default_ptime=host.config.ptime,
            negotiated=lambda: self.negotiated,
            ended=lambda: self.ended,
        )
        self.media.send_media = negotiated.answer_direction in ("sendrecv", "sendonly")
        self.caller_number = caller_number(invite)
        self.caller_display = invite.from_.display or self.caller_number or "anonymous"
        self.ivr = Ivr(
            services,
            self.media,
            self,
            host=source.host,
            dialed=dialed(invite.uri),
            caller_number=self.caller_number,
            caller_display=self.caller_display,
            negotiated=lambda: self.negotiated,
        )
        self.invite_tx: Any = None
        self._pending_2xx: tuple[int, bytes] | None = None
        self._ack_event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_refresh = self.clock.now()
        self.answered_at: float | None = None
        self.end_reason: str | None = None

    # -- what the gateway and tests read ---------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    @property
    def local_tag(self) -> str:
        return self.dialog.local_tag

    @property
    def remote_tag(self) -> str:
        return self.dialog.remote_tag

    @property
    def source(self) -> Source:
        return self.dialog.source

    @property
    def dest(self) -> tuple[str, int]:
        return self.dialog.dest

    @property
    def key(self) -> tuple[str, str]:
        return (self.dialog.call_id, self.dialog.local_tag)

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def rtp(self) -> PlainTransport | None:
        return self.media.rtp

    @property
    def ptime(self) -> int:
        return self.media.ptime

    @property
    def prompt_playing(self) -> bool:
        return self.media.prompt_playing

    @property
    def leg(self) -> ConferenceLeg | None:
        return self.ivr.leg

    def spawn(self, coro: object, name: str) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        task.set_name(f"sip-call-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s task failed", self.call_id, exc_info=task.exception())
            self.host.stats["call_task_errors"] += 1
            if not self.ended:
                self.hangup("internal error")

    # -- media setup -----------------------------------------------------------------------

    async def open_media(self) -> None:
        n = self.negotiated
        known = self.offer is not None
        await self.media.open(
            self.host.rtp_host,
            self.host.ports,
            (n.remote_host, n.remote_port) if known else None,
            (n.remote_host, n.remote_rtcp_port) if known else None,
        )

    def answer_sdp(self) -> bytes:
        """Our SDP for a 2xx: the answer to the offer, or our own offer if there was none."""
        assert self.rtp is not None
        if self.offer is None:
            return build_offer(
                self.config.codecs,
                host=self.config.contact_host,
                port=self.rtp.port,
                session_id=self.sdp_session_id,
                version=self.sdp_version,
                ptime=self.config.ptime,
            )
        return build_answer(
            self.offer,
            self.negotiated,
            host=self.config.contact_host,
            port=self.rtp.port,
            session_id=self.sdp_session_id,
            version=self.sdp_version,
            ptime=self.config.ptime,
        )

    # -- answering (RFC 3261 section 13.3) -------------------------------------------------

    async def ring_and_answer(self) -> None:
        assert self.invite_tx is not None
        if self.config.ring_time > 0:
            self.host.respond(self.invite_tx, self.dialog.response(self.invite, 180, "Ringing"))
            await self.clock.sleep_until(self.clock.now() + self.config.ring_time)
        if self.ended:
            return
        extra = [("Allow", ALLOW), ("Supported", "timer")]
        if self.timer is not None:
            extra += self.timer.headers()
        ok = self.dialog.response(self.invite, 200, "OK", body=self.answer_sdp(), extra=extra)
        self.state = CallState.ANSWERED
        self.answered_at = self.clock.now()
        self.host.stats["calls_answered"] += 1
        self.spawn(self._send_2xx_until_ack(self.invite_tx, ok, self.invite.cseq.number),
                   "2xx")
        self.spawn(self._monitor(), "monitor")

    async def _send_2xx_until_ack(
        self, tx: Any, ok: SipResponse, cseq: int
    ) -> None:
        """Section 13.3.1.4: retransmit the 2xx at T1, doubling up to T2, until the ACK;
        64*T1 without one ends the call with a BYE."""
        t1, t2 = self.config.timers.t1, self.config.timers.t2
        self._ack_event.clear()
        data = bytes(ok)
        self._pending_2xx = (cseq, data)
        self.host.respond(tx, ok)
        start = self.clock.now()
        interval = t1
        deadline = start + t1
        give_up = start + 64 * t1
        while True:
            wait = asyncio.ensure_future(self._ack_event.wait())
            sleep = asyncio.ensure_future(self.clock.sleep_until(min(deadline, give_up)))
            try:
                await asyncio.wait({wait, sleep}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                wait.cancel()
                sleep.cancel()
            if self._ack_event.is_set() or self.ended:
                return
            if self.clock.now() >= give_up:
                self.host.stats["ack_timeouts"] += 1
                self.hangup("no ACK")
                return
            if not self.dialog.source.stream:
                self.host.send_to(self.dialog.source, self.dialog.dest, data)
                self.host.stats["2xx_retransmissions"] += 1
            interval = min(interval * 2, t2)
            deadline = self.clock.now() + interval

    def on_ack(self, ack: SipRequest) -> None:
        pending = self._pending_2xx
        if pending is None or ack.cseq.number != pending[0]:
            return
        self._pending_2xx = None
        self._ack_event.set()
        if self.state is CallState.ANSWERED:
            if self.offer is None and not self._take_answer(ack):
                self.host.stats["sdp_refused"] += 1
                self.hangup("no usable answer in the ACK")
                return
            self.state = CallState.CONFIRMED
            self._last_refresh = self.clock.now()
            self.spawn(self.ivr.run(), "ivr")
            if self.timer is not None and self.timer.refresher == "uas":
                self.spawn(self._refresh_loop(), "refresh")

    def _take_answer(self, ack: SipRequest) -> bool:
        """The answer to our offer, from the ACK (RFC 3261 section 13.2.1, RFC 3264 section
        7): the codec we prefer among those it accepts, and where to send."""
        if not ack.body or ack.content_type != "application/sdp":
            return False
        try:
            answer = parse_sdp(ack.body)
            negotiated = negotiate(answer, self.config.codecs)
        except SdpError as exc:
            log.info("call %s: answer in ACK refused: %s", self.call_id, exc)
            return False
        self.offer, self.negotiated = answer, negotiated
        self.on_hold = negotiated.on_hold
        self.media.set_send_media(negotiated.answer_direction)
        if self.rtp is not None:
            self.rtp.set_format(
                negotiated.codec.clock_rate, negotiated.payload_type, negotiated.dtmf_payload_type
            )
            self.rtp.update_remote(
                negotiated.remote_host, negotiated.remote_port, negotiated.remote_rtcp_port
            )
        return True

    @property
    def awaiting_ack(self) -> bool:
        """Our 2xx to the INVITE is not acknowledged yet (no BYE before it, section 15)."""
        return self.state is CallState.ANSWERED

    async def acknowledged(self) -> None:
        """Wait until the ACK of our 2xx arrives or the call ends."""
        await self._ack_event.wait()

    def retransmit_2xx(self) -> bool:
        """A retransmitted INVITE while the 2xx is unacknowledged: send the 2xx again."""
        if self._pending_2xx is None:
            return False
        self.host.send_to(self.dialog.source, self.dialog.dest, self._pending_2xx[1])
        return True

    # -- in-dialog requests ----------------------------------------------------------------

    def on_request(self, request: SipRequest, tx: Any) -> None:
        method = request.method
        if method == "ACK":
            self.on_ack(request)
            return
        if request.cseq.number <= self.dialog.remote_cseq and method != "CANCEL":
            self.host.respond(tx, self.dialog.response(request, 500, "Server Internal Error",
                                                       extra=[("Retry-After", "1")]))
            return
        self.dialog.remote_cseq = request.cseq.number
        if method == "BYE":
            self.host.respond(tx, self.dialog.response(request, 200, "OK"))
            self.host.stats["bye_received"] += 1
            self.end("remote BYE")
        elif method in ("INVITE", "UPDATE"):
            self._on_offer(request, tx)
        elif method == "INFO":
            self._on_info(request, tx)
        elif method == "OPTIONS":
            self.host.respond(
                tx, self.dialog.response(request, 200, "OK", extra=[("Allow", ALLOW)])
            )
        else:
            self.host.respond(tx, self.dialog.response(request, 405, "Method Not Allowed",
                                                       extra=[("Allow", ALLOW)]))

    def _on_info(self, request: SipRequest, tx: Any) -> None:
        ctype = request.content_type
        if ctype in ("application/dtmf-relay", "application/dtmf"):
            digit = parse_dtmf_relay(request.body) if ctype == "application/dtmf-relay" else (
                request.body.decode("ascii", "replace").strip()[:1].upper() or None
            )
            if digit is not None:
                self.media.on_digit(digit)
            self.host.respond(tx, self.dialog.response(request, 200, "OK"))
        elif not request.body:
            self.host.respond(tx, self.dialog.response(request, 200, "OK"))
        else:
            accept = [("Accept", "application/dtmf-relay")]
            self.host.respond(
                tx, self.dialog.response(request, 415, "Unsupported Media Type", extra=accept)
            )

    def _on_offer(self, request: SipRequest, tx: Any) -> None:
        """re-INVITE or UPDATE (RFC 3311): hold/resume and session refresh."""
        if request.method == "INVITE" and self._pending_2xx is not None:
            # an INVITE transaction of ours is still in progress: RFC 3261 section 14.2
            self.host.respond(tx, self.dialog.response(request, 491, "Request Pending"))
            self.host.stats["glare_491"] += 1
            return
        timer = SessionTimer.negotiate(request, self.config.session_expires, self.config.min_se)
        if isinstance(timer, int):
            self.host.respond(tx, self.dialog.response(request, 422, "Session Interval Too Small",
                                                       extra=[("Min-SE", str(timer))]))
            return
        if request.body:
            if request.content_type != "application/sdp":
                self.host.respond(tx, self.dialog.response(request, 415, "Unsupported Media Type",
                                                           extra=[("Accept", "application/sdp")]))
                return
            try:
                offer = parse_sdp(request.body)
                current = self.negotiated.codec.name
                prefs = (current, *(c for c in self.config.codecs if c != current))
                negotiated = negotiate(offer, prefs)
            except SdpError:
                self.host.respond(tx, self.dialog.response(request, 488, "Not Acceptable Here"))
                return
            if negotiated.codec.name != current or negotiated.payload_type != (
                self.negotiated.payload_type
            ):
                # a change of codec mid-call is not supported by the leg: keep the old one
                self.host.respond(tx, self.dialog.response(request, 488, "Not Acceptable Here"))
                return
            changed = negotiated.direction != self.negotiated.direction
            self.offer, self.negotiated = offer, negotiated
            self.on_hold = negotiated.on_hold
            self.media.set_send_media(negotiated.answer_direction)
            if self.rtp is not None:
                self.rtp.update_remote(negotiated.remote_host, negotiated.remote_port,
                                       negotiated.remote_rtcp_port)
                if not self.on_hold:
                    self.rtp.last_received = self.clock.now()
            if changed:
                self.sdp_version += 1
            self.host.stats["reoffers"] += 1
        had_refresh_loop = self.timer is not None and self.timer.refresher == "uas"
        self.timer = timer
        self._last_refresh = self.clock.now()
        if timer is not None and timer.refresher == "uas" and not had_refresh_loop:
            self.spawn(self._refresh_loop(), "refresh")
        extra = [("Allow", ALLOW), ("Supported", "timer")]
        if timer is not None:
            extra += timer.headers()
        # an UPDATE without an offer gets no SDP (RFC 3311 section 5.2); a re-INVITE without
        # one gets our SDP as the offer, answered in the ACK (RFC 3261 section 14.2)
        body = self.answer_sdp() if request.body or request.method == "INVITE" else b""
        ok = self.dialog.response(request, 200, "OK", body=body, extra=extra)
        if request.method == "INVITE":
            self.spawn(self._send_2xx_until_ack(tx, ok, request.cseq.number), "re2xx")
        else:
            self.host.respond(tx, ok)

    # -- supervision -----------------------------------------------------------------------

    async def _monitor(self) -> None:
        """RTP inactivity (RFC 3550 has none; our policy, not while on hold) and RFC 4028
        section 10: no refresh by the end of the interval minus min(32, interval/3) -> BYE."""
        while not self.ended:
            await self.clock.sleep_until(self.clock.now() + 1.0)
            now = self.clock.now()
            rtp = self.rtp
            if rtp is not None and not self.on_hold and self.state is CallState.CONFIRMED:
                last = rtp.last_received or self.answered_at or now
                if now - last > self.config.rtp_timeout:
                    self.host.stats["rtp_timeouts"] += 1
                    self.hangup("RTP timeout")
                    return
            if self.timer is not None and self.timer.refresher == "uac":
                limit = self.timer.interval - min(32, self.timer.interval / 3)
                if now - self._last_refresh > limit:
                    self.host.stats["session_timer_expired"] += 1
                    self.hangup("session timer expired")
                    return

    # -- ending ----------------------------------------------------------------------------

    def hangup(self, reason: str) -> None:
        """End the call from our side: BYE if the dialog is established (section 15.1.1)."""
        if self.ended:
            return
        send_bye = self.state in (CallState.ANSWERED, CallState.CONFIRMED)
        self.end(reason)
        if send_bye:
            self.host.send_bye(self)

    def end(self, reason: str) -> None:
        """Release everything: leg, RTP ports, tasks, the dialog entry. Idempotent."""
        if self.ended:
            return
        self.state = CallState.ENDED
        self.end_reason = reason
        log.info("call %s ended: %s", self.call_id, reason)
        try:
            self.ivr.close()
        except Exception:
            log.exception("closing phone leg failed")
        self.media.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self._ack_event.set()
        self.host.forget_call(self)

    def build_bye(self) -> tuple[SipRequest, tuple[str, int], str]:
        """Our BYE (section 15.1.1)."""
        return self.dialog.build_request("BYE", timer=self.timer)

    def build_ack(self, invite_cseq: int) -> tuple[SipRequest, tuple[str, int], str]:
        """The ACK of a 2xx to our re-INVITE (section 13.2.2.4): a new transaction, the
        INVITE's CSeq number."""
        return self.dialog.build_ack(invite_cseq)

    async def _refresh_loop(self) -> None:
        """RFC 4028 section 10 when we are the refresher: refresh at half the interval, with
        UPDATE if the peer allows it (no SDP), else with a re-INVITE carrying our same SDP."""
        allow = {m.strip().upper() for m in self.invite.headers.get_list("Allow")} if (
            self.invite.headers.get("Allow")) else set()
        while not self.ended and self.timer is not None and self.timer.refresher == "uas":
            await self.clock.sleep_until(self._last_refresh + self.timer.interval / 2)
            if self.ended or self.timer is None or self.timer.refresher != "uas":
                return
            if self._pending_2xx is not None:  # their re-INVITE in progress: retry soon
                await self.clock.sleep_until(self.clock.now() + 1.0)
                continue
            if "UPDATE" in allow:
                request, dest, branch = self.dialog.build_request("UPDATE", timer=self.timer)
            else:
                request, dest, branch = self.dialog.build_request(
                    "INVITE", self.answer_sdp(), "application/sdp", timer=self.timer)
            status = await self.host.send_request(self, request, dest, branch)
            self.host.stats["session_refreshes_sent"] += 1
            if 200 <= status < 300:
                self._last_refresh = self.clock.now()
            elif status == 491:  # glare: section 14.1, retry after 2.1 to 4 s
                await self.clock.sleep_until(self.clock.now() + random.uniform(2.1, 4.0))
                self._last_refresh = self.clock.now() - self.timer.interval / 2
            elif status == 422 or (500 <= status < 600 and status != 503):
                continue
            else:  # 481, 408 (timeout), anything else: the dialog is gone
                self.host.stats["session_refresh_failed"] += 1
                self.hangup(f"session refresh failed ({status})")
                return
