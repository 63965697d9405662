"""A userspace UDP impairment relay: a bottleneck, delay, jitter and loss between peers and a server.

This kernel has no ``netem`` qdisc, so the tests and benchmarks of real networks put this
relay between the browsers and the media port. It listens on another loopback address (the
server's announced ICE candidate, e.g. ``127.0.0.2``, while the server listens on
``127.0.0.1``) and forwards to the real server address. Each client (source address) gets an
upstream socket of its own, so the server sees one remote address per peer; the server's
replies go back to the client from the listening socket, which is the address the client
sent to, as ICE requires (RFC 8445 §7.2.5.2.1: the response comes from the request's
destination).

Per direction (``up`` = client→server, ``down`` = server→client) and per peer, a
:class:`Shaper` applies, in order:

* loss: independent random loss, or bursty loss from a Gilbert-Elliott two-state chain
  (good/bad states, each with its own loss probability);
* a bottleneck: a link of ``rate`` bit/s with a tail-drop queue. A packet waits for the
  packets ahead of it to be serialised (``(size + overhead_bytes) * 8 / rate`` seconds each:
  the link carries the IP and UDP headers too, as a real one does and as a browser's
  estimate counts them); a packet that would wait longer than ``queue_ms`` (or find more
  than ``queue_bytes`` ahead) is dropped;
* propagation: a fixed ``delay_ms`` plus a uniform jitter of ±``jitter_ms``, without
  reordering unless ``reorder`` is set (a packet never overtakes the one before it);
* a schedule: ``(seconds, LinkConfig)`` pairs that replace the link's settings at those
  times, counted from when the schedule was given (the queue's content is kept).

The shaper is a pure class: time is an argument, the RNG is injected (seeded in tests), and
it answers with the time a packet arrives or None when it is dropped. The socket part
(:class:`Relay`) is thin: it asks the shaper and sends at that time with ``loop.call_at``.

Use it as ``async with Relay(("127.0.0.2", port), ("127.0.0.1", port), down=LinkConfig(
rate=600_000, queue_ms=60)) as relay: ...`` or from the command line::

    python -m tests.support.netrelay --listen 127.0.0.2:10000 --to 127.0.0.1:10000 \\
        --down-rate 600k --down-queue-ms 60 --loss 0.05 --down-schedule 20:600k,50:5M
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

Address = tuple[str, int]
#: ``(seconds after the schedule was set, the link from then on)``
Schedule = Sequence[tuple[float, "LinkConfig"]]
_Send = Callable[[bytes, Any], None]

UP = "up"
DOWN = "down"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """One direction of one peer's link. The defaults are a perfect link."""

    #: bottleneck rate in bit/s, counting ``overhead_bytes`` per packet; 0 = unlimited
    rate: float = 0.0
    #: what each packet costs on the link besides its UDP payload: IPv4 (20) + UDP (8)
    overhead_bytes: int = 28
    #: the most queueing delay a packet may meet at the bottleneck before it is dropped
    queue_ms: float = 60.0
    #: the most bytes ahead of a packet at the bottleneck; 0 = bounded by ``queue_ms`` only
    queue_bytes: int = 0
    #: fixed one-way delay after the bottleneck
    delay_ms: float = 0.0
    #: uniform jitter of ± this much around ``delay_ms`` (never below zero delay)
    jitter_ms: float = 0.0
    #: let jitter reorder packets (otherwise a packet never arrives before its predecessor)
    reorder: bool = False
    #: independent random loss probability, 0..1
    loss: float = 0.0
    #: Gilbert-Elliott: probability per packet of going from the good to the bad state;
    #: 0 disables bursty loss
    burst_enter: float = 0.0
    #: Gilbert-Elliott: probability per packet of going from the bad back to the good state
    burst_exit: float = 0.5
    #: Gilbert-Elliott: loss probability in the bad state (in the good state: ``loss``)
    burst_loss: float = 1.0

    def __post_init__(self) -> None:
        for name in ("loss", "burst_enter", "burst_exit", "burst_loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, not {value}")
        if self.rate < 0 or self.queue_ms < 0 or self.queue_bytes < 0 or self.overhead_bytes < 0:
            raise ValueError("rate, queue_ms, queue_bytes and overhead_bytes must not be negative")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must not be negative")


