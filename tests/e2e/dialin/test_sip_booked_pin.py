"""A caller types a booked conference's 9-digit PIN (SIPp, RFC 4733) and joins it, through
the whole server: the store's PIN lookup, the gateway, PhoneBridge and the conference."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conftest import base_url
from tests.e2e.dialin.test_sip_sipp import SCENARIOS, free_even_range, run_sipp
from tests.integration.api.helpers import SERVER_SECTIONS, Api
from tests.integration.api.test_api import book

pytestmark = pytest.mark.e2e

_DIGITS = re.compile(
    r'(  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_\d\.pcap"/></action></nop>\n'
    r'  <pause milliseconds="300"/>\n)+'
)


def _scenario_for(pin: str, directory: Path) -> Path:
    """right_pin.xml with the booked PIN's digits instead of 1234."""
    text = (SCENARIOS / "right_pin.xml").read_text()
    digits = "".join(
        f'  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{d}.pcap"/></action></nop>\n'
        '  <pause milliseconds="300"/>\n'
        for d in pin
    )
    text, count = _DIGITS.subn(digits, text)
    assert count == 1
    path = directory / "booked_pin.xml"
    path.write_text(text)
    return path


async def test_a_caller_with_a_booked_pin_joins_that_conference(
    make_server: Any, tmp_path: Path
) -> None:
    low, high = free_even_range()
    sections = {
        **SERVER_SECTIONS,
        "sip": {
            "port": 0,
            "ring_time": 0.1,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "failure_delay": 0.0,
        },
    }
    server = await make_server(**sections)
    gateway = server.gateway
    assert gateway is not None
    async with aiohttp.ClientSession() as session:
        api = Api(base_url(server), session)
        api.token = await api.sign_in("alice@agriculture.gouv.fr")
        conference = await book(api)
    joined: list[str] = []
    original = gateway.bridge.join_phone

    async def spy(conference_id: str, *args: Any, **kwargs: Any) -> Any:
        joined.append(conference_id)
        return await original(conference_id, *args, **kwargs)

    gateway.bridge.join_phone = spy  # type: ignore[method-assign]
    scenario = _scenario_for(conference["pin"], tmp_path)
    code, log = await run_sipp(str(scenario), gateway, tmp_path, timeout=40)
    assert code == 0, log
    assert joined == [conference["id"]]
    assert gateway.stats["calls_joined"] == 1 and gateway.stats["pin_failures"] == 0
    assert not gateway.calls and gateway.ports.in_use == set()
