"""RFC 5545 invitations, written with the ``icalendar`` package."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar

from snapconf.bookings.booking import invitation_text, tel_uri
from snapconf.bookings.store import Booking


def invitation(booking: Booking, web_url: str, numbers: list[str], host: str, now: float) -> bytes:
    """A VCALENDAR with one VEVENT: link, number, PIN and ``tel:`` link in the description,
    and RFC 7986 CONFERENCE properties for the link and the phone."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//snapconf//webconf audioconf//FR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"{booking.id}@{host}")
    event.add("dtstamp", datetime.fromtimestamp(now, UTC))
    zone = ZoneInfo(booking.timezone)
    if booking.all_day:
        event.add("dtstart", datetime.fromtimestamp(booking.starts, zone).date())
        event.add("dtend", datetime.fromtimestamp(booking.ends, zone).date())
    else:
        event.add("dtstart", datetime.fromtimestamp(booking.starts, UTC))
        event.add("dtend", datetime.fromtimestamp(booking.ends, UTC))
    event.add("summary", booking.title)
    description = invitation_text(booking, web_url, numbers)
    if numbers:
        description += f"\nAppel direct : {tel_uri(numbers[0], booking.pin)}"
    event.add("description", description)
    event.add("location", web_url)
    event.add("url", web_url)
    event.add("status", "CANCELLED" if booking.status == "cancelled" else "CONFIRMED")
    event.add("conference", web_url, parameters={"VALUE": "URI", "FEATURE": "AUDIO,VIDEO"})
    if numbers:
        event.add(
            "conference",
            tel_uri(numbers[0], booking.pin),
            parameters={"VALUE": "URI", "FEATURE": "PHONE", "LABEL": numbers[0]},
        )
    cal.add_component(event)
    return bytes(cal.to_ical())
