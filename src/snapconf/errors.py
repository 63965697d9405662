"""The errors snapconf reports to clients, each with a stable code.

::

    SnapconfError                    code            (signaling, API)
    ├── ProtocolError
    │   ├── BadJson                  bad_json
    │   ├── BadMessage               bad_message
    │   ├── UnknownType              unknown_type
    │   ├── MessageTooLarge          message_too_large
    │   ├── NotJoined                not_joined
    │   ├── AlreadyJoined            already_joined
    │   ├── StaleAnswer              stale_answer
    │   └── UnknownTrack             unknown_track
    ├── AuthError
    │   ├── AuthRequired             auth_required
    │   ├── AuthInvalid              auth_invalid
    │   ├── AuthExpired              auth_expired
    │   └── RoomMismatch             room_mismatch
    ├── RoomFull                     room_full
    ├── AddressLimit                 too_many_from_address    (per-address caps)
    ├── ConferenceNotFound           conference_not_found     (booked rooms)
    ├── ConferenceNotStarted         conference_not_started
    ├── ConferenceEnded              conference_ended
    ├── ConferenceCancelled          conference_cancelled
    ├── BadSdp                       bad_sdp
    ├── UnsupportedCodec             unsupported_codec        (publish: nothing applied)
    ├── TooManyTracks                too_many_tracks          (publish: nothing applied)
    ├── UnknownParticipant           unknown_participant      (moderation, chat, hands)
    ├── NotModerator                 not_moderator            (a moderator's request)
    ├── ConferenceLocked             conference_locked        (a moderator locked the room)
    ├── Removed                      removed                  (removed from this conference)
    ├── Refused                      refused                  (refused at the waiting room)
    ├── ChatTooLong                  chat_too_long
    └── ChatRateLimited              chat_rate_limited

Anything else that escapes a handler is reported as ``internal`` and logged.
"""

from __future__ import annotations

from typing import Any


class SnapconfError(Exception):
    """Base class: ``code`` is stable, ``message`` is for people (in English, for logs and
    developers; pages write their own sentence per code), ``details`` is machine-readable
    context sent with the code (e.g. when a conference opens)."""

    code = "internal"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ProtocolError(SnapconfError):
    code = "bad_message"


class BadJson(ProtocolError):
    code = "bad_json"


class BadMessage(ProtocolError):
    code = "bad_message"


class UnknownType(ProtocolError):
    code = "unknown_type"


class MessageTooLarge(ProtocolError):
    code = "message_too_large"


class NotJoined(ProtocolError):
    code = "not_joined"


class AlreadyJoined(ProtocolError):
    code = "already_joined"


class StaleAnswer(ProtocolError):
    code = "stale_answer"


class UnknownTrack(ProtocolError):
    code = "unknown_track"


class AuthError(SnapconfError):
    code = "auth_invalid"


class AuthRequired(AuthError):
    code = "auth_required"


class AuthInvalid(AuthError):
    code = "auth_invalid"


class AuthExpired(AuthError):
    code = "auth_expired"


class RoomMismatch(AuthError):
    code = "room_mismatch"


class RoomFull(SnapconfError):
    code = "room_full"


class AddressLimit(SnapconfError):
    """One IP address already has as many participants as ``signaling`` allows."""

    code = "too_many_from_address"


class BadSdp(SnapconfError):
    code = "bad_sdp"


class UnsupportedCodec(SnapconfError):
    """A publish offers a codec the room cannot map for its receivers."""

    code = "unsupported_codec"


class TooManyTracks(SnapconfError):
    """A publish would give the participant more tracks than the room allows."""

    code = "too_many_tracks"


class ConferenceNotFound(SnapconfError):
    code = "conference_not_found"


class ConferenceNotStarted(SnapconfError):
    code = "conference_not_started"


class ConferenceEnded(SnapconfError):
    code = "conference_ended"


class ConferenceCancelled(SnapconfError):
    code = "conference_cancelled"


class ChatTooLong(SnapconfError):
    """A chat message is longer than ``chat.max_length`` characters."""

    code = "chat_too_long"


class ChatRateLimited(SnapconfError):
    """A participant sends chat messages faster than ``chat.rate_burst`` per window."""

    code = "chat_rate_limited"


class NotModerator(SnapconfError):
    """A moderator's request from a participant who is not one."""

    code = "not_moderator"


class UnknownParticipant(SnapconfError):
    """A moderator's request names nobody in the conference (or its waiting room)."""

    code = "unknown_participant"


class ConferenceLocked(SnapconfError):
    """A moderator locked the conference: nobody new joins (moderators still do)."""

    code = "conference_locked"


class Removed(SnapconfError):
    """This identity was removed from the conference by a moderator and may not rejoin."""

    code = "removed"


class Refused(SnapconfError):
    """A moderator refused this participant at the waiting room."""

    code = "refused"
