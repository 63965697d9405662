"""One phone call: its dialog (RFC 3261 section 12), its RTP session, the IVR and its leg.

A :class:`Call` is created by the gateway for a new INVITE. It answers (180 then 200 with the SDP
answer), retransmits the 2xx until the ACK (section 13.3.1.4), runs the IVR once confirmed
(welcome, PIN by RFC 4733 or SIP INFO, 3 attempts) and then joins the conference through the
:class:`~snapconf.dialin.bridge.ConferenceBridge`. Every way a call ends goes through
:meth:`Call.end`, which closes the leg, the RTP sockets and the tasks exactly once.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import random
import re
import secrets
from typing import TYPE_CHECKING

from snapconf.conference.phone import mix_ptime
from snapconf.dialin.bridge import (
    ConferenceFull,
    ConferenceLeg,
    JoinRefused,
    PhoneMedia,
    mask_number,
)
from snapconf.dialin.directory import ConferenceState
from snapconf.dialin.dtmf import DtmfReceiver, parse_dtmf_relay
from snapconf.dialin.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    Via,
    make_response,
    split_header_list,
)
from snapconf.dialin.prompts import count_prompts
from snapconf.dialin.protection import GLOBAL
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
from snapconf.media.plain_transport import PlainTransport

if TYPE_CHECKING:
    from snapconf.dialin.gateway import SipGateway, _ServerTransaction

__all__ = ["Call", "CallState", "SessionTimer"]

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"


class CallState(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    """200 OK sent, waiting for the ACK."""
    CONFIRMED = "confirmed"
    ENDED = "ended"


class SessionTimer:
    """RFC 4028 as UAS: the negotiated interval and who refreshes."""

    def __init__(self, interval: int, refresher: str) -> None:
        self.interval = interval
        self.refresher = refresher

    @classmethod
    def negotiate(
        cls, request: SipRequest, default: int, min_se: int
    ) -> SessionTimer | int | None:
        """The timer for ``request`` (RFC 4028 section 9); an int is the Min-SE to send in a
        422; None when neither side asked for session timers.

        We may lower the interval to ``default`` (never below Min-SE) and keep the refresher
        the UAC chose; if it chose none, it refreshes when it supports timers, else we do.
        """
        se_header = request.headers.get("Session-Expires")
        supported = {
            t.strip().lower()
            for name in ("Supported", "Require")
            if request.headers.get(name)
            for t in request.headers.get_list(name)
        }
        uac_supports = "timer" in supported
        if se_header is None:
            return cls(default, "uac") if uac_supports else None
        value, _, params = se_header.partition(";")
        value = value.strip()
        if not value.isdigit() or len(value) > 10:
            raise SipParseError("bad Session-Expires")
        interval = int(value)
        if interval < min_se:
            return min_se
        m = re.search(r"refresher\s*=\s*(uac|uas)", params, re.IGNORECASE)
        if m is not None and (m.group(1).lower() == "uas" or uac_supports):
            refresher = m.group(1).lower()
        else:
            refresher = "uac" if uac_supports else "uas"
        return cls(max(min(interval, default), min_se), refresher)

    def headers(self) -> list[tuple[str, str]]:
        """Section 9: ``Require: timer`` only when the UAC is the refresher."""
        out = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.refresher == "uac":
            out.append(("Require", "timer"))
        return out


class Call:
    """A dialog created by an INVITE, with its media and IVR."""

    def __init__(
        self,
        gateway: SipGateway,
        invite: SipRequest,
        source: Source,
        dest: tuple[str, int],
        offer: SessionDescription | None,
        negotiated: Negotiated,
        timer: SessionTimer | None,
    ) -> None:
        """``offer`` is None for an INVITE without SDP: ``negotiated`` is then provisional
        until the ACK brings the answer to the offer our 2xx makes."""
        self.gw = gateway
        self.config = gateway.config
        self.clock = gateway.clock
        self.invite = invite
        self.source = source
        self.dest = dest
        self.call_id = invite.call_id
        self.local_tag = secrets.token_hex(6)
        self.remote_tag = invite.from_.tag or ""
        self.local_uri = str(NameAddr(invite.to.uri, invite.to.display))
        self.remote_uri = invite.headers.get("From") or ""
        contacts = invite.headers.get_list("Contact")
        self.remote_target = NameAddr.parse(contacts[0]).uri if contacts else invite.from_.uri
        # RFC 3261 section 12.1.1: the UAS route set is the Record-Route list, in order
        self.route_set = invite.headers.get_list("Record-Route")
        self.remote_cseq = invite.cseq.number
        self.local_cseq = random.randint(1, 10000)
        self.offer = offer
        self.negotiated = negotiated
        self.timer = timer
        self.state = CallState.RINGING
        self.on_hold = negotiated.on_hold
        self.send_media = negotiated.answer_direction in ("sendrecv", "sendonly")
        self.sdp_session_id = random.randint(1, 2**31)
        self.sdp_version = 1
        self.rtp: PlainTransport | None = None
        self.dtmf = DtmfReceiver(self.on_digit)
        self.leg: ConferenceLeg | None = None
        self.conference_id: str | None = None
        self.muted = False
        self.prompt_playing = False
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.invite_tx: _ServerTransaction | None = None
        self._pending_2xx: tuple[int, bytes] | None = None
        self._ack_event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_refresh = self.clock.now()
        self.answered_at: float | None = None
        self.end_reason: str | None = None
        self.caller_number = self._caller_number(invite)
        self.caller_display = invite.from_.display or self.caller_number or "anonymous"
        self.dialed = _dialed(invite.uri)
        self.pins_tried = 0

    @staticmethod
    def _caller_number(invite: SipRequest) -> str:
        for name in ("P-Asserted-Identity", "From"):
            value = invite.headers.get(name)
            if not value:
                continue
            try:
                uri = SipUri.parse(NameAddr.parse(split_first(value)).uri)
            except SipParseError:
                continue
            if uri.user:
                return uri.user.split(";", 1)[0]
            if uri.opaque:
                return uri.opaque.split(";", 1)[0]
        return ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    def spawn(self, coro: object, name: str) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        task.set_name(f"sip-call-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s task failed", self.call_id, exc_info=task.exception())
            self.gw.stats["call_task_errors"] += 1
            if not self.ended:
                self.hangup("internal error")

    # -- media setup -----------------------------------------------------------------------

    async def open_media(self) -> None:
        n = self.negotiated
        known = self.offer is not None
        self.rtp = PlainTransport(
            clock=self.clock,
            clock_rate=n.codec.clock_rate,
            audio_pt=n.payload_type,
            dtmf_pt=n.dtmf_payload_type,
            remote=(n.remote_host, n.remote_port) if known else None,
            remote_rtcp=(n.remote_host, n.remote_rtcp_port) if known else None,
            on_dtmf=self.dtmf.receive,
        )
        self._hold_output()
        await self.rtp.open(self.gw.rtp_host, self.gw.ports)

    @property
    def ptime(self) -> int:
        """The packet time the phone hears, prompts and mix alike: the caller's ``a=ptime``
        (RFC 4566 section 6: what it would like to receive) when we can make it for the
        codec, else ``sip.ptime`` (which our SDP announces), else 20 ms."""
        n = self.negotiated
        return mix_ptime(n.codec.name, n.remote_ptime, self.config.ptime)

    def _hold_output(self) -> None:
        """The mix reaches the phone unless a prompt plays or the SDP says not to send."""
        if self.rtp is not None:
            self.rtp.output_held = self.prompt_playing or not self.send_media

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

    def _contact(self) -> str:
        name = self.source.transport
        transport = "" if name == "UDP" else f";transport={name.lower()}"
        port = self.gw.port_for(self.source.transport)
        return f"<sip:snapconf@{self.config.contact_host}:{port}{transport}>"

    def response(
        self,
        request: SipRequest,
        status: int,
        reason: str,
        *,
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
    ) -> SipResponse:
        headers = list(extra or [])
        if 100 < status < 300 and request.method in ("INVITE", "UPDATE"):
            headers.append(("Contact", self._contact()))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return make_response(
            request,
            status,
            reason,
            to_tag=self.local_tag if status > 100 else None,
            extra=headers,
            body=body,
            record_route=request.method == "INVITE" and 100 < status < 300
            and request.to.tag is None,
        )

    # -- answering (RFC 3261 section 13.3) -------------------------------------------------

    async def ring_and_answer(self) -> None:
        assert self.invite_tx is not None
        if self.config.ring_time > 0:
            self.gw.respond(self.invite_tx, self.response(self.invite, 180, "Ringing"))
            await self.clock.sleep_until(self.clock.now() + self.config.ring_time)
        if self.ended:
            return
        extra = [("Allow", ALLOW), ("Supported", "timer")]
        if self.timer is not None:
            extra += self.timer.headers()
        ok = self.response(self.invite, 200, "OK", body=self.answer_sdp(), extra=extra)
        self.state = CallState.ANSWERED
        self.answered_at = self.clock.now()
        self.gw.stats["calls_answered"] += 1
        self.spawn(self._send_2xx_until_ack(self.invite_tx, ok, self.invite.cseq.number),
                   "2xx")
        self.spawn(self._monitor(), "monitor")

    async def _send_2xx_until_ack(
        self, tx: _ServerTransaction, ok: SipResponse, cseq: int
    ) -> None:
        """Section 13.3.1.4: retransmit the 2xx at T1, doubling up to T2, until the ACK;
        64*T1 without one ends the call with a BYE."""
        t1, t2 = self.config.timers.t1, self.config.timers.t2
        self._ack_event.clear()
        data = bytes(ok)
        self._pending_2xx = (cseq, data)
        self.gw.respond(tx, ok)
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
                self.gw.stats["ack_timeouts"] += 1
                self.hangup("no ACK")
                return
            if not self.source.stream:
                self.gw.send_to(self.source, self.dest, data)
                self.gw.stats["2xx_retransmissions"] += 1
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
                self.gw.stats["sdp_refused"] += 1
                self.hangup("no usable answer in the ACK")
                return
            self.state = CallState.CONFIRMED
            self._last_refresh = self.clock.now()
            self.spawn(self._ivr(), "ivr")
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
        self.send_media = negotiated.answer_direction in ("sendrecv", "sendonly")
        self._hold_output()
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
        self.gw.send_to(self.source, self.dest, self._pending_2xx[1])
        return True

    # -- in-dialog requests ----------------------------------------------------------------

    def on_request(self, request: SipRequest, tx: _ServerTransaction) -> None:
        method = request.method
        if method == "ACK":
            self.on_ack(request)
            return
        if request.cseq.number <= self.remote_cseq and method != "CANCEL":
            self.gw.respond(tx, self.response(request, 500, "Server Internal Error",
                                              extra=[("Retry-After", "1")]))
            return
        self.remote_cseq = request.cseq.number
        if method == "BYE":
            self.gw.respond(tx, self.response(request, 200, "OK"))
            self.gw.stats["bye_received"] += 1
            self.end("remote BYE")
        elif method in ("INVITE", "UPDATE"):
            self._on_offer(request, tx)
        elif method == "INFO":
            self._on_info(request, tx)
        elif method == "OPTIONS":
            self.gw.respond(tx, self.response(request, 200, "OK", extra=[("Allow", ALLOW)]))
        else:
            self.gw.respond(tx, self.response(request, 405, "Method Not Allowed",
                                              extra=[("Allow", ALLOW)]))

    def _on_info(self, request: SipRequest, tx: _ServerTransaction) -> None:
        ctype = request.content_type
        if ctype in ("application/dtmf-relay", "application/dtmf"):
            digit = parse_dtmf_relay(request.body) if ctype == "application/dtmf-relay" else (
                request.body.decode("ascii", "replace").strip()[:1].upper() or None
            )
            if digit is not None:
                self.on_digit(digit)
            self.gw.respond(tx, self.response(request, 200, "OK"))
        elif not request.body:
            self.gw.respond(tx, self.response(request, 200, "OK"))
        else:
            self.gw.respond(tx, self.response(request, 415, "Unsupported Media Type",
                                              extra=[("Accept", "application/dtmf-relay")]))

    def _on_offer(self, request: SipRequest, tx: _ServerTransaction) -> None:
        """re-INVITE or UPDATE (RFC 3311): hold/resume and session refresh."""
        if request.method == "INVITE" and self._pending_2xx is not None:
            # an INVITE transaction of ours is still in progress: RFC 3261 section 14.2
            self.gw.respond(tx, self.response(request, 491, "Request Pending"))
            self.gw.stats["glare_491"] += 1
            return
        timer = SessionTimer.negotiate(request, self.config.session_expires, self.config.min_se)
        if isinstance(timer, int):
            self.gw.respond(tx, self.response(request, 422, "Session Interval Too Small",
                                              extra=[("Min-SE", str(timer))]))
            return
        if request.body:
            if request.content_type != "application/sdp":
                self.gw.respond(tx, self.response(request, 415, "Unsupported Media Type",
                                                  extra=[("Accept", "application/sdp")]))
                return
            try:
                offer = parse_sdp(request.body)
                current = self.negotiated.codec.name
                prefs = (current, *(c for c in self.config.codecs if c != current))
                negotiated = negotiate(offer, prefs)
            except SdpError:
                self.gw.respond(tx, self.response(request, 488, "Not Acceptable Here"))
                return
            if negotiated.codec.name != current or negotiated.payload_type != (
                self.negotiated.payload_type
            ):
                # a change of codec mid-call is not supported by the leg: keep the old one
                self.gw.respond(tx, self.response(request, 488, "Not Acceptable Here"))
                return
            changed = negotiated.direction != self.negotiated.direction
            self.offer, self.negotiated = offer, negotiated
            self.on_hold = negotiated.on_hold
            self.send_media = negotiated.answer_direction in ("sendrecv", "sendonly")
            self._hold_output()
            if self.rtp is not None:
                self.rtp.update_remote(negotiated.remote_host, negotiated.remote_port,
                                       negotiated.remote_rtcp_port)
                if not self.on_hold:
                    self.rtp.last_received = self.clock.now()
            if changed:
                self.sdp_version += 1
            self.gw.stats["reoffers"] += 1
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
        ok = self.response(request, 200, "OK", body=body, extra=extra)
        if request.method == "INVITE":
            self.spawn(self._send_2xx_until_ack(tx, ok, request.cseq.number), "re2xx")
        else:
            self.gw.respond(tx, ok)

    # -- media -----------------------------------------------------------------------------

    def on_digit(self, digit: str) -> None:
        self.gw.stats["dtmf_digits"] += 1
        self.digits.put_nowait(digit)

    async def play(self, names: list[str], interruptible: bool = False) -> bool:
        """Play prompts in order, one frame per ptime against absolute deadlines; return
        False if a digit interrupted them (barge-in)."""
        rtp = self.rtp
        if rtp is None:
            return True
        codec = self.negotiated.codec
        ptime = self.ptime
        samples = codec.clock_rate * ptime // 1000
        self.prompt_playing = True
        self._hold_output()
        try:
            deadline = self.clock.now()
            for name in names:
                frames = self.gw.prompts.cached(name, codec.name, ptime)
                if frames is None:  # encoding takes milliseconds: keep it off the loop
                    frames = await asyncio.to_thread(
                        self.gw.prompts.frames, name, codec.name, ptime
                    )
                    deadline = max(deadline, self.clock.now())
                for payload in frames:
                    if interruptible and not self.digits.empty():
                        return False
                    if self.ended:
                        return True
                    if self.send_media:
                        rtp.send(payload, samples)
                    deadline += ptime / 1000
                    await self.clock.sleep_until(deadline)
        finally:
            self.prompt_playing = False
            self._hold_output()
        return True

    async def _next_digit(self, timeout: float) -> str | None:
        if not self.digits.empty():
            return self.digits.get_nowait()
        get = asyncio.ensure_future(self.digits.get())
        sleep = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + timeout))
        try:
            await asyncio.wait({get, sleep}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        return None

    async def _collect_pin(self) -> str | None:
        """Digits up to ``#``: 10 s to the first, 5 s between digits; ``*`` starts over.
        An inter-digit timeout submits what was typed; no digit at all gives None."""
        pin = ""
        timeout = self.config.first_digit_timeout
        while True:
            digit = await self._next_digit(timeout)
            if digit is None:
                return pin or None
            if digit == "#":
                return pin
            if digit == "*":
                pin = ""
                timeout = self.config.first_digit_timeout
                continue
            if digit.isdigit():
                pin += digit
                if len(pin) > 32:
                    return pin
            timeout = self.config.inter_digit_timeout

    # -- IVR -------------------------------------------------------------------------------

    async def _refused(self) -> bool:
        """End the call if PIN entry is refused now (:class:`~snapconf.dialin.protection.
        PinGuard`): a locked source or trunk hears "trop de tentatives, au revoir", everyone
        during the global refusal "le service est momentanément indisponible, au revoir";
        then BYE. Counted as ``pin_refused_<budget>``."""
        host = self.source.host
        kind = self.gw.pin_guard.refusal(host, host in self.gw.allowlist, self.clock.now())
        if kind is None:
            return False
        self.gw.note_refusal(f"pin_refused_{kind}", host)
        await self.play(["unavailable" if kind == GLOBAL else "too_many"])
        self.hangup(f"PIN entry refused ({kind})")
        return True

    async def _ivr(self) -> None:
        """Welcome, then up to ``pin_attempts`` PINs.

        Wrong PINs are counted per source address, per trunk address and across all sources
        (:class:`~snapconf.dialin.protection.PinGuard`), never per caller number, which the
        caller chooses: a growing delay before "wrong code", then PIN entry refused for a
        while. The budgets are checked when the call starts, before each PIN is looked up
        (another call from the same source may have spent them) and after a right one, so no
        answer is heard once they are spent. A wrong PIN names no conference, so the
        conference side is counted per number dialed (a conference's access line): it adds a
        growing delay to wrong attempts only, never a lock-out, which would let anyone lock
        every caller of that line out.
        """
        gw = self.gw
        host = self.source.host
        trunk = host in gw.allowlist
        access_key = f"dialed:{self.dialed}"
        if await self._refused():
            return
        prompt = ["welcome"]
        for _ in range(self.config.pin_attempts):
            await self.play(prompt, interruptible=True)
            prompt = ["enter_code"]
            pin = await self._collect_pin()
            if self.ended:
                return
            if not pin:
                continue
            if await self._refused():
                return
            self.pins_tried += 1
            entry = await gw.directory.lookup(pin)
            if self.ended:
                return
            if entry is None:
                now = self.clock.now()
                delay = gw.pin_guard.delay(host, trunk, now) + gw.access_failures.delay(
                    access_key, now
                ) / 5
                spent = gw.pin_guard.record(host, trunk, now)
                gw.access_failures.record(access_key, now)
                gw.stats["pin_failures"] += 1
                if spent is not None:
                    gw.note_refusal(f"pin_lockout_{spent}", host)
                if delay > 0:
                    await self.clock.sleep_until(now + min(delay, 10.0))
                kind = gw.pin_guard.refusal(host, trunk, self.clock.now())
                if kind == GLOBAL:
                    await self.play(["unavailable"])
                    self.hangup("PIN entry refused (global)")
                    return
                if kind is not None:
                    break
                await self.play(["wrong_code"])
                continue
            if await self._refused():
                return
            if entry.state is ConferenceState.NOT_STARTED:
                await self.play(["not_started"])
                self.hangup("conference not started")
                return
            if entry.state is ConferenceState.ENDED:
                await self.play(["ended"])
                self.hangup("conference ended")
                return
            await self._join(entry.conference_id)
            return
        gw.stats["pin_too_many"] += 1
        await self.play(["too_many"])
        self.hangup("too many attempts")

    async def _join(self, conference_id: str) -> None:
        n = self.negotiated
        assert self.rtp is not None
        media = PhoneMedia(self.rtp, n.codec.name, n.payload_type, n.codec.clock_rate, self.ptime)
        try:
            leg = await self.gw.bridge.join_phone(
                conference_id,
                self.caller_display,
                mask_number(self.caller_number),
                media,
                self._on_bridge_end,
            )
        except JoinRefused as exc:
            await self.play(["unavailable"])
            self.hangup("conference full" if isinstance(exc, ConferenceFull) else "refused")
            return
        if self.ended:
            leg.close()
            return
        self.leg = leg
        self.conference_id = conference_id
        self.gw.stats["calls_joined"] += 1
        await self.play(count_prompts(leg.participant_count))
        await self._in_call_digits()

    async def _in_call_digits(self) -> None:
        """``*6`` toggles mute, with a short prompt."""
        star_at: float | None = None
        while not self.ended:
            digit = await self.digits.get()
            now = self.clock.now()
            if digit == "*":
                star_at = now
                continue
            if digit == "6" and star_at is not None and now - star_at < 3.0:
                # the conference's state, not ours: a moderator may have muted the caller
                self.muted = not (self.leg.muted if self.leg is not None else self.muted)
                if self.leg is not None:
                    self.leg.set_muted(self.muted)
                self.gw.stats["mute_toggles"] += 1
                await self.play(["muted" if self.muted else "unmuted"])
            star_at = None

    def _on_bridge_end(self, reason: str) -> None:
        if not self.ended:
            self.hangup(reason)

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
                    self.gw.stats["rtp_timeouts"] += 1
                    self.hangup("RTP timeout")
                    return
            if self.timer is not None and self.timer.refresher == "uac":
                limit = self.timer.interval - min(32, self.timer.interval / 3)
                if now - self._last_refresh > limit:
                    self.gw.stats["session_timer_expired"] += 1
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
            self.gw.send_bye(self)

    def end(self, reason: str) -> None:
        """Release everything: leg, RTP ports, tasks, the dialog entry. Idempotent."""
        if self.ended:
            return
        self.state = CallState.ENDED
        self.end_reason = reason
        log.info("call %s ended: %s", self.call_id, reason)
        if self.leg is not None:
            try:
                self.leg.close()
            except Exception:
                log.exception("closing phone leg failed")
        if self.rtp is not None:
            self.rtp.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self._ack_event.set()
        self.gw.forget_call(self)

    def build_request(
        self, method: str, body: bytes = b"", content_type: str | None = None,
        cseq: int | None = None, branch: str | None = None,
    ) -> tuple[SipRequest, tuple[str, int], str]:
        """A request inside the dialog (section 12.2.1.1): remote target, route set, the next
        local CSeq (or ``cseq``, for an ACK). Returns the request, its destination and its
        branch."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        target = self.remote_target
        routes = list(self.route_set)
        request_uri = target
        next_hop = target
        if routes:
            first = NameAddr.parse(routes[0]).uri
            if "lr" in SipUri.parse(first).params:
                next_hop = first
            else:  # strict router: it becomes the Request-URI (section 12.2.1.1)
                request_uri = first
                routes = [*routes[1:], f"<{target}>"]
                next_hop = first
        branch = branch or "z9hG4bK" + secrets.token_hex(8)
        transport = self.source.transport
        port = self.gw.port_for(transport)
        h = Headers()
        h.add("Via", str(Via(transport, self.config.contact_host, port,
                             {"branch": branch, "rport": None})))
        h.add("Max-Forwards", "70")
        h.add("From", f"{self.local_uri};tag={self.local_tag}")
        h.add("To", self.remote_uri)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        for route in routes:
            h.add("Route", route)
        if method in ("INVITE", "UPDATE"):
            h.add("Contact", self._contact())
            h.add("Allow", ALLOW)
            h.add("Supported", "timer")
            if self.timer is not None:
                for name, value in self.timer.headers():
                    h.add(name, value)
        if content_type:
            h.add("Content-Type", content_type)
        request = SipRequest(method, request_uri, h, body, validate=False)
        dest = self.dest
        try:
            hop = SipUri.parse(next_hop)
        except SipParseError:
            hop = None
        if hop is not None and hop.host and _is_ip(hop.host):
            host = hop.host.strip("[]")
            # a Contact behind a NAT is unreachable: without a route set, trust it only when
            # it names the address the INVITE came from (RFC 3581 spirit)
            if routes or host == self.source.host:
                dest = (host, hop.port or (5061 if transport == "TLS" else 5060))
        return request, dest, branch

    def build_bye(self) -> tuple[SipRequest, tuple[str, int], str]:
        """Our BYE (section 15.1.1)."""
        return self.build_request("BYE")

    def build_ack(self, invite_cseq: int) -> tuple[SipRequest, tuple[str, int], str]:
        """The ACK of a 2xx to our re-INVITE (section 13.2.2.4): a new transaction, the
        INVITE's CSeq number."""
        return self.build_request("ACK", cseq=invite_cseq)

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
                request, dest, branch = self.build_request("UPDATE")
            else:
                request, dest, branch = self.build_request(
                    "INVITE", self.answer_sdp(), "application/sdp")
            status = await self.gw.send_request(self, request, dest, branch)
            self.gw.stats["session_refreshes_sent"] += 1
            if 200 <= status < 300:
                self._last_refresh = self.clock.now()
            elif status == 491:  # glare: section 14.1, retry after 2.1 to 4 s
                await self.clock.sleep_until(self.clock.now() + random.uniform(2.1, 4.0))
                self._last_refresh = self.clock.now() - self.timer.interval / 2
            elif status == 422 or (500 <= status < 600 and status != 503):
                continue
            else:  # 481, 408 (timeout), anything else: the dialog is gone
                self.gw.stats["session_refresh_failed"] += 1
                self.hangup(f"session refresh failed ({status})")
                return


def split_first(value: str) -> str:
    return split_header_list(value)[0]


def _dialed(request_uri: str) -> str:
    """The number dialed: the user part of a sip(s): Request-URI, the number of a tel: one
    (a sip(s): URI that does not parse raises :class:`SipParseError`)."""
    uri = SipUri.parse(request_uri)
    if uri.scheme == "tel" and uri.opaque is not None:
        return uri.opaque.split(";", 1)[0]
    return uri.user or ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
