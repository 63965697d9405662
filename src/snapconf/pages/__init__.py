"""Organiser pages, server-rendered in French: sign-in, booking, my conferences.

All under ``/organisateur/`` so they never shadow a room name. Forms post back with a
CSRF token bound to the session cookie; the only scripts are the copy buttons.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from snapconf.bookings.errors import ApiError
from snapconf.bookings.oidc import OidcClient, OidcError
from snapconf.bookings.service import SESSION_COOKIE, Bookings, dev_identity
from snapconf.bookings.store import Booking
from snapconf.bookings.tokens import Identity, TokenError, domain_allowed

log = logging.getLogger(__name__)

ROOT = "/organisateur"
OIDC_RETURN = ROOT + "/connexion/oidc/retour"
FLOW_COOKIE = "snapconf_oidc_flow"
#: random value the sign-in form's CSRF token is bound to (there is no session yet)
LOGIN_COOKIE = "snapconf_login"
PAGES_DIR = Path(str(resources.files("snapconf") / "pages"))
STATUSES = {"booked": "Prévue", "cancelled": "Annulée", "ended": "Terminée"}
DURATIONS = [
    (30, "30 minutes"),
    (60, "1 heure"),
    (90, "1 h 30"),
    (120, "2 heures"),
    (180, "3 heures"),
    (240, "4 heures"),
    (480, "8 heures"),
]
PAGE = 20


def _french_date(ts: float, zone: str, all_day: bool) -> str:
    dt = datetime.fromtimestamp(ts, ZoneInfo(zone))
    days = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    text = f"{days[dt.weekday()]} {dt.day} {months[dt.month - 1]} {dt.year}"
    return text if all_day else f"{text} à {dt.hour:02d} h {dt.minute:02d}"


class OrganiserPages:
    def __init__(self, bookings: Bookings, oidc: OidcClient) -> None:
        self.bookings = bookings
        self.oidc = oidc
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(PAGES_DIR / "templates")),
            autoescape=True,
        )

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get(ROOT, self.home)
        r.add_get(ROOT + "/", self.home)
        r.add_get(ROOT + "/connexion", self.login_page)
        r.add_post(ROOT + "/connexion", self.login)
        r.add_get(ROOT + "/connexion/oidc", self.oidc_start)
        r.add_get(ROOT + "/connexion/oidc/retour", self.oidc_return)
        r.add_post(ROOT + "/deconnexion", self.logout)
        r.add_get(ROOT + "/reserver", self.book_page)
        r.add_post(ROOT + "/reserver", self.book)
        r.add_get(ROOT + "/conferences", self.list_page)
        r.add_get(ROOT + "/conferences/{id}", self.conference_page)
        r.add_get(ROOT + "/conferences/{id}/invitation.ics", self.ics)
        r.add_post(ROOT + "/conferences/{id}/annuler", self.cancel)
        r.add_get(ROOT + "/conferences/{id}/modifier", self.edit_page)
        r.add_post(ROOT + "/conferences/{id}/modifier", self.edit)
        r.add_get(ROOT + "/rejoindre/{id}", self.join)
        r.add_static(ROOT + "/static/", PAGES_DIR / "static", follow_symlinks=False)

    # -- helpers --------------------------------------------------------------------------
    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        html = self.env.get_template(template).render(statuses=STATUSES, **context)
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            status=status,
            headers={"Cache-Control": "no-store"},
        )

    def identity(self, request: web.Request) -> Identity | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            identity = self.bookings.signer.verify_session(cookie)
        except TokenError:
            return None
        if not domain_allowed(identity.email, self.bookings.organisers.allowed_domains):
            return None
        return identity

    def require(self, request: web.Request) -> tuple[Identity, str]:
        identity = self.identity(request)
        if identity is None:
            raise web.HTTPSeeOther(ROOT + "/connexion")
        return identity, self.bookings.signer.csrf(request.cookies[SESSION_COOKIE])

    async def form(self, request: web.Request, csrf: str) -> dict[str, str]:
        data = await request.post()
        form = {k: v for k, v in data.items() if isinstance(v, str)}
        if form.get("csrf") != csrf:
            raise web.HTTPForbidden(text="formulaire expiré : rechargez la page")
        return form

    async def booking(self, identity: Identity, conference_id: str) -> Booking:
        try:
            return await self.bookings.own_booking(identity, conference_id)
        except ApiError:
            raise web.HTTPNotFound(text="conférence introuvable") from None

    def view(self, booking: Booking, request: web.Request) -> dict[str, Any]:
        c = self.bookings.describe(booking, request)
        c["start_text"] = _french_date(booking.starts, booking.timezone, booking.all_day)
        end = booking.ends - (86400 if booking.all_day else 0)
        c["end_text"] = _french_date(end, booking.timezone, booking.all_day)
        c["pin_text"] = f"{booking.pin[:3]} {booking.pin[3:6]} {booking.pin[6:]}"
        return c

    # -- sign-in ----------------------------------------------------------------------------
    async def home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther(ROOT + "/conferences")

    def _login(
        self, request: web.Request, status: int = 200, error: str | None = None
    ) -> web.Response:
        """The sign-in page; its form carries a CSRF token bound to a random cookie (login
        CSRF: another site must not sign a visitor in as someone else)."""
        seed = request.cookies.get(LOGIN_COOKIE) or ""
        if not 20 <= len(seed) <= 64:
            seed = secrets.token_urlsafe(24)
        response = self.render(
            "login.html",
            status=status,
            title="Se connecter",
            identity=None,
            error=error,
            dev_login=self.bookings.dev_login_allowed(request),
            csrf=self.bookings.signer.csrf(seed),
            oidc=self.oidc.enabled,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            seed,
            max_age=3600,
            path=ROOT + "/connexion",
            httponly=True,
            samesite="Lax",
            secure=self.bookings.secure_cookies(request),
        )
        return response

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        return self._login(request)

    async def login(self, request: web.Request) -> web.StreamResponse:
        if not self.bookings.organisers.dev_login:
            raise web.HTTPForbidden(text="la connexion de développement est désactivée")
        if not self.bookings.dev_login_allowed(request):
            log.warning(
                "organisers: development sign-in refused to a non-loopback peer (%s)",
                request.remote,
            )
            raise web.HTTPForbidden(
                text="la connexion de développement n'est ouverte que depuis ce poste"
            )
        data = await request.post()
        seed = request.cookies.get(LOGIN_COOKIE, "")
        token = data.get("csrf")
        if (
            not seed
            or not isinstance(token, str)
            or not hmac.compare_digest(token.encode(), self.bookings.signer.csrf(seed).encode())
        ):
            raise web.HTTPForbidden(text="formulaire expiré : rechargez la page")
        email = data.get("email")
        try:
            identity = dev_identity(email if isinstance(email, str) else "")
        except ApiError:
            return self._login(request, 422, "Saisissez une adresse électronique valide.")
        if not domain_allowed(identity.email, self.bookings.organisers.allowed_domains):
            return self._login(
                request, 403, "Les adresses de ce domaine ne peuvent pas organiser de conférence."
            )
        await self.bookings.store.sign_in(identity.organiser_id, identity.email, identity.name)
        log.info("organisers: development sign-in of %s", identity.email)
        raise self.signed_in(request, identity)

    def _oidc_redirect_uri(self, request: web.Request) -> str:
        return self.bookings.base_url(request) + OIDC_RETURN

    async def oidc_start(self, request: web.Request) -> web.StreamResponse:
        if not self.oidc.enabled:
            raise web.HTTPNotFound(text="pas de fournisseur d'identité configuré")
        try:
            url, flow = await self.oidc.start(self._oidc_redirect_uri(request))
        except OidcError as exc:
            log.warning("organisers: OIDC sign-in cannot start: %s", exc.message)
            return self._login(
                request, 502, "Le fournisseur d'identité ne répond pas ; réessayez plus tard."
            )
        response = web.HTTPSeeOther(url)
        response.set_cookie(
            FLOW_COOKIE,
            flow,
            max_age=600,
            path=ROOT + "/connexion/oidc",
            httponly=True,
            samesite="Lax",
            secure=self.bookings.secure_cookies(request),
        )
        raise response

    async def oidc_return(self, request: web.Request) -> web.StreamResponse:
        if not self.oidc.enabled:
            raise web.HTTPNotFound(text="pas de fournisseur d'identité configuré")
        query = {k: v for k, v in request.query.items()}
        try:
            identity = await self.oidc.finish(
                query, request.cookies.get(FLOW_COOKIE), self._oidc_redirect_uri(request)
            )
        except OidcError as exc:
            log.warning("organisers: OIDC sign-in refused: %s", exc.message)
            response = self._login(request, exc.status, "La connexion a échoué : " + exc.message)
            response.del_cookie(FLOW_COOKIE, path=ROOT + "/connexion/oidc")
            return response
        if not domain_allowed(identity.email, self.bookings.organisers.allowed_domains):
            log.info("organisers: sign-in of %s refused (domain)", identity.email)
            return self._login(
                request, 403, "Les adresses de ce domaine ne peuvent pas organiser de conférence."
            )
        await self.bookings.store.sign_in(identity.organiser_id, identity.email, identity.name)
        log.info("organisers: OIDC sign-in of %s", identity.email)
        redirect = self.signed_in(request, identity)
        redirect.del_cookie(FLOW_COOKIE, path=ROOT + "/connexion/oidc")
        raise redirect

    def signed_in(self, request: web.Request, identity: Identity) -> web.HTTPSeeOther:
        ttl = self.bookings.organisers.session_ttl
        response = web.HTTPSeeOther(ROOT + "/conferences")
        response.set_cookie(
            SESSION_COOKIE,
            self.bookings.signer.session(identity, ttl),
            max_age=int(ttl),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.bookings.secure_cookies(request),
        )
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        _, csrf = self.require(request)
        await self.form(request, csrf)
        response = web.HTTPSeeOther(ROOT + "/connexion")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    # -- booking ----------------------------------------------------------------------------
    def _book_page(
        self,
        identity: Identity,
        csrf: str,
        form: dict[str, str],
        error: ApiError | None,
        editing: Booking | None = None,
    ) -> web.Response:
        config = self.bookings.config
        now = datetime.fromtimestamp(self.bookings.wall(), ZoneInfo(config.timezone))
        next_hour = (now + timedelta(hours=1)).replace(minute=0)
        return self.render(
            "book.html",
            status=422 if error else 200,
            title="Modifier la conférence" if editing else "Réserver une conférence",
            editing=editing,
            identity=identity,
            csrf=csrf,
            form=form,
            error=error,
            # the default slot is the next full hour: after 23:00 its date is tomorrow's
            today=next_hour.date().isoformat(),
            next_hour=next_hour.strftime("%H:%M"),
            durations=[(m, t) for m, t in DURATIONS if m <= config.max_duration_minutes],
            max_participants=config.max_participants,
            timezone=config.timezone,
        )

    async def book_page(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        return self._book_page(identity, csrf, {}, None)

    async def book(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        form = await self.form(request, csrf)
        try:
            booking = await self.bookings.book(identity, _booking_body(form, editing=False))
        except ApiError as exc:
            return self._book_page(identity, csrf, form, _french_error(exc))
        raise web.HTTPSeeOther(f"{ROOT}/conferences/{booking.id}")

    async def edit_page(self, request: web.Request) -> web.StreamResponse:
        """The booking form, filled with a booked conference's settings."""
        identity, csrf = self.require(request)
        booking = await self.booking(identity, request.match_info["id"])
        if booking.status != "booked":
            raise web.HTTPSeeOther(f"{ROOT}/conferences/{booking.id}")
        return self._book_page(identity, csrf, _form_of(booking), None, editing=booking)

    async def edit(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        form = await self.form(request, csrf)
        booking = await self.booking(identity, request.match_info["id"])
        try:
            await self.bookings.update(booking, _booking_body(form, editing=True))
        except ApiError as exc:
            return self._book_page(identity, csrf, form, _french_error(exc), editing=booking)
        raise web.HTTPSeeOther(f"{ROOT}/conferences/{booking.id}")

    async def list_page(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        text = request.query.get("offset", "0")
        offset = int(text) if text.isdigit() and len(text) < 10 else 0
        items, total = await self.bookings.store.list_for(
            identity.organiser_id, limit=PAGE, offset=offset
        )
        return self.render(
            "list.html",
            title="Mes conférences",
            identity=identity,
            csrf=csrf,
            items=[self.view(b, request) for b in items],
            prev_offset=max(0, offset - PAGE) if offset else None,
            next_offset=offset + PAGE if offset + PAGE < total else None,
        )

    async def conference_page(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        booking = await self.booking(identity, request.match_info["id"])
        return self.render(
            "conference.html",
            title=booking.title,
            identity=identity,
            csrf=csrf,
            c=self.view(booking, request),
        )

    async def ics(self, request: web.Request) -> web.StreamResponse:
        identity, _ = self.require(request)
        booking = await self.booking(identity, request.match_info["id"])
        return self.bookings.invite(booking, request)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        identity, csrf = self.require(request)
        await self.form(request, csrf)
        booking = await self.booking(identity, request.match_info["id"])
        with contextlib.suppress(ApiError):
            await self.bookings.cancel(booking)
        raise web.HTTPSeeOther(f"{ROOT}/conferences/{booking.id}")

    async def join(self, request: web.Request) -> web.StreamResponse:
        """A signed-in agent joins: the organiser as moderator, others as participants
        (how ``authenticated`` conferences are joined)."""
        identity = self.identity(request)
        if identity is None:
            raise web.HTTPSeeOther(ROOT + "/connexion")
        conference_id = request.match_info["id"]
        booking = await self.bookings.store.get(conference_id) if len(conference_id) <= 64 else None
        if booking is None or booking.status != "booked":
            raise web.HTTPNotFound(text="conférence introuvable ou terminée")
        organiser = booking.organiser_id == identity.organiser_id
        if booking.access == "restricted" and not organiser:
            raise web.HTTPForbidden(text="cette conférence se rejoint avec le lien d'invitation")
        role = "moderator" if organiser else "participant"
        link = self.bookings.join_link(
            booking, request, role, identity.name or None, identity.organiser_id
        )
        raise web.HTTPSeeOther(f"/{booking.id}?token={link['token']}")


def _int_or_text(text: str) -> int | str:
    return int(text) if text.strip().isdigit() and len(text) < 10 else text


FRENCH = {
    "title": "Donnez un titre de 1 à 200 caractères.",
    "date": "Choisissez une date entre aujourd'hui et dans 14 jours.",
    "start": "Choisissez une date et une heure à venir, dans les 14 prochains jours.",
    "duration_minutes": "Choisissez une durée de 24 heures au plus.",
    "max_participants": "Le nombre de participants doit être entre 1 et 50.",
    "access": "Choisissez qui peut rejoindre.",
    "osmose_url": "L'adresse de l'espace Osmose doit commencer par https://.",
    "resana_url": "L'adresse de l'espace Resana doit commencer par https://.",
}


def _french_error(exc: ApiError) -> ApiError:
    message = FRENCH.get(exc.field or "", "La réservation est refusée : " + exc.message)
    return ApiError(message, field=exc.field, code=exc.code)


def _booking_body(form: dict[str, str], *, editing: bool) -> dict[str, Any]:
    """The API body of the booking form (``POST /reserver`` and ``.../modifier``). An edit
    sends every field, so that unticking the waiting room or emptying a link applies."""
    body: dict[str, Any] = {"title": form.get("title", "")}
    if form.get("kind") == "day":
        body["date"] = form.get("date", "")
    else:
        body["start"] = f"{form.get('date', '')}T{form.get('time', '')}"
        body["duration_minutes"] = _int_or_text(form.get("duration_minutes", ""))
    if form.get("max_participants"):
        body["max_participants"] = _int_or_text(form["max_participants"])
    if form.get("access"):
        body["access"] = form["access"]
    if form.get("lobby") or editing:
        body["lobby"] = bool(form.get("lobby"))
    for name in ("osmose_url", "resana_url"):
        if form.get(name) or editing:
            body[name] = form.get(name, "")
    return body


def _form_of(booking: Booking) -> dict[str, str]:
    """A booked conference as the booking form's fields, in its own time zone."""
    zone = ZoneInfo(booking.timezone)
    start = datetime.fromtimestamp(booking.starts, zone)
    return {
        "title": booking.title,
        "kind": "day" if booking.all_day else "slot",
        "date": start.date().isoformat(),
        "time": start.strftime("%H:%M"),
        "duration_minutes": str(round((booking.ends - booking.starts) / 60)),
        "max_participants": str(booking.max_participants),
        "access": booking.access,
        "lobby": "1" if booking.lobby else "",
        "osmose_url": booking.osmose_url or "",
        "resana_url": booking.resana_url or "",
    }
