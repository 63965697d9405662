"""Conference: a room with its participants and its Router.

Everyone is subscribed to everyone else's tracks; the conference keeps that true as
participants join, publish, unpublish and leave, and tells each one what changed.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference.audio import ConferenceAudio
from snapconf.conference.participant import MIX_KEY, Participant, Track
from snapconf.media.mixer import MixerConfig
from snapconf.media.router import Codec, Producer, Router
from snapconf.media.sdp import PublishedTrack, answer_publish
from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport

log = logging.getLogger(__name__)

SOURCES = ("microphone", "camera", "screen")
AUDIO_MODES = ("tracks", "mix")
#: the codec of the mixed track browsers receive (RFC 7587 §7: always signalled /2)
MIX_CODEC = Codec("opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")))


@dataclass(slots=True)
class SfuConfig:
    """Room and forwarding settings (section ``[sfu]`` of the config file)."""

    #: audio codecs accepted from browsers, in order of preference
    audio_codecs: list[str] = field(default_factory=lambda: ["opus"])
    #: video codecs accepted from browsers, in order of preference; every receiver must
    #: decode what a publisher sends, since the SFU never transcodes
    video_codecs: list[str] = field(default_factory=lambda: ["VP8", "H264"])
    #: the most participants one room admits
    max_participants: int = 50


class RoomFullError(Exception):
    """The conference has its maximum number of participants."""


class Conference:
    """One room."""

    def __init__(
        self,
        name: str,
        *,
        media: MediaServer,
        config: SfuConfig,
        clock: Callable[[], float],
        on_empty: Callable[[Conference], None] | None = None,
        mixer_config: MixerConfig | None = None,
        audio_clock: Clock = SYSTEM_CLOCK,
        mixer_totals: Counter[str] | None = None,
    ) -> None:
        self.name = name
        #: counters of this conference's closed bridges, kept for /metrics
        self.mixer_totals: Counter[str] = Counter() if mixer_totals is None else mixer_totals
        self.mixer_config = mixer_config or MixerConfig()
        self.audio_clock = audio_clock
        #: the audio bridge, while someone needs a mix
        self.audio: ConferenceAudio | None = None
        self.media = media
        self.config = config
        self.clock = clock
        self.router = Router()
        self.participants: dict[str, Participant] = {}
        self.created = clock()
        self.closed = False
        self._on_empty = on_empty

    # -- membership ---------------------------------------------------------------------
    def join(self, participant: Participant, *, webrtc: bool = True) -> None:
        """Add a participant, tell the others, subscribe it to existing tracks."""
        if len(self.participants) >= self.config.max_participants:
            raise RoomFullError(self.name)
        if webrtc:
            participant.send_transport = self._transport(participant, "send")
            participant.recv_transport = self._transport(participant, "recv")
        self._broadcast({"type": "participantJoined", "participant": participant.describe()})
        self.participants[participant.id] = participant
        log.info(
            "conference %s: %s joined (%s, %d present)",
            self.name,
            participant.id,
            participant.kind,
            len(self.participants),
        )
        subscribed = False
        for other in self.participants.values():
            if other is participant:
                continue
            for track in other.tracks.values():
                if participant.subscribe(self.router, track.producer) is not None:
                    subscribed = True
        if subscribed:
            participant.listener.renegotiate()

    def _transport(self, participant: Participant, direction: str) -> WebRtcTransport:
        transport = WebRtcTransport(
            self.media,
            self.media.certificate,
            transport_id=f"{participant.id}-{direction}",
            on_close=lambda t, reason: self._transport_closed(participant, t, reason),
        )
        if direction == "recv":
            transport.on_connected = lambda t: participant.resume_consumers()
        return transport

    def _transport_closed(
        self, participant: Participant, transport: WebRtcTransport, reason: str
    ) -> None:
        if participant.closed or participant.id not in self.participants:
            return
        log.info("conference %s: %s lost its transport (%s)", self.name, participant.id, reason)
        self.leave(participant, reason=reason)
        participant.listener.closed(reason)

    def leave(self, participant: Participant, reason: str = "left") -> None:
        """Remove a participant, its tracks and subscriptions; idempotent."""
        if participant.closed:
            return
        participant.closed = True
        self.participants.pop(participant.id, None)
        if self.audio is not None:
            self.audio.mixer.remove_output(participant.id)
        for track in list(participant.tracks.values()):
            self._unpublish(participant, track, notify=False)
        for producer_id in list(participant.consumers):
            participant.unsubscribe(producer_id)
        participant.close_transports()
        self._release_audio()
        self._broadcast(
            {"type": "participantLeft", "participantId": participant.id, "reason": reason}
        )
        log.info(
            "conference %s: %s left (%s, %d present)",
            self.name,
            participant.id,
            reason,
            len(self.participants),
        )
        if not self.participants and self._on_empty is not None:
            self._on_empty(self)

    # -- publishing -----------------------------------------------------------------------
    def publish(
        self, participant: Participant, offer_sdp: str, sources: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        """Answer a publish offer and reconcile the participant's producers with it.

        Returns the answer SDP and ``{mid: track id}``. Raises
        :class:`snapconf.media.sdp.SdpError` for an offer that cannot be answered.
        """
        transport = participant.send_transport
        if transport is None:
            raise ValueError("participant has no send transport")
        local = participant.local_endpoint(transport, self.media)
        answer = answer_publish(
            offer_sdp,
            local,
            audio_codecs=self.config.audio_codecs,
            video_codecs=self.config.video_codecs,
        )
        transport.set_remote(answer.remote_ufrag, answer.remote_fingerprints)
        transport.mid_extension_id = answer.mid_extension_id
        offered = {t.mid: t for t in answer.tracks}
        # tracks that went away
        for mid, track in list(participant.tracks_by_mid.items()):
            new = offered.get(mid)
            if (
                new is None
                or new.codec != track.producer.codec
                or (
                    new.ssrc is not None
                    and track.producer.ssrc is not None
                    and new.ssrc != track.producer.ssrc
                )
            ):
                self._unpublish(participant, track, notify=True)
        # tracks that are new
        for mid, published in offered.items():
            if mid in participant.tracks_by_mid:
                continue
            self._publish_track(participant, transport, published, sources.get(mid))
        return answer.sdp, {mid: t.id for mid, t in participant.tracks_by_mid.items()}

    def _publish_track(
        self,
        participant: Participant,
        transport: WebRtcTransport,
        published: PublishedTrack,
        source: str | None,
    ) -> Track:
        if source not in SOURCES:
            source = "microphone" if published.kind == "audio" else "camera"
        producer = Producer(
            producer_id="t" + secrets.token_hex(5),
            kind=published.kind,
            source=source,
            codec=published.codec,
            payload_type=published.payload_type,
            ssrc=published.ssrc,
            mid=published.mid,
            extension_ids=published.extension_ids,
            sink=transport,
            owner_id=participant.id,
            clock=self.clock,
            keyframe_interval=self.media.config.keyframe_interval,
        )
        if published.ssrc is not None:
            transport.producers_by_ssrc[published.ssrc] = producer
        transport.producers_by_mid[published.mid] = producer
        return self.add_track(participant, producer)

    def add_track(self, participant: Participant, producer: Producer) -> Track:
        """Make a producer one of the participant's tracks: mixed, forwarded, announced."""
        self.router.add_producer(producer)
        track = Track(id=producer.id, kind=producer.kind, source=producer.source, producer=producer)
        participant.tracks[track.id] = track
        participant.tracks_by_mid[producer.mid] = track
        if self.audio is not None:
            self.audio.add_producer(producer)
            if producer.kind == "audio" and participant.audio_mode == "mix":
                self._add_mix_output(participant)  # now with its own voice to subtract
        self._broadcast(
            {"type": "trackPublished", "participantId": participant.id, "track": track.describe()},
            exclude=participant,
        )
        for other in self.participants.values():
            if other is not participant and other.subscribe(self.router, producer) is not None:
                other.listener.renegotiate()
        return track

    def _unpublish(self, participant: Participant, track: Track, *, notify: bool) -> None:
        producer = track.producer
        participant.tracks.pop(track.id, None)
        participant.tracks_by_mid.pop(producer.mid, None)
        transport = participant.send_transport
        if transport is not None:
            if (
                producer.ssrc is not None
                and transport.producers_by_ssrc.get(producer.ssrc) is producer
            ):
                del transport.producers_by_ssrc[producer.ssrc]
            transport.producers_by_mid.pop(producer.mid, None)
        for other in self.participants.values():
            if other is not participant and other.unsubscribe(producer.id):
                other.listener.renegotiate()
        if self.audio is not None:
            self.audio.remove_producer(producer)
        self.router.remove_producer(producer.id)
        if notify:
            self._broadcast(
                {"type": "trackUnpublished", "participantId": participant.id, "trackId": track.id},
                exclude=participant,
            )

    def set_muted(self, participant: Participant, track_id: str, muted: bool) -> bool:
        track = participant.tracks.get(track_id)
        if track is None:
            return False
        if track.producer.muted != muted:
            track.producer.muted = muted
            if self.audio is not None:
                self.audio.set_muted(track.producer, muted)
            self._broadcast(
                {
                    "type": "trackMuted",
                    "participantId": participant.id,
                    "trackId": track_id,
                    "muted": muted,
                }
            )
        return True

    def request_keyframe(self, participant: Participant, track_id: str) -> bool:
        consumer = participant.consumers.get(track_id)
        if consumer is None:
            return False
        consumer.request_keyframe()
        return True

    # -- the audio bridge -------------------------------------------------------------------
    def ensure_audio(self) -> ConferenceAudio:
        """The conference's mixer, made (with every audio producer as input) if needed."""
        if self.audio is None:
            self.audio = ConferenceAudio(
                self.name, self.mixer_config, self.audio_clock, self._talkers_changed
            )
            for producer in self.router.producers.values():
                self.audio.add_producer(producer)
            self.audio.start()
            log.info("conference %s: audio bridge started", self.name)
        return self.audio

    def _release_audio(self) -> None:
        if self.audio is not None and not self.audio.listeners:
            self.audio.close(self.mixer_totals)
            self.audio = None
            log.info("conference %s: audio bridge stopped (no listener)", self.name)

    def set_audio_mode(self, participant: Participant, mode: str) -> None:
        """Receive one mixed audio track ("mix") or one track per speaker ("tracks")."""
        if mode not in AUDIO_MODES:
            raise ValueError(f"audio mode {mode!r} is not tracks or mix")
        if mode == participant.audio_mode:
            return
        participant.audio_mode = mode
        if mode == "mix":
            for producer_id, consumer in list(participant.consumers.items()):
                if consumer.producer.kind == "audio":
                    participant.unsubscribe(producer_id)
            self._add_mix_output(participant)
        else:
            if self.audio is not None:
                self.audio.mixer.remove_output(participant.id)
            participant.receive_session.remove(MIX_KEY)
            participant.mix_ready = False
            for other in self.participants.values():
                if other is participant:
                    continue
                for track in other.tracks.values():
                    if track.kind == "audio":
                        participant.subscribe(self.router, track.producer)
            self._release_audio()
        participant.listener.renegotiate()

    def _add_mix_output(self, participant: Participant) -> None:
        audio = self.ensure_audio()
        session = participant.receive_session
        slot = session.slot(MIX_KEY)
        if slot is None:
            slot = session.add(
                consumer_key=MIX_KEY,
                kind="audio",
                codec=MIX_CODEC,
                ssrc=secrets.randbits(32) | 1,
                cname="mix",
                stream_id="mix",
                track_id="mix",
            )
        own = next((t.id for t in participant.tracks.values() if t.kind == "audio"), None)
        audio.mixer.remove_output(participant.id)
        audio.mixer.add_output(
            participant.id,
            "opus",
            slot.payload_type,
            slot.ssrc,
            participant.send_mix,
            own_input_id=own,
        )

    def _talkers_changed(self, input_ids: list[str]) -> None:
        """Tell everyone who is speaking (the mixer's talker set, by participant)."""
        speakers: list[str] = []
        for input_id in input_ids:
            producer = self.router.producers.get(input_id)
            if producer is not None and producer.owner_id not in speakers:
                speakers.append(producer.owner_id)
        self._broadcast({"type": "activeSpeakers", "participantIds": speakers})

    # -- helpers --------------------------------------------------------------------------
    def _broadcast(self, message: dict[str, Any], exclude: Participant | None = None) -> None:
        for other in list(self.participants.values()):
            if other is not exclude:
                other.listener.event(message)

    def close(self, reason: str = "conference ended") -> None:
        """Remove everyone and close the router; idempotent."""
        if self.closed:
            return
        self.closed = True
        for participant in list(self.participants.values()):
            self.leave(participant, reason=reason)
            participant.listener.closed(reason)
        if self.audio is not None:
            self.audio.close(self.mixer_totals)
            self.audio = None
        self.router.close()
