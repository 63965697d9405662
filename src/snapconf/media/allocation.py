"""Per-receiver bandwidth allocation: which layer of which track one receiver is sent.

Pure and synchronous (no asyncio, no clock): the caller runs :func:`allocate` every
~200 ms per receiver with the receiver's bandwidth estimate and what it consumes, and
applies the result (and its own hysteresis) to the consumers. The rules follow Jitsi
Videobridge's ``BandwidthAllocator`` and LiveKit's ``StreamAllocator``:

1. **Audio always**, counted first, and never paused (it is cheap and it is the meeting).
2. **Last-N**: with ``last_n >= 0`` only the ``last_n`` best-ranked camera videos (by
   speaker recency, :attr:`TrackDemand.rank`) are forwarded; screen shares are never cut
   by last-N. Invisible videos are paused.
3. **On stage first**: screen shares, then the dominant speaker, get their lowest layer
   and are raised to their *preferred* layer (the best one at most
   :data:`PREFERRED_HEIGHT` tall that the tile allows) before any other video is given
   anything, as Jitsi does for its on-stage participants.
4. **The lowest layer of every other video**, in priority order, while it fits; the rest
   are paused.
5. **Upgrades** in rounds: each round walks the videos in priority order and raises each
   by one step if the step fits, until a round changes nothing. No video is raised above
   the best layer its tile allows (at most :data:`TILE_OVERSIZE` times the tile's width
   or height), though the lowest spatial layer, at any frame rate, is always allowed.

The budget is the estimate less :data:`HEADROOM` of it, so that the allocation does not
drive the path into its bottleneck queue. :attr:`Allocation.wanted` is what the receiver
would take without the limit (every forwarded video at the best layer its tile allows):
the target when probing for more bandwidth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PRIORITY_AUDIO, PRIORITY_SCREEN, PRIORITY_DOMINANT, PRIORITY_VIDEO, PRIORITY_THUMBNAIL = (
    0,
    1,
    2,
    3,
    4,
)
#: the share of the estimate left unused, so the path is not driven into its queue
HEADROOM = 0.05
#: a layer may be this much wider or taller than the tile that shows it
TILE_OVERSIZE = 1.5
#: on-stage tracks (screen, dominant speaker) are raised up to this height first
PREFERRED_HEIGHT = 360


@dataclass(slots=True, frozen=True)
class LayerOption:
    """One layer a video track can be forwarded at."""

    #: simulcast layer index, 0 = lowest
    spatial: int
    #: temporal layer (VP8 TID) upper bound, 0..2; -1 = all (no temporal layers)
    temporal: int
    #: 0 when unknown
    width: int
    height: int
    #: bps measured on the producer side for this spatial layer up to this temporal layer
    bitrate: int


@dataclass(slots=True)
class TrackDemand:
    """One track a receiver consumes, and how its page shows it."""

    #: the consumer's track id
    key: str
    #: "audio" or "video"
    kind: str
    #: one of the PRIORITY_* constants
    priority: int
    #: ascending bitrate; empty for audio
    options: tuple[LayerOption, ...]
    #: audio: its measured bitrate
    bitrate: int = 0
    #: the page's tile (0 = no limit)
    max_width: int = 0
    max_height: int = 0
    #: an invisible video is paused
    visible: bool = True
    #: speaker recency: 0 = dominant speaker, 1 = the previous one, ...; large = never spoke
    rank: int = 0


@dataclass(slots=True)
class TrackAllocation:
    key: str
    #: None: paused (video only; audio is never paused)
    option: LayerOption | None
    bitrate: int


@dataclass(slots=True)
class Allocation:
    tracks: dict[str, TrackAllocation]
    #: the sum of the chosen bitrates
    allocated: int
    #: what the receiver would take without the limit (the probe target)
    wanted: int


def _tile_options(demand: TrackDemand) -> tuple[LayerOption, ...]:
    """The options the tile allows: none wider or taller than it by TILE_OVERSIZE, but
    always the lowest spatial layer at every frame rate (a small tile limits the
    resolution, never the frame rate)."""
    options = demand.options
    max_w = demand.max_width * TILE_OVERSIZE
    max_h = demand.max_height * TILE_OVERSIZE
    if not max_w and not max_h:
        return options
    lowest = options[0].spatial if options else 0
    return tuple(
        o
        for o in options
        if o.spatial == lowest
        or (not (max_w and o.width > max_w) and not (max_h and o.height > max_h))
    )


def _preferred(options: tuple[LayerOption, ...]) -> int:
    """The index of the best option at most PREFERRED_HEIGHT tall (unknown heights pass)."""
    best = 0
    for i, option in enumerate(options):
        if option.height <= PREFERRED_HEIGHT:
            best = i
    return best


def allocate(estimate: int, demands: Sequence[TrackDemand], last_n: int = -1) -> Allocation:
    """Share ``estimate`` (bps) among ``demands`` (see the module's rules); deterministic."""
    tracks: dict[str, TrackAllocation] = {}
    audio = 0
    videos: list[tuple[int, int, str, tuple[LayerOption, ...]]] = []
    for demand in demands:
        if demand.kind != "video":
            tracks[demand.key] = TrackAllocation(demand.key, None, demand.bitrate)
            audio += demand.bitrate
        elif not demand.visible or not demand.options:
            tracks[demand.key] = TrackAllocation(demand.key, None, 0)
        else:
            videos.append((demand.priority, demand.rank, demand.key, _tile_options(demand)))
    if last_n >= 0:
        cameras = sorted(
            (v for v in videos if v[0] != PRIORITY_SCREEN), key=lambda v: (v[1], v[0], v[2])
        )
        for cut in cameras[last_n:]:
            tracks[cut[2]] = TrackAllocation(cut[2], None, 0)
        kept = {v[2] for v in cameras[:last_n]}
        videos = [v for v in videos if v[0] == PRIORITY_SCREEN or v[2] in kept]
    videos.sort(key=lambda v: (v[0], v[1], v[2]))
    budget = int(estimate * (1.0 - HEADROOM))
    allocated = audio
    wanted = audio + sum(v[3][-1].bitrate for v in videos)
    # chosen[i]: the index into video i's allowed options, -1 = paused
    chosen = [-1] * len(videos)
    # on stage (screen, dominant speaker): lowest, then up to the preferred layer, before
    # any other video gets anything
    for i, (priority, _, _, options) in enumerate(videos):
        if priority > PRIORITY_DOMINANT:
            break
        if allocated + options[0].bitrate > budget:
            continue
        allocated += options[0].bitrate
        chosen[i] = 0
        target = _preferred(options)
        while chosen[i] < target:
            extra = options[chosen[i] + 1].bitrate - options[chosen[i]].bitrate
            if allocated + extra > budget:
                break
            allocated += extra
            chosen[i] += 1
    # the lowest layer of every other video, in priority order, while it fits
    for i, (_, _, _, options) in enumerate(videos):
        if chosen[i] < 0 and allocated + options[0].bitrate <= budget:
            chosen[i] = 0
            allocated += options[0].bitrate
    # upgrades: one step per video per round, in priority order, while any step fits
    changed = True
    while changed:
        changed = False
        for i, (_, _, _, options) in enumerate(videos):
            current = chosen[i]
            if current < 0 or current + 1 >= len(options):
                continue
            extra = options[current + 1].bitrate - options[current].bitrate
            if allocated + extra <= budget:
                chosen[i] = current + 1
                allocated += extra
                changed = True
    for i, (_, _, key, options) in enumerate(videos):
        option = options[chosen[i]] if chosen[i] >= 0 else None
        tracks[key] = TrackAllocation(key, option, option.bitrate if option else 0)
    return Allocation(tracks=tracks, allocated=allocated, wanted=wanted)
