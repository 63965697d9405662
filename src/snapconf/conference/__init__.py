"""Conferences and participants: ties media transports and routers to people."""

from snapconf.conference.conference import Conference, SfuConfig
from snapconf.conference.manager import Conferences, valid_room_name
from snapconf.conference.participant import Participant, ParticipantListener, Track

__all__ = [
    "Conference",
    "Conferences",
    "Participant",
    "ParticipantListener",
    "SfuConfig",
    "Track",
    "valid_room_name",
]
