"""RFC 4733 telephone events and SIP INFO digits: how a caller types the PIN.

The call's :class:`~snapconf.media.plain_transport.PlainTransport` hands each packet of the
negotiated telephone-event payload type to :meth:`DtmfReceiver.receive`; SIP INFO bodies go
to :func:`parse_dtmf_relay`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["DTMF_EVENTS", "DtmfReceiver", "parse_dtmf_relay"]

DTMF_EVENTS = "0123456789*#ABCD"
"""RFC 4733 section 3.2: events 0-15 in this order."""


class DtmfReceiver:
    """RFC 4733 telephone-event decoder: one digit per event, at its end packet.

    The end packet is sent three times (section 2.5.1.4); repeats carry the event's timestamp
    and are dropped. The timestamps of the last few reported events are remembered, so a late
    repeat still counts as one even if the next event's packets came in between (a sender
    whose events overlap). A packet with the marker bit starts a new event (section 2.5.1.2)
    even on a timestamp already seen (a replayed capture).
    """

    HISTORY = 8

    def __init__(self, on_digit: Callable[[str], None]) -> None:
        self._on_digit = on_digit
        self._reported: deque[int] = deque(maxlen=self.HISTORY)

    def receive(self, marker: bool, timestamp: int, payload: bytes) -> None:
        if len(payload) < 4:
            return
        event, flags = payload[0], payload[1]
        if marker and timestamp in self._reported:
            self._reported.remove(timestamp)
        if not flags & 0x80 or timestamp in self._reported:
            return
        self._reported.append(timestamp)
        if event < len(DTMF_EVENTS):
            self._on_digit(DTMF_EVENTS[event])


def parse_dtmf_relay(body: bytes) -> str | None:
    """The digit of a SIP INFO ``application/dtmf-relay`` body (``Signal=5\\r\\nDuration=160``)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal":
            value = value.strip()
            if len(value) == 1 and value.upper() in DTMF_EVENTS:
                return value.upper()
            if value.isdigit() and int(value) < len(DTMF_EVENTS):
                return DTMF_EVENTS[int(value)]
    return None
