"""The life of booked conferences, one pass every ``api.lifecycle_interval`` seconds.

Each pass: records participant sessions (who joined, browser or phone, how long) from the
live conferences; at a conference's end tells its participants (``conferenceEnding`` with
the grace in seconds) and ends it after ``api.end_grace``, freeing its PIN; anonymises
organiser e-mails ``api.anonymise_after_days`` after the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from snapconf.bookings.config import ApiConfig
from snapconf.bookings.store import Store
from snapconf.conference import Conferences

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(
        self,
        store: Store,
        conferences: Conferences,
        config: ApiConfig,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.conferences = conferences
        self.config = config
        self.wall = wall
        self._open: set[tuple[str, str]] | None = None
        self._warned: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.errors = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                self.errors += 1
                log.exception("lifecycle: pass failed")
            await asyncio.sleep(self.config.lifecycle_interval)

    async def run_once(self) -> None:
        now = self.wall()
        self.passes += 1
        await self._endings(now)
        await self._sessions(now)
        count = await self.store.anonymise(now - self.config.anonymise_after_days * 86400)
        if count:
            log.info("lifecycle: anonymised the organiser e-mail of %d conferences", count)

    async def _sessions(self, now: float) -> None:
        if self._open is None:
            # sessions left open by a previous run of the server ended when it stopped
            for conference_id, participant_id in await self.store.open_sessions():
                await self.store.session_ended(conference_id, participant_id, now)
            self._open = set()
        live = {(c.name, p.id): p for c in self.conferences for p in list(c.participants.values())}
        for key in live.keys() - self._open:
            p = live[key]
            joined = now - max(0.0, p.clock() - p.joined_at)
            await self.store.session_started(key[0], key[1], p.kind, p.role, joined)
            self._open.add(key)
        for key in self._open - live.keys():
            await self.store.session_ended(key[0], key[1], now)
            self._open.discard(key)

    async def _endings(self, now: float) -> None:
        for booking in await self.store.due_to_end(now):
            conference = self.conferences.get(booking.id)
            grace_over = now >= booking.ends + self.config.end_grace
            if conference is not None and conference.participants and not grace_over:
                if booking.id not in self._warned:
                    self._warned.add(booking.id)
                    remaining = max(0, round(booking.ends + self.config.end_grace - now))
                    for p in list(conference.participants.values()):
                        p.listener.event(
                            {
                                "type": "conferenceEnding",
                                "reason": "the booked time is over",
                                "graceSeconds": remaining,
                            }
                        )
                    log.info("conference %s: time is over, ending in %d s", booking.id, remaining)
                continue
            if conference is not None:
                conference.close("conference ended")
            await self.store.end(booking.id)
            self._warned.discard(booking.id)
            log.info("conference %s ended", booking.id)
