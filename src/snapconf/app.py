"""Wires the components together: media server, conferences, HTTP, signaling."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from snapconf import metrics
from snapconf.api.wiring import Scheduling  # issue 5: store, /api/v1, pages, admission
from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference import Conferences, valid_room_name
from snapconf.config import Config
from snapconf.dialin.conference_bridge import PhoneBridge
from snapconf.dialin.directory import ChainedDirectory, StaticConferenceDirectory
from snapconf.dialin.gateway import SipGateway
from snapconf.media.server import MediaServer
from snapconf.signaling.admission import TokenAdmission
from snapconf.signaling.auth import TokenVerifier
from snapconf.signaling.session import SignalingService

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
    """The whole server: start with :meth:`start`, stop with :meth:`close`."""

    def __init__(self, config: Config, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self.media = MediaServer(config.media, clock.now)
        self.conferences = Conferences(
            self.media, config.sfu, clock.now, mixer_config=config.mixer, audio_clock=clock
        )
        self.verifier = TokenVerifier(config.auth) if config.auth.enabled else None
        self.signaling = SignalingService(
            conferences=self.conferences,
            # decides who joins which room: replace ``signaling.admission`` to consult bookings
            admission=TokenAdmission(self.verifier),
            config=config.signaling,
            clock=clock.now,
            public_url=config.api.public_url,
        )
        self.signaling_stats = self.signaling.stats
        # -- issue 5: bookings decide who joins booked rooms; ad-hoc rooms keep TokenAdmission
        self.scheduling = Scheduling(
            store=config.store,
            api=config.api,
            organisers=config.organisers,
            snap=config.snap,
            conferences=self.conferences,
            fallback=self.signaling.admission,
            other_verifier=self.verifier,
        )
        self.signaling.admission = self.scheduling.admission
        #: PIN lookup for the SIP gateway (snapconf.dialin.directory.ConferenceDirectory)
        self.directory = self.scheduling.directory
        # -- end issue 5
        # -- the SIP dial-in gateway: PINs from the config's static list, then bookings
        self.gateway: SipGateway | None = None
        if config.sip.enabled:
            self.gateway = SipGateway(
                config.sip,
                ChainedDirectory(
                    StaticConferenceDirectory(config.sip.static_conferences), self.directory
                ),
                PhoneBridge(self.conferences, limit=self.scheduling.directory.max_participants),
                clock,
            )
        self.metric_sources: list[Callable[[], list[str]]] = [self._sip_metrics]
        self.http_app = self._make_app()
        self._runner: web.AppRunner | None = None
        self.http_port = 0
        self.closed = False

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/ws", self.signaling.handle)
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        self.scheduling.register(app)  # issue 5: /api/v1 and /organisateur/, before /{room}
        app.router.add_get("/", self._index)
        app.router.add_get("/{room}", self._room)
        return app

    def _sip_metrics(self) -> list[str]:
        if self.gateway is None:
            return []
        lines = [
            "# HELP snapconf_sip_calls Phone calls in progress.",
            "# TYPE snapconf_sip_calls gauge",
            f"snapconf_sip_calls {self.gateway.active_calls}",
            "# HELP snapconf_sip_events_total SIP gateway counters, by event.",
            "# TYPE snapconf_sip_events_total counter",
        ]
        for event, count in sorted(self.gateway.stats.items()):
            lines.append(f'snapconf_sip_events_total{{event="{event}"}} {count}')
        return lines

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "conferences": len(self.conferences)})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=metrics.render(self),
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
        await self.scheduling.start()  # issue 5: open the store (migrations), lifecycle
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
        await self.scheduling.close()  # issue 5
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
