"""The REST API under ``/api/v1``: an aiohttp sub-application (see docs/api.md).

Every error is ``{"error": {"code", "message", "field"}}``; a fault of ours is logged and
answered 500 ``internal``, bad input never is.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from snapconf.api import openapi
from snapconf.api.booking import conference_json, parse_booking
from snapconf.api.config import ApiConfig, OrganisersConfig, SnapConfig
from snapconf.api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorised,
    UnsupportedMediaType,
)
from snapconf.api.ics import invitation
from snapconf.api.oidc import OidcClient
from snapconf.api.tokens import Identity, Signer, TokenError, domain_allowed
from snapconf.conference import Conference, Conferences, Participant
from snapconf.signaling.session import peer_address
from snapconf.store import Booking, Store

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024
SESSION_COOKIE = "snapconf_session"
PAGE_LIMIT_MAX = 100

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConferenceService:
    """Bookings and live conferences, for the API and the organiser pages."""

    def __init__(
        self,
        *,
        store: Store,
        conferences: Conferences,
        config: ApiConfig,
        organisers: OrganisersConfig,
        snap: SnapConfig,
        signer: Signer,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.conferences = conferences
        self.config = config
        self.organisers = organisers
        self.snap = snap
        self.signer = signer
        self.wall = wall
        #: set by the wiring when an OIDC provider is configured
        self.oidc: OidcClient | None = None

    # -- shared helpers ---------------------------------------------------------------------
    def base_url(self, request: web.Request) -> str:
        """``api.public_url``, else the address the client connected to: never the
        ``Host`` header, which any client sets to what it likes (links, invitations and
        the OIDC redirect would then point elsewhere)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return local_base_url(request)

    def secure_cookies(self, request: web.Request) -> bool:
        """Cookies get ``Secure`` when the browser reached us over TLS: directly, through
        a proxy saying so (``X-Forwarded-Proto: https``; trusting it from any peer only
        ever makes a cookie stricter), or when ``api.public_url`` is https."""
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",", 1)[0]
        return (
            request.secure
            or forwarded.strip().lower() == "https"
            or self.config.public_url.lower().startswith("https://")
        )

    def dev_login_allowed(self, request: web.Request) -> bool:
        """The development sign-in: enabled in the config and asked from this machine
        (the TCP peer is loopback; a forwarded header cannot make it so)."""
        return self.organisers.dev_login and is_loopback(peer_address(request))

    def describe(self, booking: Booking, request: web.Request) -> dict[str, Any]:
        return conference_json(booking, self.base_url(request), self.config, self.snap)

    async def own_booking(self, identity: Identity, conference_id: str) -> Booking:
        """The organiser's conference; another organiser's is "not found", as is no such."""
        booking = await self.store.get(conference_id) if len(conference_id) <= 64 else None
        if booking is None or booking.organiser_id != identity.organiser_id:
            raise NotFound(f"no conference {conference_id[:64]}", field="id")
        return booking

    async def book(self, identity: Identity, body: object) -> Booking:
        fields = parse_booking(body, self.config, self.wall())
        await self.store.sign_in(identity.organiser_id, identity.email, identity.name)
        return await self.store.book(
            organiser_id=identity.organiser_id, organiser_email=identity.email, **fields
        )

    async def cancel(self, booking: Booking) -> None:
        if booking.status == "cancelled":
            return
        if booking.status != "booked":
            raise Conflict("the conference has ended", code="conference_ended")
        await self.store.cancel(booking.id)
        conference = self.conferences.get(booking.id)
        if conference is not None:
            conference.close("conference cancelled")
        log.info("conference %s cancelled by its organiser", booking.id)

    def invite(self, booking: Booking, request: web.Request) -> web.Response:
        base = self.base_url(request)
        host = base.split("://", 1)[-1].split("/", 1)[0] or "snapconf"
        body = invitation(
            booking, f"{base}/{booking.id}", self.config.dialin_numbers, host, self.wall()
        )
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="conference-{booking.id}.ics"'},
        )

    def join_link(
        self, booking: Booking, request: web.Request, role: str, name: str | None, sub: str | None
    ) -> dict[str, Any]:
        expires = booking.ends + self.config.end_grace
        token = self.signer.join_token(booking.id, role, expires, name, sub)
        return {
            "token": token,
            "url": f"{self.base_url(request)}/{booking.id}?token={token}",
            "role": role,
            "expires": _utc_iso(expires),
        }

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
            if self.oidc is not None:
                from_provider = await self.oidc.identity_from_access_token(token.strip())
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
        return web.json_response(openapi.document(self.base_url(request), self.wall()))

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
            if not self.dev_login_allowed(request):
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
        booking = await self.book(identity, await self.json_body(request))
        body = self.describe(booking, request)
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
                "items": [self.describe(b, request) for b in items],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
        return web.json_response(self.describe(booking, request))

    async def patch(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
        body = await self.json_body(request)
        if booking.status != "booked":
            raise Conflict(
                f"the conference is {booking.status}", code=f"conference_{booking.status}"
            )
        changes = parse_booking(body, self.config, self.wall(), current=booking)
        updated = await self.store.update(booking.id, **changes)
        assert updated is not None
        return web.json_response(self.describe(updated, request))

    async def delete(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
        await self.cancel(booking)
        return web.Response(status=204)

    def _live(self, booking: Booking) -> Conference | None:
        return self.conferences.get(booking.id)

    async def participants(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
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
        booking = await self.own_booking(identity, request.match_info["id"])
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
                "a moderator can mute a participant but not unmute them; "
                "they unmute themselves",
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
        conference.leave(participant, reason="removed")
        participant.listener.closed("removed")
        return web.Response(status=204)

    async def invite_ics(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
        return self.invite(booking, request)

    async def tokens(self, request: web.Request) -> web.Response:
        identity = await self.authenticate(request)
        booking = await self.own_booking(identity, request.match_info["id"])
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
        return web.json_response(self.join_link(booking, request, role, name, None), status=201)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def local_base_url(request: web.Request) -> str:
    """``http(s)://<local address>:<port>`` of the connection (loopback if unknown)."""
    scheme = "https" if request.secure else "http"
    transport = request.transport
    local = transport.get_extra_info("sockname") if transport is not None else None
    if not local or not isinstance(local, tuple):
        return f"{scheme}://127.0.0.1"
    host, port = str(local[0]), int(local[1])
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return f"{scheme}://127.0.0.1"
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        host = str(mapped) if mapped is not None else f"[{address}]"
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def dev_identity(email: str) -> Identity:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 254
        or any(c.isspace() or ord(c) < 33 for c in email)
    ):
        raise Invalid("email is not an e-mail address", field="email")
    return Identity(f"dev:{email}", email, local)


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


def _utc_iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
