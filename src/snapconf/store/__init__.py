"""Persistence: bookings, organisers, PINs, participant sessions, daily statistics."""

from snapconf.store.store import (
    ACCESS_LEVELS,
    Booking,
    DailyStats,
    Organiser,
    Store,
    StoreConfig,
    new_pin,
)

__all__ = [
    "ACCESS_LEVELS",
    "Booking",
    "DailyStats",
    "Organiser",
    "Store",
    "StoreConfig",
    "new_pin",
]
