"""A publish m-section the server cannot take is logged and named in the answer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.conftest import base_url

from snapconf.client import Client

FIREFOX_OFFER = (Path(__file__).parents[1] / "data" / "firefox_publish_offer.sdp").read_text()
FIREFOX_OFFER = FIREFOX_OFFER.replace("\n", "\r\n")


async def test_a_firefox_offer_gets_its_bundle_only_video_taken(server):
    async with Client(base_url(server), "renard", "firefox") as client:
        reply = await client.request({"type": "publish", "sdp": FIREFOX_OFFER})
        assert sorted(reply["tracks"]) == ["0", "1"]
        assert reply["rejected"] == []


async def test_a_stopped_video_is_reported_to_the_page_and_logged_once(
    server, caplog: pytest.LogCaptureFixture
):
    # a stopped transceiver: port 0 and out of the BUNDLE group (RFC 8829 section 5.2.2)
    stopped = FIREFOX_OFFER.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0").replace(
        "a=bundle-only\r\n", ""
    )
    caplog.set_level(logging.INFO, logger="snapconf")
    async with Client(base_url(server), "renard", "firefox") as client:
        for _ in range(2):  # the next publish offers the stopped section again
            reply = await client.request({"type": "publish", "sdp": stopped})
            assert list(reply["tracks"]) == ["0"]
            assert reply["rejected"] == [{"mid": "1", "kind": "video", "reason": "stopped"}]
        participant_id = client.participant_id
    lines = [r.getMessage() for r in caplog.records if "not received" in r.getMessage()]
    assert lines == [
        f"conference renard: {participant_id}: video track of mid 1 not received (stopped)"
    ]