@dataclass(slots=True)
class LinkStats:
    """Counters of one direction (of one peer, or summed over peers)."""

    packets_in: int = 0
    bytes_in: int = 0
    forwarded: int = 0
    bytes_forwarded: int = 0
    dropped_queue: int = 0
    dropped_loss: int = 0
    #: the longest wait at the bottleneck of a forwarded packet, seconds
    max_queue_delay: float = 0.0
    #: the sum of the waits at the bottleneck of forwarded packets, seconds
    total_queue_delay: float = 0.0

    @property
    def mean_queue_delay(self) -> float:
        return self.total_queue_delay / self.forwarded if self.forwarded else 0.0

    @property
    def queue_drop_ratio(self) -> float:
        """Packets dropped at the bottleneck over packets that reached it."""
        reached = self.packets_in - self.dropped_loss
        return self.dropped_queue / reached if reached else 0.0

    def add(self, other: LinkStats) -> None:
        self.packets_in += other.packets_in
        self.bytes_in += other.bytes_in
        self.forwarded += other.forwarded
        self.bytes_forwarded += other.bytes_forwarded
        self.dropped_queue += other.dropped_queue
        self.dropped_loss += other.dropped_loss
        self.max_queue_delay = max(self.max_queue_delay, other.max_queue_delay)
        self.total_queue_delay += other.total_queue_delay

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = dataclasses.asdict(self)
        out["mean_queue_delay"] = self.mean_queue_delay
        out["queue_drop_ratio"] = self.queue_drop_ratio
        return out


class Shaper:
    """The impairment of one direction of one link: which packets pass, and when they arrive.

    ``offer(size, now)`` returns the arrival time of a packet of ``size`` bytes sent at
    ``now`` (seconds, any monotonic clock), or None when the packet is lost or dropped by the
    queue. Calls must come in non-decreasing ``now``.
    """

    __slots__ = ("_bad", "_busy_until", "_last_arrival", "_rng", "_schedule", "config", "stats")

    def __init__(
        self,
        config: LinkConfig | None = None,
        rng: random.Random | None = None,
        schedule: Schedule = (),
        now: float = 0.0,
    ) -> None:
        self.config = config or LinkConfig()
        self.stats = LinkStats()
        self._rng = rng or random.Random()
        #: when the bottleneck has serialised everything queued so far
        self._busy_until = 0.0
        self._last_arrival = 0.0
        self._bad = False
        self._schedule: list[tuple[float, LinkConfig]] = []
        if schedule:
            self.set_schedule(schedule, now)

    def set_schedule(self, schedule: Schedule, now: float) -> None:
        """Replace the link by each ``(t, config)`` at ``now + t``; earlier entries apply now."""
        self._schedule = sorted(((now + t, c) for t, c in schedule), key=lambda e: e[0])
        self._apply_schedule(now)

    def _apply_schedule(self, now: float) -> None:
        while self._schedule and self._schedule[0][0] <= now:
            self.config = self._schedule.pop(0)[1]

    def _lost(self, c: LinkConfig) -> bool:
        if c.burst_enter > 0.0:
            # Gilbert-Elliott: move between the states, then lose with the state's probability
            if self._bad:
                if self._rng.random() < c.burst_exit:
                    self._bad = False
            elif self._rng.random() < c.burst_enter:
                self._bad = True
            p = c.burst_loss if self._bad else c.loss
        else:
            p = c.loss
        return p > 0.0 and self._rng.random() < p

    def offer(self, size: int, now: float) -> float | None:
        if self._schedule:
            self._apply_schedule(now)
        c = self.config
        st = self.stats
        st.packets_in += 1
        st.bytes_in += size
        if self._lost(c):
            st.dropped_loss += 1
            return None
        if c.rate > 0.0:
            start = self._busy_until if self._busy_until > now else now
            wait = start - now
            wire = size + c.overhead_bytes
            if wait * 1000.0 > c.queue_ms or (
                c.queue_bytes and wait * c.rate / 8.0 + wire > c.queue_bytes
            ):
                st.dropped_queue += 1
                return None
            self._busy_until = start + wire * 8.0 / c.rate
            sent = self._busy_until
        else:
            wait = 0.0
            sent = now
        arrival = sent + c.delay_ms / 1000.0
        if c.jitter_ms > 0.0:
            arrival += self._rng.uniform(-c.jitter_ms, c.jitter_ms) / 1000.0
            if arrival < sent:
                arrival = sent
        if not c.reorder and arrival < self._last_arrival:
            arrival = self._last_arrival
        self._last_arrival = arrival
        st.forwarded += 1
        st.bytes_forwarded += size
        st.total_queue_delay += wait
        if wait > st.max_queue_delay:
            st.max_queue_delay = wait
        return arrival


