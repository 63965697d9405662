"""Moderation of a conference: roles, the lock, removals, the waiting room (lobby), and
what a moderator may do to the others.

Everything here is conference state that every face reads the same way (signaling, the
SIP gateway, the REST API): :class:`Moderation` is one conference's state, and the
functions below are the moderator's actions on a :class:`~snapconf.conference.Conference`.
They tell the participants what changed through their listeners (docs/signaling.md):

* ``trackMuted`` with ``by: "moderator"`` (mute, mute all, stopped camera or screen share:
  the server stops forwarding and mixing the track; only its owner turns it back on);
* ``unmuteRequested`` to one participant (a moderator never opens someone's microphone);
* ``roleChanged`` to everyone when a participant becomes a moderator;
* ``moderationChanged`` (``locked``, ``lobby``) to everyone, and ``lobbyChanged`` (the
  waiting list) to the moderators;
* ``left`` with reason ``removed`` or ``ended_by_moderator`` (the face closes the socket
  or hangs the phone up).

**Who a removal keeps out** (:func:`identity_of`): the join token's ``sub`` when there is
one (a booked conference's invitation or an organiser's link); otherwise, for a browser,
its IP address together with its display name (case and spaces folded), and for a phone,
the masked caller number it is shown with. Without a token this is best effort: someone
removed may come back under another name or from another address, and a colleague with
the same name behind the same NAT is kept out with them. The server remembers removals for
:data:`REMOVAL_MEMORY` seconds after the room empties, then forgets them.

**The waiting room**: when on, a participant who is not a moderator (browser or phone;
agents are never held) waits in :class:`Lobby` until a moderator admits or refuses it. It
is not a participant yet: it gets no participant list, no offer and no media. Phones wait
too (they hear "veuillez patienter"): the PIN is shared more widely than a moderator's link,
so it does not let a caller past the moderator. Turning the waiting room off admits everyone
waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from snapconf.errors import (
    ConferenceEnded,
    ConferenceLocked,
    NotModerator,
    Refused,
    Removed,
    SnapconfError,
    UnknownParticipant,
)

if TYPE_CHECKING:
    from snapconf.conference.admission import Grant, JoinRequest
    from snapconf.conference.participant import Participant

__all__ = [
    "ENDED_BY_MODERATOR",
    "MODERATOR",
    "REFUSED",
    "REMOVAL_MEMORY",
    "REMOVED",
    "VIDEO_SOURCES",
    "Conference",
    "Lobby",
    "Moderation",
    "Waiter",
    "admit",
    "ask_unmute",
    "end_for_all",
    "identity_of",
    "mute",
    "mute_all",
    "notify_lobby",
    "promote",
    "refuse",
    "remove",
    "require_moderator",
    "set_lobby",
    "set_locked",
    "stop_video",
    "target",
]

MODERATOR = "moderator"
#: ``left`` reason of everyone when a moderator ends the meeting for all
ENDED_BY_MODERATOR = "ended_by_moderator"
#: ``left`` reason of a participant a moderator removed
REMOVED = "removed"
#: ``left`` reason of someone a moderator refused at the waiting room
REFUSED = "refused"
#: seconds a room that emptied remembers whom it removed (a booked meeting's day)
REMOVAL_MEMORY = 24 * 3600.0
#: the sources a moderator may stop (``stopVideo``)
VIDEO_SOURCES = ("camera", "screen")


def identity_of(request: JoinRequest, grant: Grant) -> str:
    """The identity a removal keeps out of the conference (see the module docstring)."""
    if grant.subject:
        return f"sub:{grant.subject}"
    name = " ".join((grant.name or request.display_name).split()).casefold()
    if request.kind == "phone":
        return f"phone:{name}"
    return f"{request.kind}:{request.address or ''}:{name}"


@dataclass(slots=True, eq=False)
class Waiter:
    """One browser or phone in the waiting room; its id becomes its participant id."""

    id: str
    display_name: str
    kind: str
    identity: str
    #: set to None when admitted, to a :class:`SnapconfError` when refused or ended
    outcome: asyncio.Future[None]

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "kind": self.kind}


class Lobby:
    """The waiting room: who waits, in arrival order."""

    def __init__(self) -> None:
        self.waiting: dict[str, Waiter] = {}

    def add(self, waiter: Waiter) -> None:
        self.waiting[waiter.id] = waiter

    def discard(self, waiter_id: str) -> None:
        """Forget a waiter (admitted, refused, or gone); idempotent."""
        self.waiting.pop(waiter_id, None)

    def admit(self, waiter_id: str) -> bool:
        """Let one waiter in; False if nobody waits under that id."""
        waiter = self.waiting.pop(waiter_id, None)
        if waiter is None:
            return False
        if not waiter.outcome.done():
            waiter.outcome.set_result(None)
        return True

    def refuse(self, waiter_id: str, error: SnapconfError | None = None) -> bool:
        """Turn one waiter away (``refused`` by default); False if nobody waits so."""
        waiter = self.waiting.pop(waiter_id, None)
        if waiter is None:
            return False
        if not waiter.outcome.done():
            waiter.outcome.set_exception(error or Refused("a moderator refused you"))
        return True

    def close(self, reason: str) -> None:
        """The conference ends: everyone waiting is turned away with ``conference_ended``."""
        for waiter_id in list(self.waiting):
            self.refuse(waiter_id, ConferenceEnded(f"the conference ended ({reason})"))

    def describe(self) -> list[dict[str, Any]]:
        return [waiter.describe() for waiter in self.waiting.values()]


class Moderation:
    """One conference's moderation state: lock, waiting room, removed identities."""

    def __init__(self) -> None:
        #: no new participant may join (moderators still may)
        self.locked = False
        #: newcomers who are not moderators wait to be admitted
        self.lobby_enabled = False
        self.lobby = Lobby()
        #: identities removed by a moderator (:func:`identity_of`), refused at join
        self.removed: set[str] = set()
        #: participant id -> identity, for those present
        self.identities: dict[str, str] = {}
        #: the booking's settings (its ``lobby``) were applied once already
        self.booking_applied = False

    def check_entry(self, identity: str, role: str) -> None:
        """Refuse a join: ``removed`` for a removed identity, ``conference_locked`` for a
        newcomer who is not a moderator while the conference is locked."""
        if identity in self.removed:
            raise Removed("a moderator removed you from this conference")
        if self.locked and role != MODERATOR:
            raise ConferenceLocked("a moderator locked this conference")

    def must_wait(self, role: str, kind: str) -> bool:
        """Whether a newcomer waits in the waiting room (agents and moderators never do)."""
        return self.lobby_enabled and role != MODERATOR and kind != "agent"

    def describe(self) -> dict[str, bool]:
        return {"locked": self.locked, "lobby": self.lobby_enabled}


