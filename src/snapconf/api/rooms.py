"""What the room page may show before joining (docs/api.md, "The room page's summary").

``GET /api/v1/rooms/{room}``: for a booked conference, ``{id, title, startsAt, status}``
(``status``: ``open``, ``not_started``, ``ended`` or ``cancelled``), so that the pre-join
screen names the meeting by its title rather than its id. No organiser token: the page
asks it for anyone who has the room's link.

It tells no more than a ``join`` of the same room would (docs/signaling.md):

- a room that is not a booked conference (an ad-hoc room, a name nobody booked, a name
  that is not a room name) answers 404 ``conference_not_found``, whether or not ad-hoc
  rooms are allowed, so the page keeps showing the room's name;
- a ``restricted`` or ``authenticated`` conference shows its title only with a join token
  valid for it (the room link's ``token``, as ``Authorization: Bearer``); without one it
  answers 401 ``auth_required``, with a bad one the code the join would get
  (``auth_invalid``, ``auth_expired``, ``room_mismatch``).

Answers are never cached (``Cache-Control: no-store``): a title may be edited, and a
restricted one depends on the token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from snapconf.bookings.config import ApiConfig
from snapconf.bookings.errors import NotFound, Unauthorised
from snapconf.bookings.policy import StoreAdmission, booking_state
from snapconf.bookings.store import Booking, Store
from snapconf.conference import Conferences, valid_room_name
from snapconf.errors import AuthError

__all__ = ["RoomRoutes"]


class ConferenceService(Protocol):
    """What this route uses of :class:`snapconf.api.service.ConferenceService`."""

    store: Store
    conferences: Conferences
    config: ApiConfig
    wall: Callable[[], float]


class RoomRoutes:
    """Adds the room summary to the API's sub-application."""

    def __init__(self, service: ConferenceService) -> None:
        self.service = service

    def add(self, router: web.UrlDispatcher) -> None:
        router.add_get("/rooms/{room}", self.summary)

    async def summary(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        booking = await self.service.store.get(room) if valid_room_name(room) else None
        if booking is None:
            raise NotFound("no booked conference of this name", code="conference_not_found")
        if booking.access != "public":
            self._check_token(request, room)
        return web.json_response(self._body(booking), headers={"Cache-Control": "no-store"})

    def _check_token(self, request: web.Request, room: str) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        admission = self.service.conferences.admission
        grant = None
        if token and isinstance(admission, StoreAdmission):
            try:
                grant = admission.grant(token, room)
            except AuthError as exc:
                raise Unauthorised(str(exc), code=exc.code) from None
        if grant is None:
            raise Unauthorised("this conference needs an invitation link from its organiser")

    def _body(self, booking: Booking) -> dict[str, str]:
        if booking.status == "cancelled":
            status = "cancelled"
        else:
            status = booking_state(booking, self.service.config, self.service.wall()).value
        return {
            "id": booking.id,
            "title": booking.title,
            "startsAt": datetime.fromtimestamp(booking.starts, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "status": status,
        }
