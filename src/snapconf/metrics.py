"""``/metrics`` in the Prometheus text exposition format.

Counters live as plain integers on the objects of the packet path (no locking, no
allocation per packet); this module reads them when scraped. A :class:`Registry` renders
the sources registered with it, in order: each source is a function returning its
exposition lines. ``app.py`` registers the conferences', the signaling's, the audio
bridges' and the SIP gateway's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from snapconf.conference import Conferences
from snapconf.dialin.gateway import SipGateway
from snapconf.media.mixer.stats import MixerStats
from snapconf.media.server import MediaServer
from snapconf.signaling.session import SignalingStats

#: one source of metrics: its exposition lines, read when scraped
Source = Callable[[], list[str]]


class Registry:
    """The sources ``/metrics`` renders."""

    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self.sources: list[Source] = list(sources)

    def add(self, source: Source) -> None:
        self.sources.append(source)

    def render(self) -> str:
        out: list[str] = []
        for source in self.sources:
            out += source()
        return "\n".join(out) + "\n"


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def _single(name: str, kind: str, help_text: str, value: float) -> list[str]:
    return _metric(name, kind, help_text, [_line(name, value)])


def _labelled(
    name: str, help_text: str, label: str, values: dict[str, int], empty: str
) -> list[str]:
    """A metric with one sample per label value (one zero sample when there are none)."""
    samples = [_line(name, n, {label: v}) for v, n in sorted(values.items())]
    return _metric(name, "counter", help_text, samples or [_line(name, 0, {label: empty})])


def conference_source(conferences: Conferences, media: MediaServer) -> Source:
    """Conferences, participants, streams and the media port's counters."""
    return lambda: _conference_lines(conferences, media)


def signaling_source(stats: SignalingStats) -> Source:
    """The WebSocket signaling's counters."""
    return lambda: _signaling_lines(stats)


def mixer_source(conferences: Conferences) -> Source:
    """The audio bridges' counters: closed bridges' totals plus the live ones."""
    return lambda: _mixer_lines(conferences)


def sip_source(gateway: SipGateway) -> Source:
    """The SIP gateway's calls and counters."""
    return lambda: _sip_lines(gateway)


def _conference_lines(all_conferences: Conferences, media: MediaServer) -> list[str]:
    conferences = list(all_conferences)
    participants = [p for c in conferences for p in c.participants.values()]
    producers = [t.producer for p in participants for t in p.tracks.values()]
    consumers = [c for p in participants for c in p.consumers.values()]
    datagrams_out, bytes_out = media.totals_out()
    kinds: dict[str, int] = {}
    for p in participants:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    forwarded = media.retired_forwarded_packets + sum(c.stats.packets for c in consumers)
    singles = [
        ("snapconf_conferences", "gauge", "Conferences open.", len(conferences)),
        ("snapconf_producers", "gauge", "Incoming media streams.", len(producers)),
        ("snapconf_consumers", "gauge", "Outgoing media streams.", len(consumers)),
        ("snapconf_media_datagrams_in_total", "counter",
         "UDP datagrams received on the media port.", media.datagrams_in),
        ("snapconf_media_datagrams_out_total", "counter",
         "UDP datagrams sent from the media port.", datagrams_out),
        ("snapconf_media_bytes_in_total", "counter",
         "Bytes received on the media port.", media.bytes_in),
        ("snapconf_media_bytes_out_total", "counter",
         "Bytes sent from the media port.", bytes_out),
        ("snapconf_rtp_forwarded_packets_total", "counter",
         "RTP packets forwarded to consumers.", forwarded),
        ("snapconf_consumer_errors_total", "counter",
         "Send failures counted at consumers (present consumers).",
         sum(c.stats.errors for c in consumers)),
    ]  # fmt: skip
    out: list[str] = []
    for name, kind, help_text, value in singles:
        out += _single(name, kind, help_text, value)
    participants_samples = [
        _line("snapconf_participants", n, {"kind": k}) for k, n in sorted(kinds.items())
    ] or [_line("snapconf_participants", 0, {"kind": "browser"})]
    out += _metric(
        "snapconf_participants", "gauge", "Participants present, by kind.", participants_samples
    )
    out += _receiver_lines(conferences)
    out += _labelled(
        "snapconf_media_dropped_total",
        "Datagrams dropped on the media port, by reason.",
        "reason",
        dict(media.drops),
        "none",
    )
    return out


