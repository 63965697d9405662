"""Participant: a browser peer (two WebRTC transports), a phone call or a server agent."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from snapconf.conference.receiver import ReceiveAllocator
from snapconf.media.router import Consumer, ConsumerExtensions, Producer, Router
from snapconf.media.sdp import LocalEndpoint, ReceiveSession, SdpError
from snapconf.media.server import MediaServer
from snapconf.media.transport import WebRtcTransport

log = logging.getLogger(__name__)


#: the receive m-section of the conference mix, in "mix" audio mode
MIX_KEY = "mix"


class ParticipantListener(Protocol):
    """Where a participant's events go (its signaling session, a SIP leg, a test)."""

    def event(self, message: dict[str, Any]) -> None:
        """Deliver one protocol event (see docs/signaling.md)."""
        ...

    def renegotiate(self) -> None:
        """The receive transport's m-sections changed: a new offer is due."""
        ...

    def closed(self, reason: str) -> None:
        """The participant was removed by the server (transport died, kicked, room ended)."""
        ...


class _Detached:
    """The listener of a participant whose page is reconnecting: what happens meanwhile
    is not queued (its page learns the room's state again when it resumes)."""

    def event(self, message: dict[str, Any]) -> None:
        pass

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        pass


#: the listener of a seat held for a page that is reconnecting (Conference.hold_seat)
DETACHED: ParticipantListener = _Detached()


@dataclass(slots=True)
class Track:
    """A published track as others see it."""

    id: str
    kind: str
    source: str
    producer: Producer

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "muted": self.producer.muted,
        }


@dataclass(slots=True, frozen=True)
class TrackView:
    """How a receiving page shows one remote video track (signaling ``setViews``).

    The allocator never sends a layer larger than the tile (``width`` x ``height`` in
    device pixels; 0 when unknown) and pauses a track nobody can see.
    """

    visible: bool = True
    width: int = 0
    height: int = 0


