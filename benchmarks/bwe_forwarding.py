"""What a forwarder's receiver estimate does behind a short queue: a simulation, no sockets.

An SFU is application-limited and bursty: it sends what its allocation chose, when the
publishers' packets arrive, keyframes included. This runs
:func:`tests.support.bwe_sim.simulate_forwarding` (six voices and one video of 50/100/150
kbit/s with an 8 kB keyframe every 3 s and at each layer change, into a bottleneck with a
60 ms drop-tail queue, feedback every 50-100 ms) with and without the pacer, over several
seeds, and prints the estimate, the video layer the allocation could keep, the bottleneck's
drops and the pacer's longest wait. Deterministic: the figures do not depend on the machine.

    python benchmarks/bwe_forwarding.py
    python benchmarks/bwe_forwarding.py --capacity 600000 --seconds 40 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics

from tests.support.bwe_sim import simulate_forwarding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacity", type=int, default=600_000, help="bottleneck bit/s")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--factors", default="0,1.2,2.5", help="pacing factors to compare (0: no pacer)"
    )
    args = parser.parse_args()
    print(
        f"| pacing | estimate median (min-max), kbit/s | video kbit/s (median) | "
        f"bottleneck drops | overuse events | pacer's longest wait |  ({args.capacity // 1000}"
        f" kbit/s, 60 ms queue, {args.seconds:g} s, steady state from 10 s, {args.seeds} seeds)"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for factor in (float(f) for f in args.factors.split(",")):
        estimates: list[int] = []
        video: list[int] = []
        drops = sent = overuse = 0
        longest = 0.0
        for seed in range(1, args.seeds + 1):
            result = simulate_forwarding(
                args.capacity, args.seconds, pacing_factor=factor, seed=seed
            )
            estimates += result.between(10.0, args.seconds)
            video += [v for t, v in result.video if t >= 10.0]
            assert result.link is not None and result.estimator is not None
            drops += result.link.queue_drops
            sent += result.link.sent
            overuse += result.estimator.stats.overuse_events
            longest = max(longest, result.pacer_max_delay)
        print(
            f"| {'none' if factor == 0 else f'{factor:g} x'} "
            f"| {statistics.median(estimates) / 1000:.0f} ({min(estimates) / 1000:.0f}-"
            f"{max(estimates) / 1000:.0f}) | {statistics.median(video) / 1000:.0f} "
            f"| {drops / sent:.2%} | {overuse / args.seeds:.0f} per run "
            f"| {longest * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
