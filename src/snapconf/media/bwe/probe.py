"""Probe clusters: bursts sent above the estimate to find spare capacity (libwebrtc's prober).

A probing session is a few clusters (by default 2x and 3x the estimate, capped at the target),
each ``probe_duration`` long. Everything sent while a cluster runs (media and padding) belongs
to it. A caller that asks for padding less often than a cluster lasts gets each cluster as
one train, which the bottleneck spaces at its own rate (packet-pair dispersion). When feedback
for the cluster's packets has come back, its result is the rate the receiver got —
``min(send rate, receive rate)``, or 95 % of the receive rate when the path took less than
90 % of what was sent (it saturated) — and a result above the estimate raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the path is saturated when it delivers less than this fraction of the probe's send rate
SATURATED_RATIO = 0.9
#: a saturated probe's result is this fraction of its receive rate
SATURATED_UTILISATION = 0.95
#: packets of a cluster that must be sent and acknowledged for a result
MIN_PACKETS = 4
#: a session whose last cluster got at least this fraction of its rate is followed by another
PROBE_FURTHER_RATIO = 0.7


@dataclass(slots=True)
class ProbeCluster:
    """One cluster: what was asked, sent and acknowledged (times in seconds, ms for arrivals)."""

    id: int
    rate: float
    start: float
    end: float
    last_of_session: bool
    requested: int = 0
    media_bytes: int = 0
    sent_count: int = 0
    sent_bytes: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    last_size: int = 0
    last_sequence: int = -1
    recv_count: int = 0
    recv_bytes: int = 0
    first_arrival: float = 0.0
    first_arrival_size: int = 0
    last_arrival: float = 0.0
    finished: bool = False

    def sent(self, sequence: int, size: int, now: float) -> None:
        if self.sent_count == 0:
            self.first_send = now
        self.sent_count += 1
        self.sent_bytes += size
        self.last_send = now
        self.last_size = size
        self.last_sequence = sequence

    def received(self, arrival_ms: float, size: int) -> None:
        if self.recv_count == 0 or arrival_ms < self.first_arrival:
            self.first_arrival = arrival_ms
            self.first_arrival_size = size
        if self.recv_count == 0 or arrival_ms > self.last_arrival:
            self.last_arrival = arrival_ms
        self.recv_count += 1
        self.recv_bytes += size

    def result(self) -> float | None:
        """The rate (bit/s) the path delivered, or None when the cluster tells nothing."""
        if self.sent_count < MIN_PACKETS or self.recv_count < MIN_PACKETS:
            return None
        send_interval = self.last_send - self.first_send
        receive_interval = (self.last_arrival - self.first_arrival) / 1000
        if not 0 <= send_interval <= 1.0 or not 0 < receive_interval <= 1.0:
            return None
        receive_rate = (self.recv_bytes - self.first_arrival_size) * 8 / receive_interval
        if send_interval == 0:
            # sent as one train: the bottleneck spaced it at its rate (packet dispersion)
            return min(self.rate, SATURATED_UTILISATION * receive_rate)
        send_rate = (self.sent_bytes - self.last_size) * 8 / send_interval
        if receive_rate < SATURATED_RATIO * send_rate:
            return SATURATED_UTILISATION * receive_rate
        return min(send_rate, receive_rate)
