"""``/metrics`` in the Prometheus text exposition format.

Counters live as plain integers on the objects of the packet path (no locking, no
allocation per packet); this module reads them when scraped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from snapconf.media.mixer.stats import MixerStats

if TYPE_CHECKING:
    from snapconf.app import Server
    from snapconf.conference import Conference


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render(server: Server) -> str:
    conferences = list(server.conferences)
    participants = [p for c in conferences for p in c.participants.values()]
    producers = [t.producer for p in participants for t in p.tracks.values()]
    consumers = [c for p in participants for c in p.consumers.values()]
    media = server.media
    datagrams_out, bytes_out = media.totals_out()
    kinds: dict[str, int] = {}
    for p in participants:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    forwarded = media.retired_forwarded_packets + sum(c.stats.packets for c in consumers)
    consumer_errors = sum(c.stats.errors for c in consumers)
    out: list[str] = []
    out += _metric(
        "snapconf_conferences",
        "gauge",
        "Conferences open.",
        [_line("snapconf_conferences", len(conferences))],
    )
    out += _metric(
        "snapconf_participants",
        "gauge",
        "Participants present, by kind.",
        [_line("snapconf_participants", n, {"kind": k}) for k, n in sorted(kinds.items())]
        or [_line("snapconf_participants", 0, {"kind": "browser"})],
    )
    out += _metric(
        "snapconf_producers",
        "gauge",
        "Incoming media streams.",
        [_line("snapconf_producers", len(producers))],
    )
    out += _metric(
        "snapconf_consumers",
        "gauge",
        "Outgoing media streams.",
        [_line("snapconf_consumers", len(consumers))],
    )
    out += _metric(
        "snapconf_media_datagrams_in_total",
        "counter",
        "UDP datagrams received on the media port.",
        [_line("snapconf_media_datagrams_in_total", media.datagrams_in)],
    )
    out += _metric(
        "snapconf_media_datagrams_out_total",
        "counter",
        "UDP datagrams sent from the media port.",
        [_line("snapconf_media_datagrams_out_total", datagrams_out)],
    )
    out += _metric(
        "snapconf_media_bytes_in_total",
        "counter",
        "Bytes received on the media port.",
        [_line("snapconf_media_bytes_in_total", media.bytes_in)],
    )
    out += _metric(
        "snapconf_media_bytes_out_total",
        "counter",
        "Bytes sent from the media port.",
        [_line("snapconf_media_bytes_out_total", bytes_out)],
    )
    out += _metric(
        "snapconf_rtp_forwarded_packets_total",
        "counter",
        "RTP packets forwarded to consumers.",
        [_line("snapconf_rtp_forwarded_packets_total", forwarded)],
    )
    out += _metric(
        "snapconf_consumer_errors_total",
        "counter",
        "Send failures counted at consumers (present consumers).",
        [_line("snapconf_consumer_errors_total", consumer_errors)],
    )
    out += _metric(
        "snapconf_media_dropped_total",
        "counter",
        "Datagrams dropped on the media port, by reason.",
        [
            _line("snapconf_media_dropped_total", n, {"reason": r})
            for r, n in sorted(media.drops.items())
        ]
        or [_line("snapconf_media_dropped_total", 0, {"reason": "none"})],
    )
    sig = server.signaling_stats
    out += _metric(
        "snapconf_signaling_sessions_total",
        "counter",
        "WebSocket sessions opened.",
        [_line("snapconf_signaling_sessions_total", sig.sessions)],
    )
    out += _metric(
        "snapconf_signaling_messages_in_total",
        "counter",
        "Signaling messages received.",
        [_line("snapconf_signaling_messages_in_total", sig.messages_in)],
    )
    out += _metric(
        "snapconf_signaling_messages_out_total",
        "counter",
        "Signaling messages sent.",
        [_line("snapconf_signaling_messages_out_total", sig.messages_out)],
    )
    errors: dict[str, int] = dict(sig.errors or {})
    out += _metric(
        "snapconf_signaling_errors_total",
        "counter",
        "Signaling errors answered, by code.",
        [
            _line("snapconf_signaling_errors_total", n, {"code": c})
            for c, n in sorted(errors.items())
        ]
        or [_line("snapconf_signaling_errors_total", 0, {"code": "none"})],
    )
    out += _mixer_metrics(server, conferences)
    for extra in server.metric_sources:
        out += extra()
    return "\n".join(out) + "\n"


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


def _mixer_metrics(server: Server, conferences: list[Conference]) -> list[str]:
    """The audio bridges' counters: closed bridges' totals plus the live ones."""
    live = [c.audio.mixer.stats.as_dict() for c in conferences if c.audio is not None]
    totals = server.conferences.mixer_totals
    out = _metric(
        "snapconf_mixers", "gauge", "Audio bridges running.", [_line("snapconf_mixers", len(live))]
    )
    names = list(live[0]) if live else list(MixerStats().as_dict())
    for name in names:
        if name in _MIXER_GAUGES:
            continue
        value = totals.get(name, 0) + sum(stats[name] for stats in live)
        metric = f"snapconf_mixer_{name}_total"
        help_text = _MIXER_HELP.get(name, f"Audio bridge counter {name}.")
        out += _metric(metric, "counter", help_text, [_line(metric, value)])
    return out
