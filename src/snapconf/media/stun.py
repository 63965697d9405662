"""ICE-lite connectivity checks: the server side of a STUN Binding transaction.

The message format is :mod:`aioice.stun`; this module adds the checks an ICE-lite
agent makes on a request (RFC 8445 §7.3, RFC 8489 §9.2: USERNAME, MESSAGE-INTEGRITY
with the local ice-pwd, FINGERPRINT) and builds the authenticated response.
"""

from __future__ import annotations

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
