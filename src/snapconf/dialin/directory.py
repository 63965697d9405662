"""PIN lookups of the IVR: the config's static conferences, and a chain of directories.

The :class:`ConferenceDirectory` protocol is the conference layer's
(:mod:`snapconf.conference.directory`); the bookings implement it over the database and
:class:`StaticConferenceDirectory` serves conferences from the config (name -> PIN).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from snapconf.conference.directory import ConferenceDirectory, ConferenceEntry, ConferenceState

__all__ = [
    "ChainedDirectory",
    "ConferenceDirectory",
    "ConferenceEntry",
    "ConferenceState",
    "StaticConferenceDirectory",
]


class StaticConferenceDirectory:
    """Conferences from the config: always open, id and name both the configured name."""

    def __init__(
        self,
        conferences: Mapping[str, str],
        states: Mapping[str, ConferenceState] | None = None,
    ) -> None:
        for name, pin in conferences.items():
            if not pin.isdigit():
                raise ValueError(f"sip.static_conferences.{name} PIN is not digits")
        self._by_pin = {pin: name for name, pin in conferences.items()}
        if len(self._by_pin) != len(conferences):
            raise ValueError("sip.static_conferences has two conferences with one PIN")
        self.states: dict[str, ConferenceState] = dict(states or {})

    async def lookup(self, pin: str) -> ConferenceEntry | None:
        found: str | None = None
        for known, name in self._by_pin.items():
            # constant time per comparison, so timing does not leak PIN prefixes
            if hmac.compare_digest(known.encode(), pin.encode()):
                found = name
        if found is None:
            return None
        return ConferenceEntry(found, found, self.states.get(found, ConferenceState.OPEN))


class ChainedDirectory:
    """Asks several directories in turn (the config's static conferences, then bookings)."""

    def __init__(self, *directories: ConferenceDirectory) -> None:
        self.directories = directories

    async def lookup(self, pin: str) -> ConferenceEntry | None:
        for directory in self.directories:
            entry = await directory.lookup(pin)
            if entry is not None:
                return entry
        return None
