"""The seam between a phone call and the conference it joins.

The server implements :class:`ConferenceBridge` with the real conference
(:class:`snapconf.dialin.conference_bridge.PhoneBridge`): a joined call becomes a participant
whose audio enters the mixer and reaches browsers, and who hears the mix of the others. The
call owns its :class:`~snapconf.media.plain_transport.PlainTransport` and hands it over in a
:class:`PhoneMedia`: the conference sets the transport's receiver (the caller's producer) and
sends the mix through :meth:`~snapconf.media.plain_transport.PlainTransport.send_mix`, which
stamps it into the call's own RTP stream. The gateway moves no RTP itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from snapconf.media.plain_transport import PlainTransport

__all__ = [
    "ConferenceBridge",
    "ConferenceFull",
    "ConferenceLeg",
    "JoinRefused",
    "PhoneMedia",
    "mask_number",
]


class JoinRefused(Exception):
    """Raised by :meth:`ConferenceBridge.join_phone` when the caller may not join.

    ``code`` is the conference's reason when it has one the caller is told about
    (``conference_locked``, ``refused``, ``removed``; see :mod:`snapconf.errors`), else "".
    """

    def __init__(self, *args: object, code: str = "") -> None:
        super().__init__(*args)
        self.code = code


class ConferenceFull(JoinRefused):
    """The conference has its maximum number of participants."""


@dataclass(frozen=True, slots=True)
class PhoneMedia:
    """A call's audio as negotiated in SDP, and the transport that carries it."""

    transport: PlainTransport
    #: a :mod:`snapconf.media.codecs` name (``opus``, ``G722``, ``PCMA``, ``PCMU``)
    codec: str
    payload_type: int
    #: the codec's RTP clock rate
    clock_rate: int
    #: the packet time the phone hears (what the SDP settled, see ``Call.ptime``)
    ptime_ms: int
    #: the RFC 8285 id of the RFC 6464 audio level the caller sends (None: it sends none)
    audio_level_id: int | None = None


class ConferenceLeg(Protocol):
    """One phone caller inside a conference."""

    def set_muted(self, muted: bool) -> None:
        """Stop (or resume) sending this caller's audio to the others."""
        ...

    @property
    def muted(self) -> bool:
        """Whether the caller is muted now, by ``*6`` or by a moderator."""
        ...

    @property
    def hand_raised(self) -> bool:
        """Whether the caller's hand is raised now (``*9``; a moderator may lower it)."""
        ...

    def set_hand_raised(self, raised: bool) -> None:
        """Raise (or lower) the caller's hand in the conference's queue."""
        ...

    @property
    def participant_count(self) -> int:
        """Participants in the conference, this caller included."""
        ...

    def close(self) -> None:
        """Leave the conference; idempotent."""
        ...


class ConferenceBridge(Protocol):
    """Joins phone calls to conferences."""

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        media: PhoneMedia,
        on_end: Callable[[str], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> ConferenceLeg:
        """Add a phone participant whose audio comes and goes through ``media.transport``.

        When the conference's waiting room holds the caller, ``on_waiting()`` is called and
        this waits until a moderator admits (returns) or refuses (:class:`JoinRefused`);
        cancelling it takes the caller out of the waiting room.

        ``on_end(reason)`` is how the bridge ends the call (conference ended, caller
        kicked): the gateway sends BYE and closes the leg. Raises :class:`ConferenceFull`
        if the conference is full, :class:`JoinRefused` if the caller may not join.
        """
        ...


_DIGITS = re.compile(r"\d")


def mask_number(number: str) -> str:
    """Mask a caller number for display: ``+33612345612`` -> ``+33 6 •• •• •• 12``.

    French numbers (``+33`` or national ``0`` followed by nine digits) are grouped the French
    way; any other number keeps its first three characters and its last two digits. Numbers
    too short to hide anything are masked entirely; a caller id with no digits at all
    (``anonymous``) gives ``""``, so that the caller is shown as a phone, not as dots.
    """
    digits = "".join(_DIGITS.findall(number))
    if not digits:
        return ""
    if number.startswith("+33") and len(digits) == 11:
        return f"+33 {digits[2]} •• •• •• {digits[-2:]}"
    if number.startswith("0033") and len(digits) == 13:
        return f"+33 {digits[4]} •• •• •• {digits[-2:]}"
    if len(digits) == 10 and digits.startswith("0"):
        return f"{digits[:2]} •• •• •• {digits[-2:]}"
    if len(digits) < 6:
        return "•" * max(len(digits), 2)
    prefix = "+" + digits[:2] if number.startswith("+") else digits[:2]
    hidden = len(digits) - 4
    return f"{prefix} {'•' * hidden} {digits[-2:]}"
