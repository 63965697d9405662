"""The gateway against SIPp (Debian ``sip-tester``), the way a trunk or a phone would call.

Each test starts the gateway in-process on free loopback ports, runs one SIPp scenario from
``scenarios/`` as a subprocess (with ``/usr/share/sip-tester`` linked as ``pcap`` for its
RFC 4733 DTMF captures) and asserts SIPp's verdict plus what the gateway and the bridge saw.
SIPp is required: the tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.dialin import EchoBridge

from snapconf.dialin.config import SipConfig
from snapconf.dialin.directory import StaticConferenceDirectory
from snapconf.dialin.gateway import SipGateway

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP_PCAPS = Path("/usr/share/sip-tester")


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        pytest.fail("sipp is required: apt-get install sip-tester")
    if not (SIPP_PCAPS / "dtmf_2833_pound.pcap").exists():
        pytest.fail("SIPp's DTMF captures are missing from /usr/share/sip-tester")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_even_range(size: int = 40) -> tuple[int, int]:
    while True:
        low = random.randrange(30000, 60000 - size, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", low))
            except OSError:
                continue
        return low, low + size - 1


@pytest.fixture
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SipGateway, EchoBridge]]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    low, high = free_even_range()
    settings: dict[str, Any] = dict(
        host="127.0.0.1", port=0, ring_time=0.1, rtp_port_min=low, rtp_port_max=high,
        failure_delay=0.0, static_conferences={"alpha": "1234"},
    )
    settings.update(overrides)
    cfg = SipConfig(**settings)
    bridge = EchoBridge()
    gw = SipGateway(cfg, StaticConferenceDirectory(cfg.static_conferences), bridge)
    await gw.start()
    yield gw, bridge
    await gw.close()


async def run_sipp(
    scenario: str, gw: SipGateway, tmp_path: Path, *, calls: int = 1, timeout: float = 40,
    caller: str = "+33612345612", extra: tuple[str, ...] = (),
) -> tuple[int, str]:
    """Run SIPp against the gateway; return its exit code (0: all calls passed) and logs."""
    binary = sipp_binary()
    pcap = tmp_path / "pcap"
    if not pcap.exists():
        os.symlink(SIPP_PCAPS, pcap)
    args = [
        binary, f"127.0.0.1:{gw.udp_port}",
        "-sf", str(SCENARIOS / scenario),
        "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mi", "127.0.0.1", "-mp", str(free_even_range(4)[0]),
        "-s", "conf", "-key", "caller", caller,
        "-m", str(calls), "-l", str(calls),
        "-timeout", f"{int(timeout)}s", "-timeout_error",
        "-nostdin", "-trace_err", "-error_file", str(tmp_path / "errors.log"),
        *extra,
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    errors = (tmp_path / "errors.log").read_text() if (tmp_path / "errors.log").exists() else ""
    return proc.returncode or 0, stderr.decode(errors="replace") + errors


async def test_sipp_options_200(gateway: tuple[SipGateway, EchoBridge], tmp_path: Path) -> None:
    gw, _ = gateway
    code, log = await run_sipp("options.xml", gw, tmp_path, timeout=10)
    assert code == 0, log
    assert gw.stats["response_200"] >= 1


async def test_sipp_options_and_right_pin_over_tcp(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    code, log = await run_sipp("options.xml", gw, tmp_path, timeout=10, extra=("-t", "t1"))
    assert code == 0, log
    code, log = await run_sipp("right_pin.xml", gw, tmp_path, timeout=30, extra=("-t", "t1"))
    assert code == 0, log
    assert len(bridge.legs) == 1 and bridge.legs[0].closed
    assert gw.stats["request_BYE"] == 1
    assert not gw.calls and gw.ports.in_use == set()


async def test_sipp_unknown_dialog_bye_481(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, _ = gateway
    code, log = await run_sipp("unknown_bye.xml", gw, tmp_path, timeout=10)
    assert code == 0, log
    assert gw.stats["response_481"] == 1


@pytest.mark.parametrize("gateway", [{"ring_time": 3.0}], indirect=True)
async def test_sipp_cancel_before_answer_487(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, _ = gateway
    code, log = await run_sipp("cancel.xml", gw, tmp_path, timeout=15)
    assert code == 0, log
    assert gw.stats["response_487"] == 1
    assert gw.stats["cancelled"] == 1
    assert not gw.calls and gw.ports.in_use == set()
    assert gw.stats["final_retransmissions"] == 0  # the ACK stopped Timer G


async def test_sipp_right_pin_stays_then_hangs_up(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    code, log = await run_sipp("right_pin.xml", gw, tmp_path, timeout=30)
    assert code == 0, log
    assert len(bridge.legs) == 1
    leg = bridge.legs[0]
    assert leg.conference_id == "alpha"
    assert leg.codec == "PCMU"
    assert leg.masked_number == "+33 6 •• •• •• 12"
    assert leg.closed
    assert gw.stats["dtmf_digits"] == 5  # 1 2 3 4 #, each end packet sent 3 times
    assert gw.stats["bye_received"] == 1
    assert not gw.calls and gw.ports.in_use == set()


async def test_sipp_without_sdp_answers_our_offer_in_the_ack_and_joins_with_its_pin(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    code, log = await run_sipp("delayed_offer.xml", gw, tmp_path, timeout=30)
    assert code == 0, log
    assert gw.stats["delayed_offers"] == 1
    assert len(bridge.legs) == 1
    leg = bridge.legs[0]
    assert (leg.conference_id, leg.codec, leg.payload_type) == ("alpha", "PCMU", 0)
    assert leg.closed and gw.stats["bye_received"] == 1
    assert not gw.calls and gw.ports.in_use == set()


async def test_sipp_wrong_pin_three_times_server_hangs_up(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    code, log = await run_sipp("wrong_pin.xml", gw, tmp_path, timeout=40,
                               caller="+33699999999")
    assert code == 0, log
    assert gw.stats["pin_failures"] == 3
    assert gw.stats["bye_sent"] == 1
    assert not bridge.legs
    assert not gw.calls and gw.ports.in_use == set()


@pytest.mark.parametrize("gateway", [{"lockout_threshold": 3}], indirect=True)
async def test_sipp_rotating_caller_numbers_from_one_address_are_locked_out_after_its_budget(
    gateway: tuple[SipGateway, EchoBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    code, log = await run_sipp("wrong_pin.xml", gw, tmp_path, timeout=40,
                               caller="+33600000001")
    assert code == 0, log  # three wrong PINs: the address's budget is spent
    refused = 0
    for caller in ("+33600000002", "anonymous", "+33600000003"):
        # whatever number it claims, the address is refused before any PIN (and its BYE comes
        # within the scenario's 8 s, where a welcome and three PIN prompts would take longer)
        code, log = await run_sipp("locked_out.xml", gw, tmp_path, timeout=15, caller=caller)
        assert code == 0, log
        refused += 1
    assert gw.stats["pin_refused_source"] == refused == 3
    assert gw.stats["pin_failures"] == 3 and gw.stats["pin_lockout_source"] == 1
    assert not bridge.legs
    assert not gw.calls and gw.ports.in_use == set()