class Conference(Protocol):
    """What the moderator's actions use of a :class:`snapconf.conference.Conference` (which
    imports this module, so it is not imported here)."""

    participants: dict[str, Participant]
    moderation: Moderation

    def set_muted(
        self, participant: Participant, track_id: str, muted: bool, *, by: str | None = None
    ) -> bool: ...

    def leave(self, participant: Participant, reason: str = "left") -> None: ...

    def close(self, reason: str = "conference ended") -> None: ...


# -- the moderator's actions --------------------------------------------------------------
def require_moderator(actor: Participant | None) -> None:
    """``not_moderator`` unless ``actor`` is a moderator (None: the organiser, by the API)."""
    if actor is not None and actor.role != MODERATOR:
        raise NotModerator("only a moderator may do this")


def target(conference: Conference, participant_id: object) -> Participant:
    """The participant a request names, or ``unknown_participant``."""
    participant = (
        conference.participants.get(participant_id) if isinstance(participant_id, str) else None
    )
    if participant is None:
        raise UnknownParticipant(f"no participant {str(participant_id)[:32]} in this conference")
    return participant


def _send_all(conference: Conference, message: dict[str, Any]) -> None:
    for participant in list(conference.participants.values()):
        participant.listener.event(message)


def notify_lobby(conference: Conference) -> None:
    """Tell every moderator who waits now (``lobbyChanged``)."""
    message = {"type": "lobbyChanged", "waiting": conference.moderation.lobby.describe()}
    for participant in list(conference.participants.values()):
        if participant.role == MODERATOR:
            participant.listener.event(message)


def _notify_state(conference: Conference) -> None:
    _send_all(conference, {"type": "moderationChanged", **conference.moderation.describe()})


def mute(conference: Conference, participant: Participant) -> int:
    """Mute the participant's audio tracks (browser or phone); how many were muted now.

    The server stops forwarding and mixing them at once; everyone gets ``trackMuted`` with
    ``by: "moderator"``. Only the participant unmutes itself.
    """
    count = 0
    for track in list(participant.tracks.values()):
        if track.kind == "audio" and not track.producer.muted:
            conference.set_muted(participant, track.id, True, by="moderator")
            count += 1
    return count


