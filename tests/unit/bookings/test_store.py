"""The SQLite store: migrations, bookings, PINs, sessions, statistics, anonymisation."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from snapconf.bookings.migrations import MIGRATIONS
from snapconf.bookings.store import Booking, Store, StoreConfig

T0 = 1_800_000_000.0  # 2027-01-15


class Wall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
async def store(tmp_path: Path, wall: Wall) -> AsyncIterator[Store]:
    s = await Store.open(StoreConfig(path=str(tmp_path / "s.db")), wall=wall)
    yield s
    await s.close()


async def book(store: Store, **kw: object) -> Booking:
    args: dict[str, object] = {
        "organiser_id": "dev:alice@agriculture.gouv.fr",
        "organiser_email": "alice@agriculture.gouv.fr",
        "title": "Point hebdo",
        "starts": T0 + 3600,
        "ends": T0 + 7200,
        "timezone": "Europe/Paris",
    }
    args.update(kw)
    await store.sign_in(str(args["organiser_id"]), str(args["organiser_email"]))
    return await store.book(**args)  # type: ignore[arg-type]


def sequence(*pins: str) -> Callable[[], str]:
    it: Iterator[str] = iter(pins)
    return lambda: next(it)


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    s = await Store.open(StoreConfig(path=str(path)))
    assert await s.schema_version() == len(MIGRATIONS)
    await s.close()
    s = await Store.open(StoreConfig(path=str(path)))  # second open: nothing to apply
    assert await s.schema_version() == len(MIGRATIONS)
    await s.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"organisers", "conferences", "pins", "participant_sessions", "daily_stats"} <= tables


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    await (await Store.open(StoreConfig(path=str(path)))).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="schema 99"):
        await Store.open(StoreConfig(path=str(path)))


async def test_booking_gets_a_nine_digit_pin_held_in_the_pins_table(store: Store) -> None:
    b = await book(store)
    assert len(b.pin) == 9 and b.pin.isdigit()
    assert (await store.by_pin(b.pin)) == b
    assert (await store.get(b.id)) == b


async def test_pin_collision_is_retried_with_a_new_pin(tmp_path: Path, wall: Wall) -> None:
    s = await Store.open(
        StoreConfig(path=str(tmp_path / "c.db")),
        wall=wall,
        pin_factory=sequence("123456789", "123456789", "123456789", "987654321"),
    )
    try:
        first = await book(s)
        second = await book(s)
        assert first.pin == "123456789"
        assert second.pin == "987654321"
        assert s.counters.pin_collisions == 2
    finally:
        await s.close()


async def test_concurrent_bookings_get_distinct_pins(tmp_path: Path, wall: Wall) -> None:
    # a tiny PIN space forces collisions between concurrent writers
    import random

    rng = random.Random(4)
    s = await Store.open(
        StoreConfig(path=str(tmp_path / "p.db")),
        wall=wall,
        pin_factory=lambda: f"{rng.randrange(60):09d}",
    )
    try:
        await s.sign_in("o", "o@x.gouv.fr")
        bookings = await asyncio.gather(
            *(
                s.book(
                    organiser_id="o",
                    organiser_email="o@x.gouv.fr",
                    title=f"c{i}",
                    starts=T0,
                    ends=T0 + 60,
                    timezone="UTC",
                )
                for i in range(40)
            )
        )
        pins = [b.pin for b in bookings]
        assert len(set(pins)) == 40
        assert s.counters.pin_collisions > 0
    finally:
        await s.close()


async def test_cancel_frees_the_pin_for_reuse_and_is_idempotent(tmp_path: Path, wall: Wall) -> None:
    s = await Store.open(
        StoreConfig(path=str(tmp_path / "r.db")),
        wall=wall,
        pin_factory=sequence("111111111", "111111111"),
    )
    try:
        first = await book(s)
        assert await s.cancel(first.id)
        assert not await s.cancel(first.id)
        assert await s.by_pin("111111111") is None
        cancelled = await s.get(first.id)
        assert cancelled is not None and cancelled.status == "cancelled"
        second = await book(s)
        assert second.pin == "111111111"
    finally:
        await s.close()


async def test_list_update_and_end(store: Store, wall: Wall) -> None:
    a = await book(store, title="A", starts=T0 + 100, ends=T0 + 200)
    b = await book(store, title="B", starts=T0 + 50, ends=T0 + 150)
    await book(store, organiser_id="dev:bob@x.gouv.fr", organiser_email="bob@x.gouv.fr")
    items, total = await store.list_for("dev:alice@agriculture.gouv.fr", limit=1)
    assert total == 2 and [i.title for i in items] == ["B"]
    items, _ = await store.list_for("dev:alice@agriculture.gouv.fr", limit=5, offset=1)
    assert [i.title for i in items] == ["A"]
    updated = await store.update(a.id, title="A2", max_participants=10)
    assert updated is not None and updated.title == "A2" and updated.max_participants == 10
    with pytest.raises(ValueError):
        await store.update(a.id, pin="000000000")
    wall.now = T0 + 160
    due = await store.due_to_end(wall.now)
    assert [d.id for d in due] == [b.id]
    assert await store.end(b.id)
    assert await store.by_pin(b.pin) is None
    assert await store.count_booked(wall.now) == (2, 1)


async def test_sessions_feed_daily_statistics(store: Store) -> None:
    b = await book(store)
    await store.session_started(b.id, "p1", "browser", "participant", T0)
    await store.session_started(b.id, "p2", "phone", "participant", T0 + 10)
    assert await store.open_sessions() == {(b.id, "p1"), (b.id, "p2")}
    await store.session_ended(b.id, "p1", T0 + 60)
    await store.session_ended(b.id, "p2", T0 + 130)
    await store.session_ended(b.id, "p2", T0 + 999)  # already ended: ignored
    stats = await store.daily_stats("2027-01-15")
    assert stats.conferences_booked == 1
    assert (stats.browser_sessions, stats.browser_seconds) == (1, 60.0)
    assert (stats.phone_sessions, stats.phone_seconds) == (1, 120.0)
    rows = await store.sessions(b.id)
    assert [(r["participant_id"], r["kind"], r["left"]) for r in rows] == [
        ("p1", "browser", T0 + 60),
        ("p2", "phone", T0 + 130),
    ]


async def test_anonymise_keeps_the_domain_of_ended_conferences_only(
    store: Store, wall: Wall
) -> None:
    old = await book(store, starts=T0, ends=T0 + 60)
    live = await book(store, starts=T0, ends=T0 + 10**6)
    await store.end(old.id)
    assert await store.anonymise(ended_before=T0 + 100) == 1
    assert await store.anonymise(ended_before=T0 + 100) == 0
    o = await store.get(old.id)
    lv = await store.get(live.id)
    assert o is not None and o.organiser_email == "anonyme@agriculture.gouv.fr"
    assert lv is not None and lv.organiser_email == "alice@agriculture.gouv.fr"


def test_a_booking_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    code = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from snapconf.bookings.store import Booking, Store, StoreConfig
        async def main():
            s = await Store.open(StoreConfig(path={str(path)!r}))
            await s.sign_in("o", "o@x.gouv.fr")
            b = await s.book(organiser_id="o", organiser_email="o@x.gouv.fr", title="t",
                             starts=1.0, ends=2e10, timezone="UTC")
            print(b.id, b.pin, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == -9, proc.stderr
    conference_id, pin = proc.stdout.split()
    assert os.path.exists(str(path) + "-wal")  # not checkpointed: recovered from the log

    async def check() -> None:
        s = await Store.open(StoreConfig(path=str(path)))
        try:
            b = await s.by_pin(pin)
            assert b is not None and b.id == conference_id and b.status == "booked"
        finally:
            await s.close()

    asyncio.run(check())