class Participant:
    """One member of a conference, with its transports, tracks and subscriptions."""

    def __init__(
        self,
        *,
        display_name: str,
        role: str = "participant",
        kind: str = "browser",
        listener: ParticipantListener,
        clock: Callable[[], float],
        participant_id: str | None = None,
    ) -> None:
        self.id = participant_id or "p" + secrets.token_hex(5)
        self.display_name = display_name
        self.role = role
        self.kind = kind
        self.listener = listener
        self.clock = clock
        self.joined_at = clock()
        self.tracks: dict[str, Track] = {}  # by track id
        self.tracks_by_mid: dict[str, Track] = {}
        self.consumers: dict[str, Consumer] = {}  # by producer id
        self.send_transport: WebRtcTransport | None = None
        self.recv_transport: WebRtcTransport | None = None
        self.receive_session = ReceiveSession()
        #: "tracks": one forwarded track per remote audio; "mix": one mixed audio track
        self.audio_mode = "tracks"
        #: the mixed track was accepted by the browser (its m-section key is ``MIX_KEY``)
        self.mix_ready = False
        #: (mid, reason) of the publish m-sections rejected and logged already
        self.rejected_logged: set[tuple[str, str]] = set()
        #: producers not received because no payload type was left to map their codec
        self.unmapped_tracks = 0
        #: how the page shows each remote track, by track id (absent: visible, any size)
        self.views: dict[str, TrackView] = {}
        #: shares the receive transport's estimate among the consumers (see receiver.py)
        self.allocator = ReceiveAllocator(self.consumers, lambda: self.views)
        #: a raised hand (the order is the conference's HandQueue)
        self.hand_raised = False
        #: sources ("microphone", "camera", "screen") a moderator muted and the participant
        #: has not unmuted: a track published again from one of them (after a reconnection)
        #: starts muted, so a reconnection never undoes a moderator's mute
        self.moderator_muted: set[str] = set()
        #: the page's socket dropped and its seat is held (Conference.hold_seat), until
        #: ``seat_timer`` ends it or the page resumes with ``resume_token``
        self.reconnecting = False
        self.seat_timer: asyncio.TimerHandle | None = None
        self.resume_token = secrets.token_urlsafe(24)
        self.closed = False

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "kind": self.kind,
            "role": self.role,
            "tracks": [t.describe() for t in self.tracks.values()],
            "handRaised": self.hand_raised,
            "reconnecting": self.reconnecting,
        }

    def local_endpoint(self, transport: WebRtcTransport, server: MediaServer) -> LocalEndpoint:
        return LocalEndpoint(
            ice_ufrag=transport.ice_ufrag,
            ice_pwd=transport.ice_pwd,
            fingerprint=server.certificate.fingerprint,
            candidates=server.candidate_addresses,
        )

    # -- subscriptions ------------------------------------------------------------------
    def subscribe(self, router: Router, producer: Producer) -> Consumer | None:
        """Create a paused consumer of ``producer`` on our receive transport."""
        transport = self.recv_transport
        if transport is None or transport.closed or producer.id in self.consumers:
            return None
        if producer.kind == "audio" and self.audio_mode == "mix":
            return None
        session = self.receive_session
        try:
            payload_type = session.payload_type_for(producer.codec)
        except SdpError:
            # the room keeps its codecs within the pools, so this is a stale session at
            # worst: this one track is not received, the join or publish goes on
            self.unmapped_tracks += 1
            if self.unmapped_tracks == 1:
                log.warning("participant %s: no payload type for %s", self.id, producer.codec)
            return None
        consumer = router.consume(
            producer,
            sink=transport,
            mid="",
            payload_types={producer.payload_type: payload_type},
            cname=producer.owner_id,
            clock=self.clock,
        )
        slot = session.add(
            consumer_key=producer.id,
            kind=producer.kind,
            codec=producer.codec,
            ssrc=consumer.ssrc,
            cname=producer.owner_id,
            stream_id=producer.owner_id,
            track_id=producer.id,
            rtx_ssrc=secrets.randbits(32) | 1 if producer.kind == "video" else 0,
        )
        consumer.mid = slot.mid
        consumer.rtx_ssrc = slot.rtx_ssrc
        consumer.on_error = self._consumer_failed
        transport.consumers_by_ssrc[consumer.ssrc] = consumer
        self.consumers[producer.id] = consumer
        return consumer

    def unsubscribe(self, producer_id: str) -> bool:
        consumer = self.consumers.pop(producer_id, None)
        if consumer is None:
            return False
        consumer.close()
        if self.recv_transport is not None:
            self.recv_transport.consumers_by_ssrc.pop(consumer.ssrc, None)
            self.recv_transport.server.retired_forwarded_packets += consumer.stats.packets
        self.receive_session.remove(producer_id)
        return True

    def apply_receive_answer(self, sdp: str) -> None:
        """Apply the browser's answer; resume accepted consumers once DTLS is up."""
        answer = self.receive_session.apply_answer(sdp)
        transport = self.recv_transport
        assert transport is not None
        if answer.accepted:
            transport.set_remote(answer.remote_ufrag, answer.remote_fingerprints)
        for key in answer.refused:
            if key == MIX_KEY:
                self.mix_ready = False
            self.unsubscribe(key)
        if MIX_KEY in answer.accepted:
            self.mix_ready = True
        for key, extension_ids in answer.accepted.items():
            consumer = self.consumers.get(key)
            if consumer is None:
                continue
            extensions = ConsumerExtensions.from_map(extension_ids)
            consumer.set_extensions(extensions)
            if extensions.transport_cc:
                # the browser will tell what arrived when: estimate on the send side
                consumer.transport_cc = transport.enable_estimation()
            slot = self.receive_session.slot(key)
            consumer.rtx_payload_type = (
                slot.rtx_payload_type if slot is not None and key in answer.rtx else 0
            )
            consumer.negotiated = True
        if transport.connected:
            self.resume_consumers()

    def resume_consumers(self) -> None:
        for consumer in self.consumers.values():
            if consumer.negotiated and consumer.paused and not consumer.suspended:
                consumer.resume()

    def on_receive_tick(self, now: float) -> None:
        """The receive transport's feedback tick: share its estimate among the tracks."""
        transport = self.recv_transport
        if transport is not None and not self.closed:
            self.allocator.tick(transport, now)

    def set_views(self, views: dict[str, TrackView]) -> None:
        """Replace how the page shows the remote tracks (unknown track ids are kept: the
        track may be announced after the page measured its tile)."""
        self.views = dict(views)

    def receive_stats(self) -> dict[str, Any]:
        """What this participant is sent, per track (signaling ``stats``, /metrics)."""
        tracks: dict[str, Any] = {}
        retransmitted = 0
        for key, consumer in self.consumers.items():
            stats = consumer.stats
            retransmitted += stats.retransmitted
            tracks[key] = {
                "kind": consumer.producer.kind,
                "paused": consumer.paused,
                "packets": stats.packets,
                "bytes": stats.bytes,
                "retransmitted": stats.retransmitted,
                "retransmitSkipped": stats.retransmit_skipped,
                "layer": consumer.layer,
                "targetLayer": consumer.target_layer,
                "temporal": consumer.temporal,
                "suspended": consumer.suspended,
            }
        transport = self.recv_transport
        estimator = transport.estimator if transport is not None else None
        return {
            **self.allocator.describe(),
            "estimate": estimator.estimate if estimator is not None else None,
            "bwe": estimator.describe() if estimator is not None else None,
            "pacer": _pacer_stats(transport),
            "uplink": self._uplink_stats(),
            "pausedTracks": sorted(k for k, c in self.consumers.items() if c.suspended),
            "retransmissions": retransmitted,
            "layerSwitches": sum(c.stats.layer_switches for c in self.consumers.values()),
            "tracks": tracks,
        }

    def _uplink_stats(self) -> dict[str, int] | None:
        """What the server makes of this participant's sending: the transport-cc feedback
        written for it, the NACKs sent to it, the RTX it sent (signaling ``stats``)."""
        transport = self.send_transport
        if transport is None or transport.transport_cc_recorder is None:
            return None
        feedback = transport.transport_cc_recorder.stats
        streams = list(transport.streams_by_ssrc.values())
        return {
            "recorded": feedback.recorded,
            "reportedLost": feedback.reported_lost,
            "late": feedback.late,
            "feedbackPackets": feedback.feedback_packets,
            "nacksSent": sum(stream.stats.nacks_sent for stream in streams),
            "rtxIn": transport.stats.rtx_in,
            "rtxPaddingIn": transport.stats.rtx_padding_in,
            "duplicates": sum(stream.stats.duplicates for stream in streams),
        }

    def send_mix(self, packet: bytes) -> None:
        """Send one packet of the conference mix, once the browser accepted the track."""
        transport = self.recv_transport
        if self.mix_ready and transport is not None and transport.connected:
            transport.send_rtp(packet)

    def _consumer_failed(self, consumer: Consumer, exc: Exception) -> None:
        # counted by the consumer; log only the first failure of each consumer
        if consumer.stats.errors == 1:
            log.warning("participant %s: consumer %s failed: %s", self.id, consumer.id, exc)

    def close_transports(self) -> None:
        for transport in (self.send_transport, self.recv_transport):
            if transport is not None:
                transport.close("participant left")


def _pacer_stats(transport: WebRtcTransport | None) -> dict[str, Any] | None:
    """What the pacer of a receive transport did (signaling ``stats``)."""
    pacer = transport.pacer if transport is not None else None
    if pacer is None:
        return None
    stats = pacer.stats
    return {
        "rate": int(pacer.rate),
        "queue": pacer.queued,
        "queued": stats.queued,
        "dropped": stats.dropped,
        "maxDelay": round(stats.max_delay, 4),
    }
