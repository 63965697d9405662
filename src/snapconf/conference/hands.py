"""Raised hands: the ordered queue of who asked to speak in a conference.

Pure: the conference raises and lowers hands here (signaling ``raiseHand`` / ``lowerHand``,
a phone's ``*9``) and tells everyone the new queue. The first hand raised is first in the
queue; raising a raised hand keeps its place.
"""

from __future__ import annotations

__all__ = ["HandQueue"]


class HandQueue:
    """Participant ids with a raised hand, in the order they raised it."""

    def __init__(self) -> None:
        # dicts keep insertion order: the queue's order
        self._raised: dict[str, None] = {}

    def raise_hand(self, participant_id: str) -> bool:
        """Raise ``participant_id``'s hand at the end of the queue; False if already raised."""
        if participant_id in self._raised:
            return False
        self._raised[participant_id] = None
        return True

    def lower(self, participant_id: str) -> bool:
        """Lower ``participant_id``'s hand; False if it was not raised."""
        if participant_id not in self._raised:
            return False
        del self._raised[participant_id]
        return True

    def set(self, participant_id: str, raised: bool) -> bool:
        """Raise or lower; True if that changed anything."""
        return self.raise_hand(participant_id) if raised else self.lower(participant_id)

    def is_raised(self, participant_id: str) -> bool:
        return participant_id in self._raised

    def rank(self, participant_id: str) -> int | None:
        """1 for the first hand raised, 2 for the next...; None when not raised."""
        for index, raised in enumerate(self._raised, start=1):
            if raised == participant_id:
                return index
        return None

    @property
    def queue(self) -> list[str]:
        """Participant ids, first raised first."""
        return list(self._raised)

    def __len__(self) -> int:
        return len(self._raised)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._raised
