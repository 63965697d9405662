"""Room quality through an impaired link: what one receiver behind a bottleneck gets.

A real ``snapconf serve`` announces 127.0.0.2 as its ICE candidate while it listens on
127.0.0.1; the impairment relay (tests/support/netrelay.py) listens on 127.0.0.2 at the
media port, so every page's media goes through it. N Chromium room pages publish a camera
(Chromium's fake device, or the generated 1280x720 ``.y4m`` with ``--camera y4m``) and
microphone; one more page, the receiver, joins last, and its receive connection's
downlink (found by the local address of its selected candidate pair, which is the source
address the relay sees) gets the bottleneck: ``--down-rate`` with a ``--queue-ms`` tail-drop
queue, ``--loss``, and an optional ``--schedule`` of rate changes (``20:5M``: 5 Mbit/s
from 20 s after the measurement starts).

After ``--warmup`` seconds it measures ``--seconds`` seconds and prints, per remote video
of the receiver: received bitrate, frame width, frames decoded per second, freezeCount,
packets lost, NACKs sent, PLIs sent, retransmitted packets received (RTX); the audio
tracks decoded; the receive pair's availableIncomingBitrate; and, from the relay, what the
server sent towards the receiver and the share dropped at the bottleneck. With a schedule
it also prints those figures for each segment between two changes.

    python benchmarks/room_quality.py --publishers 3 --down-rate 600k --queue-ms 60 --seconds 30
    python benchmarks/room_quality.py --publishers 3 --down-rate 600k --schedule 20:5M --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _repo_root  # noqa: F401  (tests.* below)
from tests.e2e.browsers import ChromiumBrowser, RoomPage, Server
from tests.support.netrelay import DOWN, LinkConfig, LinkStats, Relay, parse_rate, parse_schedule
from tests.support.y4m import camera_file

RELAY_ADDRESS = "127.0.0.2"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--down-rate", type=parse_rate, default=parse_rate("600k"))
    parser.add_argument("--queue-ms", type=float, default=60.0)
    parser.add_argument("--loss", type=float, default=0.0, help="random loss on the downlink")
    parser.add_argument("--up-loss", type=float, default=0.0, help="random loss on the uplinks")
    parser.add_argument("--schedule", default="", help="downlink rate changes: 20:5M,40:600k")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring")
    parser.add_argument("--camera", choices=("fake", "y4m"), default="fake")
    parser.add_argument(
        "--camera-size", default="1280x720", help="the generated .y4m's WIDTHxHEIGHT (x16)"
    )
    parser.add_argument("--fps", type=int, default=0, help="the fake device's frame rate")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print the server's estimate towards the receiver every half second",
    )
    return parser.parse_args()


def _delta(before: dict[str, Any], after: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """Per remote track of ``after``: rates and counts since ``before``."""
    old = {t["trackId"]: t for t in before["tracks"]}
    rows = []
    for t in after["tracks"]:
        b = old.get(t["trackId"], {})

        def d(key: str, t: dict[str, Any] = t, b: dict[str, Any] = b) -> float:
            return float(t[key] - b.get(key, 0))

        rows.append(
            {
                "participant": t["participantId"],
                "kind": t["kind"],
                "kbps": d("bytes") * 8 / seconds / 1000,
                "width": t["width"],
                "fps": d("frames") / seconds,
                "freezes": d("freezes"),
                "lost": d("lost"),
                "nacks": d("nacks"),
                "plis": d("plis"),
                "rtx": d("retransmitted"),
                "samples": d("samples"),
            }
        )
    return rows


_PUBLISHED_JS = """async () => {
    const out = [];
    (await window.snapconf.pc.send.getStats()).forEach(r => {
        if (r.type === 'outbound-rtp' && r.kind === 'video') out.push({rid: r.rid || '-',
            width: r.frameWidth || 0, fps: r.framesPerSecond || 0,
            limit: r.qualityLimitationReason});
    });
    return out;
}"""


def _link_delta(before: LinkStats, after: LinkStats, seconds: float) -> dict[str, float]:
    reached = (after.packets_in - before.packets_in) - (after.dropped_loss - before.dropped_loss)
    return {
        "server_sent_mbps": (after.bytes_in - before.bytes_in) * 8 / seconds / 1e6,
        "delivered_mbps": (after.bytes_forwarded - before.bytes_forwarded) * 8 / seconds / 1e6,
        "queue_drop_pct": 100.0 * (after.dropped_queue - before.dropped_queue) / reached
        if reached
        else 0.0,
        "loss_drops": after.dropped_loss - before.dropped_loss,
        "max_queue_ms": after.max_queue_delay * 1000,
    }


def _copy(stats: LinkStats) -> LinkStats:
    out = LinkStats()
    out.add(stats)
    return out


def _print(title: str, rows: list[dict[str, Any]], link: dict[str, float], incoming: float) -> None:
    print(f"\n{title}")
    print(
        f"  relay downlink: server sent {link['server_sent_mbps']:.2f} Mbit/s, delivered"
        f" {link['delivered_mbps']:.2f} Mbit/s, bottleneck drops {link['queue_drop_pct']:.1f} %,"
        f" random-loss drops {link['loss_drops']:.0f}, max queue {link['max_queue_ms']:.0f} ms;"
        f" receiver's availableIncomingBitrate {incoming / 1000:.0f} kbit/s"
    )
    print(
        f"  {'from':<8} {'kind':<6} {'kbit/s':>8} {'width':>6} {'fps':>6} {'freezes':>8}"
        f" {'lost':>6} {'nacks':>6} {'plis':>5} {'rtx':>6}"
    )
    for r in sorted(rows, key=lambda r: (r["kind"], r["participant"])):
        print(
            f"  {r['participant']:<8} {r['kind']:<6} {r['kbps']:>8.0f} {r['width']:>6}"
            f" {r['fps']:>6.1f} {r['freezes']:>8.0f} {r['lost']:>6.0f} {r['nacks']:>6.0f}"
            f" {r['plis']:>5.0f} {r['rtx']:>6.0f}"
        )
    audio = [r for r in rows if r["kind"] == "audio" and r["samples"] > 0]
    print(f"  audio tracks decoding: {len(audio)} of {sum(r['kind'] == 'audio' for r in rows)}")


def _print_server(stats: dict[str, Any]) -> None:
    """The server's own view of the receiver, from its signaling ``stats`` (when it has it)."""
    estimate = stats.get("estimate")
    print(
        f"  server: estimate {estimate / 1000 if estimate else 0:.0f} kbit/s, allocated"
        f" {stats.get('allocated', 0) / 1000:.0f} kbit/s, paused tracks"
        f" {len(stats.get('pausedTracks', []))}, retransmissions {stats.get('retransmissions', 0)},"
        f" layer switches {stats.get('layerSwitches', 0)}"
    )


