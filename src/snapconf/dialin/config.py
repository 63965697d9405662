"""The SIP gateway's configuration, with every default written beside it.

:class:`SipConfig` is the component config the root config composes (LiveKit style);
:meth:`SipConfig.from_dict` rejects unknown keys and names the offending field.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from snapconf.dialin.message import Limits

__all__ = ["SipConfig", "SipTimers"]


@dataclass(frozen=True)
class SipTimers:
    """RFC 3261 section 17.1.1.1 timer values, in seconds."""

    t1: float = 0.5
    """Round-trip estimate: first 2xx / non-2xx retransmission interval."""
    t2: float = 4.0
    """Cap of the retransmission interval."""
    t4: float = 5.0
    """Maximum time a message stays in the network (Timer I)."""


@dataclass(frozen=True)
class SipConfig:
    """Everything the SIP gateway needs to listen, answer and protect itself."""

    enabled: bool = True
    """Start the gateway with ``snapconf serve``."""
    host: str = "127.0.0.1"
    """Address the UDP and TCP listeners bind to (a trunk needs a reachable one)."""
    port: int = 5060
    """SIP port for UDP and TCP (0 picks a free port, for tests)."""
    tcp: bool = True
    """Also listen on TCP (RFC 3261 section 18: mandatory for UAS)."""
    tls_port: int = 5061
    tls_cert: str = ""
    """PEM certificate chain; TLS listens on ``tls_port`` only when this and ``tls_key`` are set."""
    tls_key: str = ""
    advertised_host: str = ""
    """Address written in Contact, Via and SDP ``c=`` lines (defaults to ``host``, or 127.0.0.1
    when ``host`` is a wildcard)."""
    rtp_host: str = ""
    """Address RTP sockets bind to (defaults to ``host``)."""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    """Inclusive even-port range for RTP (RTCP on the odd port above, RFC 3550 section 11)."""
    rtp_timeout: float = 30.0
    """Seconds without RTP (when not on hold) before the call is ended with BYE."""
    ptime: int = 20
    """Milliseconds of audio per packet we send and ask for."""
    codecs: tuple[str, ...] = ("opus", "G722", "PCMA", "PCMU")
    """Codec preference, best first (RFC 3264 section 6.1: we pick from the offer in this order)."""
    ring_time: float = 0.5
    """Seconds between 180 Ringing and the 200 OK (lets trunks CANCEL; 0 answers at once)."""
    timers: SipTimers = field(default_factory=SipTimers)
    limits: Limits = field(default_factory=Limits)
    session_expires: int = 1800
    """RFC 4028: session interval we accept by default, in seconds."""
    min_se: int = 90
    """RFC 4028 section 5: smallest Session-Expires we accept (else 422)."""
    max_tcp_connections: int = 1024
    """Open TCP/TLS connections beyond which new ones are closed at once (each listener)."""
    max_calls: int = 500
    """Concurrent calls beyond which INVITEs get 503 with ``Retry-After``."""
    retry_after: int = 30
    """Seconds in the ``Retry-After`` of 503 responses."""
    request_rate: float = 50.0
    request_burst: float = 100.0
    """Token bucket per source address for every request (requests per second and burst);
    allowlisted trunks, which carry every caller from one address, are exempt. Requests
    beyond it are dropped without an answer."""
    invite_rate: float = 5.0
    invite_burst: float = 10.0
    """Tighter token bucket per source address for new INVITEs (same exemption; dropped)."""
    trunk_invite_rate: float = 50.0
    trunk_invite_burst: float = 100.0
    """Token bucket per allowlisted trunk address for new INVITEs: beyond it, 503 with a
    ``Retry-After`` of the seconds until the next token (RFC 3261 section 21.5.4), so a
    flood through a trunk cannot take every call slot and the loop."""
    allowlist: tuple[str, ...] = ()
    """Trunk addresses or networks (``192.0.2.0/24``); if not empty, others are silently
    dropped. Allowlisted peers get a ``Server`` header and a 400 for malformed requests."""
    pin_attempts: int = 3
    """Wrong PINs per call before "too many attempts, goodbye"."""
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 5.0
    lockout_threshold: int = 10
    """Wrong PINs from one source address (an IPv6 /64) that is not a trunk, within
    ``failure_window``, before PIN entry from it is locked for ``lockout_seconds`` after the
    last one. The caller's number is never a key: the caller chooses it."""
    lockout_seconds: float = 300.0
    trunk_lockout_threshold: int = 100
    """Wrong PINs through one allowlisted trunk address within ``failure_window`` before PIN
    entry through it is refused for ``trunk_lockout_seconds`` (a trunk carries many real
    callers, hence a larger budget and a shorter refusal)."""
    trunk_lockout_seconds: float = 60.0
    global_lockout_threshold: int = 100
    """Wrong PINs per minute across all sources beyond which PIN entry is refused, for every
    caller not yet in a conference, for ``global_lockout_seconds`` (they hear "service
    momentanément indisponible" and get a BYE)."""
    global_lockout_seconds: float = 60.0
    failure_delay: float = 1.0
    """The delay before "wrong code" grows by this many seconds per recent failure of the
    source (for a trunk: at the same share of its budget), plus a fifth of that per recent
    failure on the number dialed (capped at 10 s)."""
    failure_window: float = 600.0
    """Failures older than this are forgotten."""
    user_agent: str = "snapconf"
    """Server header, sent to allowlisted peers only (none to unknown sources)."""
    static_conferences: dict[str, str] = field(default_factory=dict)
    """Conference name -> PIN, for :class:`StaticConferenceDirectory` until the database
    exists."""

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError("sip.port is not a valid port")
        if not 0 <= self.tls_port < 65536:
            raise ValueError("sip.tls_port is not a valid port")
        if not 0 < self.rtp_port_min <= self.rtp_port_max < 65535:
            raise ValueError("sip.rtp_port_min/rtp_port_max is not a valid port range")
        if self.ptime not in (10, 20, 30, 40, 60):
            raise ValueError("sip.ptime must be one of 10, 20, 30, 40, 60")
        if self.max_calls < 0:
            raise ValueError("sip.max_calls is negative")
        if self.min_se < 90:
            raise ValueError("sip.min_se is below 90 (RFC 4028 section 4)")
        if self.session_expires < self.min_se:
            raise ValueError("sip.session_expires is below sip.min_se")
        for name in ("request_rate", "request_burst", "invite_rate", "invite_burst",
                     "trunk_invite_rate", "trunk_invite_burst", "lockout_threshold",
                     "trunk_lockout_threshold", "global_lockout_threshold", "failure_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sip.{name} must be positive")
        for name in ("lockout_seconds", "trunk_lockout_seconds", "global_lockout_seconds",
                     "failure_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"sip.{name} is negative")
        for entry in self.allowlist:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"sip.allowlist entry {entry!r} is not an address") from None
        known = {"opus", "G722", "PCMA", "PCMU"}
        for codec in self.codecs:
            if codec not in known:
                raise ValueError(f"sip.codecs: unknown codec {codec!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("sip.tls_cert and sip.tls_key must be set together")

    @property
    def contact_host(self) -> str:
        if self.advertised_host:
            return self.advertised_host
        if self.host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return self.host

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SipConfig:
        """Build from a parsed config section, rejecting unknown keys (``sip.<key>``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise ValueError(f"sip.{key} is not a known setting")
            if key == "timers":
                if not isinstance(value, dict):
                    raise ValueError("sip.timers is not a mapping")
                value = SipTimers(**value)
            elif key == "limits":
                if not isinstance(value, dict):
                    raise ValueError("sip.limits is not a mapping")
                value = Limits(**value)
            elif key in ("codecs", "allowlist"):
                if not isinstance(value, list | tuple):
                    raise ValueError(f"sip.{key} is not a list")
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)
