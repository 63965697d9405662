"""The REST API under ``/api/v1``: an aiohttp sub-application (see docs/api.md).

Every error is ``{"error": {"code", "message", "field"}}``; a fault of ours is logged and
answered 500 ``internal``, bad input never is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from snapconf.api import openapi
from snapconf.api.chat import ChatRoutes
from snapconf.api.moderation import ModerationRoutes
from snapconf.api.rooms import RoomRoutes
from snapconf.bookings.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorised,
    UnsupportedMediaType,
)
from snapconf.bookings.service import SESSION_COOKIE, Bookings, dev_identity
from snapconf.bookings.store import Booking
from snapconf.bookings.tokens import Identity, TokenError, domain_allowed
from snapconf.conference import Conference, Participant, moderation

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024
PAGE_LIMIT_MAX = 100

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConferenceService:
    """The REST face over the bookings and the live conferences."""

    def __init__(self, bookings: Bookings) -> None:
        self.bookings = bookings
        self.store = bookings.store
        self.conferences = bookings.conferences
        self.config = bookings.config
        self.organisers = bookings.organisers
        self.signer = bookings.signer
        self.wall = bookings.wall

    # -- the sub-application ------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=MAX_BODY)
        r = app.router
        r.add_get("/openapi.json", self.openapi)
        r.add_post("/auth/token", self.auth_token)
        r.add_get("/stats", self.stats)
        r.add_post("/conferences", self.create)
        r.add_get("/conferences", self.list)
        r.add_get("/conferences/{id}", self.get)
        r.add_patch("/conferences/{id}", self.patch)
        r.add_delete("/conferences/{id}", self.delete)
        r.add_get("/conferences/{id}/participants", self.participants)
        r.add_post("/conferences/{id}/participants/{pid}/mute", self.mute)
        r.add_delete("/conferences/{id}/participants/{pid}", self.remove)
        r.add_get("/conferences/{id}/invite.ics", self.invite_ics)
        r.add_post("/conferences/{id}/tokens", self.tokens)
        ModerationRoutes(self).add(r)
        ChatRoutes(self).add(r)
        RoomRoutes(self).add(r)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPRequestEntityTooLarge:
            return BadRequest("the body is too large", code="too_large").response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "bad_request")
            response = web.json_response(
                {"error": {"code": code, "message": exc.reason, "field": None}}, status=exc.status
            )
            if exc.status == 405:
                response.headers["Allow"] = exc.headers.get("Allow", "")
            return response
        except Exception:
            log.exception("api: %s %s failed", request.method, request.path)
            return web.json_response(
                {"error": {"code": "internal", "message": "server error", "field": None}},
                status=500,
            )

    async def authenticate(self, request: web.Request) -> Identity:
        """A bearer token signed by this server, or an access token of the OIDC provider."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Unauthorised("a bearer token is required")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised(
                "the Authorization header is not a bearer token", code="auth_invalid"
            )
        try:
            identity = self.signer.verify_api_token(token.strip())
        except TokenError as exc:
            from_provider = None
            if self.bookings.oidc is not None:
                from_provider = await self.bookings.oidc.identity_from_access_token(token.strip())
            if from_provider is None:
                raise Unauthorised(str(exc), code="auth_invalid") from None
            identity = from_provider
        if not domain_allowed(identity.email, self.organisers.allowed_domains):
            raise Forbidden("this e-mail domain may not organise conferences")
        return identity

    async def json_body(self, request: web.Request, *, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw and optional:
            return {}
        if request.content_type != "application/json":
            raise UnsupportedMediaType("the body must be application/json")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest("the body is not valid JSON") from None

    # -- handlers -----------------------------------------------------------------------------
    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.document(self.bookings.base_url(request), self.wall()))

    async def auth_token(self, request: web.Request) -> web.Response:
        """An API token for the signed-in organiser (session cookie), or, with the
        development sign-in enabled, for an e-mail given in the body."""
        identity: Identity | None = None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                identity = self.signer.verify_session(cookie)
            except TokenError:
                identity = None
        if identity is None:
            body = await self.json_body(request, optional=True)
            if not isinstance(body, dict):
                raise Invalid("the body is not a JSON object", code="invalid_type")
            for key in body:
                if key != "email":
                    raise Invalid(
                        f"unknown field {str(key)[:64]}", field=str(key)[:64], code="unknown_field"
                    )
            if "email" not in body:
                raise Unauthorised("sign in first, or give email with the development sign-in")
            if not self.organisers.dev_login:
                raise Forbidden("the development sign-in is disabled", field="email")
            if not self.bookings.dev_login_allowed(request):
                raise Forbidden(
                    "the development sign-in is only open to this machine (loopback)",
                    field="email",
                    code="dev_login_not_local",
                )
            email = body["email"]
            if not isinstance(email, str):
                raise Invalid("email is not a string", field="email", code="invalid_type")
            identity = dev_identity(email)
        if not domain_allowed(identity.email, self.organisers.allowed_domains):
            raise Forbidden("this e-mail domain may not organise conferences", field="email")
        await self.store.sign_in(identity.organiser_id, identity.email, identity.name)
        ttl = self.config.api_token_ttl
        return web.json_response(
            {
                "access_token": self.signer.api_token(identity, ttl),
                "token_type": "Bearer",
                "expires_in": int(ttl),
            }
        )

    async def stats(self, request: web.Request) -> web.Response:
        now = self.wall()
        booked, in_slot = await self.store.count_booked(now)
        by_kind = {"browser": 0, "phone": 0, "agent": 0}
        active = 0
        for conference in self.conferences:
            if conference.participants:
                active += 1
            for p in conference.participants.values():
                by_kind[p.kind if p.kind in by_kind else "agent"] += 1
        return web.json_response(
            {
                "conferences": {"active": active, "booked": booked, "scheduled_now": in_slot},
                "participants": {**by_kind, "total": sum(by_kind.values())},
            }
        )

    async def create(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.book(identity, await self.json_body(request))
        body = self.bookings.describe(booking, request)
        return web.json_response(
            body, status=201, headers={"Location": f"{PREFIX}/conferences/{booking.id}"}
        )

    async def list(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        limit = _query_int(request, "limit", 20, 1, PAGE_LIMIT_MAX)
        offset = _query_int(request, "offset", 0, 0, 10**9)
        for key in request.query:
            if key not in ("limit", "offset"):
                raise Invalid(f"unknown parameter {key[:64]}", field=key[:64], code="unknown_field")
        items, total = await self.store.list_for(identity.organiser_id, limit=limit, offset=offset)
        return web.json_response(
            {
                "items": [self.bookings.describe(b, request) for b in items],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        return web.json_response(self.bookings.describe(booking, request))

    async def patch(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        body = await self.json_body(request)
        updated = await self.bookings.update(booking, body)
        return web.json_response(self.bookings.describe(updated, request))

    async def delete(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        await self.bookings.cancel(booking)
        return web.Response(status=204)

    def _live(self, booking: Booking) -> Conference | None:
        return self.conferences.get(booking.id)

    async def participants(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        conference = self._live(booking)
        items = (
            []
            if conference is None
            else [
                participant_json(p, self.wall, talking=conference.talking(p))
                for p in conference.participants.values()
            ]
        )
        return web.json_response({"items": items})

    async def _participant(self, request: web.Request) -> tuple[Conference, Participant]:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        conference = self._live(booking)
        pid = request.match_info["pid"]
        participant = conference.participants.get(pid) if conference else None
        if conference is None or participant is None:
            raise NotFound(f"no participant {pid[:64]} in this conference", field="pid")
        return conference, participant

    async def mute(self, request: web.Request) -> web.Response:
        conference, participant = await self._participant(request)
        body = await self.json_body(request, optional=True)
        if not isinstance(body, dict):
            raise Invalid("the body is not a JSON object", code="invalid_type")
        for key in body:
            if key != "muted":
                raise Invalid(
                    f"unknown field {str(key)[:64]}", field=str(key)[:64], code="unknown_field"
                )
        muted = body.get("muted", True)
        if not isinstance(muted, bool):
            raise Invalid("muted is not a boolean", field="muted", code="invalid_type")
        if not muted:
            # privacy: only the participant opens its own microphone (signaling "mute")
            raise Forbidden(
                "a moderator can mute a participant but not unmute them; they unmute themselves",
                field="muted",
                code="unmute_not_allowed",
            )
        for track in list(participant.tracks.values()):
            if track.kind == "audio":
                conference.set_muted(participant, track.id, muted, by="moderator")
        return web.json_response(
            participant_json(participant, self.wall, talking=conference.talking(participant))
        )

    async def remove(self, request: web.Request) -> web.Response:
        conference, participant = await self._participant(request)
        moderation.remove(conference, participant)  # and its identity may not rejoin
        return web.Response(status=204)

    async def invite_ics(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        return self.bookings.invite(booking, request)

    async def tokens(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.bookings.own_booking(identity, request.match_info["id"])
        body = await self.json_body(request, optional=True)
        if not isinstance(body, dict):
            raise Invalid("the body is not a JSON object", code="invalid_type")
        for key in body:
            if key not in ("role", "name"):
                raise Invalid(
                    f"unknown field {str(key)[:64]}", field=str(key)[:64], code="unknown_field"
                )
        role = body.get("role", "participant")
        if not isinstance(role, str):
            raise Invalid("role is not a string", field="role", code="invalid_type")
        if role not in ("participant", "moderator"):
            raise Invalid("role must be participant or moderator", field="role")
        name = body.get("name")
        if "name" in body:
            if not isinstance(name, str):
                raise Invalid("name is not a string", field="name", code="invalid_type")
            name = name.strip()
            if not 1 <= len(name) <= 64:
                raise Invalid("name must be 1-64 characters", field="name")
        if booking.status != "booked":
            raise Conflict(
                f"the conference is {booking.status}", code=f"conference_{booking.status}"
            )
        link = self.bookings.join_link(booking, request, role, name, None)
        return web.json_response(link, status=201)


def participant_json(
    p: Participant, wall: Callable[[], float], *, talking: bool = False
) -> dict[str, Any]:
    audio = [t for t in p.tracks.values() if t.kind == "audio"]
    # nothing heard from a participant without audio: muted
    muted = all(t.producer.muted for t in audio) if audio else True
    return {
        "id": p.id,
        "display_name": p.display_name,
        "kind": p.kind,
        "role": p.role,
        "muted": muted,
        "talking": talking,
        "joined_seconds_ago": max(0, round(p.clock() - p.joined_at)),
    }


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 10:
        raise Invalid(f"{name} is not an integer", field=name, code="invalid_type")
    value = int(text)
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", field=name)
    return value