async def _trace(receiver: RoomPage, start: float) -> None:
    """Every half second: the server's estimate towards the receiver and what it is made of."""
    while True:
        stats = await receiver.server_stats()
        bwe = stats.get("bwe") or {}
        print(
            f"  {time.monotonic() - start:5.1f} s"
            f"  estimate {(stats.get('estimate') or 0) / 1000:6.0f}"
            f"  allocated {stats.get('allocated', 0) / 1000:5.0f}  wanted"
            f" {stats.get('wanted', 0) / 1000:5.0f}  paused {len(stats.get('pausedTracks', []))}"
            f"  padding {stats.get('paddingBytes', 0)}  | {json.dumps(bwe, separators=(',', ':'))}",
            flush=True,
        )
        await asyncio.sleep(0.5)


async def _recv_address(page: RoomPage, timeout: float = 30.0) -> tuple[str, int]:
    """The local address of the receive connection's selected pair.

    That is the peer-reflexive candidate the server's STUN answers taught the page: the
    relay's upstream address for this peer (:meth:`Relay.resolve`).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recv = (await page.network())["recv"]
        if recv.get("localPort"):
            return (recv["localAddress"], int(recv["localPort"]))
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{page.name}: no selected candidate pair on the receive connection")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="room-quality-"))
    server = Server(tmp / "server.log", announced=RELAY_ADDRESS)
    try:
        server.wait_ready()
    except RuntimeError:
        print(server.log(), file=sys.stderr)
        raise
    width, height = (int(side) for side in args.camera_size.split("x"))
    camera = camera_file(width, height) if args.camera == "y4m" else None
    fake = f"fps={args.fps}" if args.fps else ""
    browser = ChromiumBrowser(camera=camera, fake_device=fake, viewport=(640, 400))
    relay = Relay(
        (RELAY_ADDRESS, server.media_port),
        ("127.0.0.1", server.media_port),
        up=LinkConfig(loss=args.up_loss),
        seed=1,
    )
    pages: list[RoomPage] = []
    try:
        await relay.start()
        await browser.start()
        for i in range(args.publishers):
            pages.append(await RoomPage.join(browser, server, "quality", f"Pub{i + 1}"))
        receiver = await RoomPage.join(browser, server, "quality", "Receiver")
        pages.append(receiver)
        seen = await _recv_address(receiver)
        peer = relay.resolve(seen)
        if peer is None:
            raise RuntimeError(f"the relay has no peer {seen}: {sorted(relay.peers)}")
        down = LinkConfig(rate=args.down_rate, queue_ms=args.queue_ms, loss=args.loss)
        relay.set_link(peer, down=down)
        print(
            f"{args.publishers} publishers ({args.camera} camera), receiver {peer} behind"
            f" {args.down_rate / 1000:.0f} kbit/s, {args.queue_ms:.0f} ms queue, loss {args.loss}"
            f" (uplinks: loss {args.up_loss}); warm-up {args.warmup:.0f} s",
            flush=True,
        )
        tracer = asyncio.create_task(_trace(receiver, time.monotonic())) if args.trace else None
        await asyncio.sleep(args.warmup)
        schedule = parse_schedule(args.schedule, down)
        relay.set_link(peer, down=down, down_schedule=schedule)
        marks = sorted({0.0, *(t for t, _ in schedule if t < args.seconds), args.seconds})
        start = time.monotonic()
        snaps = []
        for mark in marks:
            await asyncio.sleep(max(0.0, start + mark - time.monotonic()))
            snaps.append(
                (
                    time.monotonic() - start,
                    await receiver.network(),
                    _copy(relay.stats(peer)[DOWN]),
                    await receiver.server_stats(),
                )
            )
        result: dict[str, Any] = {"segments": []}
        segments = list(itertools.pairwise(snaps))
        if len(segments) > 1:
            segments.append((snaps[0], snaps[-1]))
        for (t0, n0, l0, _), (t1, n1, l1, server_stats) in segments:
            seconds = t1 - t0
            rows = _delta(n0, n1, seconds)
            link = _link_delta(l0, l1, seconds)
            incoming = float(n1["recv"].get("availableIncomingBitrate", 0))
            rate = next((c.rate for t, c in reversed(schedule) if t <= t0 + 0.5), args.down_rate)
            title = f"t = {t0:.0f}..{t1:.0f} s (downlink {rate / 1000:.0f} kbit/s)"
            if len(segments) > 1 and (t0, t1) == (snaps[0][0], snaps[-1][0]):
                title = f"t = {t0:.0f}..{t1:.0f} s (the whole run)"
            _print(title, rows, link, incoming)
            _print_server(server_stats)
            result["segments"].append(
                {"from": t0, "to": t1, "rows": rows, "link": link, "server": server_stats}
            )
        if tracer is not None:
            tracer.cancel()
        print("\nwhat the publishers send (rid: width @ frames per second, limited by)")
        for page in pages[:-1]:
            layers = await page.page.evaluate(_PUBLISHED_JS)
            result.setdefault("publishers", {})[page.name] = layers
            print(
                f"  {page.name:<8} "
                + "  ".join(
                    f"{layer['rid']}: {layer['width']} @ {layer['fps']} ({layer['limit']})"
                    for layer in sorted(layers, key=lambda layer: str(layer["rid"]))
                )
            )
        return result
    finally:
        for page in pages:
            with contextlib.suppress(Exception):
                await page.page.close()
        await browser.close()
        relay.close()
        server.stop()


def main() -> None:
    args = _arguments()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
