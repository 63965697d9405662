"""A conference's chat: messages to everyone or to one participant, kept while it lasts.

Pure: no asyncio, no sockets. :class:`Chat` checks a message (length, the sender's rate),
stamps it with an id and the time, and keeps the last ``history`` messages so that a late
joiner sees the meeting's history (:meth:`Chat.history_for`: every public message, and the
private ones it sent or received). Who receives a message is the conference's business
(:meth:`snapconf.conference.Conference.send_chat`); the text is never interpreted here,
pages show it as text.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from snapconf.errors import BadMessage, ChatRateLimited, ChatTooLong

__all__ = ["Chat", "ChatConfig", "ChatMessage"]

#: C0 and C1 control characters, except tab and line feed (kept: a message may have lines)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(slots=True)
class ChatConfig:
    """Chat limits (section ``[chat]``)."""

    #: longest message, in characters (after line ends are made ``\\n``)
    max_length: int = 2000
    #: messages kept per conference, public and private together; the oldest go first
    history: int = 500
    #: messages one participant may send within ``rate_window`` seconds
    rate_burst: int = 5
    #: seconds of the sliding window of ``rate_burst``
    rate_window: float = 5.0

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError("chat.max_length is less than 1")
        if self.history < 0:
            raise ValueError("chat.history is negative")
        if self.rate_burst < 1:
            raise ValueError("chat.rate_burst is less than 1")
        if self.rate_window < 0:
            raise ValueError("chat.rate_window is negative")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message as it was sent: ``to`` is None for everyone, else a participant id."""

    id: str
    sender_id: str
    sender_name: str
    text: str
    #: wall-clock seconds since the epoch
    at: float
    to: str | None = None
    to_name: str | None = None

    def visible_to(self, participant_id: str) -> bool:
        """Public, or sent or received by ``participant_id``."""
        return self.to is None or participant_id in (self.sender_id, self.to)

    def describe(self) -> dict[str, Any]:
        """The signaling ``chat`` object (docs/signaling.md): ``messageId``, since ``id``
        is the request id a client may match its copy with."""
        message: dict[str, Any] = {
            "messageId": self.id,
            "from": self.sender_id,
            "fromName": self.sender_name,
            "text": self.text,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds"),
        }
        if self.to is not None:
            message["to"] = self.to
            message["toName"] = self.to_name or ""
        return message


def normalise(text: str) -> str:
    """Line ends made ``\\n``, control characters (but tab and line feed) removed, outer
    blanks stripped."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


class Chat:
    """The chat of one conference.

    ``clock`` (monotonic seconds) measures the rate limit; ``wall_clock`` (seconds since
    the epoch) stamps the messages.
    """

    def __init__(
        self,
        config: ChatConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or ChatConfig()
        self.clock = clock
        self.wall_clock = wall_clock
        self._history: deque[ChatMessage] = deque(maxlen=self.config.history)
        #: send times within the window, by sender
        self._sent: dict[str, deque[float]] = {}
        self._next = 1
        #: messages accepted, and refused by error code
        self.posted = 0
        self.refused: dict[str, int] = {}

    def post(
        self,
        sender_id: str,
        sender_name: str,
        text: str,
        *,
        to: str | None = None,
        to_name: str | None = None,
    ) -> ChatMessage:
        """Check, stamp and keep one message; returns it.

        Raises :class:`~snapconf.errors.BadMessage` for a text empty once normalised,
        :class:`~snapconf.errors.ChatTooLong` beyond ``max_length`` characters and
        :class:`~snapconf.errors.ChatRateLimited` (``details``: ``retryAfter`` seconds)
        when the sender already sent ``rate_burst`` messages in the last ``rate_window``
        seconds. A refused message is not counted against the rate.
        """
        config = self.config
        try:
            text = normalise(text)
            if not text:
                raise BadMessage("text is empty")
            if len(text) > config.max_length:
                raise ChatTooLong(
                    f"text has {len(text)} characters, more than {config.max_length}",
                    {"maxLength": config.max_length},
                )
            now = self.clock()
            sent = self._sent.setdefault(sender_id, deque())
            while sent and sent[0] <= now - config.rate_window:
                sent.popleft()
            if len(sent) >= config.rate_burst:
                retry = max(0.0, sent[0] + config.rate_window - now)
                raise ChatRateLimited(
                    f"more than {config.rate_burst} messages in {config.rate_window:g} s",
                    {"retryAfter": round(retry, 3)},
                )
        except (BadMessage, ChatTooLong, ChatRateLimited) as exc:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
            raise
        sent.append(now)
        message = ChatMessage(
            id=f"m{self._next}",
            sender_id=sender_id,
            sender_name=sender_name,
            text=text,
            at=self.wall_clock(),
            to=to,
            to_name=to_name,
        )
        self._next += 1
        self.posted += 1
        self._history.append(message)
        return message

    def history_for(self, participant_id: str) -> list[ChatMessage]:
        """What ``participant_id`` may read of the kept history, oldest first."""
        return [m for m in self._history if m.visible_to(participant_id)]

    @property
    def messages(self) -> list[ChatMessage]:
        """Every kept message, oldest first (the organiser's export)."""
        return list(self._history)

    def forget(self, participant_id: str) -> None:
        """A participant left: drop its rate window (its messages stay in the history)."""
        self._sent.pop(participant_id, None)
