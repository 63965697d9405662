"""Chat and raised hands over real WebSockets (docs/signaling.md), browsers and a phone."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from tests.conftest import base_url
from tests.integration.dialin.test_sip_gateway import free_port_range
from tests.support.dialin import TestPhone

from snapconf.client import Client, SignalingError

SECRET = "a-join-secret-for-tests-0123456789abcdef"
PIN = "4321"


def _token(role: str, name: str) -> str:
    claims = {"room": "salle", "exp": time.time() + 3600, "role": role, "name": name}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _of(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"] == kind]


async def test_a_public_message_reaches_everyone_and_the_sender_gets_it_as_its_answer(server):
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice, Client(url, "salle", "bob") as bob:
        copy = await alice.request({"type": "chat", "text": "Bonjour <b>à tous</b>"})
        assert copy["type"] == "chat" and isinstance(copy["id"], int)  # the request's id
        assert copy["from"] == alice.participant_id and copy["fromName"] == "alice"
        assert copy["text"] == "Bonjour <b>à tous</b>" and "to" not in copy
        assert copy["at"].endswith("+00:00") and copy["messageId"].startswith("m")
        await bob.wait_for(lambda c: bool(_of(c, "chat")))
        (received,) = _of(bob, "chat")
        assert received == {k: v for k, v in copy.items() if k != "id"}
        assert _of(alice, "chat") == []  # one copy only: the answer


async def test_a_private_message_reaches_only_its_recipient_and_its_sender(server):
    url = base_url(server)
    async with (
        Client(url, "salle", "alice") as alice,
        Client(url, "salle", "bob") as bob,
        Client(url, "salle", "carol") as carol,
    ):
        copy = await alice.request({"type": "chat", "text": "psst", "to": bob.participant_id})
        assert (copy["to"], copy["toName"]) == (bob.participant_id, "bob")
        await bob.wait_for(lambda c: bool(_of(c, "chat")))
        await alice.request({"type": "chat", "text": "à tous"})
        await carol.wait_for(lambda c: bool(_of(c, "chat")))
        await bob.wait_for(lambda c: len(_of(c, "chat")) == 2)
        assert [e["text"] for e in _of(carol, "chat")] == ["à tous"]
        assert [e["text"] for e in _of(bob, "chat")] == ["psst", "à tous"]


async def test_a_late_joiner_gets_the_public_history_and_nothing_private_of_others(server):
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice, Client(url, "salle", "bob") as bob:
        await alice.request({"type": "chat", "text": "premier"})
        await alice.request({"type": "chat", "text": "secret", "to": bob.participant_id})
        await bob.request({"type": "chat", "text": "second"})
        late = Client(url, "salle", "carol")
        try:
            joined = await late.join()
            assert [m["text"] for m in joined["chat"]] == ["premier", "second"]
            assert [m["fromName"] for m in joined["chat"]] == ["alice", "bob"]
            assert joined["raisedHands"] == []
        finally:
            await late.close()


async def test_chat_refusals_have_stable_codes_and_keep_the_socket(make_server):
    server = await make_server(chat={"max_length": 20, "rate_burst": 3, "rate_window": 60.0})
    url = base_url(server)
    async with Client(url, "salle", "alice") as alice:
        cases = [
            ({"type": "chat"}, "bad_message"),
            ({"type": "chat", "text": 5}, "bad_message"),
            ({"type": "chat", "text": "   "}, "bad_message"),
            ({"type": "chat", "text": "x" * 21}, "chat_too_long"),
            ({"type": "chat", "text": "salut", "to": "p-nobody"}, "unknown_participant"),
            ({"type": "chat", "text": "salut", "to": 7}, "bad_message"),
        ]
        for message, code in cases:
            with pytest.raises(SignalingError) as info:
                await alice.request(message)
            assert info.value.code == code, message
        for n in range(3):
            await alice.request({"type": "chat", "text": f"n{n}"})
        with pytest.raises(SignalingError) as info:
            await alice.request({"type": "chat", "text": "trop"})
        assert info.value.code == "chat_rate_limited"
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
    outsider = Client(url, "salle", "x")
    await outsider.connect()
    try:
        with pytest.raises(SignalingError) as info:
            await outsider.request({"type": "chat", "text": "hors salle"})
        assert info.value.code == "not_joined"
    finally:
        await outsider.close()


async def test_a_moderator_sees_hands_in_order_and_lowers_one(make_server):
    server = await make_server(auth={"jwt_secret": SECRET})
    url = base_url(server)
    async with (
        Client(url, "salle", "m", token=_token("moderator", "Mme Martin")) as mod,
        Client(url, "salle", "a", token=_token("participant", "Alice")) as alice,
        Client(url, "salle", "b", token=_token("participant", "Bob")) as bob,
    ):
        answer = await bob.request({"type": "raiseHand", "raised": True})
        assert (answer["type"], answer["raised"], answer["queue"]) == (
            "handRaised",
            True,
            [bob.participant_id],
        )
        await alice.request({"type": "raiseHand", "raised": True})
        order = [bob.participant_id, alice.participant_id]
        await mod.wait_for(lambda c: any(e["queue"] == order for e in _of(c, "handRaised")))
        # a participant may not lower another's hand
        with pytest.raises(SignalingError) as info:
            await alice.request({"type": "lowerHand", "participantId": bob.participant_id})
        assert info.value.code == "not_moderator"
        with pytest.raises(SignalingError) as info:
            await mod.request({"type": "lowerHand", "participantId": "p-nobody"})
        assert info.value.code == "unknown_participant"
        with pytest.raises(SignalingError) as info:
            await mod.request({"type": "raiseHand"})
        assert info.value.code == "bad_message"
        # a late joiner sees the queue and the hands on the participant objects
        late = Client(url, "salle", "c", token=_token("participant", "Carol"))
        try:
            joined = await late.join()
            assert joined["raisedHands"] == order
            hands = {p["id"]: p["handRaised"] for p in joined["participants"]}
            assert hands == {
                mod.participant_id: False,
                alice.participant_id: True,
                bob.participant_id: True,
            }
        finally:
            await late.close()
        answer = await mod.request({"type": "lowerHand", "participantId": bob.participant_id})
        assert (answer["raised"], answer["by"], answer["queue"]) == (
            False,
            mod.participant_id,
            [alice.participant_id],
        )
        await bob.wait_for(
            lambda c: any(
                e["participantId"] == bob.participant_id and not e["raised"]
                for e in _of(c, "handRaised")
            )
        )
        await alice.request({"type": "raiseHand", "raised": False})
        await mod.wait_for(lambda c: _of(c, "handRaised")[-1]["queue"] == [])


async def test_a_phone_raises_and_lowers_its_hand_with_star_9(make_server):
    low, high = free_port_range()
    server = await make_server(
        sip={
            "port": 0,
            "ring_time": 0.05,
            "rtp_port_min": low,
            "rtp_port_max": high,
            "static_conferences": {"salle": PIN},
        }
    )
    gateway = server.gateway
    assert gateway is not None
    async with Client(base_url(server), "salle", "alice", decode=False) as browser:
        phone = TestPhone(("127.0.0.1", gateway.udp_port))
        await phone.open()
        try:
            await phone.call()
            await phone.send_dtmf(PIN + "#")
            await browser.wait_for(
                lambda c: any(p["kind"] == "phone" for p in c.participants.values())
            )
            (phone_id,) = [p["id"] for p in browser.participants.values() if p["kind"] == "phone"]
            await phone.send_dtmf("*9")
            await browser.wait_for(
                lambda c: any(
                    e["participantId"] == phone_id and e["raised"] and e["queue"] == [phone_id]
                    for e in _of(c, "handRaised")
                )
            )
            await browser.request({"type": "raiseHand", "raised": True})
            await phone.send_dtmf("*9")
            await browser.wait_for(
                lambda c: _of(c, "handRaised")[-1]["queue"] == [browser.participant_id]
            )
        finally:
            phone.close()
