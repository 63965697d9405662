"""The organiser's export of a live conference's chat (docs/api.md).

``GET /api/v1/conferences/{id}/chat``: the public messages the server keeps
(:mod:`snapconf.conference.chat`, the last ``chat.history``), oldest first. Private
messages are between their sender and recipient: never exported. The chat lives as long
as the conference: a conference nobody is in answers 404 ``not_running``.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from snapconf.bookings.errors import NotFound
from snapconf.bookings.service import Bookings
from snapconf.bookings.tokens import Identity
from snapconf.conference import Conferences

__all__ = ["ChatRoutes"]


class ConferenceService(Protocol):
    """What this route uses of :class:`snapconf.api.service.ConferenceService`."""

    bookings: Bookings
    conferences: Conferences

    async def authenticate(self, request: web.Request) -> Identity: ...


class ChatRoutes:
    """Adds the chat export to the API's sub-application."""

    def __init__(self, service: ConferenceService) -> None:
        self.service = service

    def add(self, router: web.UrlDispatcher) -> None:
        router.add_get("/conferences/{id}/chat", self.export)

    async def export(self, request: web.Request) -> web.Response:
        service = self.service
        identity = await service.authenticate(request)
        booking = await service.bookings.own_booking(identity, request.match_info["id"])
        conference = service.conferences.get(booking.id)
        if conference is None or conference.closed:
            raise NotFound("the conference is not running", field="id", code="not_running")
        items: list[dict[str, Any]] = []
        for message in conference.chat.messages:
            if message.to is not None:
                continue
            described = message.describe()
            items.append(
                {
                    "id": message.id,
                    "from_id": message.sender_id,
                    "from_name": message.sender_name,
                    "text": message.text,
                    "at": described["at"],
                }
            )
        return web.json_response({"items": items})
