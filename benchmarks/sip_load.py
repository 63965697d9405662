"""SIP gateway load: call setup rate with PIN entry and concurrent calls held, with SIPp.

The whole server runs in this process (uvloop, like ``snapconf serve``): the SIP gateway,
the phones' :class:`~snapconf.dialin.conference_bridge.PhoneBridge`, conferences, and one
audio bridge (mixer) per conference, each caller also a producer as browsers would see it.
One SIPp process per conference dials in at ``rate / conferences`` calls per second from
127.0.0.1 (an allowlisted "trunk"); every call answers, types its conference's PIN by
RFC 4733 (SIPp's shipped DTMF captures), talks (SIPp's shipped G.711 A-law capture) while
held, then hangs up. Reported: SIPp's successful and failed calls, the achieved setup rate,
peak concurrent calls, joins, mixer overruns and late ticks, and CPU used by the server, in
all and in the steady state (every caller in its conference, nobody gone yet) per phone
participant and second.

Usage (target on the 2-core machine: 20 calls/s, 200 concurrent calls in 4 conferences, 0
failed calls, 0 mixer overruns)::

    python benchmarks/sip_load.py --rate 20 --calls 600 --hold 8.5 --conferences 4

CPU per phone participant at a 50-phone bridge (benchmarks/README.md)::

    python benchmarks/sip_load.py --rate 25 --calls 50 --hold 9 --conferences 1

Needs ``sipp`` (Debian ``sip-tester``) and its captures in /usr/share/sip-tester.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from snapconf.app import Server
from snapconf.config import Config
from snapconf.dialin.config import SipConfig
from snapconf.media.mixer import Mixer

PINS = ["1234", "5678", "9012", "3456", "7890", "2468", "1357", "8024"]
PCAPS = Path("/usr/share/sip-tester")

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="snapconf load: PIN then talk">
  <send retrans="500">
    <![CDATA[

      INVITE sip:conf@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+3361000[call_number]@[local_ip]:[local_port]>;tag=[pid]L[call_number]
      To: <sip:conf@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:{ptime}

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+3361000[call_number]@[local_ip]:[local_port]>;tag=[pid]L[call_number]
      To: <sip:conf@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="300"/>
{digits}
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:+3361000[call_number]@[local_ip]:[local_port]>;tag=[pid]L[call_number]
      To: <sip:conf@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


def scenario(pin: str, hold: float, ptime: int = 30) -> str:
    names = {"#": "pound", "*": "star"}
    lines = []
    for d in pin + "#":
        lines.append(
            f'  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{names.get(d, d)}.pcap"/>'
            "</action></nop>"
        )
        lines.append('  <pause milliseconds="400"/>')
    return SCENARIO.format(digits="\n".join(lines), hold_ms=int(hold * 1000), ptime=ptime)


class LoopLag:
    """Counts event-loop stalls: a 5 ms sleep that comes back more than 20 ms late. A stall
    during which this process used little CPU means the OS ran something else (other
    processes on the 2 shared cores), not that the gateway blocked its loop."""

    def __init__(self) -> None:
        self.stalls = 0
        self.descheduled = 0
        self.worst = 0.0
        self.gc_worst = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_worst = max(self.gc_worst, time.perf_counter() - self._gc_start)

    async def run(self) -> None:
        while True:
            t0, c0 = time.monotonic(), time.process_time()
            await asyncio.sleep(0.005)
            late = time.monotonic() - t0 - 0.005
            if late > 0.020:
                self.stalls += 1
                if time.process_time() - c0 < late / 2:
                    self.descheduled += 1
            self.worst = max(self.worst, late)


def final_stats(path: Path) -> dict[str, str]:
    with path.open() as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


async def run(args: argparse.Namespace) -> int:
    sipp = shutil.which("sipp")
    if sipp is None or not (PCAPS / "g711a.pcap").exists():
        print("sipp (Debian sip-tester) and its captures are required", file=sys.stderr)
        return 2
    conferences = {f"conf{i}": PINS[i] for i in range(args.conferences)}
    config = Config()
    config.http.port = 0
    config.media.port = 0
    config.log.level = "WARNING"
    config.sip = SipConfig(
        host="127.0.0.1", port=0, ring_time=0.0, allowlist=("127.0.0.1",),
        rtp_port_min=args.rtp_port_min, rtp_port_max=args.rtp_port_min + 2 * args.calls + 100,
        max_calls=args.calls + 10, static_conferences=conferences, codecs=("PCMA", "PCMU"),
    )
    config.sfu.max_participants = args.calls  # one big room per conference is the point
    logging.getLogger().setLevel(logging.WARNING)
    server = Server(config)
    await server.start()
    gw = server.gateway
    assert gw is not None
    await gw.prompts_ready()
    if not args.no_gc_freeze:
        # what `snapconf serve` should do once started: move the startup heap (modules, numpy,
        # prompts) out of the collector's reach, so a full collection takes ms, not 40+ ms
        gc.collect()
        gc.freeze()
    work = Path(tempfile.mkdtemp(prefix="sip_load_"))
    os.symlink(PCAPS, work / "pcap")
    per_conf_rate = args.rate / args.conferences
    per_conf_calls = args.calls // args.conferences
    procs = []
    for i, (name, pin) in enumerate(conferences.items()):
        (work / f"{name}.xml").write_text(scenario(pin, args.hold, args.ptime))
        cmd = [
            sipp, f"127.0.0.1:{gw.udp_port}", "-sf", str(work / f"{name}.xml"),
            "-i", "127.0.0.1", "-p", str(args.sipp_port + i),
            "-mi", "127.0.0.1", "-mp", str(args.media_port + 100 * i),
            "-r", f"{per_conf_rate:g}", "-m", str(per_conf_calls), "-l", str(per_conf_calls),
            "-timeout", f"{int(per_conf_calls / per_conf_rate + args.hold + 60)}s",
            "-nostdin", "-trace_stat", "-stf", str(work / f"{name}.csv"), "-fd", "1",
            "-trace_err", "-error_file", str(work / f"{name}.errors"),
        ]
        procs.append(await asyncio.create_subprocess_exec(
            *cmd, cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE))
    lag = LoopLag()
    lag_task = asyncio.ensure_future(lag.run())
    peak = 0
    started = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    waiters = [asyncio.ensure_future(p.wait()) for p in procs]
    mixers_seen: dict[str, Mixer] = {}
    # the steady state: every caller in its conference, nobody gone yet
    steady: list[tuple[float, float]] = []
    while not all(w.done() for w in waiters):
        peak = max(peak, gw.active_calls)
        present = sum(len(c.participants) for c in server.conferences)
        if present == args.calls and not any(w.done() for w in waiters):
            steady.append((time.monotonic(), time.process_time()))
        elif steady and present < args.calls:
            steady.append((0.0, 0.0))  # the window is over
        for conference in server.conferences:
            if conference.audio is not None:
                mixers_seen.setdefault(conference.name, conference.audio.mixer)
        await asyncio.sleep(0.1)
    wall = time.monotonic() - started
    lag_task.cancel()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    success = failed = 0
    for name in conferences:
        st = final_stats(work / f"{name}.csv")
        success += int(st.get("SuccessfulCall(C)", 0))
        failed += int(st.get("FailedCall(C)", 0))
    mixers = list(mixers_seen.values())
    overruns = sum(m.stats.overruns for m in mixers)
    late = sum(m.stats.late_ticks for m in mixers)
    ticks = sum(m.stats.ticks for m in mixers)
    tick_max = max((m.stats.tick_ns_max for m in mixers), default=0) / 1e6
    tick_avg = sum(m.stats.tick_ns_total for m in mixers) / max(ticks, 1) / 1e6
    gw_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    setup_window = per_conf_calls / per_conf_rate
    print(f"calls: {success} successful, {failed} failed of {args.calls} "
          f"({args.conferences} conferences, PIN by RFC 4733, {args.hold:g} s talk)")
    print(f"setup rate offered: {args.rate:g} calls/s; achieved: "
          f"{gw.stats['calls_joined'] / setup_window:.1f} joins/s over the {setup_window:.0f} s "
          "window")
    print(f"peak concurrent calls: {peak}; joined: {gw.stats['calls_joined']}; "
          f"pin failures: {gw.stats['pin_failures']}; 503: {gw.stats['response_503']}")
    print(f"mixer: {ticks} ticks, {overruns} overruns, {late} late ticks (>1 ms), "
          f"tick avg {tick_avg:.2f} ms max {tick_max:.1f} ms")
    sipp_cpu = children.ru_utime + children.ru_stime
    print(f"CPU: gateway+mixer {gw_cpu / wall:.0%} of one core, SIPp {sipp_cpu / wall:.0%}, "
          f"over {wall:.1f} s")
    window = steady[: steady.index((0.0, 0.0))] if (0.0, 0.0) in steady else steady
    if len(window) >= 2:
        (t0, c0), (t1, c1) = window[0], window[-1]
        print(f"steady state ({args.calls} phones joined, {t1 - t0:.1f} s): "
              f"{(c1 - c0) / (t1 - t0) / args.calls * 1e6:.0f} µs of CPU per phone participant "
              f"per second ({(c1 - c0) / (t1 - t0):.0%} of one core)")
    else:
        print("steady state: not reached (not every caller was in its conference at once)")
    print(f"event loop: {lag.stalls} stalls over 20 ms ({lag.descheduled} of them with the "
          f"process off the CPU), longest {lag.worst * 1000:.0f} ms, longest GC pause "
          f"{lag.gc_worst * 1000:.0f} ms; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    for p in procs:
        if p.stderr is not None:
            err = (await p.stderr.read()).decode(errors="replace").strip()
            if err:
                print("sipp:", err[-500:], file=sys.stderr)
    await server.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 and success == per_conf_calls * args.conferences else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (total)")
    parser.add_argument("--calls", type=int, default=600, help="total calls")
    parser.add_argument("--hold", type=float, default=8.5,
                        help="seconds each call stays after joining")
    parser.add_argument("--conferences", type=int, default=4)
    parser.add_argument("--ptime", type=int, default=30,
                        help="the a=ptime of the callers' SDP (what they ask to hear; they "
                             "send SIPp's 30 ms capture whatever it is)")
    parser.add_argument("--sipp-port", type=int, default=45060)
    parser.add_argument("--media-port", type=int, default=46000)
    parser.add_argument("--rtp-port-min", type=int, default=50000)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--no-gc-freeze", action="store_true")
    args = parser.parse_args()
    if not args.no_uvloop:
        import uvloop

        uvloop.install()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
