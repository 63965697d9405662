"""The SIP side of a call: its dialog (RFC 3261 section 12) and its session timer (RFC 4028).

A :class:`Dialog` holds what identifies the dialog an INVITE created (Call-ID, tags, URIs,
route set, CSeq numbers) and builds the responses and in-dialog requests of the call: it
does no I/O. :class:`SessionTimer` is the negotiated RFC 4028 interval and refresher.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import re
import secrets
from collections.abc import Callable

from snapconf.dialin.config import SipConfig
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
from snapconf.dialin.transport import Source

__all__ = ["ALLOW", "CallState", "Dialog", "SessionTimer", "caller_number", "dialed"]

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


class Dialog:
    """The dialog an INVITE created, seen from us, the UAS (RFC 3261 section 12.1.1)."""

    def __init__(
        self,
        invite: SipRequest,
        source: Source,
        dest: tuple[str, int],
        config: SipConfig,
        port_for: Callable[[str], int],
    ) -> None:
        """``port_for(transport)`` is our listening port for ``UDP``, ``TCP`` or ``TLS``."""
        self.config = config
        self.source = source
        self.dest = dest
        self._port_for = port_for
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

    def contact(self) -> str:
        name = self.source.transport
        transport = "" if name == "UDP" else f";transport={name.lower()}"
        port = self._port_for(self.source.transport)
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
            headers.append(("Contact", self.contact()))
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

    def build_request(
        self, method: str, body: bytes = b"", content_type: str | None = None,
        cseq: int | None = None, branch: str | None = None,
        timer: SessionTimer | None = None,
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
        port = self._port_for(transport)
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
            h.add("Contact", self.contact())
            h.add("Allow", ALLOW)
            h.add("Supported", "timer")
            if timer is not None:
                for name, value in timer.headers():
                    h.add(name, value)
        if content_type:
            h.add("Content-Type", content_type)
        request = SipRequest(method, request_uri, h, body, validate=False)
        dest = self.dest
        try:
            hop = SipUri.parse(next_hop)
        except SipParseError:
            hop = None
        if hop is not None and hop.host and is_ip(hop.host):
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


def caller_number(invite: SipRequest) -> str:
    """The caller's number: the user part of P-Asserted-Identity, else of From."""
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


def split_first(value: str) -> str:
    return split_header_list(value)[0]


def dialed(request_uri: str) -> str:
    """The number dialed: the user part of a sip(s): Request-URI, the number of a tel: one
    (a sip(s): URI that does not parse raises :class:`SipParseError`)."""
    uri = SipUri.parse(request_uri)
    if uri.scheme == "tel" and uri.opaque is not None:
        return uri.opaque.split(";", 1)[0]
    return uri.user or ""


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
