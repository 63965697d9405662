"""The acknowledged rate over the window, and the peak over a short span of it."""

from snapconf.media.bwe.acked import AckedBitrateEstimator


def test_a_burst_through_an_idle_link_shows_as_the_peak_not_in_the_window_rate() -> None:
    acked = AckedBitrateEstimator(window=0.5)
    now = 0.0
    # 300 ms of a trickle: a 100-byte packet every 20 ms (40 kbit/s)
    for _ in range(15):
        acked.update(now, 100)
        now += 20.0
    # then a keyframe drained by a 600 kbit/s bottleneck: 1200 bytes every 16 ms, 150 ms
    for _ in range(10):
        acked.update(now, 1200)
        now += 16.0
    window = acked.bitrate
    peak = acked.peak_bitrate()
    assert window is not None and peak is not None
    assert 200_000 < window < 300_000
    assert 560_000 <= peak <= 640_000


def test_too_few_packets_give_no_rate() -> None:
    acked = AckedBitrateEstimator()
    for i in range(5):
        acked.update(i * 10.0, 1000)
    assert acked.bitrate is None and acked.peak_bitrate() is None
