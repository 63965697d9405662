"""Bookings for the faces over them: what the API and the organiser pages both do.

Booking, cancelling, describing a conference, its join links and invitation, the
organisers' development sign-in, and the links' base URL. The API (:mod:`snapconf.api`)
and the pages (:mod:`snapconf.pages`) are two faces over one :class:`Bookings`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from snapconf.bookings.booking import conference_json, parse_booking
from snapconf.bookings.config import ApiConfig, OrganisersConfig, SnapConfig
from snapconf.bookings.errors import Conflict, Invalid, NotFound
from snapconf.bookings.ics import invitation
from snapconf.bookings.oidc import OidcClient
from snapconf.bookings.store import Booking, Store
from snapconf.bookings.tokens import Identity, Signer
from snapconf.conference import Conferences, moderation
from snapconf.web import is_loopback, local_base_url, peer_address

log = logging.getLogger(__name__)

#: the organiser's session cookie (pages set it; the API's token endpoint reads it)
SESSION_COOKIE = "snapconf_session"


class Bookings:
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
        oidc: OidcClient | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.conferences = conferences
        self.config = config
        self.organisers = organisers
        self.snap = snap
        self.signer = signer
        #: the OpenID Connect provider of the organisers' sign-in, when one is configured
        self.oidc = oidc
        self.wall = wall

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

    async def update(self, booking: Booking, body: object) -> Booking:
        """Change a booked conference (the API's PATCH and the organiser's edit form); a
        running meeting follows a change of its waiting room at once."""
        if booking.status != "booked":
            raise Conflict(
                f"the conference is {booking.status}", code=f"conference_{booking.status}"
            )
        changes = parse_booking(body, self.config, self.wall(), current=booking)
        updated = await self.store.update(booking.id, **changes)
        if updated is None:
            raise NotFound(f"no conference {booking.id}", field="id")
        live = self.conferences.get(updated.id)
        if "lobby" in changes and live is not None:
            moderation.set_lobby(live, updated.lobby)
        return updated

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
            "expires": utc_iso(expires),
        }


def dev_identity(email: str) -> Identity:
    """The identity the development sign-in gives an e-mail address (``dev:<email>``)."""
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


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
