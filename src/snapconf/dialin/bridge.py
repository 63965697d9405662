"""The seam between a phone call and the conference's audio bridge.

The lead implements :class:`ConferenceBridge` with the real Conference and Mixer: a joined call
becomes a Participant whose audio enters the mixer and who hears the mix of the others. The
gateway only moves RTP: what the phone sends goes to :meth:`PhoneLeg.receive_rtp`, what the
bridge wants the phone to hear comes back through ``send_rtp`` (whole RTP packets, which the
gateway re-stamps with the call's own SSRC, sequence and timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

__all__ = ["ConferenceBridge", "ConferenceFull", "PhoneLeg", "mask_number"]


class ConferenceFull(Exception):
    """Raised by :meth:`ConferenceBridge.join_phone` when the conference cannot take a caller."""


class PhoneLeg(Protocol):
    """One phone caller inside a conference."""

    def receive_rtp(
        self,
        payload_type: int,
        seq: int,
        timestamp: int,
        payload: bytes,
        audio_level: int | None,
    ) -> None:
        """An audio packet from the phone (synchronous, called from ``datagram_received``)."""
        ...

    def set_muted(self, muted: bool) -> None:
        """Stop (or resume) sending this caller's audio to the others."""
        ...

    @property
    def muted(self) -> bool:
        """Whether the caller is muted now, by ``*6`` or by a moderator."""
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
        codec: str,
        payload_type: int,
        clock_rate: int,
        send_rtp: Callable[[bytes], None],
        on_end: Callable[[str], None],
    ) -> PhoneLeg:
        """Add a phone participant.

        ``codec`` is a :mod:`snapconf.media.codecs` name (``opus``, ``G722``, ``PCMA``,
        ``PCMU``) with its negotiated ``payload_type`` and RTP ``clock_rate``. ``send_rtp``
        sends one RTP packet to the phone (synchronous, never blocks). ``on_end(reason)`` is
        how the bridge ends the call (conference ended, caller kicked): the gateway sends BYE
        and closes the leg. Raises :class:`ConferenceFull` if the caller cannot join.
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
