"""Moderators and phones over real SIP: a locked room refuses a caller, a lobbied one holds
it until admitted, and ending the meeting hangs every phone up (BYE)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import base_url
from tests.integration.dialin.test_sip_gateway import free_port_range
from tests.support.dialin import TestPhone

from snapconf.client import Client

PIN = "4321"


async def _server(make_server: Any) -> Any:
    low, high = free_port_range()
    return await make_server(
        sfu={"first_moderator": True},
        sip={
            "port": 0,
            "ring_time": 0.05,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "static_conferences": {"salle": PIN},
        },
    )


async def _dial(server: Any) -> TestPhone:
    phone = TestPhone(("127.0.0.1", server.gateway.udp_port))
    await phone.open()
    await phone.call()
    await phone.send_dtmf(PIN + "#")
    return phone


def _phones(client: Client) -> list[str]:
    return [p["id"] for p in client.participants.values() if p["kind"] == "phone"]


async def test_a_locked_conference_refuses_a_new_phone_with_a_prompt_and_a_bye(make_server):
    server = await _server(make_server)
    async with Client(base_url(server), "salle", "Modératrice", decode=False) as moderator:
        await moderator.request({"type": "setLocked", "locked": True})
        phone = await _dial(server)
        try:
            bye = await phone.expect_request("BYE", timeout=20)
            assert bye.method == "BYE"
            # it heard why ("la conférence est verrouillée"), in RTP before the BYE
            assert server.gateway.stats["join_refused_conference_locked"] == 1
            assert phone.rtp_queue.qsize() > 100
            assert _phones(moderator) == []
            assert server.gateway.stats["calls_joined"] == 0
        finally:
            phone.close()


async def test_ending_the_meeting_for_all_hangs_up_the_phone(make_server):
    server = await _server(make_server)
    async with Client(base_url(server), "salle", "Modératrice", decode=False) as moderator:
        phone = await _dial(server)
        try:
            await moderator.wait_for(lambda c: len(_phones(c)) == 1, timeout=20)
            await moderator.send({"type": "endConference"})
            bye = await phone.expect_request("BYE", timeout=10)
            assert bye.method == "BYE"
            await moderator.wait_for(
                lambda c: {"type": "left", "reason": "ended_by_moderator"} in c.events
            )
        finally:
            phone.close()


async def test_a_phone_waits_in_the_lobby_until_a_moderator_admits_it(make_server):
    server = await _server(make_server)
    async with Client(base_url(server), "salle", "Modératrice", decode=False) as moderator:
        await moderator.request({"type": "setLobby", "enabled": True})
        phone = await _dial(server)
        try:

            def phone_waits(c: Client) -> bool:
                lobby = [e for e in c.events if e["type"] == "lobbyChanged"]
                return bool(lobby) and [w["kind"] for w in lobby[-1]["waiting"]] == ["phone"]

            await moderator.wait_for(phone_waits, timeout=20)
            assert _phones(moderator) == []
            stats = server.gateway.stats
            for _ in range(100):
                if stats["lobby_prompts"]:
                    break
                await phone.collect_rtp(0.1)
            assert stats["lobby_prompts"] >= 1  # "veuillez patienter"
            await moderator.request({"type": "admit"})
            await moderator.wait_for(lambda c: len(_phones(c)) == 1, timeout=10)
            # a moderator mutes the phone like anyone
            (phone_id,) = _phones(moderator)
            await moderator.request({"type": "muteParticipant", "participantId": phone_id})
            conference = server.conferences.get("salle")
            assert all(t.producer.muted for t in conference.participants[phone_id].tracks.values())
            # the caller hears what happened, and that a moderator asks to unmute
            await moderator.request({"type": "askToUnmute", "participantId": phone_id})
            deadline = asyncio.get_running_loop().time() + 20  # one prompt after the other
            while asyncio.get_running_loop().time() < deadline:
                if stats["notice_muted_by_moderator"] and stats["notice_unmute_requested"]:
                    break
                await phone.collect_rtp(0.1)
            assert (stats["notice_muted_by_moderator"], stats["notice_unmute_requested"]) == (1, 1)
        finally:
            phone.close()


async def test_a_removed_phone_is_told_hung_up_and_refused_when_it_calls_again(make_server):
    server = await _server(make_server)
    async with Client(base_url(server), "salle", "Modératrice", decode=False) as moderator:
        phone = await _dial(server)
        try:
            await moderator.wait_for(lambda c: len(_phones(c)) == 1, timeout=20)
            (phone_id,) = _phones(moderator)
            await moderator.request({"type": "removeParticipant", "participantId": phone_id})
            bye = await phone.expect_request("BYE", timeout=15)  # after "vous avez été retiré"
            assert bye.method == "BYE"
        finally:
            phone.close()
        again = await _dial(server)  # the same number
        try:
            bye = await again.expect_request("BYE", timeout=20)
            assert bye.method == "BYE"
            assert server.gateway.stats["join_refused_removed"] == 1
            assert _phones(moderator) == []
        finally:
            again.close()