def mute_all(conference: Conference, actor: Participant | None = None) -> list[str]:
    """Mute everyone but the moderators; the ids of those whose microphone was open."""
    muted = []
    for participant in list(conference.participants.values()):
        if participant.role == MODERATOR or participant is actor:
            continue
        if mute(conference, participant):
            muted.append(participant.id)
    return muted


def ask_unmute(
    conference: Conference, participant: Participant, actor: Participant | None = None
) -> None:
    """Ask a participant to open its microphone (``unmuteRequested``); never opens it."""
    participant.listener.event(
        {"type": "unmuteRequested", "by": actor.id if actor is not None else "moderator"}
    )


def stop_video(conference: Conference, participant: Participant, source: str | None) -> int:
    """Stop forwarding the participant's camera or screen share (``source``; None: both).

    The track is muted on the server with ``by: "moderator"``: receivers stop getting it
    at once, and the page of its owner is told (the room page stops the capture).
    """
    if source is not None and source not in VIDEO_SOURCES:
        raise ValueError(f"source {source!r} is not camera or screen")
    count = 0
    for track in list(participant.tracks.values()):
        if track.kind != "video" or track.producer.muted:
            continue
        if source is None or track.source == source:
            conference.set_muted(participant, track.id, True, by="moderator")
            count += 1
    return count


def remove(conference: Conference, participant: Participant) -> None:
    """Remove a participant; its identity may not rejoin this conference (``removed``)."""
    moderation = conference.moderation
    identity = moderation.identities.get(participant.id)
    if identity:
        moderation.removed.add(identity)
    conference.leave(participant, reason=REMOVED)
    participant.listener.closed(REMOVED)


def promote(conference: Conference, participant: Participant) -> bool:
    """Make a participant a moderator (``roleChanged`` to everyone); False if it was."""
    if participant.role == MODERATOR:
        return False
    participant.role = MODERATOR
    _send_all(
        conference,
        {"type": "roleChanged", "participantId": participant.id, "role": MODERATOR},
    )
    if conference.moderation.lobby.waiting:
        participant.listener.event(
            {"type": "lobbyChanged", "waiting": conference.moderation.lobby.describe()}
        )
    return True


def set_locked(conference: Conference, locked: bool) -> None:
    """Lock (no new joins but moderators) or unlock; ``moderationChanged`` to everyone."""
    if conference.moderation.locked != locked:
        conference.moderation.locked = locked
        _notify_state(conference)


def set_lobby(conference: Conference, enabled: bool) -> None:
    """Turn the waiting room on or off; turning it off admits everyone waiting."""
    moderation = conference.moderation
    if moderation.lobby_enabled == enabled:
        return
    moderation.lobby_enabled = enabled
    _notify_state(conference)
    if not enabled and moderation.lobby.waiting:
        admit(conference, None)


def admit(conference: Conference, waiter_id: str | None) -> list[str]:
    """Admit one waiter (``waiter_id``) or everyone waiting (None); the ids admitted.

    ``unknown_participant`` when nobody waits under ``waiter_id``.
    """
    lobby = conference.moderation.lobby
    ids = list(lobby.waiting) if waiter_id is None else [waiter_id]
    if waiter_id is not None and waiter_id not in lobby.waiting:
        raise UnknownParticipant(f"nobody {waiter_id[:32]} waits in the waiting room")
    admitted = [i for i in ids if lobby.admit(i)]
    if admitted:
        notify_lobby(conference)
    return admitted


def refuse(conference: Conference, waiter_id: str | None) -> list[str]:
    """Refuse one waiter or everyone waiting (None): each is told ``refused``."""
    lobby = conference.moderation.lobby
    ids = list(lobby.waiting) if waiter_id is None else [waiter_id]
    if waiter_id is not None and waiter_id not in lobby.waiting:
        raise UnknownParticipant(f"nobody {waiter_id[:32]} waits in the waiting room")
    refused = [i for i in ids if lobby.refuse(i)]
    if refused:
        notify_lobby(conference)
    return refused


def end_for_all(conference: Conference) -> None:
    """End the meeting: everyone gets ``left`` (``ended_by_moderator``), phones are hung
    up, and whoever waits is turned away."""
    conference.close(ENDED_BY_MODERATOR)
