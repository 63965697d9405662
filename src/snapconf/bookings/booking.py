"""Validation of booking requests, and the conference as the API and pages show it.

Shared by the JSON API and the server-rendered pages, so both refuse the same things with
the same field names.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from snapconf.bookings.config import ApiConfig, SnapConfig
from snapconf.bookings.errors import Invalid
from snapconf.bookings.store import ACCESS_LEVELS, Booking

FIELDS = (
    "title",
    "start",
    "duration_minutes",
    "date",
    "timezone",
    "max_participants",
    "access",
    "lobby",
    "osmose_url",
    "resana_url",
)
PAST_SLACK = 300.0  # seconds: a start this far in the past is still accepted ("now")
TITLE_MAX = 200
URL_MAX = 2000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _type_error(name: str, expected: str) -> Invalid:
    return Invalid(f"{name} is not {expected}", field=name, code="invalid_type")


def _string(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise _type_error(name, "a string")
    return value


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an integer")
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", field=name)
    return value


def _zone(name: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"timezone {name[:64]!r} is not a known time zone", field="timezone"
        ) from None


def _url(body: dict[str, Any], name: str) -> str | None:
    value = body[name]
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _type_error(name, "a string")
    parts = urlsplit(value) if len(value) <= URL_MAX else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(c.isspace() or ord(c) < 32 for c in value)
    ):
        raise Invalid(f"{name} is not an http(s) URL", field=name)
    return value


def check_fields(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body is not a JSON object", code="invalid_type")
    for key in body:
        if key not in FIELDS:
            raise Invalid(
                f"unknown field {str(key)[:64]}", field=str(key)[:64], code="unknown_field"
            )
    return body


def parse_booking(
    body: object, config: ApiConfig, now: float, current: Booking | None = None
) -> dict[str, Any]:
    """Check a create (``current`` None) or update body; return the store's fields.

    Raises :class:`Invalid` naming the first wrong field.
    """
    body = check_fields(body)
    out: dict[str, Any] = {}
    creating = current is None
    if "title" in body or creating:
        if "title" not in body:
            raise Invalid("title is required", field="title", code="missing_field")
        title = _string(body, "title").strip()
        if not 1 <= len(title) <= TITLE_MAX or any(ord(c) < 32 for c in title):
            raise Invalid(f"title must be 1-{TITLE_MAX} printable characters", field="title")
        out["title"] = title
    if "timezone" in body:
        tz_name = _string(body, "timezone")
        _zone(tz_name)
        out["timezone"] = tz_name
    tz_name = out.get("timezone") or (current.timezone if current else config.timezone)
    zone = _zone(tz_name)
    if creating:
        out["timezone"] = tz_name

    timing = {"start", "duration_minutes", "date"} & set(body)
    if "date" in body and ({"start", "duration_minutes"} & set(body)):
        raise Invalid("give either date (a whole day) or start and duration_minutes", field="date")
    if "date" in body:
        day_text = _string(body, "date")
        try:
            if not _DATE.match(day_text):
                raise ValueError(day_text)
            day = date.fromisoformat(day_text)
        except ValueError:
            raise Invalid("date is not a YYYY-MM-DD date", field="date") from None
        today = datetime.fromtimestamp(now, zone).date()
        if day < today:
            raise Invalid("date is in the past", field="date")
        if day > today + timedelta(days=config.max_days_ahead):
            raise Invalid(f"date is more than {config.max_days_ahead} days ahead", field="date")
        starts = datetime.combine(day, time(0), zone).timestamp()
        ends = datetime.combine(day + timedelta(days=1), time(0), zone).timestamp()
        out.update(starts=starts, ends=ends, all_day=True)
    elif timing or creating:
        if creating and "start" not in body:
            raise Invalid(
                "give start and duration_minutes, or date for a whole day",
                field="start",
                code="missing_field",
            )
        if creating and "duration_minutes" not in body:
            raise Invalid(
                "duration_minutes is required with start",
                field="duration_minutes",
                code="missing_field",
            )
        if "start" in body:
            start_text = _string(body, "start")
            try:
                start_dt = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
            except ValueError:
                raise Invalid("start is not an ISO 8601 date and time", field="start") from None
            if start_dt.tzinfo is None:
                start_dt = start_dt.replace(tzinfo=zone)
            starts = start_dt.timestamp()
            if starts < now - PAST_SLACK:
                raise Invalid("start is in the past", field="start")
            if starts > now + config.max_days_ahead * 86400:
                raise Invalid(
                    f"start is more than {config.max_days_ahead} days ahead", field="start"
                )
        else:
            assert current is not None
            if current.all_day:
                raise Invalid(
                    "a whole-day conference needs start with duration_minutes",
                    field="start",
                    code="missing_field",
                )
            starts = current.starts
        if "duration_minutes" in body:
            minutes = _integer(body, "duration_minutes", 1, config.max_duration_minutes)
        else:
            assert current is not None
            minutes = round((current.ends - current.starts) / 60)
            if current.all_day or minutes > config.max_duration_minutes:
                raise Invalid(
                    "duration_minutes is required with start",
                    field="duration_minutes",
                    code="missing_field",
                )
        out.update(starts=starts, ends=starts + minutes * 60, all_day=False)
    elif "timezone" in body and current is not None and current.all_day:
        # the same calendar day, in the new zone
        old_day = datetime.fromtimestamp(current.starts, ZoneInfo(current.timezone)).date()
        out["starts"] = datetime.combine(old_day, time(0), zone).timestamp()
        out["ends"] = datetime.combine(old_day + timedelta(days=1), time(0), zone).timestamp()

    if "max_participants" in body:
        out["max_participants"] = _integer(body, "max_participants", 1, config.max_participants)
    elif creating:
        out["max_participants"] = config.max_participants
    if "access" in body:
        access = _string(body, "access")
        if access not in ACCESS_LEVELS:
            raise Invalid(f"access must be one of {', '.join(ACCESS_LEVELS)}", field="access")
        out["access"] = access
    elif creating:
        out["access"] = "public"
    if "lobby" in body:
        if not isinstance(body["lobby"], bool):
            raise _type_error("lobby", "a boolean")
        out["lobby"] = body["lobby"]
    for name in ("osmose_url", "resana_url"):
        if name in body:
            out[name] = _url(body, name)
    return out


# -- representation -------------------------------------------------------------------------
def iso(ts: float, zone_name: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone_name)).isoformat(timespec="seconds")


def tel_digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit() or c == "+")


def tel_uri(number: str, pin: str) -> str:
    """``tel:+33...,,PIN%23``: two pauses, then the PIN and the pound key. The ``#`` is
    percent-encoded (RFC 3966 §3, RFC 3986): a raw one would start a URI fragment, which
    dialers drop."""
    return f"tel:{tel_digits(number)},,{pin}%23"


def invitation_text(booking: Booking, web_url: str, numbers: list[str]) -> str:
    lines = [
        f"{booking.title}",
        f"Rejoindre depuis un navigateur : {web_url}",
    ]
    if numbers:
        lines.append(f"Rejoindre par téléphone : {numbers[0]} puis le code {booking.pin} et #")
    else:
        lines.append(f"Code de la conférence : {booking.pin}")
    return "\n".join(lines)


def snap_links(
    snap: SnapConfig, booking: Booking, web_url: str, numbers: list[str]
) -> dict[str, str | None]:
    values = {
        "url": quote(web_url, safe=""),
        "title": quote(booking.title, safe=""),
        "text": quote(invitation_text(booking, web_url, numbers), safe=""),
        "pin": booking.pin,
        "id": booking.id,
    }
    links: dict[str, str | None] = {}
    for name in ("tchap", "france_transfert", "osmose", "resana", "maia", "agentconnect"):
        template: str = getattr(snap, name)
        space = {"osmose_url": booking.osmose_url or "", "resana_url": booking.resana_url or ""}
        if not template or any(f"{{{k}}}" in template and not v for k, v in space.items()):
            links[name] = None
            continue
        try:
            links[name] = template.format(**values, **space)
        except (KeyError, IndexError, ValueError):
            links[name] = None
    return links


def conference_json(
    booking: Booking, base_url: str, config: ApiConfig, snap: SnapConfig
) -> dict[str, Any]:
    web_url = f"{base_url}/{booking.id}"
    numbers = list(config.dialin_numbers)
    return {
        "id": booking.id,
        "title": booking.title,
        "status": booking.status,
        "start": iso(booking.starts, booking.timezone),
        "end": iso(booking.ends, booking.timezone),
        "timezone": booking.timezone,
        "all_day": booking.all_day,
        "max_participants": booking.max_participants,
        "access": booking.access,
        "lobby": booking.lobby,
        "osmose_url": booking.osmose_url,
        "resana_url": booking.resana_url,
        "web_url": web_url,
        "dialin_numbers": numbers,
        "pin": booking.pin,
        "tel_uri": tel_uri(numbers[0], booking.pin) if numbers else None,
        "ics_url": f"{base_url}/api/v1/conferences/{booking.id}/invite.ics",
        "snap_links": snap_links(snap, booking, web_url, numbers),
        "created": iso(booking.created, "UTC"),
    }
