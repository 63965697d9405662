"""Settings of the send-side bandwidth estimator (one per receiver transport)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class BweConfig:
    """Send-side estimator settings; defaults follow draft-ietf-rmcat-gcc-02 and libwebrtc."""

    #: bit/s assumed before any feedback
    start_bitrate: int = 1_000_000
    #: the estimate never goes below this (bit/s)
    min_bitrate: int = 100_000
    #: the estimate never goes above this (bit/s)
    max_bitrate: int = 10_000_000
    #: sent packets remembered for matching feedback (a power of two)
    history_size: int = 8192
    #: packets sent within this many seconds form one inter-arrival group (gcc-02 §5.2)
    burst_interval: float = 0.005
    #: delay samples in the trendline regression window
    trendline_window: int = 20
    #: exponential smoothing of the accumulated delay before the regression
    trendline_smoothing: float = 0.9
    #: gain applied to the slope before it is compared with the threshold
    trendline_gain: float = 4.0
    #: initial adaptive threshold (ms), and its bounds (gcc-02 §5.4)
    threshold_initial: float = 12.5
    threshold_min: float = 6.0
    threshold_max: float = 600.0
    #: threshold adaptation rates when the trend is above (up) and below (down) it
    threshold_k_up: float = 0.0087
    threshold_k_down: float = 0.039
    #: milliseconds the trend must stay above the threshold to signal overuse
    overuse_time: float = 10.0
    #: multiplicative decrease factor applied to the acknowledged bitrate (gcc-02 §6)
    beta: float = 0.85
    #: multiplicative increase per second far from the known link capacity (gcc-02 §6)
    increase_per_second: float = 0.08
    #: round-trip time (seconds) assumed before one is measured
    initial_rtt: float = 0.1
    #: lost fraction under which the loss-based limit grows and over which it shrinks
    loss_low: float = 0.02
    loss_high: float = 0.10
    #: packets (sent with transport-cc) a loss measurement needs
    loss_min_packets: int = 20
    #: mean queueing delay (seconds above the lowest one-way delay) that, with losses over
    #: ``loss_low``, means a standing drop-tail queue: the limit drops under what it delivers
    standing_queue: float = 0.03
    #: seconds between probing sessions while the estimate is under the target
    probe_interval: float = 5.0
    #: rates of the clusters of one probing session, as multiples of the estimate
    probe_multipliers: tuple[float, ...] = (2.0, 3.0)
    #: seconds one probe cluster lasts
    probe_duration: float = 0.03
    #: seconds after which a probe cluster without feedback is forgotten
    probe_timeout: float = 1.0
