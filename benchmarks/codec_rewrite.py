"""Micro-benchmark of the per-packet codec helpers of rtp/: VP8 descriptor parse and rewrite,
keyframe detection, RTX wrap and unwrap, on real aiortc-encoded payloads.

Each figure is the best over ``--runs`` of the time per call over ``--calls`` calls (the
best, not the median: on a shared 2-vCPU host the others measure the neighbours), in one
process, no I/O: what the forwarding path adds per video packet on top of its header
rewrite (1.1-1.7 µs, see /work/shared/ARCHITECTURE.md). ``--instructions`` counts instead,
with valgrind's callgrind, the user-space instructions per call, which the neighbours do
not change.

    python benchmarks/codec_rewrite.py --runs 7 --calls 200000
    python benchmarks/codec_rewrite.py --instructions
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _repo_root  # noqa: F401  (puts the repository root on sys.path)

from snapconf.rtp.h264 import h264_keyframe
from snapconf.rtp.packet import build_rtp_packet, parse_rtp_header
from snapconf.rtp.rtx import unwrap_rtx, wrap_rtx
from snapconf.rtp.vp8 import Vp8Rewriter, parse_vp8


def _cases(vp8: bytes, h264: bytes) -> dict[str, Callable[[], object]]:
    d = parse_vp8(vp8)
    rewriter = Vp8Rewriter()
    rewriter.rewrite(vp8, d)
    rewriter.switch()
    packet = build_rtp_packet(
        payload_type=96,
        sequence_number=1,
        timestamp=2,
        ssrc=3,
        payload=vp8,
        extensions=[(3, b"\x00\x01"), (4, b"0")],
    )
    header = parse_rtp_header(packet)
    rtx = wrap_rtx(packet, header, 97, 9, 4)
    rtx_header = parse_rtp_header(rtx)
    # two frames in turn: every call is a frame's first packet (the descriptor changes)
    frames = [vp8[:2] + bytes((0x80 | (i >> 8), i & 0xFF)) + vp8[4:] for i in (1000, 1001)]
    descriptors = [parse_vp8(f) for f in frames]
    turn = [0]

    def first_packets() -> object:
        i = turn[0] = 1 - turn[0]
        return rewriter.rewrite(frames[i], descriptors[i])

    return {
        "parse_vp8": lambda: parse_vp8(vp8),
        "Vp8Rewriter.rewrite, a frame's first packet": first_packets,
        "Vp8Rewriter.rewrite, later packets": lambda: rewriter.rewrite(vp8, d),
        "Vp8Rewriter.rewrite_descriptor, later": lambda: rewriter.rewrite_descriptor(vp8, d),
        "parse_vp8 + rewrite": lambda: rewriter.rewrite(vp8, parse_vp8(vp8)),
        "h264_keyframe (FU-A)": lambda: h264_keyframe(h264),
        "wrap_rtx": lambda: wrap_rtx(packet, header, 97, 9, 4),
        "unwrap_rtx": lambda: unwrap_rtx(rtx, rtx_header, 96, 3),
        "bytes(payload) copy, for reference": lambda: bytes(bytearray(vp8)),
    }


def _payloads() -> tuple[bytes, bytes]:
    from tests.support.video import encoded_frames  # av and aiortc: only where needed

    return encoded_frames("VP8")[0][1], encoded_frames("H264")[0][1]


def _time(fn: Callable[[], object], calls: int, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def _instructions(vp8: bytes, h264: bytes, names: list[str]) -> None:
    """Run the cases under callgrind for two lengths; print instructions per call."""
    lengths = (2000, 6000)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vp8").write_bytes(vp8)
        (Path(tmp) / "h264").write_bytes(h264)
        for name in names:
            counts = []
            for length in lengths:
                run = subprocess.run(
                    [
                        "valgrind",
                        "--tool=callgrind",
                        f"--callgrind-out-file={tmp}/out",
                        sys.executable,
                        __file__,
                        "--child",
                        tmp,
                        name,
                        str(length),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                found = re.search(r"Collected : (\d+)", run.stderr)
                if found is None:
                    raise SystemExit(f"callgrind printed no count:\n{run.stderr}")
                counts.append(int(found.group(1)))
            per_call = (counts[1] - counts[0]) / (lengths[1] - lengths[0])
            print(f"{name:46s} {per_call:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # under callgrind: the payloads from files, then this many calls
        folder, name, length = args.child
        fn = _cases(Path(folder, "vp8").read_bytes(), Path(folder, "h264").read_bytes())[name]
        for _ in range(int(length)):
            fn()
        return
    vp8, h264 = _payloads()
    names = args.case or list(_cases(vp8, h264))
    if args.instructions:
        print(f"payload {len(vp8)} bytes; user-space instructions per call (callgrind)")
        _instructions(vp8, h264, names)
        return
    print(f"payload {len(vp8)} bytes; µs per call, best of {args.runs} runs of {args.calls}")
    for name, fn in _cases(vp8, h264).items():
        if name not in names:
            continue
        print(f"{name:46s} {_time(fn, args.calls, args.runs):6.3f}")


if __name__ == "__main__":
    main()
