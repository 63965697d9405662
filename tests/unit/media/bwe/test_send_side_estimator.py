import pytest

from snapconf.media.bwe import BweConfig, SendSideEstimator
from snapconf.rtp.twcc import RtcpTransportCc


def _feedback(base: int, arrivals: list[int | None], reference: int = 100) -> RtcpTransportCc:
    return RtcpTransportCc(1, 2, base, reference, 0, arrivals)


def test_before_any_feedback_the_estimate_is_the_start_bitrate_within_the_bounds() -> None:
    assert SendSideEstimator().estimate == 1_000_000
    config = BweConfig(start_bitrate=50_000, min_bitrate=100_000)
    assert SendSideEstimator(config).estimate == 100_000
    assert SendSideEstimator(BweConfig(start_bitrate=20_000_000)).estimate == 10_000_000


def test_a_remb_caps_the_estimate() -> None:
    estimator = SendSideEstimator()
    estimator.on_remb(300_000, 1.0)
    assert estimator.estimate == 300_000
    estimator.on_remb(5_000_000, 2.0)
    assert estimator.estimate == 1_000_000
    assert estimator.stats.remb_updates == 2


def test_without_transport_cc_receiver_reports_raise_the_estimate_or_cut_it_on_loss() -> None:
    estimator = SendSideEstimator()
    for second in range(1, 6):
        estimator.on_loss_report(0, float(second))
    grown = estimator.estimate
    assert grown > 1_000_000
    estimator.on_loss_report(77, 6.0)  # 30 % lost
    assert estimator.estimate < 0.9 * grown
    assert estimator.stats.loss_decreases == 1


def test_feedback_is_matched_to_sent_packets_and_losses_are_counted() -> None:
    estimator = SendSideEstimator()
    for seq in range(65530, 65536):
        estimator.on_sent(seq, 1000, 10.0 + (seq - 65530) * 0.001)
    for seq in range(4):
        estimator.on_sent(seq, 1000, 10.006 + seq * 0.001)
    arrivals: list[int | None] = [20_000 + i * 1000 for i in range(10)]
    arrivals[3] = None
    estimator.on_feedback(_feedback(65530, arrivals), 10.1)
    assert (estimator.stats.packets_acked, estimator.stats.packets_lost) == (9, 1)
    # round trip: smoothed from 100 ms towards now - the last acknowledged send (91 ms)
    assert estimator.rtt == pytest.approx(0.875 * 0.1 + 0.125 * 0.091)
    # the lost packet reported received later is no longer lost; repeats are not counted twice
    estimator.on_feedback(_feedback(65533, [23_000]), 10.2)
    assert (estimator.stats.packets_acked, estimator.stats.packets_lost) == (10, 0)


def test_feedback_for_sequence_numbers_never_sent_is_ignored() -> None:
    estimator = SendSideEstimator()
    estimator.on_feedback(_feedback(5, [0]), 1.0)
    estimator.on_sent(10, 1000, 1.0)
    estimator.on_feedback(_feedback(20, [0]), 1.1)
    estimator.on_feedback(_feedback(9, [0, 1000]), 1.1)
    assert estimator.stats.feedback_ignored == 2
    assert estimator.stats.packets_unknown == 1
    assert estimator.stats.packets_acked == 1


def test_probing_asks_for_padding_at_twice_then_three_times_the_estimate_and_then_waits() -> None:
    estimator = SendSideEstimator(BweConfig(probe_duration=0.03))
    assert estimator.probe_bytes(0.0, 1_000_000) == 0  # the target already fits
    asked = [estimator.probe_bytes(t / 1000, 5_000_000) for t in range(0, 70, 5)]
    # cluster 1 at 2 Mbit/s for 30 ms (7500 bytes), then cluster 2 at 3 Mbit/s (11250 bytes)
    assert sum(asked[:6]) == 7500
    assert sum(asked[6:12]) == 11250  # the call at 30 ms ends cluster 1 and starts cluster 2
    assert estimator.stats.probes_sent == 2
    assert estimator.probe_bytes(1.0, 5_000_000) == 0  # next session after probe_interval
    estimator.on_sent(0, 1000, 1.0)
    estimator.on_feedback(_feedback(0, [0]), 1.1)  # the receiver answers transport-cc
    assert estimator.probe_bytes(5.1, 5_000_000) > 0


def test_a_probe_delivered_at_its_rate_raises_the_estimate_at_once() -> None:
    estimator = SendSideEstimator(BweConfig(probe_duration=0.03))
    seq = 0
    arrivals: list[int | None] = []
    for tick in range(0, 70, 5):
        now = tick / 1000
        padding = estimator.probe_bytes(now, 5_000_000)
        while padding > 0:
            size = min(padding, 1200)
            estimator.on_sent(seq, size, now, probe=True)
            arrivals.append(20_000 + tick * 1000)  # the path takes it all: same spacing
            seq += 1
            padding -= size
    estimator.on_sent(seq, 100, 0.08)  # ends the second cluster
    arrivals.append(100_000)
    estimator.on_feedback(_feedback(0, arrivals), 0.2)
    assert estimator.stats.probe_successes >= 1
    assert estimator.estimate > 2_000_000


def test_a_caller_asking_every_50_ms_gets_each_cluster_as_one_train_sized_by_dispersion() -> None:
    estimator = SendSideEstimator(BweConfig(probe_duration=0.03))
    seq = 0
    arrivals: list[int | None] = []
    trains = []
    for tick in range(0, 200, 50):
        now = tick / 1000
        padding = estimator.probe_bytes(now, 5_000_000)
        trains.append(padding)
        arrival = 20_000 + tick * 1000
        while padding > 0:
            size = min(padding, 270)
            estimator.on_sent(seq, size, now, probe=True)
            arrivals.append(arrival)
            arrival += size * 8 * 1_000_000 // 4_000_000  # a 4 Mbit/s bottleneck spaces them
            seq += 1
            padding -= size
    # the first call knows nothing of the rhythm yet (5 ms of 2 Mbit/s); the second sends the
    # whole 3 Mbit/s cluster (30 ms) at once
    assert trains == [1250, 11250, 0, 0]
    estimator.on_feedback(_feedback(0, arrivals), 0.3)
    # both trains arrived spaced at 4 Mbit/s: each cluster's rate fits
    assert estimator.stats.probe_successes == 2
    assert estimator.estimate == 3_000_000


def test_a_receiver_that_never_answers_is_probed_once_only() -> None:
    estimator = SendSideEstimator()
    first = sum(estimator.probe_bytes(t / 1000, 5_000_000) for t in range(0, 100, 5))
    assert first > 0
    later = sum(estimator.probe_bytes(10 + t / 1000, 5_000_000) for t in range(0, 100, 5))
    assert later == 0
    assert estimator.stats.probes_sent == 2
