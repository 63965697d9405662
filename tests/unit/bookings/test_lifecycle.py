"""Lifecycle passes with a fake wall clock: sessions, endings with grace, anonymisation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from snapconf.bookings.config import ApiConfig
from snapconf.bookings.lifecycle import Lifecycle
from snapconf.bookings.store import Store

T0 = 1_800_000_000.0


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed_reason: str | None = None

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)


class FakeParticipant:
    def __init__(self, pid: str, kind: str = "browser") -> None:
        self.id = pid
        self.kind = kind
        self.role = "participant"
        self.joined_at = 0.0
        self.listener = Listener()

    def clock(self) -> float:
        return 0.0


class FakeConference:
    def __init__(self, name: str) -> None:
        self.name = name
        self.participants: dict[str, FakeParticipant] = {}
        self.closed_with: str | None = None

    def close(self, reason: str) -> None:
        self.closed_with = reason
        self.participants.clear()


class FakeConferences:
    def __init__(self) -> None:
        self.by_name: dict[str, FakeConference] = {}

    def get(self, name: str) -> FakeConference | None:
        return self.by_name.get(name)

    def __iter__(self) -> Iterator[FakeConference]:
        return iter(list(self.by_name.values()))


async def test_a_pass_records_sessions_warns_then_ends_and_anonymises() -> None:
    now = [T0]
    store = await Store.open(wall=lambda: now[0])
    conferences = FakeConferences()
    config = ApiConfig(end_grace=300, anonymise_after_days=30)
    lifecycle = Lifecycle(store, conferences, config, lambda: now[0])  # type: ignore[arg-type]
    try:
        await store.sign_in("o", "alice@culture.gouv.fr")
        b = await store.book(
            organiser_id="o",
            organiser_email="alice@culture.gouv.fr",
            title="t",
            starts=T0,
            ends=T0 + 600,
            timezone="UTC",
        )
        live = conferences.by_name[b.id] = FakeConference(b.id)
        live.participants["p1"] = FakeParticipant("p1")
        live.participants["p2"] = FakeParticipant("p2", kind="phone")
        await lifecycle.run_once()
        assert await store.open_sessions() == {(b.id, "p1"), (b.id, "p2")}

        now[0] = T0 + 60
        del live.participants["p2"]
        await lifecycle.run_once()
        assert await store.open_sessions() == {(b.id, "p1")}

        now[0] = T0 + 601  # the end: told, not yet ended
        await lifecycle.run_once()
        p1 = live.participants["p1"]
        assert p1.listener.events == [
            {"type": "conferenceEnding", "reason": "the booked time is over", "graceSeconds": 299}
        ]
        assert live.closed_with is None
        await lifecycle.run_once()
        assert len(p1.listener.events) == 1  # told once

        now[0] = T0 + 901  # after the grace
        await lifecycle.run_once()
        assert live.closed_with == "conference ended"
        ended = await store.get(b.id)
        assert ended is not None and ended.status == "ended"
        assert await store.by_pin(b.pin) is None
        assert await store.open_sessions() == set()

        now[0] = T0 + 600 + 31 * 86400
        await lifecycle.run_once()
        anonymised = await store.get(b.id)
        assert anonymised is not None and anonymised.organiser_email == "anonyme@culture.gouv.fr"
    finally:
        await store.close()


async def test_sessions_left_open_by_a_previous_run_are_closed_at_the_first_pass() -> None:
    store = await Store.open(wall=lambda: T0)
    try:
        await store.session_started("room", "ghost", "browser", "participant", T0 - 100)
        lifecycle = Lifecycle(store, FakeConferences(), ApiConfig(), lambda: T0)  # type: ignore[arg-type]
        await lifecycle.run_once()
        (session,) = await store.sessions("room")
        assert session["left"] == T0
    finally:
        await store.close()
