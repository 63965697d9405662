"""Everything booked conferences add to a server, behind one object for ``app.py``.

``Scheduling(...)`` in ``Server.__init__``; ``register(app)`` before the catch-all room
route; ``await start()`` opens the store and starts the lifecycle; ``await close()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web

from snapconf.api.admission import StoreAdmission, StoreDirectory
from snapconf.api.config import ApiConfig, OrganisersConfig, SnapConfig
from snapconf.api.lifecycle import Lifecycle
from snapconf.api.oidc import OidcClient
from snapconf.api.service import PREFIX, ConferenceService
from snapconf.api.tokens import Signer
from snapconf.conference import Conferences
from snapconf.signaling.admission import Admission
from snapconf.signaling.auth import TokenVerifier
from snapconf.store import Store, StoreConfig

log = logging.getLogger(__name__)


class Scheduling:
    def __init__(
        self,
        *,
        store: StoreConfig,
        api: ApiConfig,
        organisers: OrganisersConfig,
        snap: SnapConfig,
        conferences: Conferences,
        fallback: Admission,
        other_verifier: TokenVerifier | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = api
        self.organisers_config = organisers
        self.store = Store(store, wall)
        self.signer = Signer(api.token_secret, wall)
        self.service = ConferenceService(
            store=self.store,
            conferences=conferences,
            config=api,
            organisers=organisers,
            snap=snap,
            signer=self.signer,
            wall=wall,
        )
        self.admission = StoreAdmission(
            store=self.store,
            conferences=conferences,
            config=api,
            verifier=self.signer.join_verifier,
            fallback=fallback,
            other_verifier=other_verifier,
            wall=wall,
        )
        self.directory = StoreDirectory(self.store, api, wall)
        self.lifecycle = Lifecycle(self.store, conferences, api, wall)
        from snapconf.pages import OrganiserPages

        self.oidc = OidcClient(organisers, self.signer, wall)
        self.service.oidc = self.oidc if self.oidc.enabled else None
        self.pages = OrganiserPages(self.service, self.oidc)

    def register(self, app: web.Application) -> None:
        app.add_subapp(PREFIX, self.service.make_app())
        self.pages.register(app)

    async def start(self) -> None:
        await self.store.start()
        self.lifecycle.start()
        if self.organisers_config.dev_login:
            log.warning(
                "organisers: development sign-in is ON for loopback peers (anyone on this "
                "machine may sign in with any e-mail); never enable it in production"
            )
        else:
            log.info("organisers: development sign-in is off (organisers.dev_login)")
        if not self.config.public_url:
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
        await self.lifecycle.close()
        await self.store.close()
