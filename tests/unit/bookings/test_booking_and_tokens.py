"""Booking validation, links, tokens and admission, without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import jwt
import pytest

from snapconf.auth import AuthConfig, TokenAdmission, TokenVerifier
from snapconf.bookings.booking import parse_booking, snap_links, tel_uri
from snapconf.bookings.config import ApiConfig, SnapConfig
from snapconf.bookings.errors import Invalid
from snapconf.bookings.policy import StoreAdmission, StoreDirectory, booking_state
from snapconf.bookings.store import Booking, Store
from snapconf.bookings.tokens import Identity, Signer, TokenError, domain_allowed
from snapconf.conference.admission import JoinRequest
from snapconf.dialin.directory import ConferenceState
from snapconf.errors import AuthInvalid, AuthRequired, RoomMismatch

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 3, 10, 9, 0, tzinfo=PARIS).timestamp()
CONFIG = ApiConfig()


def booking(**kw: object) -> Booking:
    base = Booking(
        id="abc",
        organiser_id="o",
        organiser_email="o@x.gouv.fr",
        title="T",
        starts=NOW + 3600,
        ends=NOW + 7200,
        timezone="Europe/Paris",
        all_day=False,
        max_participants=50,
        access="public",
        osmose_url=None,
        resana_url=None,
        pin="012345678",
        status="booked",
        created=NOW,
        updated=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_naive_start_is_in_the_booking_time_zone_and_defaults_apply() -> None:
    out = parse_booking(
        {"title": " Réunion ", "start": "2027-03-10T14:00", "duration_minutes": 45}, CONFIG, NOW
    )
    assert out["title"] == "Réunion"
    assert out["starts"] == datetime(2027, 3, 10, 14, 0, tzinfo=PARIS).timestamp()
    assert out["ends"] - out["starts"] == 45 * 60
    assert (out["max_participants"], out["access"], out["timezone"]) == (
        50,
        "public",
        "Europe/Paris",
    )


def test_a_whole_day_follows_the_time_zone_across_a_dst_change() -> None:
    out = parse_booking({"title": "t", "date": "2027-03-28"}, CONFIG, NOW + 10 * 86400)  # 23 h
    assert out["all_day"] and out["ends"] - out["starts"] == 23 * 3600


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2027-03-10T14:00", "duration_minutes": 1441}, "duration_minutes"),
        ({"start": "2027-03-10T08:00", "duration_minutes": 30}, "start"),  # an hour ago
        ({"start": "2027-03-25T09:00", "duration_minutes": 30}, "start"),  # 15 days ahead
        ({"date": "2027-03-09"}, "date"),
        ({"date": "2027-3-9"}, "date"),
        ({"date": "2027-03-25"}, "date"),
    ],
)
def test_out_of_range_times_name_their_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_booking({"title": "t", **body}, CONFIG, NOW)
    assert info.value.field == field


def test_updates_keep_what_they_do_not_change() -> None:
    current = booking()
    assert parse_booking({"title": "New"}, CONFIG, NOW, current) == {"title": "New"}
    out = parse_booking({"duration_minutes": 10}, CONFIG, NOW, current)
    assert (out["starts"], out["ends"]) == (current.starts, current.starts + 600)
    with pytest.raises(Invalid) as info:
        parse_booking({"duration_minutes": 10}, CONFIG, NOW, booking(all_day=True))
    assert info.value.field == "start"
    moved = parse_booking({"timezone": "UTC"}, CONFIG, NOW, booking(all_day=True))
    assert moved["timezone"] == "UTC" and moved["ends"] - moved["starts"] == 86400


def test_tel_uri_and_snap_links() -> None:
    assert tel_uri("+33 1 89 00 00 00", "012345678") == "tel:+33189000000,,012345678%23"
    snap = SnapConfig(tchap="https://tchap.example/share?t={text}&u={url}", maia="", resana="{x}")
    links = snap_links(snap, booking(osmose_url="https://osmose.example/s"), "https://h/abc", [])
    assert links["tchap"] is not None and "u=https%3A%2F%2Fh%2Fabc" in links["tchap"]
    assert "012345678" in links["tchap"]
    assert links["osmose"] == "https://osmose.example/s"
    assert links["resana"] is None and links["maia"] is None  # no space, empty, bad template


def test_domains() -> None:
    assert domain_allowed("a@b.fr", [])
    assert domain_allowed("a@interieur.gouv.fr", ["gouv.fr"])
    assert domain_allowed("a@GOUV.FR", ["gouv.fr"])
    assert not domain_allowed("a@notgouv.fr", ["gouv.fr"])
    assert not domain_allowed("a@gouv.fr.evil.com", ["gouv.fr"])


def test_tokens_are_kept_apart_by_audience_and_key() -> None:
    signer = Signer("k" * 40, wall=lambda: NOW)
    alice = Identity("dev:a@x.gouv.fr", "a@x.gouv.fr", "a")
    api = signer.api_token(alice, 60)
    session = signer.session(alice, 60)
    assert signer.verify_api_token(api) == alice
    assert signer.verify_session(session) == alice
    with pytest.raises(TokenError):
        signer.verify_api_token(session)
    with pytest.raises(TokenError):
        signer.verify_session(api)
    with pytest.raises(TokenError):
        Signer("z" * 40, wall=lambda: NOW).verify_api_token(api)
    forged = jwt.encode(
        {"sub": "x", "email": "e@x", "aud": "snapconf-api", "iss": "snapconf", "exp": 2**40},
        "",
        algorithm="none",
    )
    with pytest.raises(TokenError):
        signer.verify_api_token(forged)
    join = signer.join_token("abc", "moderator", 2**40, "Chef", None)
    grant = signer.join_verifier.verify(join, "abc")
    assert (grant.role, grant.name) == ("moderator", "Chef")
    with pytest.raises(RoomMismatch):
        signer.join_verifier.verify(join, "other")
    with pytest.raises(AuthInvalid):
        signer.join_verifier.verify(api, "abc")  # an API token does not open rooms


def test_booking_states() -> None:
    b = booking()
    assert booking_state(b, CONFIG, NOW) is ConferenceState.NOT_STARTED
    assert booking_state(b, CONFIG, b.starts - CONFIG.open_before) is ConferenceState.OPEN
    assert booking_state(b, CONFIG, b.ends + CONFIG.end_grace - 1) is ConferenceState.OPEN
    assert booking_state(b, CONFIG, b.ends + CONFIG.end_grace) is ConferenceState.ENDED
    assert booking_state(booking(status="cancelled"), CONFIG, NOW + 4000) is ConferenceState.ENDED


async def test_admission_and_directory_over_the_store() -> None:
    store = await Store.open(wall=lambda: NOW)
    try:
        await store.sign_in("o", "o@x.gouv.fr")
        b = await store.book(
            organiser_id="o",
            organiser_email="o@x.gouv.fr",
            title="T",
            starts=NOW,
            ends=NOW + 60,
            timezone="UTC",
            access="authenticated",
        )
        signer = Signer("k" * 40)
        admission = StoreAdmission(
            store=store,
            config=ApiConfig(adhoc_rooms=False),  # type: ignore[arg-type]
            verifier=signer.join_verifier,
            fallback=TokenAdmission(None),
            wall=lambda: NOW,
        )
        with pytest.raises(AuthRequired):
            await admission.admit(JoinRequest(b.id, "x"))
        token = signer.join_token(b.id, "participant", NOW + 3600, None, "dev:x")
        grant = await admission.admit(JoinRequest(b.id, "x", token=token))
        assert (grant.subject, grant.title, grant.max_participants) == ("dev:x", "T", 50)
        with pytest.raises(Exception) as info:
            await admission.admit(JoinRequest("not-booked", "x"))
        assert getattr(info.value, "code", "") == "conference_not_found"
        directory = StoreDirectory(store, CONFIG, lambda: NOW)
        entry = await directory.lookup(b.pin)
        assert entry is not None and entry.conference_id == b.id
        assert entry.state is ConferenceState.OPEN
        assert await directory.lookup("12345") is None
        assert await directory.lookup("000000000" if b.pin != "000000000" else "1" * 9) is None
    finally:
        await store.close()


async def test_a_phone_enters_a_booked_room_by_its_pin_whatever_the_access_level() -> None:
    store = await Store.open(wall=lambda: NOW)
    try:
        await store.sign_in("o", "o@x.gouv.fr")
        b = await store.book(
            organiser_id="o",
            organiser_email="o@x.gouv.fr",
            title="Restreinte",
            starts=NOW,
            ends=NOW + 60,
            timezone="UTC",
            access="restricted",
            max_participants=3,
        )
        admission = StoreAdmission(
            store=store,
            config=ApiConfig(adhoc_rooms=False),  # type: ignore[arg-type]
            verifier=Signer("k" * 40).join_verifier,
            fallback=TokenAdmission(TokenVerifier(AuthConfig(jwt_secret="s" * 32))),
            wall=lambda: NOW,
        )
        with pytest.raises(AuthRequired):
            await admission.admit(JoinRequest(b.id, "x"))
        grant = await admission.admit(JoinRequest(b.id, "+33 1 •• •• •• 00", kind="phone"))
        assert (grant.role, grant.title, grant.max_participants) == ("participant", "Restreinte", 3)
        # a static conference of the config is no booking: the PIN still opens it
        static = await admission.admit(JoinRequest("accueil", "+33 1", kind="phone"))
        assert static.role == "participant"
    finally:
        await store.close()
