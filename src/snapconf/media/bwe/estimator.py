"""Send-side bandwidth estimation for one receiver transport (draft-ietf-rmcat-gcc-02).

The SFU stamps a transport-wide sequence number on everything it sends to a browser
(:meth:`SendSideEstimator.on_sent`) and reads the browser's transport-cc feedback
(:meth:`SendSideEstimator.on_feedback`, draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
From the feedback:

- the delay-based estimate: inter-arrival groups, trendline, adaptive threshold
  (:mod:`.delay`) and AIMD (:mod:`.rate`), decreasing to 0.85 x the acknowledged bitrate
  (:mod:`.acked`) on overuse;
- the loss-based limit (gcc-02 §6 "loss-based control", as libwebrtc's classic
  SendSideBandwidthEstimation): lost fraction measured over about a second; above 10 % the limit
  becomes ``estimate x (1 - loss / 2)``, and under ``beta x`` the rate the receiver got when a
  standing drop-tail queue is seen (a full queue hides the delay signal; its losses and its
  spread-out arrivals do not), at most once per 300 ms + RTT; under 2 % it grows 8 %/s
  and disappears once above the delay-based estimate; between, it holds. Random loss under 10 %
  therefore never lowers the estimate by itself;
- probe results (:mod:`.probe`), which raise the estimate at once.

Receivers without transport-cc feed :meth:`SendSideEstimator.on_loss_report` (the RR fraction
lost) instead: under 2 % the estimate grows as AIMD's increase, over 10 % it falls. A receiver's
REMB (:meth:`SendSideEstimator.on_remb`) caps the estimate. Pure and synchronous: the caller
passes the time (seconds, its monotonic clock).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

from snapconf.media.bwe.acked import AckedBitrateEstimator
from snapconf.media.bwe.config import BweConfig
from snapconf.media.bwe.delay import NORMAL, OVERUSING, TrendlineDetector
from snapconf.media.bwe.probe import PROBE_FURTHER_RATIO, ProbeCluster
from snapconf.media.bwe.rate import AimdRateControl
from snapconf.media.bwe.sent import SentLog
from snapconf.rtp.twcc import REFERENCE_US, RtcpTransportCc

_PENDING = 0
_ACKED = 1
_LOST = 2
#: seconds a loss measurement spans; heavy loss (over 20 %) is acted on after a quarter of that
_LOSS_INTERVAL = 1.0
_HEAVY_LOSS = 0.2
_HEAVY_LOSS_INTERVAL = 0.25
_LOSS_REDUCTION_BASE = 0.3
_RTT_SMOOTHING = 0.875
#: seconds of arrivals a delivered-rate measurement needs
_MIN_DELIVERED_SPAN = 0.2
#: seconds of each of the two epochs the lowest one-way delay is taken over
_BASE_DELAY_EPOCH = 10.0
#: the path is saturated when it delivers less than this share of the rate the same packets
#: were sent at (their arrivals spread out: a queue grows)
_SATURATED = 0.8


@dataclass(slots=True)
class BweStats:
    """Counters of one estimator (for /metrics and the signaling ``stats``)."""

    #: transport-cc feedback packets processed
    feedback_packets: int = 0
    #: feedback packets ignored: they cover sequence numbers never sent (or long forgotten)
    feedback_ignored: int = 0
    #: sent packets the feedback reported received, and reported lost
    packets_acked: int = 0
    packets_lost: int = 0
    #: feedback entries for sequence numbers no longer (or never) in the send history
    packets_unknown: int = 0
    #: delay-based updates (one per feedback)
    updates: int = 0
    #: times the detector entered overuse, and delay-based decreases it caused
    overuse_events: int = 0
    delay_decreases: int = 0
    #: loss-based decreases (lost fraction over 10 %)
    loss_decreases: int = 0
    #: RR loss reports and REMB values received
    loss_reports: int = 0
    remb_updates: int = 0
    #: probe clusters started, padding bytes asked for, and results that raised the estimate
    probes_sent: int = 0
    probe_bytes: int = 0
    probe_successes: int = 0


class SendSideEstimator:
    """One per receiver transport: what the path towards that browser can take."""

    def __init__(self, config: BweConfig | None = None) -> None:
        self.config = config = config or BweConfig()
        size = config.history_size
        if size <= 0 or size & (size - 1):
            raise ValueError("bwe history_size is not a power of two")
        self.stats = BweStats()
        self._mask = size - 1
        self._seqs = array("q", [-1]) * size
        self._send_times = array("d", [0.0]) * size
        self._sizes = array("l", [0]) * size
        self._states = array("b", [0]) * size
        self._clusters = array("l", [-1]) * size
        self._last_sent = -1
        self._last16 = 0
        self._detector = TrendlineDetector(config)
        self._rate = AimdRateControl(config)
        self._acked = AckedBitrateEstimator()
        self._rtt = config.initial_rtt
        self._signal = NORMAL
        self._reference = 0
        self._reference_seen = False
        self._transport_cc = False
        self._loss_limit: float | None = None
        self._loss_lost = 0
        self._loss_total = 0
        self._loss_started = -1.0
        self._loss_bytes = 0
        self._loss_received = 0
        self._loss_delay_sum = 0.0
        #: lowest one-way delay (ms, with the clock offset) in this and the previous epoch
        self._base_delay_bucket = math.inf
        self._base_delay_previous = math.inf
        self._base_delay_epoch = -1.0
        self._loss_first_arrival = math.inf
        self._loss_last_arrival = -math.inf
        self._loss_first_send = math.inf
        self._loss_last_send = -math.inf
        self._last_loss_decrease = -math.inf
        self._last_loss_update = -1.0
        self._remb: int | None = None
        self._estimate = 0
        self._active: ProbeCluster | None = None
        self._probes: dict[int, ProbeCluster] = {}
        self._pending_rates: list[float] = []
        self._next_cluster = 0
        self._last_probe = -math.inf
        self._probed = False
        self._probe_further = False
        self._last_probe_call = -math.inf
        self._log: SentLog | None = None
        self._synced = 0
        self._update_estimate()

    @property
    def estimate(self) -> int:
        """What the path can take (bit/s), within [min_bitrate, max_bitrate]."""
        return self._estimate

    @property
    def acked_bitrate(self) -> int | None:
        """The rate the receiver acknowledged (bit/s), once measured."""
        return self._acked.bitrate

    @property
    def rtt(self) -> float:
        """Smoothed round trip (seconds) from send to feedback, including the feedback delay."""
        return self._rtt

    @property
    def loss_fraction(self) -> float:
        """Lost fraction of the last loss measurement (0..1)."""
        return self._last_loss_fraction

    _last_loss_fraction = 0.0

    def describe(self) -> dict[str, object]:
        """The estimate and what it comes from (signaling ``stats``)."""
        stats = self.stats
        return {
            "delayBased": int(self._rate.bitrate),
            "lossLimit": None if self._loss_limit is None else int(self._loss_limit),
            "remb": self._remb,
            "acked": self._acked.bitrate,
            "rtt": round(self._rtt, 4),
            "lossFraction": round(self._last_loss_fraction, 4),
            "feedbackPackets": stats.feedback_packets,
            "overuseEvents": stats.overuse_events,
            "delayDecreases": stats.delay_decreases,
            "lossDecreases": stats.loss_decreases,
            "probesSent": stats.probes_sent,
            "probeSuccesses": stats.probe_successes,
        }

    def on_sent(self, sequence: int, size: int, now: float, probe: bool = False) -> None:
        """A packet of ``size`` bytes left with transport-wide ``sequence`` (16 bits) at ``now``.

        Hot path: stores into preallocated arrays, no object per packet.
        """
        last = self._last_sent
        if last < 0:
            unwrapped = sequence
            self._last_sent = sequence
            self._last16 = sequence
        else:
            diff = (sequence - self._last16) & 0xFFFF
            if diff < 0x8000:
                unwrapped = last + diff
                self._last_sent = unwrapped
                self._last16 = sequence
            else:
                unwrapped = last + diff - 0x10000
        slot = unwrapped & self._mask
        self._seqs[slot] = unwrapped
        self._send_times[slot] = now
        self._sizes[slot] = size
        self._states[slot] = _PENDING
        cluster = self._active
        if cluster is None:
            self._clusters[slot] = -1
            return
        if now >= cluster.end:
            self._finish_cluster()
            self._clusters[slot] = -1
            return
        self._clusters[slot] = cluster.id
        cluster.sent(unwrapped, size, now)
        if not probe:
            cluster.media_bytes += size

    def attach(self, log: SentLog) -> None:
        """Read what is sent from ``log`` (see :mod:`.sent`) instead of :meth:`on_sent`."""
        self._log = log
        self._synced = log.value

    def catch_up(self) -> None:
        """Take in the packets written to the attached log since the last call, in order.

        The loop does what :meth:`on_sent` does, inline, while no probe cluster is open (a
        packet sent during one goes through :meth:`on_sent`, which counts it for the cluster).
        """
        log = self._log
        if log is None:
            return
        end = log.value if log.held < 0 else (log.held - 1) & 0xFFFF
        number = self._synced
        pending = (end - number) & 0xFFFF
        if not pending:
            return
        log_mask = log.mask
        if pending > log_mask:
            number = (end - log_mask) & 0xFFFF  # older entries were overwritten: skipped
        times, sizes, probes = log.times, log.sizes, log.probes
        seqs, send_times, own_sizes, states, clusters = (
            self._seqs,
            self._send_times,
            self._sizes,
            self._states,
            self._clusters,
        )
        mask = self._mask
        while number != end:
            number = (number + 1) & 0xFFFF
            i = number & log_mask
            probe = probes[i]
            if probe:
                probes[i] = 0
            if self._active is not None or self._last_sent < 0:
                self.on_sent(number, sizes[i], times[i], bool(probe))
                continue
            # on_sent's bookkeeping for a packet outside any probe cluster
            diff = (number - self._last16) & 0xFFFF
            if diff < 0x8000:
                unwrapped = self._last_sent + diff
                self._last_sent = unwrapped
                self._last16 = number
            else:
                unwrapped = self._last_sent + diff - 0x10000
            slot = unwrapped & mask
            seqs[slot] = unwrapped
            send_times[slot] = times[i]
            own_sizes[slot] = sizes[i]
            states[slot] = _PENDING
            clusters[slot] = -1
        self._synced = end

    def on_feedback(self, feedback: RtcpTransportCc, now: float) -> None:
        """Process one transport-cc feedback packet received at ``now``."""
        self.catch_up()
        self.stats.feedback_packets += 1
        if self._last_sent < 0 or not feedback.arrivals:
            self.stats.feedback_ignored += 1
            return
        behind = (self._last16 - feedback.base_sequence) & 0xFFFF
        if behind >= 0x8000:
            self.stats.feedback_ignored += 1  # ahead of anything sent
            return
        self._transport_cc = True
        base = self._last_sent - behind
        reference_us = self._unwrap_reference(feedback.reference_time) * REFERENCE_US
        seqs = self._seqs
        states = self._states
        send_times = self._send_times
        sizes = self._sizes
        clusters = self._clusters
        mask = self._mask
        detector = self._detector
        acked = self._acked
        probes = self._probes
        received = lost = unknown = received_bytes = 0
        delay_sum = 0.0
        base_delay = self._base_delay_bucket
        first_arrival = math.inf
        last_arrival = -math.inf
        overuse = False
        latest_send = -1.0
        first_send = math.inf
        seq = base
        for arrival in feedback.arrivals:
            slot = seq & mask
            if seqs[slot] != seq:
                unknown += 1
                seq += 1
                continue
            if arrival is None:
                if states[slot] == _PENDING:
                    states[slot] = _LOST
                    lost += 1
                seq += 1
                continue
            if states[slot] == _ACKED:
                seq += 1
                continue
            if states[slot] == _LOST:
                lost -= 1  # reported lost before, received after all
            states[slot] = _ACKED
            received += 1
            size = sizes[slot]
            send_time = send_times[slot]
            if send_time > latest_send:
                latest_send = send_time
            if send_time < first_send:
                first_send = send_time
            arrival_ms = (reference_us + arrival) / 1000
            received_bytes += size
            if arrival_ms < first_arrival:
                first_arrival = arrival_ms
            if arrival_ms > last_arrival:
                last_arrival = arrival_ms
            acked.update(arrival_ms, size)
            one_way = arrival_ms - send_time * 1000  # plus the clock offset, constant
            delay_sum += one_way
            if one_way < base_delay:
                base_delay = one_way
            detector.packet(send_time * 1000, arrival_ms)
            if detector.state == OVERUSING:
                overuse = True
            cluster_id = clusters[slot]
            if cluster_id >= 0:
                cluster = probes.get(cluster_id)
                if cluster is not None:
                    cluster.received(arrival_ms, size)
            seq += 1
        stats = self.stats
        stats.packets_acked += received
        stats.packets_lost += lost
        stats.packets_unknown += unknown
        if latest_send >= 0:
            sample = now - latest_send
            self._rtt = _RTT_SMOOTHING * self._rtt + (1 - _RTT_SMOOTHING) * sample
        if received:
            self._delay_update(overuse, now)
        if received:
            if first_arrival < self._loss_first_arrival:
                self._loss_first_arrival = first_arrival
            if last_arrival > self._loss_last_arrival:
                self._loss_last_arrival = last_arrival
            if first_send < self._loss_first_send:
                self._loss_first_send = first_send
            if latest_send > self._loss_last_send:
                self._loss_last_send = latest_send
            self._loss_bytes += received_bytes
            self._loss_delay_sum += delay_sum
            self._loss_received += received
            self._base_delay_bucket = base_delay
        self._count_loss(received + lost, lost, now)
        self._probe_results(seq - 1, now)
        self._update_estimate()

    def on_loss_report(self, fraction_lost: int, now: float) -> None:
        """A receiver report's fraction lost (0..255, RFC 3550 §6.4.1) for this path.

        Used only while the receiver sends no transport-cc feedback (its losses are counted
        from the feedback otherwise).
        """
        self.stats.loss_reports += 1
        if self._transport_cc:
            return
        fraction = min(max(fraction_lost, 0), 255) / 256
        if fraction < self.config.loss_low:
            self._rate.update(NORMAL, None, self._rtt, now)
        self._loss_update(fraction, now)
        self._update_estimate()

    def on_remb(self, bitrate: int, now: float) -> None:
        """A receiver's REMB (draft-alvestrand-rmcat-remb): the estimate stays under it."""
        self.stats.remb_updates += 1
        self._remb = max(bitrate, 0)
        self._update_estimate()

    def probe_bytes(self, now: float, target: int) -> int:
        """Padding bytes to send now to find out whether ``target`` bit/s fits; 0 when not probing.

        The caller sends that many bytes of padding (or RTX) at once, each packet reported with
        ``on_sent(..., probe=True)``. Media sent meanwhile counts towards the cluster's rate.
        """
        self.catch_up()
        cluster = self._active
        if cluster is not None and now >= cluster.end:
            self._finish_cluster()
            cluster = None
        if cluster is None:
            if not self._pending_rates and not self._start_session(now, target):
                self._last_probe_call = now
                return 0
            cluster = self._start_cluster(now)
        # pace for the caller's own rhythm: bytes due until its next call (which may be
        # after the cluster's end: then the cluster goes as one train)
        gap = now - self._last_probe_call
        burst = gap if self.config.burst_interval < gap < 1.0 else self.config.burst_interval
        self._last_probe_call = now
        elapsed = now - cluster.start
        duration = cluster.end - cluster.start
        already = cluster.requested + cluster.media_bytes
        due = cluster.rate * min(elapsed + burst, duration) / 8 - already
        if due < 1:
            return 0
        count = int(due)
        cluster.requested += count
        self.stats.probe_bytes += count
        return count

    # -- internals ---------------------------------------------------------------------------

    def _unwrap_reference(self, reference: int) -> int:
        if not self._reference_seen:
            self._reference_seen = True
            self._reference = reference
            return reference
        diff = (reference - self._reference) & 0xFFFFFF
        if diff >= 0x800000:
            diff -= 0x1000000
        self._reference += diff
        return self._reference

    def _delay_update(self, overuse: bool, now: float) -> None:
        stats = self.stats
        stats.updates += 1
        signal = OVERUSING if overuse else self._detector.state
        if signal == OVERUSING and self._signal != OVERUSING:
            stats.overuse_events += 1
        self._signal = signal
        acked = self._acked.bitrate
        if (
            signal == OVERUSING
            and acked is not None
            and not self._rate.time_to_reduce_further(now, self._rtt, acked)
        ):
            return
        delivered = None
        if signal == OVERUSING and acked is not None:
            peak = self._acked.peak_bitrate()
            delivered = acked if peak is None else max(acked, peak)
        if self._rate.update(signal, acked, self._rtt, now, delivered):
            stats.delay_decreases += 1

    def _count_loss(self, total: int, lost: int, now: float) -> None:
        if self._loss_started < 0:
            self._loss_started = now
        self._loss_total += total
        self._loss_lost += lost
        elapsed = now - self._loss_started
        heavy = (
            elapsed >= _HEAVY_LOSS_INTERVAL
            and self._loss_total >= self.config.loss_min_packets
            and self._loss_lost > _HEAVY_LOSS * self._loss_total
        )
        if elapsed < _LOSS_INTERVAL and not heavy:
            return
        if self._loss_total >= self.config.loss_min_packets:
            span = (self._loss_last_arrival - self._loss_first_arrival) / 1000
            delivered = self._loss_bytes * 8 / span if span >= _MIN_DELIVERED_SPAN else None
            send_span = self._loss_last_send - self._loss_first_send
            sent = self._loss_bytes * 8 / send_span if send_span >= _MIN_DELIVERED_SPAN else None
            queue = 0.0
            if self._loss_received:
                base = min(self._base_delay_bucket, self._base_delay_previous)
                queue = (self._loss_delay_sum / self._loss_received - base) / 1000
            fraction = max(self._loss_lost, 0) / self._loss_total
            self._loss_update(fraction, now, delivered, queue, sent)
        if self._base_delay_epoch < 0:
            self._base_delay_epoch = now
        elif now - self._base_delay_epoch >= _BASE_DELAY_EPOCH:
            self._base_delay_previous = self._base_delay_bucket
            self._base_delay_bucket = math.inf
            self._base_delay_epoch = now
        self._loss_total = self._loss_lost = self._loss_bytes = self._loss_received = 0
        self._loss_delay_sum = 0.0
        self._loss_first_arrival = math.inf
        self._loss_last_arrival = -math.inf
        self._loss_first_send = math.inf
        self._loss_last_send = -math.inf
        self._loss_started = now

    def _loss_update(
        self,
        fraction: float,
        now: float,
        delivered: float | None = None,
        queue: float = 0.0,
        sent: float | None = None,
    ) -> None:
        """One loss measurement; ``delivered`` is the rate (bit/s) the receiver got meanwhile,
        ``sent`` the rate the same packets left at, and ``queue`` the mean queueing delay
        (seconds over the lowest one-way delay).

        A standing queue needs the three signs of a saturated drop-tail bottleneck: losses,
        a queueing delay, and arrivals spread out against the sending (``delivered`` under
        :data:`_SATURATED` x ``sent``). Random loss on a path with jitter shows the first two
        and not the third.
        """
        config = self.config
        self._last_loss_fraction = fraction
        standing = (
            fraction >= config.loss_low
            and queue >= config.standing_queue
            and delivered is not None
            and delivered < self._estimate
            and (sent is None or delivered < _SATURATED * sent)
        )
        if fraction > config.loss_high or standing:
            if now - self._last_loss_decrease >= _LOSS_REDUCTION_BASE + self._rtt:
                current = self._estimate if self._loss_limit is None else self._loss_limit
                limit = current * (1 - fraction / 2)
                if standing and delivered is not None:
                    # a full drop-tail queue: its losses are congestion, its delay flat
                    # (no trend); back off under what it delivers so that it drains. Without
                    # a standing queue the losses are random and what was delivered is what
                    # was sent (an SFU sends what its allocation chose, often far under the
                    # estimate): it says nothing of the path
                    limit = min(limit, config.beta * delivered)
                self._loss_limit = max(float(config.min_bitrate), limit)
                self._last_loss_decrease = now
                self.stats.loss_decreases += 1
        elif fraction < config.loss_low and self._loss_limit is not None:
            dt = min(max(now - self._last_loss_update, 0.0), 1.0)
            self._loss_limit = self._loss_limit * (1 + config.increase_per_second) ** dt + 1000
            if self._loss_limit >= self._rate.bitrate:
                self._loss_limit = None
        self._last_loss_update = now

    def _update_estimate(self) -> None:
        config = self.config
        value = self._rate.bitrate
        if self._loss_limit is not None and self._loss_limit < value:
            value = self._loss_limit
        if self._remb is not None and self._remb < value:
            value = self._remb
        self._estimate = int(min(max(value, config.min_bitrate), config.max_bitrate))

    def _start_session(self, now: float, target: int) -> bool:
        estimate = self._estimate
        if target <= estimate * 1.05:
            return False
        if self._probed and not self._transport_cc:
            return False  # no feedback came back: probes would tell nothing
        timeout = self.config.probe_timeout
        for cluster in [c for c in self._probes.values() if now - c.end > timeout]:
            del self._probes[cluster.id]  # never acknowledged
        recent = now - self._last_probe < self.config.probe_interval
        if self._probed and not self._probe_further and recent:
            return False
        rates: list[float] = []
        for multiplier in self.config.probe_multipliers:
            rate = min(multiplier * estimate, float(target), float(self.config.max_bitrate))
            if rate > estimate and (not rates or rate > rates[-1]):
                rates.append(rate)
        self._probed = True
        self._probe_further = False
        self._last_probe = now
        self._pending_rates = rates
        return bool(rates)

    def _start_cluster(self, now: float) -> ProbeCluster:
        rate = self._pending_rates.pop(0)
        cluster = ProbeCluster(
            id=self._next_cluster,
            rate=rate,
            start=now,
            end=now + self.config.probe_duration,
            last_of_session=not self._pending_rates,
        )
        self._next_cluster = (self._next_cluster + 1) & 0x7FFFFFFF
        self._active = cluster
        self._probes[cluster.id] = cluster
        self.stats.probes_sent += 1
        return cluster

    def _finish_cluster(self) -> None:
        if self._active is not None:
            self._active.finished = True
            self._active = None

    def _probe_results(self, highest: int, now: float) -> None:
        if not self._probes:
            return
        for cluster in list(self._probes.values()):
            if not cluster.finished:
                continue
            timed_out = now - cluster.end > self.config.probe_timeout
            if cluster.last_sequence > highest and not timed_out:
                continue
            del self._probes[cluster.id]
            result = cluster.result()
            if result is None:
                continue
            before = self._estimate
            if result <= before:
                continue
            # the path delivered ``result``: the delay-based estimate starts from it, and so
            # does the loss-based limit unless losses are high (as libwebrtc's SetSendBitrate)
            if result > self._rate.bitrate:
                self._rate.set_estimate(result, now)
            lossy = self._last_loss_fraction > self.config.loss_high
            if self._loss_limit is not None and result > self._loss_limit and not lossy:
                self._loss_limit = result
            self._update_estimate()
            if self._estimate <= before:
                continue
            self.stats.probe_successes += 1
            if cluster.last_of_session and result >= PROBE_FURTHER_RATIO * cluster.rate:
                self._probe_further = True