_RECEIVER_METRICS = (
    ("snapconf_receiver_estimate_bps", "gauge",
     "Send-side bandwidth estimate towards each browser (transport-cc), bit/s."),
    ("snapconf_receiver_allocated_bps", "gauge",
     "Bitrate of the layers chosen for each browser, bit/s."),
    ("snapconf_receiver_paused_tracks", "gauge",
     "Videos paused for each browser because they do not fit its estimate."),
    ("snapconf_receiver_retransmissions_total", "counter",
     "Packets retransmitted to each browser on its NACKs."),
    ("snapconf_receiver_layer_switches_total", "counter",
     "Simulcast layer switches made for each browser."),
    ("snapconf_receiver_padding_bytes_total", "counter",
     "Padding bytes sent to each browser to probe for bandwidth."),
)  # fmt: skip


def _receiver_lines(conferences: list[Any]) -> list[str]:
    """Per browser: what it is sent (labels: conference name, participant id)."""
    samples: list[list[str]] = [[] for _ in _RECEIVER_METRICS]
    for conference in conferences:
        for participant in conference.participants.values():
            if participant.recv_transport is None:
                continue
            stats = participant.receive_stats()
            labels = {"conference": conference.name, "participant": participant.id}
            values = (
                stats["estimate"] or 0,
                stats["allocated"],
                len(stats["pausedTracks"]),
                stats["retransmissions"],
                stats["layerSwitches"],
                stats["paddingBytes"],
            )
            for i, value in enumerate(values):
                samples[i].append(_line(_RECEIVER_METRICS[i][0], value, labels))
    out: list[str] = []
    for (name, kind, help_text), lines in zip(_RECEIVER_METRICS, samples, strict=True):
        if lines:
            out += _metric(name, kind, help_text, lines)
    return out


def _signaling_lines(sig: SignalingStats) -> list[str]:
    singles = [
        ("snapconf_signaling_sessions_total", "counter",
         "WebSocket sessions opened.", sig.sessions),
        ("snapconf_signaling_messages_in_total", "counter",
         "Signaling messages received.", sig.messages_in),
        ("snapconf_signaling_messages_out_total", "counter",
         "Signaling messages sent.", sig.messages_out),
        ("snapconf_signaling_outbox_overflows_total", "counter",
         "WebSockets closed because the client stopped reading (send queue full).",
         sig.outbox_overflows),
        ("snapconf_signaling_media_timeouts_total", "counter",
         "Participants removed because no media transport connected in time.",
         sig.media_timeouts),
    ]  # fmt: skip
    out: list[str] = []
    for name, kind, help_text, value in singles:
        out += _single(name, kind, help_text, value)
    out += _labelled(
        "snapconf_signaling_errors_total",
        "Signaling errors answered, by code.",
        "code",
        dict(sig.errors),
        "none",
    )
    out += _labelled(
        "snapconf_signaling_refused_total",
        "WebSocket upgrades refused, by reason.",
        "reason",
        dict(sig.refused),
        "none",
    )
    return out


_MIXER_GAUGES = {"tick_ns_max"}
_MIXER_HELP = {
    "ticks": "Audio bridge ticks run.",
    "overruns": "Audio bridge ticks that ended after the next tick's deadline.",
    "late_ticks": "Audio bridge ticks started late and caught up.",
    "skipped_ticks": "Audio bridge ticks skipped after a long stall.",
    "decodes": "Audio frames decoded by the bridges.",
    "encodes": "Audio frames encoded by the bridges.",
    "packets_in": "RTP packets pushed into the bridges.",
    "packets_out": "RTP packets sent by the bridges.",
}


def _mixer_lines(conferences: Conferences) -> list[str]:
    live = [c.audio.mixer.stats.as_dict() for c in conferences if c.audio is not None]
    totals = conferences.mixer_totals
    out = _single("snapconf_mixers", "gauge", "Audio bridges running.", len(live))
    names = list(live[0]) if live else list(MixerStats().as_dict())
    for name in names:
        if name in _MIXER_GAUGES:
            continue
        value = totals.get(name, 0) + sum(stats[name] for stats in live)
        help_text = _MIXER_HELP.get(name, f"Audio bridge counter {name}.")
        out += _single(f"snapconf_mixer_{name}_total", "counter", help_text, value)
    return out


def _sip_lines(gateway: SipGateway) -> list[str]:
    lines = _single("snapconf_sip_calls", "gauge", "Phone calls in progress.", gateway.active_calls)
    samples = [
        _line("snapconf_sip_events_total", count, {"event": event})
        for event, count in sorted(gateway.stats.items())
    ]
    return lines + _metric(
        "snapconf_sip_events_total", "counter", "SIP gateway counters, by event.", samples
    )
