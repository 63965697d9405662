"""Phone callers as conference participants: the ConferenceBridge of the SIP gateway.

A call joins as a Participant of kind ``phone`` with no WebRTC transport;
:meth:`~snapconf.conference.Conference.add_phone` gives it its audio (a producer fed by the
call's plain RTP transport, and a mix output in the phone's codec and packet time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from snapconf.conference import Conference, Conferences, Participant
from snapconf.conference.admission import JoinRequest
from snapconf.dialin.bridge import ConferenceFull, JoinRefused, PhoneMedia
from snapconf.errors import RoomFull, SnapconfError
from snapconf.media.plain_transport import PlainTransport
from snapconf.media.router import Producer

log = logging.getLogger(__name__)

#: the name of a phone participant whose caller id has no digits
PHONE_NAME = "Téléphone"


class _PhoneListener:
    """Conference events for a caller: the end of the call, and what a moderator did to it
    (queued in ``notices`` for the IVR to say: ``muted_by_moderator``, ``unmute_requested``).
    """

    def __init__(self, on_end: Callable[[str], None]) -> None:
        self._on_end = on_end
        self._ended = False
        #: the caller's participant id, once joined
        self.participant_id = ""
        self.notices: asyncio.Queue[str] = asyncio.Queue(maxsize=8)

    def event(self, message: dict[str, Any]) -> None:
        mtype = message.get("type")
        notice = None
        if mtype == "unmuteRequested":
            notice = "unmute_requested"
        elif (
            mtype == "trackMuted"
            and message.get("participantId") == self.participant_id
            and message.get("muted")
            and message.get("by") == "moderator"
        ):
            notice = "muted_by_moderator"
        if notice is not None and not self.notices.full():
            self.notices.put_nowait(notice)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(reason)


class PhoneLeg:
    """One caller in one conference (a :class:`snapconf.dialin.bridge.ConferenceLeg`)."""

    def __init__(
        self,
        conference: Conference,
        participant: Participant,
        producer: Producer,
        transport: PlainTransport,
        notices: asyncio.Queue[str] | None = None,
    ) -> None:
        self.conference = conference
        self.participant = participant
        self.producer = producer
        self.transport = transport
        #: what moderators did to the caller, for the IVR to say (see _PhoneListener)
        self.notices: asyncio.Queue[str] = notices if notices is not None else asyncio.Queue()

    def set_muted(self, muted: bool) -> None:
        self.conference.set_muted(self.participant, self.producer.id, muted)

    @property
    def muted(self) -> bool:
        """The conference's state of the caller's track (a moderator may have muted it)."""
        return self.producer.muted

    @property
    def hand_raised(self) -> bool:
        """The conference's state of the caller's hand (a moderator may have lowered it)."""
        return self.participant.hand_raised

    def set_hand_raised(self, raised: bool) -> None:
        self.conference.set_hand(self.participant, raised)

    @property
    def participant_count(self) -> int:
        return len(self.conference.participants)

    def close(self) -> None:
        """Leave the conference; idempotent."""
        if self.transport.receiver is self.producer:
            self.transport.receiver = None
        self.conference.leave(self.participant, reason="hung up")


class PhoneBridge:
    """Joins phone calls to conferences (implements ``snapconf.dialin.ConferenceBridge``).

    A call comes in through the conferences' one door, :meth:`Conferences.join`, as a
    participant of kind ``phone``: the admission policy and every limit (the room's, a
    booking's) apply to it as to a browser.
    """

    def __init__(self, conferences: Conferences) -> None:
        self.conferences = conferences

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        media: PhoneMedia,
        on_end: Callable[[str], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> PhoneLeg:
        request = JoinRequest(
            room=conference_id,
            # the caller's display name is theirs to choose: show the number they call from
            display_name=masked_number or PHONE_NAME,
            kind="phone",
        )
        try:
            listener = _PhoneListener(on_end)
            conference, participant = await self.conferences.join(
                request,
                listener,
                webrtc=False,
                on_waiting=None if on_waiting is None else lambda _id: on_waiting(),
            )
        except RoomFull as exc:
            raise ConferenceFull(conference_id) from exc
        except SnapconfError as exc:
            log.info("conference %s: phone refused (%s)", conference_id, exc.code)
            raise JoinRefused(conference_id, code=exc.code) from exc
        producer = conference.add_phone(
            participant,
            media.transport,
            codec=media.codec,
            payload_type=media.payload_type,
            clock_rate=media.clock_rate,
            ptime_ms=media.ptime_ms,
            audio_level_id=media.audio_level_id,
        )
        log.info(
            "conference %s: phone %s joined (%s, %d ms)",
            conference_id,
            masked_number,
            media.codec,
            media.ptime_ms,
        )
        listener.participant_id = participant.id
        return PhoneLeg(conference, participant, producer, media.transport, listener.notices)
