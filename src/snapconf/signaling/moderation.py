"""The moderator's signaling requests (docs/signaling.md, "Moderation").

Each request is checked field by field, then applied through
:mod:`snapconf.conference.moderation`; only a moderator may send them (``not_moderator``
for anyone else, before anything is looked at). The answer is ``moderated`` with the
request's ``action`` and the ``participantIds`` it changed.
"""

from __future__ import annotations

from typing import Any

from snapconf.conference import Conference, Participant
from snapconf.conference import moderation as mod
from snapconf.errors import BadMessage

__all__ = ["MODERATION_TYPES", "handle"]

#: signaling type -> what it does
MODERATION_TYPES = (
    "muteParticipant",
    "muteAll",
    "askToUnmute",
    "stopVideo",
    "removeParticipant",
    "promote",
    "setLocked",
    "setLobby",
    "admit",
    "refuse",
    "endConference",
)


def _string(msg: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = msg.get(name)
    if value is None:
        if required:
            raise BadMessage(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise BadMessage(f"{name} is not a string")
    return value


def _boolean(msg: dict[str, Any], name: str) -> bool:
    value = msg.get(name)
    if value is None:
        raise BadMessage(f"{name} is missing")
    if not isinstance(value, bool):
        raise BadMessage(f"{name} is not a boolean")
    return value


def handle(conference: Conference, actor: Participant, msg: dict[str, Any]) -> dict[str, Any]:
    """Apply one moderator request from ``actor``; the ``moderated`` answer."""
    mod.require_moderator(actor)
    action = msg["type"]
    ids: list[str] = []
    if action == "muteAll":
        ids = mod.mute_all(conference, actor)
    elif action == "setLocked":
        mod.set_locked(conference, _boolean(msg, "locked"))
    elif action == "setLobby":
        mod.set_lobby(conference, _boolean(msg, "enabled"))
    elif action == "admit":
        ids = mod.admit(conference, _string(msg, "participantId", required=False))
    elif action == "refuse":
        ids = mod.refuse(conference, _string(msg, "participantId", required=False))
    elif action == "endConference":
        ids = list(conference.participants)
        mod.end_for_all(conference)
    else:
        target = mod.target(conference, _string(msg, "participantId"))
        ids = [target.id]
        if action == "muteParticipant":
            mod.mute(conference, target)
        elif action == "askToUnmute":
            mod.ask_unmute(conference, target, actor)
        elif action == "stopVideo":
            source = _string(msg, "source", required=False)
            if source is not None and source not in mod.VIDEO_SOURCES:
                raise BadMessage("source is not camera or screen")
            mod.stop_video(conference, target, source)
        elif action == "removeParticipant":
            if target is actor:
                raise BadMessage("participantId is yourself: send leave")
            mod.remove(conference, target)
        elif action == "promote":
            mod.promote(conference, target)
        else:  # pragma: no cover - MODERATION_TYPES and this function go together
            raise BadMessage(f"unknown moderation request {action}")
    return {"type": "moderated", "action": action, "participantIds": ids}
