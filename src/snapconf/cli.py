"""``snapconf serve``: run the server on uvloop with the configuration given."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import resource
import signal
import sys

import uvloop

from snapconf import __version__
from snapconf import log as logsetup
from snapconf.config import Config, ConfigError, dump_defaults, load

log = logging.getLogger("snapconf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snapconf", description="snapconf media server")
    parser.add_argument("--version", action="version", version=f"snapconf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--config", help="TOML configuration file (see config.sample.toml)")
    serve.add_argument("--host", help="address for HTTP and media (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP/WebSocket port (default 8080)")
    serve.add_argument("--media-port", type=int, help="UDP port for all media (default 10000)")
    serve.add_argument("--sip-port", type=int, help="SIP port, UDP and TCP (default 5060; 0: off)")
    serve.add_argument(
        "--announced-ip", action="append", help="IP to announce in ICE candidates (NAT)"
    )
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    sub.add_parser("defaults", help="print the default configuration as TOML")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "defaults":
        print(dump_defaults())
        return 0
    try:
        config = load(args.config)
    except (ConfigError, OSError) as exc:
        print(f"snapconf: {exc}", file=sys.stderr)
        return 2
    if args.host:
        config.http.host = args.host
        config.media.listen = [args.host]
        config.sip = dataclasses.replace(config.sip, host=args.host)
    if args.http_port is not None:
        config.http.port = args.http_port
    if args.media_port is not None:
        config.media.port = args.media_port
    if args.sip_port is not None:
        if args.sip_port == 0:
            config.sip = dataclasses.replace(config.sip, enabled=False)
        else:
            config.sip = dataclasses.replace(config.sip, port=args.sip_port)
    if args.announced_ip:
        config.media.announced = args.announced_ip
    if args.log_level:
        config.log.level = args.log_level
    logsetup.setup(config.log.level, config.log.format)
    raise_descriptor_limit()
    # uvloop: ~10x cheaper datagram receive than the default loop (ARCHITECTURE.md)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(config))
    return 0


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit: each WebSocket and HTTP connection
    holds a descriptor, and the common soft default (1,024) is reached by a few hundred
    browsers. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d: %s", soft, exc)
    log.info("descriptor limit: %d", soft)
    return soft


async def _serve(config: Config) -> None:
    from snapconf.app import Server

    server = Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        await server.close()
        raise SystemExit(1) from exc
    # everything long-lived is loaded: keep it out of the cyclic GC's full collections,
    # which otherwise stall the loop (and the audio bridges' ticks) for tens of ms
    gc.collect()
    gc.freeze()
    log.info("snapconf %s ready", __version__)
    await stop.wait()
    log.info("shutting down")
    await server.close()


if __name__ == "__main__":
    sys.exit(main())
