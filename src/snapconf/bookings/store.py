"""The booking store: SQLite through aiosqlite, WAL journal, one commit per write.

Times are UTC epoch seconds from an injectable wall clock. Every write is its own
transaction, committed before the call returns, so a booking acknowledged to a client
survives the process being killed (SIGKILL): with WAL the committed pages are in the
log file, which SQLite replays at the next open.

One connection serves the whole server (aiosqlite runs it on one thread); an
:class:`asyncio.Lock` keeps multi-statement transactions of concurrent callers apart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from snapconf.bookings.migrations import MIGRATIONS

log = logging.getLogger(__name__)

__all__ = [
    "ACCESS_LEVELS",
    "Booking",
    "DailyStats",
    "Organiser",
    "Store",
    "StoreConfig",
    "new_pin",
]

ACCESS_LEVELS = ("public", "authenticated", "restricted")
PIN_ATTEMPTS = 20


@dataclass(slots=True)
class StoreConfig:
    """The database (section ``[store]``)."""

    #: SQLite file; empty keeps bookings in memory only (lost at exit, logged as such)
    path: str = ""
    #: seconds a write waits for another process holding the database
    busy_timeout: float = 5.0
    #: "NORMAL" survives a killed process; "FULL" also survives a power cut
    synchronous: str = "NORMAL"


@dataclass(frozen=True, slots=True)
class Organiser:
    id: str
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Booking:
    """A booked conference as stored; ``id`` is also its room name."""

    id: str
    organiser_id: str
    organiser_email: str
    title: str
    starts: float
    ends: float
    timezone: str
    all_day: bool
    max_participants: int
    access: str
    osmose_url: str | None
    resana_url: str | None
    pin: str
    status: str
    created: float
    updated: float
    #: newcomers who are not moderators wait in the waiting room (migration 2)
    lobby: bool = False


@dataclass(slots=True)
class DailyStats:
    day: str
    conferences_booked: int = 0
    browser_sessions: int = 0
    phone_sessions: int = 0
    browser_seconds: float = 0.0
    phone_seconds: float = 0.0


@dataclass(slots=True)
class _Counters:
    pin_collisions: int = 0
    bookings: int = 0


_BOOKING_COLUMNS = (
    "id, organiser_id, organiser_email, title, starts, ends, timezone, all_day, "
    "max_participants, access, osmose_url, resana_url, pin, status, created, updated, lobby"
)
_UPDATABLE = frozenset(
    {"title", "starts", "ends", "timezone", "all_day", "max_participants", "access"}
    | {"osmose_url", "resana_url", "lobby"}
)


def new_pin() -> str:
    """Nine random digits (leading zeros allowed) from :mod:`secrets`."""
    return f"{secrets.randbelow(10**9):09d}"


def new_conference_id() -> str:
    """12 URL-safe characters: a valid room name that cannot be guessed."""
    return secrets.token_urlsafe(9)


def _booking(row: Iterable[Any]) -> Booking:
    r = tuple(row)
    return Booking(
        id=r[0],
        organiser_id=r[1],
        organiser_email=r[2],
        title=r[3],
        starts=r[4],
        ends=r[5],
        timezone=r[6],
        all_day=bool(r[7]),
        max_participants=r[8],
        access=r[9],
        osmose_url=r[10],
        resana_url=r[11],
        pin=r[12],
        status=r[13],
        created=r[14],
        updated=r[15],
        lobby=bool(r[16]),
    )


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class Store:
    """Open with :meth:`open`, close with :meth:`close`."""

    def __init__(
        self,
        config: StoreConfig | None = None,
        wall: Callable[[], float] = time.time,
        pin_factory: Callable[[], str] = new_pin,
    ) -> None:
        self.config = config or StoreConfig()
        if self.config.synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("store.synchronous is not NORMAL or FULL")
        self.wall = wall
        self.pin_factory = pin_factory
        self.counters = _Counters()
        self._lock = asyncio.Lock()
        self._db: aiosqlite.Connection | None = None
        self.closed = False

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store: not started")
        return self._db

    @classmethod
    async def open(
        cls,
        config: StoreConfig | None = None,
        wall: Callable[[], float] = time.time,
        pin_factory: Callable[[], str] = new_pin,
    ) -> Store:
        store = cls(config, wall, pin_factory)
        await store.start()
        return store

    async def start(self) -> None:
        """Connect, set WAL, apply migrations."""
        config = self.config
        path = config.path or ":memory:"
        db = await aiosqlite.connect(path, isolation_level=None, timeout=config.busy_timeout)
        try:
            await db.execute("PRAGMA foreign_keys = ON")
            if config.path:
                async with db.execute("PRAGMA journal_mode = WAL") as cur:
                    row = await cur.fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    raise RuntimeError(f"store: {path} cannot use the WAL journal")
            await db.execute(f"PRAGMA synchronous = {config.synchronous.upper()}")
            self._db = db
            await self._migrate()
        except BaseException:
            self._db = None
            await db.close()
            raise
        if config.path:
            log.info("store: %s (SQLite, WAL, schema %d)", config.path, len(MIGRATIONS))
        else:
            log.warning("store: in memory, bookings are lost at exit (set store.path to keep them)")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._db is not None:
            await self._db.close()

    # -- schema -----------------------------------------------------------------------------
    async def _migrate(self) -> None:
        await self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"store: the database has schema {version}, newer than this server's "
                f"{len(MIGRATIONS)}"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            script = MIGRATIONS[number - 1]
            await self.db.executescript(
                "BEGIN IMMEDIATE;\n"
                + script
                + f"\nDELETE FROM schema_version; INSERT INTO schema_version VALUES ({number});"
                + "\nCOMMIT;"
            )
            log.info("store: applied migration %d", number)

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT max(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- transactions -----------------------------------------------------------------------
    async def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run statements in one committed transaction."""
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    await self.db.execute(sql, params)
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    # -- organisers -------------------------------------------------------------------------
    async def sign_in(self, organiser_id: str, email: str, name: str = "") -> Organiser:
        """Create or refresh an organiser at sign-in."""
        now = self.wall()
        await self._write(
            [
                (
                    "INSERT INTO organisers (id, email, name, created, last_login) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "email = excluded.email, name = excluded.name, "
                    "last_login = excluded.last_login",
                    (organiser_id, email, name, now, now),
                )
            ]
        )
        return Organiser(organiser_id, email, name)

    async def organiser(self, organiser_id: str) -> Organiser | None:
        async with self.db.execute(
            "SELECT id, email, name FROM organisers WHERE id = ?", (organiser_id,)
        ) as cur:
            row = await cur.fetchone()
        return Organiser(row[0], row[1], row[2]) if row else None

    # -- conferences ------------------------------------------------------------------------
    async def book(
        self,
        *,
        organiser_id: str,
        organiser_email: str,
        title: str,
        starts: float,
        ends: float,
        timezone: str,
        all_day: bool = False,
        max_participants: int = 50,
        access: str = "public",
        osmose_url: str | None = None,
        resana_url: str | None = None,
        lobby: bool = False,
    ) -> Booking:
        """Store a booking with a fresh PIN (retried on collision) and return it."""
        if access not in ACCESS_LEVELS:
            raise ValueError(f"access {access!r} is not one of {ACCESS_LEVELS}")
        now = self.wall()
        for attempt in range(PIN_ATTEMPTS):
            conference_id = new_conference_id()
            pin = self.pin_factory()
            try:
                await self._write(
                    [
                        (
                            f"INSERT INTO conferences ({_BOOKING_COLUMNS}) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'booked', ?, ?, ?)",
                            (
                                conference_id,
                                organiser_id,
                                organiser_email,
                                title,
                                starts,
                                ends,
                                timezone,
                                int(all_day),
                                max_participants,
                                access,
                                osmose_url,
                                resana_url,
                                pin,
                                now,
                                now,
                                int(lobby),
                            ),
                        ),
                        (
                            "INSERT INTO pins (pin, conference_id) VALUES (?, ?)",
                            (pin, conference_id),
                        ),
                        (
                            "INSERT INTO daily_stats (day, conferences_booked) VALUES (?, 1) "
                            "ON CONFLICT (day) DO UPDATE SET "
                            "conferences_booked = conferences_booked + 1",
                            (utc_day(now),),
                        ),
                    ]
                )
            except sqlite3.IntegrityError as exc:
                if "pins.pin" not in str(exc) and "conferences.id" not in str(exc):
                    raise
                self.counters.pin_collisions += 1
                log.info("store: PIN or id collision, retrying (attempt %d)", attempt + 1)
                if attempt == 0:
                    await self.release_expired_pins()
                continue
            self.counters.bookings += 1
            booking = await self.get(conference_id)
            assert booking is not None
            return booking
        raise RuntimeError("store: no free PIN after many attempts")

    async def get(self, conference_id: str) -> Booking | None:
        async with self.db.execute(
            f"SELECT {_BOOKING_COLUMNS} FROM conferences WHERE id = ?", (conference_id,)
        ) as cur:
            row = await cur.fetchone()
        return _booking(row) if row else None

    async def by_pin(self, pin: str) -> Booking | None:
        """The conference holding ``pin`` now (cancelled and ended ones hold none)."""
        async with self.db.execute(
            f"SELECT {_BOOKING_COLUMNS} FROM conferences "
            "WHERE id = (SELECT conference_id FROM pins WHERE pin = ?)",
            (pin,),
        ) as cur:
            row = await cur.fetchone()
        return _booking(row) if row else None

    async def list_for(
        self, organiser_id: str, *, limit: int = 20, offset: int = 0, include_past: bool = True
    ) -> tuple[list[Booking], int]:
        """An organiser's conferences, soonest first, and how many there are in all."""
        where = "organiser_id = ?"
        params: tuple[Any, ...] = (organiser_id,)
        if not include_past:
            where += " AND status = 'booked'"
        async with self.db.execute(
            f"SELECT {_BOOKING_COLUMNS} FROM conferences WHERE {where} "
            "ORDER BY starts, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ) as cur:
            rows = await cur.fetchall()
        async with self.db.execute(
            f"SELECT count(*) FROM conferences WHERE {where}", params
        ) as cur:
            total = await cur.fetchone()
        return [_booking(r) for r in rows], int(total[0]) if total else 0

    async def update(self, conference_id: str, **changes: Any) -> Booking | None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if changes:
            columns = sorted(changes)
            values = [int(v) if isinstance(v, bool) else v for v in (changes[c] for c in columns)]
            assignments = ", ".join(f"{c} = ?" for c in columns)
            await self._write(
                [
                    (
                        f"UPDATE conferences SET {assignments}, updated = ? WHERE id = ?",
                        (*values, self.wall(), conference_id),
                    )
                ]
            )
        return await self.get(conference_id)

    async def _finish(self, conference_id: str, status: str) -> bool:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = await self.db.execute(
                    "UPDATE conferences SET status = ?, updated = ? "
                    "WHERE id = ? AND status = 'booked'",
                    (status, self.wall(), conference_id),
                )
                changed = cur.rowcount > 0
                await self.db.execute("DELETE FROM pins WHERE conference_id = ?", (conference_id,))
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")
        return changed

    async def cancel(self, conference_id: str) -> bool:
        """Cancel a booked conference and free its PIN; False if it was not booked."""
        return await self._finish(conference_id, "cancelled")

    async def end(self, conference_id: str) -> bool:
        """Mark a conference ended and free its PIN; False if it was not booked."""
        return await self._finish(conference_id, "ended")

    async def due_to_end(self, before: float) -> list[Booking]:
        async with self.db.execute(
            f"SELECT {_BOOKING_COLUMNS} FROM conferences "
            "WHERE status = 'booked' AND ends <= ? ORDER BY ends",
            (before,),
        ) as cur:
            rows = await cur.fetchall()
        return [_booking(r) for r in rows]

    async def release_expired_pins(self) -> int:
        """Free the PINs of conferences past their end (normally freed by :meth:`end`)."""
        async with self._lock:
            cur = await self.db.execute(
                "DELETE FROM pins WHERE conference_id IN "
                "(SELECT id FROM conferences WHERE ends < ? OR status != 'booked')",
                (self.wall(),),
            )
            return cur.rowcount

    async def anonymise(self, ended_before: float) -> int:
        """Replace organiser e-mails of conferences that ended before a time by
        ``anonyme@<domain>``, keeping the domain for statistics; returns how many."""
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE conferences SET anonymised = 1, organiser_email = 'anonyme@' || "
                "substr(organiser_email, instr(organiser_email, '@') + 1) "
                "WHERE anonymised = 0 AND ends < ? AND status != 'booked'",
                (ended_before,),
            )
            return cur.rowcount

    async def count_booked(self, now: float) -> tuple[int, int]:
        """(conferences booked and not yet ended, of which in their time slot now)."""
        async with self.db.execute(
            "SELECT count(*), coalesce(sum(starts <= ?), 0) FROM conferences "
            "WHERE status = 'booked' AND ends > ?",
            (now, now),
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # -- participant sessions ---------------------------------------------------------------
    async def session_started(
        self, conference_id: str, participant_id: str, kind: str, role: str, joined: float
    ) -> None:
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO participant_sessions "
                    "(conference_id, participant_id, kind, role, joined) VALUES (?, ?, ?, ?, ?)",
                    (conference_id, participant_id, kind, role, joined),
                )
            ]
        )

    async def session_ended(self, conference_id: str, participant_id: str, left: float) -> None:
        async with self.db.execute(
            "SELECT kind, joined FROM participant_sessions "
            "WHERE conference_id = ? AND participant_id = ? AND left IS NULL",
            (conference_id, participant_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return
        kind, joined = row
        column = "phone" if kind == "phone" else "browser"
        await self._write(
            [
                (
                    "UPDATE participant_sessions SET left = ? "
                    "WHERE conference_id = ? AND participant_id = ?",
                    (left, conference_id, participant_id),
                ),
                (
                    f"INSERT INTO daily_stats (day, {column}_sessions, {column}_seconds) "
                    f"VALUES (?, 1, ?) ON CONFLICT (day) DO UPDATE SET "
                    f"{column}_sessions = {column}_sessions + 1, "
                    f"{column}_seconds = {column}_seconds + excluded.{column}_seconds",
                    (utc_day(joined), max(0.0, left - joined)),
                ),
            ]
        )

    async def open_sessions(self) -> set[tuple[str, str]]:
        async with self.db.execute(
            "SELECT conference_id, participant_id FROM participant_sessions WHERE left IS NULL"
        ) as cur:
            rows = await cur.fetchall()
        return {(r[0], r[1]) for r in rows}

    async def sessions(self, conference_id: str) -> list[dict[str, Any]]:
        async with self.db.execute(
            "SELECT participant_id, kind, role, joined, left FROM participant_sessions "
            "WHERE conference_id = ? ORDER BY joined",
            (conference_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [
            {"participant_id": r[0], "kind": r[1], "role": r[2], "joined": r[3], "left": r[4]}
            for r in rows
        ]

    async def daily_stats(self, day: str) -> DailyStats:
        async with self.db.execute(
            "SELECT day, conferences_booked, browser_sessions, phone_sessions, "
            "browser_seconds, phone_seconds FROM daily_stats WHERE day = ?",
            (day,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return DailyStats(day)
        return DailyStats(*row)
