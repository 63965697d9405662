"""Every moderation message and error code is in docs/signaling.md's tables."""

from __future__ import annotations

from pathlib import Path

from snapconf.signaling.moderation import MODERATION_TYPES
from snapconf.signaling.session import MESSAGE_TYPES

DOC = Path(__file__).parents[3] / "docs" / "signaling.md"


def _table_keys(text: str) -> set[str]:
    """The first cell of every table row: ``| `name` | ...``."""
    keys = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            keys.add(line.split("`", 2)[1])
    return keys


def test_every_moderation_request_event_and_error_code_is_documented() -> None:
    keys = _table_keys(DOC.read_text(encoding="utf-8"))
    assert set(MODERATION_TYPES) <= MESSAGE_TYPES
    events = {"lobby", "lobbyChanged", "moderationChanged", "roleChanged", "unmuteRequested"}
    codes = {"not_moderator", "unknown_participant", "conference_locked", "removed", "refused"}
    missing = (set(MODERATION_TYPES) | events | {"moderated"} | codes) - keys
    assert not missing, f"not in docs/signaling.md: {sorted(missing)}"
