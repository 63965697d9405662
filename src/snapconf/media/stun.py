"""ICE-lite connectivity checks: the server side of a STUN Binding transaction.

The message format is :mod:`aioice.stun`; this module adds the checks an ICE-lite
agent makes on a request (RFC 8445 §7.3, RFC 8489 §9.2: USERNAME, MESSAGE-INTEGRITY
with the local ice-pwd, FINGERPRINT) and builds the authenticated response.

:class:`FailureLimiter` bounds what a source whose requests keep failing may cost: a
wrong-password request costs a parse, an HMAC and a 401 reply, and a flood of them must not
starve the media sharing the socket.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aioice import stun


@dataclass(slots=True, frozen=True)
class BindingRequest:
    """A parsed Binding request, before its integrity is checked."""

    message: stun.Message
    local_ufrag: str
    remote_ufrag: str
    use_candidate: bool
    priority: int | None


def parse_binding_request(data: bytes) -> BindingRequest:
    """Parse a STUN Binding request for ICE (RFC 8445 §7.2.2).

    Raises :class:`ValueError` with an exact message when the datagram is not a whole
    STUN Binding request with a FINGERPRINT and a ``local:remote`` USERNAME.
    """
    try:
        message = stun.parse_message(data)
    except ValueError:
        raise
    except Exception as exc:  # struct.error, IndexError on truncated attributes
        raise ValueError("STUN message is malformed") from exc
    if message.message_method != stun.Method.BINDING:
        raise ValueError("STUN message is not a Binding")
    if message.message_class != stun.Class.REQUEST:
        raise ValueError("STUN message is not a request")
    if "FINGERPRINT" not in message.attributes:
        raise ValueError("STUN request has no FINGERPRINT")
    username = message.attributes.get("USERNAME")
    if not isinstance(username, str) or ":" not in username:
        raise ValueError("STUN request has no ICE USERNAME")
    local_ufrag, _, remote_ufrag = username.partition(":")
    if "MESSAGE-INTEGRITY" not in message.attributes:
        raise ValueError("STUN request has no MESSAGE-INTEGRITY")
    return BindingRequest(
        message=message,
        local_ufrag=local_ufrag,
        remote_ufrag=remote_ufrag,
        use_candidate="USE-CANDIDATE" in message.attributes,
        priority=message.attributes.get("PRIORITY"),
    )


def check_integrity(request: BindingRequest, local_pwd: str) -> bool:
    """True when MESSAGE-INTEGRITY was made with our ice-pwd (RFC 8489 §9.2.4)."""
    return request.message.check_message_integrity(local_pwd.encode())


def binding_success(request: BindingRequest, addr: tuple[str, int], local_pwd: str) -> bytes:
    """The Binding success response with XOR-MAPPED-ADDRESS (RFC 8489 §14.2)."""
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=request.message.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
    response.add_message_integrity(local_pwd.encode())
    return bytes(response)


def binding_error(request: BindingRequest, code: int, reason: str) -> bytes:
    """A Binding error response, unauthenticated (RFC 8489 §6.3.4)."""
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.ERROR,
        transaction_id=request.message.transaction_id,
    )
    response.attributes["ERROR-CODE"] = (code, reason)
    response.add_fingerprint()
    return bytes(response)


def source_key(host: str) -> str | bytes:
    """The unit a source's failures are counted in: an IPv4 address, or an IPv6 /64.

    One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.4), so counting per address would
    give it 2**64 buckets. IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) count per address.
    """
    if ":" not in host or host.startswith("::ffff:"):
        return host
    try:
        return socket.inet_pton(socket.AF_INET6, host.partition("%")[0])[:8]
    except OSError:
        return host


class FailureLimiter:
    """Token buckets, one per source, spent by STUN requests that fail.

    A source starts with ``burst`` tokens and regains ``rate`` per second, up to ``burst``;
    each failed request (bad integrity, unknown ufrag, malformed, replayed) spends one, and
    an error reply is sent only when a token was left. Once a source's bucket is empty its
    STUN is dropped before it is parsed or its HMAC computed. Only sources that failed are
    remembered, at most ``max_sources``: the one that failed least recently is forgotten
    first. ``now`` comes from the caller's clock.
    """

    __slots__ = ("_buckets", "burst", "max_sources", "rate")

    def __init__(self, rate: float, burst: int, max_sources: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.max_sources = max(max_sources, 1)
        #: source -> [tokens, time of the last failure], least recently failing first
        self._buckets: dict[str | bytes, list[float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def allows(self, source: str | bytes, now: float) -> bool:
        """True when ``source`` has a token left (a source never seen failing has)."""
        bucket = self._buckets.get(source)
        return bucket is None or bucket[0] + (now - bucket[1]) * self.rate >= 1.0

    def spend(self, source: str | bytes, now: float) -> bool:
        """Count one failure of ``source``; True when it still had a token to spend."""
        buckets = self._buckets
        bucket = buckets.pop(source, None)
        if bucket is None:
            tokens = self.burst
            if len(buckets) >= self.max_sources:
                del buckets[next(iter(buckets))]
        else:
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        buckets[source] = [tokens, now]
        return allowed
