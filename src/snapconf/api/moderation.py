"""The organiser's moderation of a live conference through the REST API (docs/api.md).

The same acts as a moderator's signaling requests (:mod:`snapconf.conference.moderation`):
mute all, ask to unmute, stop a camera or screen share, promote, lock, the waiting room,
end for all. Only the conference's organiser may call them (its bearer token); a conference
nobody is in (not running) answers 409 ``not_running``.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from snapconf.bookings.errors import Conflict, Invalid, NotFound
from snapconf.bookings.service import Bookings
from snapconf.bookings.tokens import Identity
from snapconf.conference import Conference, Conferences
from snapconf.conference import moderation as mod
from snapconf.errors import UnknownParticipant


class ConferenceService(Protocol):
    """What these routes use of :class:`snapconf.api.service.ConferenceService`."""

    bookings: Bookings
    conferences: Conferences

    async def authenticate(self, request: web.Request) -> Identity: ...

    async def json_body(self, request: web.Request, *, optional: bool = False) -> Any: ...


__all__ = ["ModerationRoutes"]


def _fields(body: Any, allowed: dict[str, type]) -> dict[str, Any]:
    """Check a JSON object body against ``allowed`` (name -> type); every field optional."""
    if not isinstance(body, dict):
        raise Invalid("the body is not a JSON object", code="invalid_type")
    for key, value in body.items():
        if key not in allowed:
            raise Invalid(
                f"unknown field {str(key)[:64]}", field=str(key)[:64], code="unknown_field"
            )
        kind = allowed[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            name = {bool: "a boolean", str: "a string"}.get(kind, kind.__name__)
            raise Invalid(f"{key} is not {name}", field=key, code="invalid_type")
    return body


class ModerationRoutes:
    """Adds the moderation routes to the API's sub-application."""

    def __init__(self, service: ConferenceService) -> None:
        self.service = service

    def add(self, router: web.UrlDispatcher) -> None:
        r = router
        r.add_get("/conferences/{id}/moderation", self.get_state)
        r.add_patch("/conferences/{id}/moderation", self.patch_state)
        r.add_post("/conferences/{id}/mute-all", self.mute_all)
        r.add_post("/conferences/{id}/end", self.end)
        r.add_post("/conferences/{id}/lobby/admit", self.admit)
        r.add_post("/conferences/{id}/lobby/refuse", self.refuse)
        r.add_post("/conferences/{id}/participants/{pid}/ask-unmute", self.ask_unmute)
        r.add_post("/conferences/{id}/participants/{pid}/stop-video", self.stop_video)
        r.add_post("/conferences/{id}/participants/{pid}/promote", self.promote)

    async def _live(self, request: web.Request) -> Conference:
        service = self.service
        identity = await service.authenticate(request)
        booking = await service.bookings.own_booking(identity, request.match_info["id"])
        conference = service.conferences.get(booking.id)
        if conference is None or conference.closed:
            # it exists (404 would say it does not): nobody is in it now
            raise Conflict("the conference is not running", field="id", code="not_running")
        return conference

    def _state(self, conference: Conference) -> dict[str, Any]:
        return {
            **conference.moderation.describe(),
            "waiting": [
                {"id": w.id, "display_name": w.display_name, "kind": w.kind}
                for w in conference.moderation.lobby.waiting.values()
            ],
        }

    async def get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state(await self._live(request)))

    async def patch_state(self, request: web.Request) -> web.Response:
        conference = await self._live(request)
        body = _fields(await self.service.json_body(request), {"locked": bool, "lobby": bool})
        if "locked" in body:
            mod.set_locked(conference, body["locked"])
        if "lobby" in body:
            mod.set_lobby(conference, body["lobby"])
        return web.json_response(self._state(conference))

    async def mute_all(self, request: web.Request) -> web.Response:
        conference = await self._live(request)
        return web.json_response({"muted": mod.mute_all(conference)})

    async def end(self, request: web.Request) -> web.Response:
        mod.end_for_all(await self._live(request))
        return web.Response(status=204)

    async def _lobby(self, request: web.Request, refuse: bool) -> web.Response:
        conference = await self._live(request)
        body = _fields(await self.service.json_body(request, optional=True), {"id": str})
        act = mod.refuse if refuse else mod.admit
        try:
            ids = act(conference, body.get("id"))
        except UnknownParticipant as exc:
            raise NotFound(exc.message, field="id", code=exc.code) from None
        return web.json_response({"refused" if refuse else "admitted": ids})

    async def admit(self, request: web.Request) -> web.Response:
        return await self._lobby(request, refuse=False)

    async def refuse(self, request: web.Request) -> web.Response:
        return await self._lobby(request, refuse=True)

    async def _participant(self, request: web.Request) -> tuple[Conference, Any]:
        conference = await self._live(request)
        pid = request.match_info["pid"]
        participant = conference.participants.get(pid)
        if participant is None:
            raise NotFound(f"no participant {pid[:64]} in this conference", field="pid")
        return conference, participant

    async def ask_unmute(self, request: web.Request) -> web.Response:
        conference, participant = await self._participant(request)
        mod.ask_unmute(conference, participant)
        return web.Response(status=204)

    async def stop_video(self, request: web.Request) -> web.Response:
        conference, participant = await self._participant(request)
        body = _fields(await self.service.json_body(request, optional=True), {"source": str})
        source = body.get("source")
        if source is not None and source not in mod.VIDEO_SOURCES:
            raise Invalid("source must be camera or screen", field="source")
        return web.json_response({"stopped": mod.stop_video(conference, participant, source)})

    async def promote(self, request: web.Request) -> web.Response:
        conference, participant = await self._participant(request)
        mod.promote(conference, participant)
        return web.json_response({"id": participant.id, "role": participant.role})
