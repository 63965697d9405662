"""The one door of a conference: who may join, as what, and within which limits.

Every participant (a browser over signaling, a phone through the SIP gateway, a server-side
agent) asks :meth:`snapconf.conference.Conferences.join` with a :class:`JoinRequest`; the
server's :class:`AdmissionPolicy` answers with a :class:`Grant` or raises a
:class:`snapconf.errors.SnapconfError` subclass (``conference_not_found``,
``auth_required``...). The conference layer defines this seam and implements neither side:
the bookings (``snapconf.bookings``) and the join tokens (``snapconf.auth``) do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: the kinds of participant a request may ask for
KINDS = ("browser", "phone", "agent")


@dataclass(slots=True, frozen=True)
class JoinRequest:
    """One participant asking to enter a room."""

    room: str
    display_name: str
    #: "browser", "phone" or "agent"
    kind: str = "browser"
    #: the join token a browser presented (None: none; anything else is checked by the policy)
    token: object = None
    #: the peer's IP address, when the face knows it
    address: str | None = None


@dataclass(slots=True, frozen=True)
class Grant:
    """What the policy allows one request."""

    #: "participant" or "moderator"
    role: str = "participant"
    #: the name to show instead of the requested one (from a token), if any
    name: str | None = None
    #: the booked conference's title, shown to those who join it
    title: str | None = None
    #: the room's participant limit beside ``sfu.max_participants`` (a booking's), if any
    max_participants: int | None = None
    #: who the participant is for the policy (a token's ``sub``), if known
    subject: str | None = None
    #: the room is a booked conference (the bookings' policy says so)
    booked: bool = False
    #: the booking's waiting room setting (applied when its conference starts)
    lobby: bool = False


class AdmissionPolicy(Protocol):
    async def admit(self, request: JoinRequest) -> Grant:
        """Grant or refuse a join; raises a :class:`snapconf.errors.SnapconfError`."""
        ...


class OpenAdmission:
    """Everyone joins every room as a participant (a test's or an embedded server's policy)."""

    async def admit(self, request: JoinRequest) -> Grant:
        return Grant()
