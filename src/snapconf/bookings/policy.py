"""Joins and PIN lookups decided by the bookings.

:class:`StoreAdmission` implements :class:`snapconf.conference.admission.AdmissionPolicy`:
a room whose name is a booked conference's id follows that booking (open, not cancelled,
access level; its ``max_participants`` goes into the grant, which the conference applies);
any other room goes to the fallback policy (the join tokens) when ad-hoc rooms are allowed.
Phones are admitted by the PIN the IVR checked, never asked for a token.
:class:`StoreDirectory` implements :class:`snapconf.conference.directory.ConferenceDirectory`
for the IVR.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime

from snapconf.auth import JoinGrant, TokenVerifier
from snapconf.bookings.config import ApiConfig
from snapconf.bookings.store import Booking, Store
from snapconf.conference import valid_room_name
from snapconf.conference.admission import AdmissionPolicy, Grant, JoinRequest
from snapconf.conference.directory import ConferenceEntry, ConferenceState
from snapconf.errors import (
    AuthError,
    AuthRequired,
    ConferenceCancelled,
    ConferenceEnded,
    ConferenceNotFound,
    ConferenceNotStarted,
)


def booking_state(booking: Booking, config: ApiConfig, now: float) -> ConferenceState:
    if booking.status != "booked" or now >= booking.ends + config.end_grace:
        return ConferenceState.ENDED
    if now < booking.starts - config.open_before:
        return ConferenceState.NOT_STARTED
    return ConferenceState.OPEN


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class StoreAdmission:
    def __init__(
        self,
        *,
        store: Store,
        config: ApiConfig,
        verifier: TokenVerifier,
        fallback: AdmissionPolicy,
        other_verifier: TokenVerifier | None = None,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.config = config
        self.verifier = verifier
        self.fallback = fallback
        self.other_verifier = other_verifier
        self.wall = wall

    async def admit(self, request: JoinRequest) -> Grant:
        room = request.room
        booking = await self.store.get(room) if valid_room_name(room) else None
        if booking is None:
            # a phone reached the room through a PIN directory (the config's static list)
            if self.config.adhoc_rooms or request.kind == "phone":
                return await self.fallback.admit(request)
            raise ConferenceNotFound(f"no conference {room}")
        if booking.status == "cancelled":
            raise ConferenceCancelled("this conference was cancelled")
        state = booking_state(booking, self.config, self.wall())
        if state is ConferenceState.ENDED:
            raise ConferenceEnded("this conference has ended")
        if state is ConferenceState.NOT_STARTED:
            raise ConferenceNotStarted(
                "this conference has not opened yet",
                {
                    "startsAt": _iso(booking.starts),
                    "opensAt": _iso(booking.starts - self.config.open_before),
                },
            )
        if request.kind == "phone":
            # the PIN is a phone's invitation, whatever the access level
            return Grant(
                title=booking.title,
                max_participants=booking.max_participants,
                booked=True,
                lobby=booking.lobby,
            )
        grant = self.grant(request.token, room)
        if grant is None and booking.access == "restricted":
            raise AuthRequired("this conference needs an invitation link from its organiser")
        if grant is None and booking.access == "authenticated":
            raise AuthRequired("sign in to join this conference")
        return Grant(
            role=grant.role if grant else "participant",
            name=grant.name if grant else None,
            title=booking.title,
            max_participants=booking.max_participants,
            subject=grant.subject if grant else None,
            booked=True,
            lobby=booking.lobby,
        )

    def grant(self, token: object, room: str) -> JoinGrant | None:
        """What a join token gives in ``room``: None without one; AuthError when it is bad."""
        if token is None or token == "":
            return None
        try:
            return self.verifier.verify(token, room)
        except AuthError:
            if self.other_verifier is None:
                raise
        return self.other_verifier.verify(token, room)


class StoreDirectory:
    """PIN -> conference for the IVR; cancelled and ended conferences hold no PIN."""

    def __init__(self, store: Store, config: ApiConfig, wall: Callable[[], float]) -> None:
        self.store = store
        self.config = config
        self.wall = wall

    async def lookup(self, pin: str) -> ConferenceEntry | None:
        if not (pin.isdigit() and len(pin) == 9):
            return None
        booking = await self.store.by_pin(pin)
        if booking is None or not hmac.compare_digest(booking.pin, pin):
            return None
        return ConferenceEntry(
            booking.id, booking.title, booking_state(booking, self.config, self.wall())
        )
