"""PIN lookup: the seam between the dial-in IVR and whatever knows the conferences.

The dial-in face (:mod:`snapconf.dialin`) asks a :class:`ConferenceDirectory`; the bookings
(:class:`snapconf.bookings.StoreDirectory`) and the config's static list implement it. It
lives in the conference layer so that both sides import it downwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class ConferenceState(enum.Enum):
    """Where a conference is in its life, as the IVR sees it."""

    NOT_STARTED = "not_started"
    OPEN = "open"
    ENDED = "ended"


@dataclass(frozen=True)
class ConferenceEntry:
    """What a PIN leads to."""

    conference_id: str
    name: str
    state: ConferenceState


class ConferenceDirectory(Protocol):
    """Finds the conference a PIN opens."""

    async def lookup(self, pin: str) -> ConferenceEntry | None:
        """The conference for ``pin`` (digits only), or None for a wrong code."""
        ...