# ---------------------------------------------------------------------------- sockets


@dataclass(slots=True)
class _LinkSpec:
    config: LinkConfig = field(default_factory=LinkConfig)
    schedule: Schedule = ()


class _Peer:
    """One client: its upstream socket towards the server and one shaper per direction."""

    def __init__(self, relay: Relay, address: Address) -> None:
        self.relay = relay
        self.address = address
        self.upstream: _Upstream | None = None
        #: the upstream socket's address: the peer's address as the server sees it
        self.upstream_address: Address = ("", 0)
        self.shapers = {UP: Shaper(rng=relay.rng), DOWN: Shaper(rng=relay.rng)}
        self.last_seen = 0.0


class _Upstream:
    """A connected non-blocking socket towards the server, read with ``loop.add_reader``."""

    def __init__(self, sock: socket.socket, peer: _Peer, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.peer = peer
        self.loop = loop
        self.send_errors = 0
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        relay = self.peer.relay
        for _ in range(64):
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP port unreachable from a server not yet up
            relay._from_server(self.peer, data)

    def sendto(self, data: bytes, to: Address | None = None) -> None:
        try:
            self.sock.send(data)
        except OSError:
            self.send_errors += 1

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_client(data, addr[:2])


class Relay:
    """The relay's sockets: ``async with Relay(listen, target, up=..., down=...)``.

    ``up`` and ``down`` (with their schedules) apply to every peer without a link of its
    own; :meth:`set_link` changes them for all peers or gives one peer its own. Peers silent
    for ``idle_timeout`` seconds are forgotten (their counters stay in :attr:`closed`).
    """

    def __init__(
        self,
        listen: Address,
        target: Address,
        *,
        up: LinkConfig | None = None,
        down: LinkConfig | None = None,
        up_schedule: Schedule = (),
        down_schedule: Schedule = (),
        seed: int | None = None,
        idle_timeout: float = 60.0,
    ) -> None:
        self.listen = listen
        self.target = target
        self.rng = random.Random(seed)
        self.idle_timeout = idle_timeout
        self._default = {
            UP: _LinkSpec(up or LinkConfig(), up_schedule),
            DOWN: _LinkSpec(down or LinkConfig(), down_schedule),
        }
        self._own: dict[Address, dict[str, _LinkSpec]] = {}
        self.peers: dict[Address, _Peer] = {}
        self.closed: dict[str, LinkStats] = {UP: LinkStats(), DOWN: LinkStats()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.DatagramTransport | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._start = 0.0

    @property
    def address(self) -> Address:
        """The bound listening address (the port is known once started)."""
        assert self._listener is not None, "the relay is not started"
        host, port = self._listener.get_extra_info("sockname")[:2]
        return (host, port)

    def now(self) -> float:
        """Seconds since the relay started, on the loop's clock."""
        assert self._loop is not None
        return self._loop.time() - self._start

    async def start(self) -> Relay:
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET, socket.SOCK_DGRAM
        )
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
        sock.bind(self.listen)
        sock.setblocking(False)
        self._listener, _ = await self._loop.create_datagram_endpoint(
            lambda: _Listener(self), sock=sock
        )
        self._reaper = asyncio.create_task(self._reap())
        return self

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket; safe to call twice."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for address in list(self.peers):
            self._forget(address)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    # -- links ------------------------------------------------------------------------
    def set_link(
        self,
        peer: Address | None = None,
        *,
        up: LinkConfig | None = None,
        down: LinkConfig | None = None,
        up_schedule: Schedule = (),
        down_schedule: Schedule = (),
    ) -> None:
        """Change the link of ``peer`` (None: the default of all peers without their own).

        A direction given as None is left as it is. Queues keep their content; a schedule
        counts from now.
        """
        now = self._loop.time() if self._loop is not None else 0.0
        for direction, config, schedule in ((UP, up, up_schedule), (DOWN, down, down_schedule)):
            if config is None and not schedule:
                continue
            spec = _LinkSpec(config or LinkConfig(), schedule)
            if peer is None:
                self._default[direction] = spec
                targets = [
                    p for a, p in self.peers.items() if direction not in self._own.get(a, {})
                ]
            else:
                self._own.setdefault(peer, {})[direction] = spec
                targets = [self.peers[peer]] if peer in self.peers else []
            for p in targets:
                self._configure(p.shapers[direction], spec, now)

    @staticmethod
    def _configure(shaper: Shaper, spec: _LinkSpec, now: float) -> None:
        shaper.config = spec.config
        shaper.set_schedule(spec.schedule, now)

    def resolve(self, address: Address) -> Address | None:
        """The client address of a peer known by its client or by its upstream address.

        A browser behind the relay learns its upstream address as a peer-reflexive local
        candidate (the server's XOR-MAPPED-ADDRESS, RFC 8445 §7.2.5.3.1): getStats shows it
        as the selected pair's local candidate, and this finds the peer from it.
        """
        if address in self.peers:
            return address
        for client, peer in self.peers.items():
            if peer.upstream_address == address:
                return client
        return None

    def stats(self, peer: Address | None = None) -> dict[str, LinkStats]:
        """Counters per direction of ``peer``, or summed over all peers (closed ones too)."""
        out = {UP: LinkStats(), DOWN: LinkStats()}
        peers = [self.peers[peer]] if peer is not None and peer in self.peers else []
        if peer is None:
            peers = list(self.peers.values())
            for direction in (UP, DOWN):
                out[direction].add(self.closed[direction])
        for p in peers:
            for direction in (UP, DOWN):
                out[direction].add(p.shapers[direction].stats)
        return out

    # -- packets ----------------------------------------------------------------------
    def _peer(self, address: Address) -> _Peer:
        peer = self.peers.get(address)
        if peer is None:
            assert self._loop is not None
            peer = _Peer(self, address)
            now = self._loop.time()
            own = self._own.get(address, {})
            for direction in (UP, DOWN):
                self._configure(
                    peer.shapers[direction], own.get(direction, self._default[direction]), now
                )
            sock = socket.socket(
                socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET, socket.SOCK_DGRAM
            )
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, 1024 * 1024)
            sock.bind((self.target[0], 0))
            sock.connect(self.target)
            host, port = sock.getsockname()[:2]
            peer.upstream_address = (host, port)
            sock.setblocking(False)
            # a plain socket with a reader, made synchronously: the first datagram is not lost
            peer.upstream = _Upstream(sock, peer, self._loop)
            self.peers[address] = peer
        return peer

    def _from_client(self, data: bytes, address: Address) -> None:
        peer = self._peer(address)
        assert self._loop is not None
        now = self._loop.time()
        peer.last_seen = now
        at = peer.shapers[UP].offer(len(data), now)
        if at is not None and peer.upstream is not None:
            self._send_at(at, now, peer.upstream.sendto, data, None)

    def _from_server(self, peer: _Peer, data: bytes) -> None:
        assert self._loop is not None
        now = self._loop.time()
        at = peer.shapers[DOWN].offer(len(data), now)
        if at is not None and self._listener is not None:
            self._send_at(at, now, self._listener.sendto, data, peer.address)

    def _send_at(self, at: float, now: float, send: _Send, data: bytes, to: Address | None) -> None:
        assert self._loop is not None
        if at <= now:
            _deliver(send, data, to)
        else:
            self._loop.call_at(at, _deliver, send, data, to)

    def _forget(self, address: Address) -> None:
        peer = self.peers.pop(address, None)
        if peer is None:
            return
        for direction in (UP, DOWN):
            self.closed[direction].add(peer.shapers[direction].stats)
        if peer.upstream is not None:
            peer.upstream.close()

    async def _reap(self) -> None:
        assert self._loop is not None
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout))
            limit = self._loop.time() - self.idle_timeout
            for address in [a for a, p in self.peers.items() if p.last_seen < limit]:
                self._forget(address)


