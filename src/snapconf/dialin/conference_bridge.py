"""Phone callers as conference participants: the ConferenceBridge of the SIP gateway.

A call joins as a Participant of kind ``phone`` with no WebRTC transport. Its audio
becomes a Producer, so browsers receive it like anyone's audio (and see who speaks), and an
input of the conference's audio bridge; the phone hears the bridge's mix of everyone else,
in its own codec.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from snapconf.conference import Conference, Conferences, Participant, RoomFullError
from snapconf.dialin.bridge import ConferenceFull
from snapconf.media.router import EXT_AUDIO_LEVEL, Codec, Producer
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header

log = logging.getLogger(__name__)

#: the name of a phone participant whose caller id has no digits
PHONE_NAME = "Téléphone"

#: the header extension id phone packets carry their level in, inside the server
_LEVEL_ID = 1


class _NoFeedback:
    """A phone's producer: RTCP feedback (PLI, NACK) has nowhere to go for audio."""

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        pass


class _PhoneListener:
    """Conference events for a caller: only the end of the call matters."""

    def __init__(self, on_end: Callable[[str], None]) -> None:
        self._on_end = on_end
        self._ended = False

    def event(self, message: dict[str, Any]) -> None:
        pass

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(reason)


def _codec(name: str, clock_rate: int) -> Codec:
    if name.lower() == "opus":
        return Codec("opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")))
    return Codec(name.upper(), clock_rate, 1)


class PhoneLeg:
    """One caller in one conference (implements :class:`snapconf.dialin.bridge.PhoneLeg`)."""

    def __init__(
        self,
        conference: Conference,
        participant: Participant,
        producer: Producer,
        clock: Callable[[], float],
    ) -> None:
        self.conference = conference
        self.participant = participant
        self.producer = producer
        self._clock = clock
        self._ssrc = secrets.randbits(32) | 1

    def receive_rtp(
        self,
        payload_type: int,
        seq: int,
        timestamp: int,
        payload: bytes,
        audio_level: int | None,
    ) -> None:
        """A packet from the phone: forwarded to browsers and into the mix."""
        if self.participant.closed:
            return
        packet = build_rtp_packet(
            payload_type=payload_type,
            sequence_number=seq,
            timestamp=timestamp,
            ssrc=self._ssrc,
            payload=payload,
            extensions=None if audio_level is None else [(_LEVEL_ID, bytes((audio_level & 0x7F,)))],
        )
        self.producer.receive_rtp(packet, parse_rtp_header(packet), self._clock())

    def set_muted(self, muted: bool) -> None:
        self.conference.set_muted(self.participant, self.producer.id, muted)

    @property
    def muted(self) -> bool:
        """The conference's state of the caller's track (a moderator may have muted it)."""
        return self.producer.muted

    @property
    def participant_count(self) -> int:
        return len(self.conference.participants)

    def close(self) -> None:
        """Leave the conference; idempotent."""
        self.conference.leave(self.participant, reason="hung up")


class PhoneBridge:
    """Joins phone calls to conferences (implements ``snapconf.dialin.ConferenceBridge``)."""

    def __init__(
        self,
        conferences: Conferences,
        limit: Callable[[str], Awaitable[int | None]] | None = None,
    ) -> None:
        self.conferences = conferences
        #: the booked participant limit of a conference, when it has one
        self.limit = limit

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        codec: str,
        payload_type: int,
        clock_rate: int,
        send_rtp: Callable[[bytes], None],
        on_end: Callable[[str], None],
    ) -> PhoneLeg:
        if self.limit is not None:
            booked = await self.limit(conference_id)
            present = self.conferences.get(conference_id)
            if booked is not None and present is not None and len(present.participants) >= booked:
                raise ConferenceFull(conference_id)
        conference = self.conferences.get_or_create(conference_id)
        clock = self.conferences.clock
        participant = Participant(
            # the caller's display name is theirs to choose: show the number they call from
            display_name=masked_number or PHONE_NAME,
            kind="phone",
            listener=_PhoneListener(on_end),
            clock=clock,
        )
        try:
            conference.join(participant, webrtc=False)
        except RoomFullError as exc:
            self.conferences.discard_if_empty(conference)
            raise ConferenceFull(conference_id) from exc
        producer = Producer(
            producer_id="t" + secrets.token_hex(5),
            kind="audio",
            source="microphone",
            codec=_codec(codec, clock_rate),
            payload_type=payload_type,
            ssrc=None,
            mid="phone",
            extension_ids={_LEVEL_ID: EXT_AUDIO_LEVEL},
            sink=_NoFeedback(),
            owner_id=participant.id,
            clock=clock,
        )
        conference.add_track(participant, producer)
        audio = conference.ensure_audio()
        audio.mixer.add_output(
            participant.id,
            codec,
            payload_type,
            secrets.randbits(32) | 1,
            send_rtp,
            own_input_id=producer.id,
        )
        log.info("conference %s: phone %s joined (%s)", conference_id, masked_number, codec)
        return PhoneLeg(conference, participant, producer, clock)
