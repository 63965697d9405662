"""Transport-cc and send-side estimation engine benchmark: CPU per call, no sockets.

An *engine* benchmark: it drives the pure objects of ``snapconf.rtp.twcc`` and
``snapconf.media.bwe`` in one process, with generated sequence numbers and times, and measures
CPU time (:func:`time.process_time_ns`) per call; the figure for each is the median of
``--runs`` runs.

- ``TransportCcRecorder.record``: once per packet received from a publisher.
- ``TransportCcRecorder.feedback``: one call covering 100 packets (every 25th lost), the
  serialised packet included.
- ``SendSideEstimator.on_sent``: once per packet sent to a receiver.
- ``parse_rtcp`` of a 100-packet feedback, then ``SendSideEstimator.on_feedback`` of it (the
  estimator update: matching, groups, trendline, AIMD, loss and probe accounting).

Run: ``python benchmarks/bwe.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import statistics
import time

import _repo_root  # noqa: F401  (same import path as the tests)

from snapconf.media.bwe import SendSideEstimator
from snapconf.rtp.rtcp import parse_rtcp
from snapconf.rtp.twcc import RtcpTransportCc, TransportCcRecorder

PER_FEEDBACK = 100


def bench_record(packets: int) -> float:
    recorder = TransportCcRecorder(1, 2)
    record = recorder.record
    arrivals = [i * 0.0005 for i in range(PER_FEEDBACK)]
    rounds = packets // PER_FEEDBACK
    spent = 0
    seq = 0
    for r in range(rounds):
        base = r * PER_FEEDBACK * 0.0005
        start = time.process_time_ns()
        for arrival in arrivals:
            record(seq & 0xFFFF, base + arrival)
            seq += 1
        spent += time.process_time_ns() - start
        recorder.feedback()
    return spent / 1000 / (rounds * PER_FEEDBACK)


def bench_feedback(calls: int) -> float:
    recorder = TransportCcRecorder(1, 2)
    spent = 0
    seq = 0
    for r in range(calls):
        for i in range(PER_FEEDBACK):
            if i % 25 != 7:
                recorder.record(seq & 0xFFFF, r * 0.05 + i * 0.0005)
            seq += 1
        start = time.process_time_ns()
        recorder.feedback()
        spent += time.process_time_ns() - start
    return spent / 1000 / calls


def bench_on_sent(packets: int) -> float:
    estimator = SendSideEstimator()
    on_sent = estimator.on_sent
    times = [i * 0.0005 for i in range(1000)]
    spent = 0
    seq = 0
    for r in range(packets // 1000):
        base = r * 0.5
        start = time.process_time_ns()
        for t in times:
            on_sent(seq & 0xFFFF, 1200, base + t)
            seq += 1
        spent += time.process_time_ns() - start
    return spent / 1000 / (packets // 1000 * 1000)


def _feedback_packets(calls: int) -> list[tuple[list[float], bytes]]:
    """Per round: the send times of 100 packets and the feedback bytes that cover them."""
    recorder = TransportCcRecorder(1, 2)
    rounds = []
    seq = 0
    for r in range(calls):
        sends = [r * 0.05 + i * 0.0005 for i in range(PER_FEEDBACK)]
        for i, sent in enumerate(sends):
            if i % 25 != 7:
                # a queue that slowly builds and drains: arrival spacing varies around the send's
                recorder.record((seq + i) & 0xFFFF, sent + 0.02 + 0.002 * ((r + i // 10) % 5))
        seq += PER_FEEDBACK
        [data] = recorder.feedback()
        rounds.append((sends, data))
    return rounds


def bench_on_feedback(calls: int) -> tuple[float, float]:
    rounds = _feedback_packets(calls)
    estimator = SendSideEstimator()
    parse_spent = update_spent = 0
    seq = 0
    for sends, data in rounds:
        for sent in sends:
            estimator.on_sent(seq & 0xFFFF, 1200, sent)
            seq += 1
        now = sends[-1] + 0.06
        start = time.process_time_ns()
        [packet] = parse_rtcp(data)
        middle = time.process_time_ns()
        assert isinstance(packet, RtcpTransportCc)
        estimator.on_feedback(packet, now)
        end = time.process_time_ns()
        parse_spent += middle - start
        update_spent += end - middle
    assert estimator.stats.packets_acked > 0
    return parse_spent / 1000 / calls, update_spent / 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--packets", type=int, default=100_000, help="packets per run")
    parser.add_argument("--feedbacks", type=int, default=1000, help="feedback calls per run")
    args = parser.parse_args()
    results: dict[str, list[float]] = {
        "TransportCcRecorder.record (per packet)": [],
        "TransportCcRecorder.feedback (100 packets)": [],
        "SendSideEstimator.on_sent (per packet)": [],
        "parse_rtcp of a 100-packet feedback": [],
        "SendSideEstimator.on_feedback (100 packets)": [],
    }
    names = list(results)
    for _ in range(args.runs):
        results[names[0]].append(bench_record(args.packets))
        results[names[1]].append(bench_feedback(args.feedbacks))
        results[names[2]].append(bench_on_sent(args.packets))
        parse, update = bench_on_feedback(args.feedbacks)
        results[names[3]].append(parse)
        results[names[4]].append(update)
    print(f"engine benchmark, CPU µs per call, median of {args.runs} runs (min-max)")
    print("| call | µs | range |")
    print("| --- | --- | --- |")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")


if __name__ == "__main__":
    main()
