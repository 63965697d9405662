"""The one place the server is assembled: media, conferences, bookings and the faces."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from snapconf import metrics
from snapconf.api.service import PREFIX, ConferenceService
from snapconf.auth import TokenAdmission, TokenVerifier
from snapconf.bookings.lifecycle import Lifecycle
from snapconf.bookings.oidc import OidcClient
from snapconf.bookings.policy import StoreAdmission, StoreDirectory
from snapconf.bookings.service import Bookings
from snapconf.bookings.store import Store
from snapconf.bookings.tokens import Signer
from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference import Conferences, valid_room_name
from snapconf.config import Config
from snapconf.dialin.conference_bridge import PhoneBridge
from snapconf.dialin.directory import ChainedDirectory, StaticConferenceDirectory
from snapconf.dialin.gateway import SipGateway
from snapconf.media.server import MediaServer
from snapconf.pages import OrganiserPages
from snapconf.signaling.session import SignalingService, SignalingStats

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("snapconf") / "web" / "static"))

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; "
        "img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}


class Server:
    """The whole server, wired here and only here: start with :meth:`start`, stop with
    :meth:`close`.

    The layers, from the bottom: ``rtp`` < ``media`` < ``conference`` (the one door,
    :meth:`Conferences.join`) < ``auth`` < ``bookings`` (store, policy, lifecycle) < the
    faces ``signaling``, ``dialin``, ``api``, ``pages`` < ``metrics`` < this module.
    """

    def __init__(self, config: Config, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        wall = time.time
        self.media = MediaServer(config.media, clock.now)
        self.conferences = Conferences(
            self.media,
            config.sfu,
            clock.now,
            mixer_config=config.mixer,
            audio_clock=clock,
            chat_config=config.chat,
            wall_clock=wall,
        )
        # -- the bookings: who joins booked rooms (ad-hoc rooms: the join tokens), the PINs
        self.verifier = TokenVerifier(config.auth) if config.auth.enabled else None
        self.store = Store(config.store, wall)
        self.signer = Signer(config.api.token_secret, wall)
        self.oidc = OidcClient(config.organisers, self.signer, wall)
        self.bookings = Bookings(
            store=self.store,
            conferences=self.conferences,
            config=config.api,
            organisers=config.organisers,
            snap=config.snap,
            signer=self.signer,
            oidc=self.oidc if self.oidc.enabled else None,
            wall=wall,
        )
        self.conferences.admission = StoreAdmission(
            store=self.store,
            config=config.api,
            verifier=self.signer.join_verifier,
            fallback=TokenAdmission(self.verifier),
            other_verifier=self.verifier,
            wall=wall,
        )
        #: PIN lookup for the SIP gateway (a snapconf.conference.directory.ConferenceDirectory)
        self.directory = StoreDirectory(self.store, config.api, wall)
        self.lifecycle = Lifecycle(self.store, self.conferences, config.api, wall)
        # -- the faces: browsers, organisers (API and pages), phones
        self.signaling = SignalingService(
            conferences=self.conferences,
            config=config.signaling,
            clock=clock.now,
            public_url=config.api.public_url,
        )
        self.api = ConferenceService(self.bookings)
        self.pages = OrganiserPages(self.bookings, self.oidc)
        self.gateway: SipGateway | None = None
        if config.sip.enabled:
            self.gateway = SipGateway(
                config.sip,
                # PINs from the config's static list, then the bookings'
                ChainedDirectory(
                    StaticConferenceDirectory(config.sip.static_conferences), self.directory
                ),
                PhoneBridge(self.conferences),
                clock,
            )
        self.metrics = metrics.Registry(
            [
                metrics.conference_source(self.conferences, self.media),
                metrics.signaling_source(self.signaling.stats),
                metrics.mixer_source(self.conferences),
            ]
        )
        if self.gateway is not None:
            self.metrics.add(metrics.sip_source(self.gateway))
        self.http_app = self._make_app()
        self._runner: web.AppRunner | None = None
        self.http_port = 0
        self.closed = False

    @property
    def signaling_stats(self) -> SignalingStats:
        return self.signaling.stats

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/ws", self.signaling.handle)
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        # the organisers' faces come before the catch-all room route
        app.add_subapp(PREFIX, self.api.make_app())
        self.pages.register(app)
        app.router.add_get("/", self._index)
        app.router.add_get("/{room}", self._room)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "conferences": len(self.conferences)})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _index(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/" + secrets.token_urlsafe(6).replace("_", "-").lower())

    async def _room(self, request: web.Request) -> web.StreamResponse:
        room = request.match_info["room"]
        if not valid_room_name(room):
            raise web.HTTPNotFound(text="no such room")
        return web.FileResponse(STATIC_DIR / "room.html")

    async def start(self) -> None:
        await self.store.start()  # opens the database and runs its migrations
        self.lifecycle.start()
        self._log_organisers()
        await self.media.start()
        if self.gateway is not None:
            await self.gateway.start()
            log.info(
                "sip: listening on %s:%d (UDP%s)",
                self.config.sip.host,
                self.gateway.udp_port,
                f", TCP {self.gateway.tcp_port}" if self.config.sip.tcp else "",
            )
        self._runner = web.AppRunner(
            self.http_app,
            access_log=None,
            handle_signals=False,
            # also bounds how long a connection may take to send its request head: a
            # slow-header (slowloris) client is dropped after this many seconds
            keepalive_timeout=self.config.http.keepalive_timeout,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http.host, self.config.http.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.http_port = sockets[0].getsockname()[1]
        log.info(
            "http: listening on http://%s:%d (rooms at /<name>, signaling at /ws)",
            self.config.http.host,
            self.http_port,
        )
        if self.verifier is None:
            log.info("auth: anonymous joins allowed (no auth.jwt_secret or auth.jwt_public_key)")

    def _log_organisers(self) -> None:
        if self.config.organisers.dev_login:
            log.warning(
                "organisers: development sign-in is ON for loopback peers (anyone on this "
                "machine may sign in with any e-mail); never enable it in production"
            )
        else:
            log.info("organisers: development sign-in is off (organisers.dev_login)")
        if not self.config.api.public_url:
            log.log(
                logging.WARNING if self.oidc.enabled else logging.INFO,
                "api: no api.public_url: links%s are built from the address each client "
                "connected to; behind a proxy or a DNS name, set it",
                " and the OpenID Connect redirect URI" if self.oidc.enabled else "",
            )
        if self.oidc.enabled:
            log.info("organisers: OpenID Connect sign-in with %s", self.oidc.issuer)
        else:
            log.info("organisers: no OpenID Connect provider configured")

    async def close(self) -> None:
        """Stop accepting, end conferences, close sockets; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.gateway is not None:
            await self.gateway.close()  # BYE to every call before conferences go
        self.conferences.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.lifecycle.close()
        await self.store.close()
        await self.media.close()


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], object]
) -> web.StreamResponse:
    response = await handler(request)  # type: ignore[misc]
    assert isinstance(response, web.StreamResponse)
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response