def _deliver(send: _Send, data: bytes, to: Address | None) -> None:
    with contextlib.suppress(OSError):
        send(data, to)


# ---------------------------------------------------------------------------- command line


def parse_rate(text: str) -> float:
    """``600k``, ``5M``, ``1.5m``, ``64000`` → bit/s."""
    value = text.strip().lower()
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(value[-1:], 1.0)
    if scale != 1.0:
        value = value[:-1]
    try:
        rate = float(value) * scale
    except ValueError:
        raise ValueError(f"not a rate: {text!r} (e.g. 600k, 5M)") from None
    if rate < 0:
        raise ValueError(f"not a rate: {text!r} (e.g. 600k, 5M)")
    return rate


def parse_schedule(text: str, base: LinkConfig) -> list[tuple[float, LinkConfig]]:
    """``20:600k,50:5M`` → the base link with that rate from 20 s, then 5 Mbit/s from 50 s."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        at, sep, rate = item.partition(":")
        if not sep:
            raise ValueError(f"not a schedule entry: {item!r} (seconds:rate, e.g. 20:600k)")
        out.append((float(at), dataclasses.replace(base, rate=parse_rate(rate))))
    return out


def _address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"not host:port: {text!r}")
    return (host.strip("[]"), int(port))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.netrelay", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--listen", type=_address, required=True, help="host:port to listen on")
    parser.add_argument("--to", type=_address, required=True, help="the server's host:port")
    parser.add_argument("--seed", type=int, default=None, help="seed of the loss and jitter RNG")
    parser.add_argument("--loss", type=float, default=0.0, help="random loss both ways, 0..1")
    parser.add_argument("--stats-interval", type=float, default=5.0, help="seconds; 0: never")
    for d in (UP, DOWN):
        parser.add_argument(
            f"--{d}-rate", type=parse_rate, default=0.0, help="e.g. 600k; 0 = no cap"
        )
        parser.add_argument(f"--{d}-queue-ms", type=float, default=60.0)
        parser.add_argument(f"--{d}-queue-bytes", type=int, default=0)
        parser.add_argument(f"--{d}-delay-ms", type=float, default=0.0)
        parser.add_argument(f"--{d}-jitter-ms", type=float, default=0.0)
        parser.add_argument(f"--{d}-reorder", action="store_true")
        parser.add_argument(f"--{d}-loss", type=float, default=None, help="overrides --loss")
        parser.add_argument(f"--{d}-burst-enter", type=float, default=0.0)
        parser.add_argument(f"--{d}-burst-exit", type=float, default=0.5)
        parser.add_argument(f"--{d}-burst-loss", type=float, default=1.0)
        parser.add_argument(
            f"--{d}-schedule", default="", help="rate changes: seconds:rate,... e.g. 20:600k,50:5M"
        )
    return parser.parse_args(argv)


def links_from_arguments(args: argparse.Namespace) -> dict[str, tuple[LinkConfig, Schedule]]:
    out: dict[str, tuple[LinkConfig, Schedule]] = {}
    for d in (UP, DOWN):

        def arg(name: str, d: str = d) -> Any:
            return getattr(args, f"{d}_{name}")

        loss = arg("loss")
        config = LinkConfig(
            rate=arg("rate"),
            queue_ms=arg("queue_ms"),
            queue_bytes=arg("queue_bytes"),
            delay_ms=arg("delay_ms"),
            jitter_ms=arg("jitter_ms"),
            reorder=arg("reorder"),
            loss=args.loss if loss is None else loss,
            burst_enter=arg("burst_enter"),
            burst_exit=arg("burst_exit"),
            burst_loss=arg("burst_loss"),
        )
        out[d] = (config, parse_schedule(arg("schedule"), config))
    return out


async def _serve(args: argparse.Namespace) -> None:
    links = links_from_arguments(args)
    relay = Relay(
        args.listen,
        args.to,
        up=links[UP][0],
        down=links[DOWN][0],
        up_schedule=links[UP][1],
        down_schedule=links[DOWN][1],
        seed=args.seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with relay:
        print(f"netrelay: {relay.address} -> {args.to}", file=sys.stderr, flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.stats_interval or None)
            if args.stats_interval:
                stats = relay.stats()
                print(
                    f"netrelay t={relay.now():.0f}s peers={len(relay.peers)} "
                    + " ".join(
                        f"{d}: in={s.packets_in} fwd={s.forwarded} qdrop={s.dropped_queue}"
                        f" loss={s.dropped_loss} qmax={s.max_queue_delay * 1000:.0f}ms"
                        for d, s in stats.items()
                    ),
                    file=sys.stderr,
                    flush=True,
                )


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
