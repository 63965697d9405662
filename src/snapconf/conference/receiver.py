"""What one receiver is sent: its estimate shared among the tracks it consumes.

Every ``allocation_interval`` the :class:`ReceiveAllocator` of a participant turns its
consumers into :class:`~snapconf.media.allocation.TrackDemand` (the layers each producer
sends now and their measured bitrates, the page's tile for it, the speaker ranking), asks
:func:`~snapconf.media.allocation.allocate` for a choice within the receive transport's
send-side estimate, and applies it: a simulcast layer (switched at its next keyframe), a
VP8 temporal layer, or a pause for a video that does not fit. When the receiver would take
more than the estimate, padding probes on an RTX stream find out whether it can.

Like Jitsi Videobridge's BitrateController: decreases apply at once, an increase only
once the track has not been decreased for ``upgrade_hold`` seconds, so that a path near
its limit does not make the layers flap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapconf.media.allocation import (
    PRIORITY_AUDIO,
    PRIORITY_DOMINANT,
    PRIORITY_SCREEN,
    PRIORITY_THUMBNAIL,
    PRIORITY_VIDEO,
    Allocation,
    LayerOption,
    TrackDemand,
    allocate,
)
from snapconf.media.router import Consumer, Producer

if TYPE_CHECKING:
    from snapconf.media.transport import WebRtcTransport

#: the bitrate assumed for a stream not measured yet (it just started)
UNMEASURED_VIDEO = 150_000
UNMEASURED_AUDIO = 40_000
#: a tile at most this wide (device pixels) is a thumbnail
THUMBNAIL_WIDTH = 240
#: the estimate used for a receiver that gives no feedback at all (no transport-cc, no
#: REMB): what it is sent is then bounded by its tiles only, as before estimation existed
NO_ESTIMATE = 50_000_000
#: padding packets sent at most per tick (each ~270 bytes on the wire)
MAX_PADDING_PACKETS = 40
PADDING_PACKET_BYTES = 270
#: seconds a consumer waits for its target layer's keyframe before asking again
KEYFRAME_RETRY = 1.0


@dataclass(slots=True)
class AllocatorConfig:
    """Per-receiver allocation settings (given by the conference's ``[sfu]`` section)."""

    #: seconds between allocations
    interval: float = 0.2
    #: seconds a track must go without a decrease before it may be increased again
    upgrade_hold: float = 1.0
    #: the most camera videos forwarded to one receiver (the most recent speakers);
    #: -1: no limit
    last_n: int = -1
    #: seconds an on-stage video (screen share, dominant speaker) keeps its lowest layer
    #: while the estimate has no room for it, before it is paused: an estimate dips for a
    #: second when a burst fills a short queue, and a pause costs a freeze and a keyframe
    pause_hold: float = 2.0


@dataclass(slots=True)
class ReceiverStats:
    allocations: int = 0
    #: the last estimate used and what was allocated / wanted, bit/s
    estimate: int = 0
    allocated: int = 0
    wanted: int = 0
    padding_bytes: int = 0
    #: bit/s of retransmissions over the last allocation interval, taken off the estimate
    retransmission_bitrate: int = 0
    #: bit/s sent over the last allocation interval (media, retransmissions, padding)
    sent_bitrate: int = 0
    #: tracks paused because they did not fit, and resumed since
    suspensions: int = 0
    resumptions: int = 0


def _rank_of(participant_id: str) -> int:
    return 0


@dataclass(slots=True)
class ReceiveAllocator:
    """Chooses what each consumer of one receiver sends (see the module docstring)."""

    consumers: dict[str, Consumer]
    views: Callable[[], dict[str, Any]]
    config: AllocatorConfig = field(default_factory=AllocatorConfig)
    #: speaker recency of a participant: 0 for the dominant speaker
    rank: Callable[[str], int] = _rank_of
    stats: ReceiverStats = field(default_factory=ReceiverStats)
    last: Allocation | None = None
    _next: float = 0.0
    #: consumer key -> when its allocation last went down
    _decreased: dict[str, float] = field(default_factory=dict)
    #: consumer key -> the option index chosen last time (-1: paused)
    _levels: dict[str, int] = field(default_factory=dict)
    #: consumer key -> when it last asked for a keyframe of a layer it waits for
    _waiting: dict[str, float] = field(default_factory=dict)
    #: on-stage consumer key -> since when the allocation has had no room for it
    _short: dict[str, float] = field(default_factory=dict)
    #: retransmitted bytes of all consumers at the last allocation, and its time
    _retransmitted: int = 0
    #: bytes sent by all consumers at the last allocation
    _sent: int = 0
    _last_allocation: float = -1.0

    def tick(self, transport: WebRtcTransport, now: float) -> None:
        """Called every media feedback tick; allocates every ``config.interval``."""
        if now >= self._next:
            self._next = now + self.config.interval
            self.reallocate(transport, now)
        pacer = transport.pacer
        if pacer is not None:
            # audio is sent whatever the estimate, and a layer's rate is measured, not
            # promised: the pace carries what is being sent, and spreads only its bursts
            stats = self.stats
            pacer.set_rate(max(self.estimate(transport), stats.allocated, stats.sent_bitrate))
        self._probe(transport, now)

    def estimate(self, transport: WebRtcTransport) -> int:
        estimator = transport.estimator
        if estimator is None:
            return NO_ESTIMATE
        return int(estimator.estimate)

    def reallocate(self, transport: WebRtcTransport, now: float) -> Allocation:
        estimate = self.estimate(transport)
        # what NACKs made us send again since the last allocation is not there for media
        retransmitted = sent = 0
        for c in self.consumers.values():
            retransmitted += c.stats.retransmitted_bytes
            sent += c.stats.bytes + c.stats.padding_bytes
        elapsed = now - self._last_allocation
        rate = 0
        if self._last_allocation >= 0 and elapsed > 0:
            rate = int(max(0, retransmitted - self._retransmitted) * 8 / elapsed)
            self.stats.sent_bitrate = int(max(0, sent - self._sent) * 8 / elapsed)
        self._retransmitted = retransmitted
        self._sent = sent
        self._last_allocation = now
        self.stats.retransmission_bitrate = rate
        estimate = max(0, estimate - rate)
        demands: list[TrackDemand] = []
        options_by_key: dict[str, tuple[LayerOption, ...]] = {}
        on_stage: set[str] = set()
        views = self.views()
        for key, consumer in self.consumers.items():
            if consumer.closed or not consumer.negotiated:
                continue
            demand = self._demand(key, consumer, views.get(key), now)
            demands.append(demand)
            options_by_key[key] = demand.options
            if demand.kind == "video" and demand.priority <= PRIORITY_DOMINANT:
                on_stage.add(key)
        allocation = allocate(estimate, demands, self.config.last_n)
        self.stats.allocations += 1
        self.stats.estimate = estimate
        self.stats.allocated = allocation.allocated
        self.stats.wanted = allocation.wanted
        for key, chosen in allocation.tracks.items():
            video = self.consumers.get(key)
            if video is None or video.producer.kind != "video":
                continue
            option = chosen.option
            options = options_by_key.get(key, ())
            if key in on_stage and option is None and options and not video.suspended:
                since = self._short.setdefault(key, now)
                if now - since < self.config.pause_hold and self._visible(key):
                    option = options[0]  # the lowest layer through a dip of the estimate
            else:
                self._short.pop(key, None)
            self._apply(key, video, option, options, now)
        self.last = allocation
        return allocation

    def _visible(self, key: str) -> bool:
        return bool(getattr(self.views().get(key), "visible", True))

    def _demand(self, key: str, consumer: Consumer, view: Any, now: float) -> TrackDemand:
        producer = consumer.producer
        if producer.kind != "video":
            bitrate = producer.streams[0].current_bitrate(now) or UNMEASURED_AUDIO
            return TrackDemand(key, "audio", PRIORITY_AUDIO, (), bitrate=bitrate)
        width = getattr(view, "width", 0)
        height = getattr(view, "height", 0)
        visible = getattr(view, "visible", True)
        if producer.source == "screen":
            priority = PRIORITY_SCREEN
        elif self.rank(producer.owner_id) == 0:
            priority = PRIORITY_DOMINANT
        elif width and width <= THUMBNAIL_WIDTH:
            priority = PRIORITY_THUMBNAIL
        else:
            priority = PRIORITY_VIDEO
        return TrackDemand(
            key,
            "video",
            priority,
            layer_options(producer, now),
            max_width=width,
            max_height=height,
            visible=visible,
            rank=self.rank(producer.owner_id),
        )

    def _apply(
        self,
        key: str,
        consumer: Consumer,
        option: LayerOption | None,
        options: tuple[LayerOption, ...],
        now: float,
    ) -> None:
        level = options.index(option) if option is not None and option in options else -1
        previous = self._levels.get(key, len(options) if options else 0)
        if level > previous and now - self._decreased.get(key, -1e9) < self.config.upgrade_hold:
            return  # too soon after a decrease: keep what it has
        if level < previous:
            self._decreased[key] = now
        self._levels[key] = level
        if option is None:
            if not consumer.suspended:
                consumer.suspend()
                self.stats.suspensions += 1
            return
        consumer.set_target(option.spatial, option.temporal)
        if consumer.suspended:
            consumer.unsuspend()
            self.stats.resumptions += 1
        if consumer.layer == consumer.target_layer:
            self._waiting.pop(key, None)
        elif now - self._waiting.setdefault(key, now) >= KEYFRAME_RETRY:
            # still no keyframe of the target layer: the request (or the keyframe) was lost
            self._waiting[key] = now
            consumer.request_keyframe()

    def _probe(self, transport: WebRtcTransport, now: float) -> None:
        """Padding on an RTX stream when the receiver would take more than the estimate."""
        estimator = transport.estimator
        allocation = self.last
        if estimator is None or allocation is None or allocation.wanted <= allocation.allocated:
            return
        wanted = allocation.wanted
        budget = estimator.probe_bytes(now, wanted)
        if budget <= 0:
            return
        packets = min(MAX_PADDING_PACKETS, max(1, budget // PADDING_PACKET_BYTES))
        pacer = transport.pacer
        if pacer is not None and not pacer.allow(packets * PADDING_PACKET_BYTES):
            return  # media waits in the pacer: the path has no spare room to measure now
        for consumer in self.consumers.values():
            if consumer.rtx_payload_type and not consumer.paused:
                self.stats.padding_bytes += consumer.send_padding(packets, now)
                return

    def describe(self) -> dict[str, Any]:
        """For the signaling ``stats`` and /metrics."""
        stats = self.stats
        return {
            "estimate": stats.estimate,
            "allocated": stats.allocated,
            "wanted": stats.wanted,
            "paddingBytes": stats.padding_bytes,
            "retransmissionBitrate": stats.retransmission_bitrate,
            "sentBitrate": stats.sent_bitrate,
        }


def layer_options(producer: Producer, now: float) -> tuple[LayerOption, ...]:
    """What a video producer can be received as, cheapest first: the lowest layer at one
    and two temporal layers (a lower frame rate before a lower resolution), then each
    simulcast layer whole.

    Only the layers the publisher sends now are offered: a browser leaves out the layers
    its camera is too small for or its own estimate has no room for, and a consumer sent
    towards one of those would wait for a keyframe that never comes. When none is sending
    (it has not started, or a still screen share sends nothing for a while) the lowest
    layer seen is offered, so that what comes next is forwarded. A layer costs at least
    what the one below costs: measured windows differ (keyframes), the order does not.
    """
    streams = [stream for stream in producer.streams if stream.active(now)]
    if not streams:
        seen = [stream for stream in producer.streams if stream.stats.packets]
        streams = list(seen or producer.streams)[:1]
    options: list[LayerOption] = []
    floor = 0
    for stream in streams:
        bitrate = stream.current_bitrate(now) or UNMEASURED_VIDEO * (stream.layer + 1) ** 2
        width, height = stream.frame_size
        if stream is streams[0] and len(stream.temporal_bitrates) == 3:
            for tid in (0, 1):
                rate = stream.temporal_bitrates[tid]
                if 0 < rate < bitrate and rate > floor:
                    options.append(LayerOption(stream.layer, tid, width, height, rate))
                    floor = rate
        floor = max(floor + 1, bitrate)
        options.append(LayerOption(stream.layer, -1, width, height, floor))
    return tuple(options)
