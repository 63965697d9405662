"""Conference: a room with its participants and its Router.

Everyone is subscribed to everyone else's tracks; the conference keeps that true as
participants join, publish, unpublish and leave, and tells each one what changed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.conference.audio import ConferenceAudio
from snapconf.conference.chat import Chat, ChatConfig
from snapconf.conference.hands import HandQueue
from snapconf.conference.moderation import MODERATOR, Moderation, promote
from snapconf.conference.participant import (
    DETACHED,
    MIX_KEY,
    Participant,
    ParticipantListener,
    Track,
    TrackView,
)
from snapconf.conference.phone import drop_packet, mix_ptime, phone_producer
from snapconf.conference.speakers import NEVER_SPOKE, SpeakerConfig, SpeakerDetector
from snapconf.errors import (
    BadMessage,
    NotModerator,
    TooManyTracks,
    UnknownParticipant,
    UnsupportedCodec,
)
from snapconf.media.mixer import MixerConfig
from snapconf.media.plain_transport import PlainTransport
from snapconf.media.router import (
    EXT_REPAIRED_RID,
    EXT_RID,
    EXT_TRANSPORT_CC,
    Codec,
    Producer,
    Router,
)
from snapconf.media.sdp import (
    PAYLOAD_TYPE_CAPACITY,
    PublishedTrack,
    ReceiveSession,
    RejectedSection,
    answer_publish,
)
from snapconf.media.server import MediaServer
from snapconf.media.transport import CLOSED_BY_PEER, WebRtcTransport
from snapconf.rtp.packet import RtpHeader

log = logging.getLogger(__name__)

SpeakerTap = Callable[[bytes, RtpHeader, bytes | None], None]

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
    #: the most tracks one participant may publish (microphone, camera, screen and a few)
    max_tracks_per_participant: int = 6
    #: a participant is "talking" for this many seconds after its last loud audio packet
    talking_hold: float = 0.5
    #: forward at most this many camera videos to each receiver: those of the most recent
    #: speakers (screen shares are never cut); -1 = no limit
    last_n: int = -1
    #: seconds a challenger must speak clearly more than the dominant speaker to replace it
    dominant_speaker_switch: float = 1.0
    #: the first browser in an ad-hoc room (not a booked conference) is its moderator
    first_moderator: bool = False


def _replaced(new: PublishedTrack | None, producer: Producer) -> bool:
    """The offer no longer has this track, or has another codec or SSRC in its place."""
    return (
        new is None
        or new.codec != producer.codec
        or (new.ssrc is not None and producer.ssrc is not None and new.ssrc != producer.ssrc)
    )


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
        chat_config: ChatConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        #: the meeting's chat, kept while the conference lasts (see chat.py)
        self.chat = Chat(chat_config, clock=clock, wall_clock=wall_clock)
        #: who raised a hand, in order (see hands.py)
        self.hands = HandQueue()
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
        #: the booked conference's title, once a grant told it
        self.title: str | None = None
        self.created = clock()
        self.closed = False
        self._on_empty = on_empty
        #: the dominant speaker and the speaker order, fed by every audio producer
        self.speakers = SpeakerDetector(SpeakerConfig(switch_after=config.dominant_speaker_switch))
        self._speaker_taps: dict[str, tuple[Producer, SpeakerTap]] = {}
        #: lock, waiting room, removed identities (see snapconf.conference.moderation)
        self.moderation = Moderation()

    # -- membership ---------------------------------------------------------------------
    def join(self, participant: Participant, *, webrtc: bool = True) -> None:
        """Add an admitted participant, tell the others, subscribe it to existing tracks.

        Faces come in through :meth:`snapconf.conference.Conferences.join`, which applies the
        admission policy and the room's limits first. All or nothing: if anything fails, the
        participant is not left in the room (its transports and subscriptions are undone)
        and the exception goes to the caller.
        """
        subscribed = False
        try:
            if webrtc:
                participant.send_transport = self._transport(participant, "send")
                participant.recv_transport = self._transport(participant, "recv")
                participant.recv_transport.on_tick = participant.on_receive_tick
            participant.allocator.rank = functools.partial(
                self.speaker_rank, receiver_id=participant.id
            )
            participant.allocator.config.last_n = self.config.last_n
            self.participants[participant.id] = participant
            for other in list(self.participants.values()):
                if other is participant:
                    continue
                for track in other.tracks.values():
                    if participant.subscribe(self.router, track.producer) is not None:
                        subscribed = True
        except BaseException:
            self._undo_join(participant)
            raise
        self._broadcast(
            {"type": "participantJoined", "participant": participant.describe()},
            exclude=participant,
        )
        log.info(
            "conference %s: %s joined (%s, %d present)",
            self.name,
            participant.id,
            participant.kind,
            len(self.participants),
        )
        if subscribed:
            participant.listener.renegotiate()

    def _undo_join(self, participant: Participant) -> None:
        """Take back a join that failed half way (nobody was told of it)."""
        participant.closed = True  # first: closing its transports must not call leave()
        if self.participants.get(participant.id) is participant:
            del self.participants[participant.id]
        for producer_id in list(participant.consumers):
            participant.unsubscribe(producer_id)
        participant.close_transports()
        log.warning("conference %s: join of %s failed, undone", self.name, participant.id)

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
        if transport is not participant.send_transport and transport is not (
            participant.recv_transport
        ):
            return  # one replaced by restart_media: not a departure
        log.info("conference %s: %s lost its transport (%s)", self.name, participant.id, reason)
        if reason == CLOSED_BY_PEER:
            reason = "left"  # the browser closed its connection or its page: a normal leave
        self.leave(participant, reason=reason)
        participant.listener.closed(reason)

    def leave(self, participant: Participant, reason: str = "left") -> None:
        """Remove a participant, its tracks and subscriptions; idempotent."""
        if participant.closed:
            return
        participant.closed = True
        participant.reconnecting = False
        if participant.seat_timer is not None:
            participant.seat_timer.cancel()
            participant.seat_timer = None
        self.participants.pop(participant.id, None)
        if self.audio is not None:
            self.audio.mixer.remove_output(participant.id)
        for track in list(participant.tracks.values()):
            self._unpublish(participant, track, notify=False)
        for producer_id in list(participant.consumers):
            participant.unsubscribe(producer_id)
        participant.close_transports()
        self.speakers.remove(participant.id)
        self.chat.forget(participant.id)
        self.hands.lower(participant.id)  # participantLeft takes the hand down
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
        self.moderation.identities.pop(participant.id, None)
        if participant.role == MODERATOR:
            self._hand_over_moderation()
        if not self.participants and not self.moderation.lobby.waiting and self._on_empty:
            self._on_empty(self)

    def _hand_over_moderation(self) -> None:
        """In an ad-hoc room whose first browser became moderator (``first_moderator``), the
        last moderator's departure makes the browser present longest a moderator
        (``roleChanged``), so that nobody is left waiting at a door no one can open. A
        booked conference keeps the roles its tokens gave: its organiser comes back."""
        if self.closed or not self.config.first_moderator or self.moderation.booking_applied:
            return
        present = list(self.participants.values())
        if any(p.role == MODERATOR for p in present):
            return
        browsers = [p for p in present if p.kind == "browser" and not p.closed]
        if browsers:
            heir = min(browsers, key=lambda p: p.joined_at)
            promote(self, heir)
            log.info("conference %s: %s is moderator now (the last one left)", self.name, heir.id)

    # -- reconnection --------------------------------------------------------------------
    def hold_seat(self, participant: Participant, grace: float) -> None:
        """The participant's signaling went away without a leave: keep its seat for
        ``grace`` seconds (the others see ``participantReconnecting``), then it leaves
        with reason ``disconnected`` unless :meth:`resume` came first. Its media goes on
        meanwhile: only the page's socket may have dropped."""
        if participant.closed or participant.id not in self.participants:
            return
        if grace <= 0:
            self.leave(participant, reason="disconnected")
            return
        participant.listener = DETACHED
        participant.reconnecting = True
        if participant.seat_timer is not None:
            participant.seat_timer.cancel()
        participant.seat_timer = asyncio.get_running_loop().call_later(
            grace, self._seat_expired, participant
        )
        self._broadcast(
            {"type": "participantReconnecting", "participantId": participant.id},
            exclude=participant,
        )
        log.info("conference %s: %s reconnecting (%.0f s)", self.name, participant.id, grace)

    def _seat_expired(self, participant: Participant) -> None:
        participant.seat_timer = None
        if participant.reconnecting:
            self.leave(participant, reason="disconnected")

    def resume(self, participant: Participant, listener: ParticipantListener) -> None:
        """Give a held (or still attached) seat to a new signaling ``listener``, with
        fresh transports (:meth:`restart_media`); the others see ``participantReconnected``
        and the participant's tracks unpublished, then published again by its page."""
        if participant.closed:
            raise ValueError("participant has left")
        if participant.seat_timer is not None:
            participant.seat_timer.cancel()
            participant.seat_timer = None
        participant.reconnecting = False
        participant.listener = listener
        self.restart_media(participant)
        self._broadcast(
            {"type": "participantReconnected", "participantId": participant.id},
            exclude=participant,
        )
        log.info("conference %s: %s reconnected", self.name, participant.id)

    def restart_media(self, participant: Participant) -> None:
        """New transports for a participant whose connections are lost or about to be
        replaced by its page: its tracks are unpublished (the others are told), its
        subscriptions and receive offer start again, and the old transports close
        without counting as a departure. Its page publishes anew and answers the next
        receive offer."""
        for track in list(participant.tracks.values()):
            self._unpublish(participant, track, notify=True)
        for producer_id in list(participant.consumers):
            participant.unsubscribe(producer_id)
        if participant.audio_mode == "mix":  # the page asks for the mix again
            if self.audio is not None:
                self.audio.mixer.remove_output(participant.id)
            participant.audio_mode = "tracks"
            participant.mix_ready = False
            self._release_audio()
        old = (participant.send_transport, participant.recv_transport)
        participant.send_transport = self._transport(participant, "send")
        participant.recv_transport = self._transport(participant, "recv")
        participant.recv_transport.on_tick = participant.on_receive_tick
        participant.receive_session = ReceiveSession()
        participant.rejected_logged.clear()
        for transport in old:
            if transport is not None:
                transport.close("replaced")
        subscribed = False
        for other in list(self.participants.values()):
            if other is not participant:
                for track in other.tracks.values():
                    if participant.subscribe(self.router, track.producer) is not None:
                        subscribed = True
        if subscribed:
            participant.listener.renegotiate()

    # -- publishing -----------------------------------------------------------------------
    def publish(
        self,
        participant: Participant,
        offer_sdp: str,
        sources: dict[str, str],
        *,
        rejected: list[RejectedSection] | None = None,
    ) -> tuple[str, dict[str, str]]:
        """Answer a publish offer and reconcile the participant's producers with it.

        Returns the answer SDP and ``{mid: track id}``; the m-sections answered with port 0
        are added to ``rejected`` (each logged once per participant). Raises
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
        for section in answer.rejected:
            if (section.mid, section.reason) not in participant.rejected_logged:
                participant.rejected_logged.add((section.mid, section.reason))
                log.warning(
                    "conference %s: %s: %s track of mid %s not received (%s)",
                    self.name,
                    participant.id,
                    section.kind,
                    section.mid,
                    section.reason,
                )
        offered = {t.mid: t for t in answer.tracks}
        gone = [
            track
            for mid, track in participant.tracks_by_mid.items()
            if _replaced(offered.get(mid), track.producer)
        ]
        gone_mids = {track.producer.mid for track in gone}
        added = [
            published
            for mid, published in offered.items()
            if mid not in participant.tracks_by_mid or mid in gone_mids
        ]
        # check everything before changing anything: a refused publish leaves all as it was
        self._check_publish(participant, gone, added)
        transport.set_remote(answer.remote_ufrag, answer.remote_fingerprints)
        transport.mid_extension_id = answer.mid_extension_id
        transport.rid_extension_id = answer.extension_id(EXT_RID)
        transport.repaired_rid_extension_id = answer.extension_id(EXT_REPAIRED_RID)
        transport.enable_transport_cc_feedback(answer.extension_id(EXT_TRANSPORT_CC))
        for track in gone:  # tracks that went away
            self._unpublish(participant, track, notify=True)
        for published in added:  # tracks that are new
            self._publish_track(participant, transport, published, sources.get(published.mid))
        if rejected is not None:
            rejected.extend(answer.rejected)
        return answer.sdp, {mid: t.id for mid, t in participant.tracks_by_mid.items()}

    def _check_publish(
        self, participant: Participant, gone: list[Track], added: list[PublishedTrack]
    ) -> None:
        """Refuse a publish the room cannot carry, before any of it is applied.

        Each receiver maps every distinct codec of the room to a payload type of its own
        receive session (RFC 8843 §9.1), from a small pool per kind; the room keeps its
        distinct codecs within that pool so that every newcomer can receive every track.
        """
        count = len(participant.tracks) - len(gone) + len(added)
        limit = self.config.max_tracks_per_participant
        if count > limit:
            raise TooManyTracks(f"a participant may publish at most {limit} tracks, not {count}")
        for published in added:
            codec = published.codec
            if codec.name.lower() == "opus" and (codec.clock_rate, codec.channels) != (48000, 2):
                # RFC 7587 §7: Opus is always signalled as opus/48000/2
                raise UnsupportedCodec(
                    f"opus/{codec.clock_rate}/{codec.channels} is not opus/48000/2"
                )
        gone_ids = {track.producer.id for track in gone}
        keys: dict[str, set[tuple[str, int, int, tuple[tuple[str, str], ...]]]] = {
            "audio": {MIX_CODEC.key()},
            "video": set(),
        }
        for producer in self.router.producers.values():
            if producer.id not in gone_ids:
                keys.setdefault(producer.codec.kind, set()).add(producer.codec.key())
        for published in added:
            kind = published.codec.kind
            keys.setdefault(kind, set()).add(published.codec.key())
            room = PAYLOAD_TYPE_CAPACITY.get(kind, 0)
            if len(keys[kind]) > room:
                raise UnsupportedCodec(
                    f"this room already carries {room} distinct {kind} codecs; "
                    f"publish one of them instead of {published.codec.name}"
                )

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
            rids=published.rids,
            rtx_payload_type=published.rtx_payload_type,
        )
        transport.add_producer(producer, published.rtx_ssrc)
        return self.add_track(participant, producer)

    def add_phone(
        self,
        participant: Participant,
        transport: PlainTransport,
        *,
        codec: str,
        payload_type: int,
        clock_rate: int,
        ptime_ms: int,
        audio_level_id: int | None = None,
    ) -> Producer:
        """Give a joined phone participant its audio: a producer and a mix output.

        The producer is fed by ``transport`` (each packet parsed once, by the transport) and
        is forwarded and mixed like any audio track; the phone hears the mix minus itself in
        ``codec`` at ``ptime_ms`` (20 if the mixer cannot make that packet time for the
        codec), sent through :meth:`PlainTransport.send_mix`. :meth:`leave` undoes both.
        """
        producer = phone_producer(
            participant.id, codec, payload_type, clock_rate, self.clock, audio_level_id
        )
        self.add_track(participant, producer)
        self.ensure_audio().mixer.add_output(
            participant.id,
            codec,
            payload_type,
            transport.ssrc,
            drop_packet,
            own_input_id=producer.id,
            ptime_ms=mix_ptime(codec, ptime_ms),
            sink=transport,
        )
        transport.receiver = producer
        return producer

    def add_track(self, participant: Participant, producer: Producer) -> Track:
        """Make a producer one of the participant's tracks: mixed, forwarded, announced.

        A track from a source a moderator muted (:attr:`Participant.moderator_muted`)
        starts muted, and its owner is told so (``trackMuted`` by ``"moderator"``).
        """
        held = producer.source in participant.moderator_muted
        if held:
            producer.set_muted(True)
        self.router.add_producer(producer)
        track = Track(id=producer.id, kind=producer.kind, source=producer.source, producer=producer)
        participant.tracks[track.id] = track
        participant.tracks_by_mid[producer.mid] = track
        if producer.kind == "audio":
            self._tap_speaker(participant.id, producer)
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
        if held:
            participant.listener.event(
                {
                    "type": "trackMuted",
                    "participantId": participant.id,
                    "trackId": track.id,
                    "muted": True,
                    "by": "moderator",
                }
            )
        return track

    def _unpublish(self, participant: Participant, track: Track, *, notify: bool) -> None:
        producer = track.producer
        participant.tracks.pop(track.id, None)
        participant.tracks_by_mid.pop(producer.mid, None)
        transport = participant.send_transport
        if transport is not None:
            transport.remove_producer(producer)
        for other in self.participants.values():
            if other is not participant and other.unsubscribe(producer.id):
                other.listener.renegotiate()
        tapped = self._speaker_taps.pop(producer.id, None)
        if tapped is not None:
            producer.remove_tap(tapped[1])
        if self.audio is not None:
            self.audio.remove_producer(producer)
        self.router.remove_producer(producer.id)
        if notify:
            self._broadcast(
                {"type": "trackUnpublished", "participantId": participant.id, "trackId": track.id},
                exclude=participant,
            )

    def set_muted(
        self, participant: Participant, track_id: str, muted: bool, *, by: str | None = None
    ) -> bool:
        """Mute or unmute one of the participant's tracks; False if it has no such track.

        A muted track is neither forwarded nor mixed (see :meth:`Producer.set_muted`).
        Everyone, the participant included, gets ``trackMuted`` with ``by``: who did it
        (the participant's own id by default, or ``"moderator"``).
        """
        track = participant.tracks.get(track_id)
        if track is None:
            return False
        if muted and by == "moderator":
            participant.moderator_muted.add(track.source)
        elif not muted:
            participant.moderator_muted.discard(track.source)
        if track.producer.muted != muted:
            track.producer.set_muted(muted)
            if self.audio is not None:
                self.audio.set_muted(track.producer, muted)
            self._broadcast(
                {
                    "type": "trackMuted",
                    "participantId": participant.id,
                    "trackId": track_id,
                    "muted": muted,
                    "by": by or participant.id,
                }
            )
        return True

    def talking(self, participant: Participant) -> bool:
        """Speaking now: a loud RFC 6464 level lately, or one of the mixer's talkers."""
        now = self.clock()
        hold = self.config.talking_hold
        talkers = self.audio.mixer.talkers if self.audio is not None else ()
        for track in participant.tracks.values():
            producer = track.producer
            if producer.kind != "audio" or producer.muted:
                continue
            if producer.talking(now, hold) or producer.id in talkers:
                return True
        return False

    def set_views(self, participant: Participant, views: dict[str, TrackView]) -> None:
        """How ``participant``'s page shows the remote tracks (signaling ``setViews``)."""
        participant.set_views(views)

    def receive_stats(self, participant: Participant) -> dict[str, Any]:
        """What ``participant`` is sent: estimate, allocation, per-track counters."""
        return participant.receive_stats()

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
            # a browser's jitter buffer fills a gap with comfort noise: no need to encode
            # and send silence, so a mix nobody speaks in costs nothing
            silent_when_idle=True,
        )

    def _talkers_changed(self, input_ids: list[str]) -> None:
        """The mixer's talkers feed the speaker detector (phones send no audio level)."""
        speakers: list[str] = []
        for input_id in input_ids:
            producer = self.router.producers.get(input_id)
            if producer is not None and producer.owner_id not in speakers:
                speakers.append(producer.owner_id)
        self.speakers.talkers(speakers)

    # -- the dominant speaker ---------------------------------------------------------------
    def _tap_speaker(self, participant_id: str, producer: Producer) -> None:
        """Feed the detector with this audio producer's RFC 6464 levels, per packet."""
        feed = self.speakers.level
        clock = self.clock

        def tap(data: bytes, header: RtpHeader, level: bytes | None) -> None:
            if level:
                feed(participant_id, level[0], clock())

        producer.add_tap(tap)
        self._speaker_taps[producer.id] = (producer, tap)

    @property
    def dominant_speaker(self) -> str | None:
        """The participant id holding the floor, or None until someone spoke."""
        return self.speakers.dominant

    def speaker_rank(self, participant_id: str, receiver_id: str | None = None) -> int:
        """0 for the dominant speaker, then 1, 2, ... by recency of speech;
        :data:`snapconf.conference.speakers.NEVER_SPOKE` for someone who never spoke.

        As seen by ``receiver_id``, its own voice does not count: when it holds the floor
        itself, the most recent other speaker is its 0 (the one it sees on stage, as a
        conference page never puts its own camera there).
        """
        rank = self.speakers.rank(participant_id)
        if (
            receiver_id is not None
            and rank != NEVER_SPOKE
            and self.speakers.rank(receiver_id) < rank
        ):
            rank -= 1
        return rank

    def tick_speakers(self) -> None:
        """Run the speaker detector (every ~200 ms, see :class:`Conferences`) and tell
        everyone what changed: ``dominantSpeaker`` and ``activeSpeakers``."""
        change = self.speakers.tick(self.clock())
        if change is None or self.closed:
            return
        if change.dominant_changed and change.dominant is not None:
            self._broadcast({"type": "dominantSpeaker", "participantId": change.dominant})
        if change.active_changed:
            self._broadcast({"type": "activeSpeakers", "participantIds": list(change.active)})

    # -- chat and raised hands ----------------------------------------------------------------
    def send_chat(self, sender: Participant, text: str, to: str | None = None) -> dict[str, Any]:
        """Post a chat message to everyone, or privately to the participant ``to``.

        The others (or only ``to``) get the ``chat`` event; the sender's copy is returned
        (its page shows it from that). Refusals raise with a stable code: ``bad_message``
        (empty text, or ``to`` is the sender or a phone, which cannot read),
        ``unknown_participant``, ``chat_too_long``, ``chat_rate_limited``; nothing is sent.
        """
        recipient: Participant | None = None
        if to is not None:
            recipient = self.participants.get(to)
            if recipient is None:
                raise UnknownParticipant(f"participant {to[:32]} is not in this conference")
            if recipient is sender:
                raise BadMessage("to is your own participant id")
            if recipient.kind == "phone":
                raise BadMessage("to is a phone, which cannot read messages")
        message = self.chat.post(
            sender.id,
            sender.display_name,
            text,
            to=None if recipient is None else recipient.id,
            to_name=None if recipient is None else recipient.display_name,
        )
        event = {"type": "chat", **message.describe()}
        if recipient is None:
            self._broadcast(event, exclude=sender)
        else:
            recipient.listener.event(event)
        return dict(event)

    def chat_history(self, participant: Participant) -> list[dict[str, Any]]:
        """The kept messages ``participant`` may read (public, or its own private ones)."""
        return [m.describe() for m in self.chat.history_for(participant.id)]

    def set_hand(
        self, participant: Participant, raised: bool, *, by: Participant | None = None
    ) -> dict[str, Any]:
        """Raise or lower ``participant``'s hand; ``by`` a moderator lowering it for them.

        Returns the ``handRaised`` event for whoever asked (``by``, or the participant);
        everyone else gets it when the queue changed. Only a moderator may lower another's
        hand (``not_moderator``), and nobody raises another's (``bad_message``).
        """
        actor = by or participant
        if actor is not participant:
            if raised:
                raise BadMessage("only the participant may raise its own hand")
            if actor.role != "moderator":
                raise NotModerator("only a moderator may lower another participant's hand")
        changed = self.hands.set(participant.id, raised)
        participant.hand_raised = raised
        event = {
            "type": "handRaised",
            "participantId": participant.id,
            "raised": raised,
            "by": actor.id,
            "queue": self.hands.queue,
        }
        if changed:
            log.info(
                "conference %s: %s %s a hand (%d raised)",
                self.name,
                participant.id,
                "raised" if raised else "lowered",
                len(self.hands),
            )
            self._broadcast(event, exclude=actor)
        return dict(event)

    def lower_hand(self, moderator: Participant, participant_id: str) -> dict[str, Any]:
        """A moderator (or the participant itself) lowers ``participant_id``'s hand."""
        participant = self.participants.get(participant_id)
        if participant is None:
            raise UnknownParticipant(f"participant {participant_id[:32]} is not in this conference")
        return self.set_hand(participant, False, by=moderator)

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
        self.moderation.lobby.close(reason)
        for participant in list(self.participants.values()):
            self.leave(participant, reason=reason)
            participant.listener.closed(reason)
        if self.audio is not None:
            self.audio.close(self.mixer_totals)
            self.audio = None
        self.router.close()
