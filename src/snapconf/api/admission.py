"""Joins and PIN lookups decided by the bookings.

:class:`StoreAdmission` implements :class:`snapconf.signaling.admission.Admission`: a room
whose name is a booked conference's id follows that booking (open, not cancelled, access
level, ``max_participants``); any other room goes to the previous admission when ad-hoc
rooms are allowed. :class:`StoreDirectory` implements the SIP gateway's
:class:`snapconf.dialin.directory.ConferenceDirectory`.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

from snapconf.api.config import ApiConfig
from snapconf.conference import Conferences, valid_room_name
from snapconf.dialin.directory import ConferenceEntry, ConferenceState
from snapconf.errors import (
    AuthError,
    AuthRequired,
    ConferenceCancelled,
    ConferenceEnded,
    ConferenceNotFound,
    ConferenceNotStarted,
    RoomFull,
)
from snapconf.signaling.admission import Admission
from snapconf.signaling.auth import JoinGrant, TokenVerifier
from snapconf.store import Booking, Store


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
        conferences: Conferences,
        config: ApiConfig,
        verifier: TokenVerifier,
        fallback: Admission,
        other_verifier: TokenVerifier | None = None,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.conferences = conferences
        self.config = config
        self.verifier = verifier
        self.fallback = fallback
        self.other_verifier = other_verifier
        self.wall = wall

    async def admit(self, room: str, display_name: str, token: object) -> JoinGrant:
        booking = await self.store.get(room) if valid_room_name(room) else None
        if booking is None:
            if self.config.adhoc_rooms:
                return await self.fallback.admit(room, display_name, token)
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
        grant = self._grant(token, room)
        if grant is None and booking.access == "restricted":
            raise AuthRequired("this conference needs an invitation link from its organiser")
        if grant is None and booking.access == "authenticated":
            raise AuthRequired("sign in to join this conference")
        live = self.conferences.get(room)
        if live is not None and len(live.participants) >= booking.max_participants:
            raise RoomFull(f"conference {room} has {booking.max_participants} participants")
        grant = grant or JoinGrant(room=room, role="participant", name=None, subject=None)
        return dataclasses.replace(grant, title=booking.title)

    def _grant(self, token: object, room: str) -> JoinGrant | None:
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

    async def max_participants(self, conference_id: str) -> int | None:
        """The booked limit of a conference, for the phone bridge; None if not booked."""
        booking = await self.store.get(conference_id)
        return booking.max_participants if booking else None
