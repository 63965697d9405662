"""The booking's waiting room setting: migration 2, stored, updated, given to the grant."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.unit.bookings.test_store import T0, Wall, book

from snapconf.bookings import store as store_module
from snapconf.bookings.booking import parse_booking
from snapconf.bookings.config import ApiConfig
from snapconf.bookings.errors import Invalid
from snapconf.bookings.migrations import MIGRATIONS
from snapconf.bookings.store import Store, StoreConfig


async def test_a_database_of_schema_1_gets_the_lobby_column_off_for_its_bookings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "old.db")
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    await (await Store.open(StoreConfig(path=path), wall=Wall())).close()
    with sqlite3.connect(path) as db:  # a booking made before the waiting room existed
        db.execute("INSERT INTO organisers VALUES ('dev:a@b.fr', 'a@b.fr', '', 0, 0)")
        db.execute(
            "INSERT INTO conferences (id, organiser_id, organiser_email, title, starts, ends,"
            " timezone, max_participants, access, pin, created, updated) VALUES"
            " ('ancienne', 'dev:a@b.fr', 'a@b.fr', 'Point', ?, ?, 'Europe/Paris', 50,"
            " 'public', '123456789', 0, 0)",
            (T0, T0 + 3600),
        )
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    new = await Store.open(StoreConfig(path=path), wall=Wall())
    try:
        assert await new.schema_version() == len(MIGRATIONS) >= 2
        again = await new.get("ancienne")
        assert again is not None and again.lobby is False
        updated = await new.update("ancienne", lobby=True)
        assert updated is not None and updated.lobby is True
        assert (await book(new, lobby=True)).lobby is True
    finally:
        await new.close()


def test_the_lobby_field_is_a_boolean_off_by_default() -> None:
    config = ApiConfig()
    body = {"title": "Point", "start": "2027-01-15T10:00:00", "duration_minutes": 30}
    assert "lobby" not in parse_booking(body, config, T0)
    assert parse_booking({**body, "lobby": True}, config, T0)["lobby"] is True
    with pytest.raises(Invalid) as info:
        parse_booking({**body, "lobby": 1}, config, T0)
    assert (info.value.field, info.value.code) == ("lobby", "invalid_type")
