"""The conference chat: limits with stable codes, the kept history, who reads what."""

from __future__ import annotations

from typing import Any

import pytest

from snapconf.conference.admission import JoinRequest
from snapconf.conference.chat import Chat, ChatConfig
from snapconf.conference.conference import SfuConfig
from snapconf.conference.manager import Conferences
from snapconf.conference.participant import Participant
from snapconf.errors import BadMessage, ChatRateLimited, ChatTooLong, UnknownParticipant
from snapconf.media.config import MediaConfig
from snapconf.media.server import MediaServer

#: 2026-12-07T20:00:00Z
WALL = 1796673600.0


class Clocks:
    def __init__(self) -> None:
        self.now = 100.0
        self.wall = WALL

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


def _chat(**config: Any) -> tuple[Chat, Clocks]:
    clocks = Clocks()
    chat = Chat(ChatConfig(**config), clock=lambda: clocks.now, wall_clock=lambda: clocks.wall)
    return chat, clocks


def test_a_message_is_stamped_with_an_id_and_its_utc_time():
    chat, _ = _chat()
    first = chat.post("pa", "Alice", "Bonjour")
    second = chat.post("pb", "Bob", "Salut", to="pa", to_name="Alice")
    assert first.describe() == {
        "messageId": "m1",
        "from": "pa",
        "fromName": "Alice",
        "text": "Bonjour",
        "at": "2026-12-07T20:00:00.000+00:00",
    }
    assert second.describe()["messageId"] == "m2"
    assert (second.describe()["to"], second.describe()["toName"]) == ("pa", "Alice")


def test_a_message_longer_than_the_limit_is_refused_as_chat_too_long():
    chat, _ = _chat(max_length=10)
    chat.post("pa", "Alice", "x" * 10)
    with pytest.raises(ChatTooLong) as info:
        chat.post("pa", "Alice", "x" * 11)
    assert info.value.code == "chat_too_long"
    assert info.value.details == {"maxLength": 10}
    assert len(chat.messages) == 1


def test_an_empty_or_blank_message_is_a_bad_message():
    chat, _ = _chat()
    for text in ("", "   \n\t ", "\x00\x07"):
        with pytest.raises(BadMessage):
            chat.post("pa", "Alice", text)
    assert chat.messages == []


def test_line_ends_are_kept_as_newlines_and_control_characters_dropped():
    chat, _ = _chat()
    message = chat.post("pa", "Alice", "  un\r\ndeux\rtrois\x1b[31m\tquatre  ")
    assert message.text == "un\ndeux\ntrois[31m\tquatre"


def test_markup_is_kept_verbatim_since_pages_show_it_as_text():
    chat, _ = _chat()
    text = '<script>alert(1)</script> <img src=x onerror="alert(2)">'
    assert chat.post("pa", "Alice", text).text == text


def test_a_burst_beyond_the_rate_is_refused_until_the_window_slides():
    chat, clocks = _chat(rate_burst=5, rate_window=5.0)
    for n in range(5):
        chat.post("pa", "Alice", f"message {n}")
        clocks.advance(0.5)
    with pytest.raises(ChatRateLimited) as info:
        chat.post("pa", "Alice", "one too many")
    assert info.value.code == "chat_rate_limited"
    assert info.value.details == {"retryAfter": 2.5}
    chat.post("pb", "Bob", "others are not limited by alice")
    clocks.advance(2.5)  # the first message leaves the window
    chat.post("pa", "Alice", "again")
    with pytest.raises(ChatRateLimited):
        chat.post("pa", "Alice", "and again")
    assert chat.refused == {"chat_rate_limited": 2}


def test_refused_messages_do_not_count_against_the_rate():
    chat, _ = _chat(rate_burst=2, max_length=5)
    for _ in range(5):
        with pytest.raises(ChatTooLong):
            chat.post("pa", "Alice", "far too long")
    chat.post("pa", "Alice", "one")
    chat.post("pa", "Alice", "two")


def test_the_history_keeps_the_last_messages_only():
    chat, _ = _chat(history=3, rate_burst=100)
    for n in range(5):
        chat.post("pa", "Alice", f"m{n}")
    assert [m.text for m in chat.history_for("pz")] == ["m2", "m3", "m4"]


def test_a_participant_reads_public_messages_and_only_its_own_private_ones():
    chat, _ = _chat()
    chat.post("pa", "Alice", "à tous")
    chat.post("pa", "Alice", "pour Bob", to="pb", to_name="Bob")
    chat.post("pc", "Carol", "pour Alice", to="pa", to_name="Alice")
    assert [m.text for m in chat.history_for("pa")] == ["à tous", "pour Bob", "pour Alice"]
    assert [m.text for m in chat.history_for("pb")] == ["à tous", "pour Bob"]
    assert [m.text for m in chat.history_for("pd")] == ["à tous"]


def test_bad_limits_are_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"chat\.max_length"):
        ChatConfig(max_length=0)
    with pytest.raises(ValueError, match=r"chat\.rate_burst"):
        ChatConfig(rate_burst=0)


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


async def _room(names: list[str], kinds: dict[str, str] | None = None):
    clock = 100.0
    media = MediaServer(MediaConfig(), clock=lambda: clock)
    conferences = Conferences(media, SfuConfig(), lambda: clock, wall_clock=lambda: WALL)
    listeners: dict[str, Listener] = {}
    people: dict[str, Participant] = {}
    for name in names:
        listeners[name] = Listener()
        kind = (kinds or {}).get(name, "browser")
        conference, people[name] = await conferences.join(
            JoinRequest("salle", name, kind=kind), listeners[name], webrtc=False
        )
    return conferences, conference, listeners, people


async def test_a_public_message_reaches_the_others_and_the_sender_gets_its_copy():
    conferences, conference, listeners, people = await _room(["alice", "bob", "carol"])
    try:
        copy = conference.send_chat(people["alice"], "Bonjour à tous")
        assert copy["type"] == "chat" and copy["from"] == people["alice"].id
        assert "to" not in copy
        for name in ("bob", "carol"):
            assert [e["text"] for e in listeners[name].of("chat")] == ["Bonjour à tous"]
        assert listeners["alice"].of("chat") == []  # its copy is the answer
    finally:
        conferences.close()


async def test_a_private_message_reaches_only_its_recipient():
    conferences, conference, listeners, people = await _room(["alice", "bob", "carol"])
    try:
        bob = people["bob"]
        copy = conference.send_chat(people["alice"], "psst", to=bob.id)
        assert (copy["to"], copy["toName"]) == (bob.id, "bob")
        assert [e["text"] for e in listeners["bob"].of("chat")] == ["psst"]
        assert listeners["carol"].of("chat") == []
        assert conference.chat_history(people["carol"]) == []
        assert [m["text"] for m in conference.chat_history(bob)] == ["psst"]
    finally:
        conferences.close()


async def test_a_private_message_to_nobody_here_to_oneself_or_to_a_phone_is_refused():
    conferences, conference, listeners, people = await _room(
        ["alice", "phone"], kinds={"phone": "phone"}
    )
    try:
        alice = people["alice"]
        with pytest.raises(UnknownParticipant):
            conference.send_chat(alice, "allô ?", to="p-gone")
        with pytest.raises(BadMessage, match="own"):
            conference.send_chat(alice, "moi", to=alice.id)
        with pytest.raises(BadMessage, match="phone"):
            conference.send_chat(alice, "allô ?", to=people["phone"].id)
        assert conference.chat.messages == []
        assert listeners["phone"].of("chat") == []
    finally:
        conferences.close()
