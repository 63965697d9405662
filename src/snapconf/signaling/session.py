"""One participant's WebSocket signaling session (docs/signaling.md).

Incoming messages are validated field by field and answered; conference events are
queued synchronously by :meth:`event` and written by one writer task, so the media and
conference code never awaits on a socket.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from snapconf.conference import Conference, Conferences, Participant, RoomFullError, valid_room_name
from snapconf.conference.conference import AUDIO_MODES
from snapconf.conference.participant import MIX_KEY
from snapconf.errors import (
    AlreadyJoined,
    BadJson,
    BadMessage,
    BadSdp,
    MessageTooLarge,
    NotJoined,
    RoomFull,
    SnapconfError,
    StaleAnswer,
    UnknownTrack,
    UnknownType,
)
from snapconf.media.sdp import SdpError
from snapconf.signaling.admission import Admission

log = logging.getLogger(__name__)

_HANDLERS = {
    "join": "_on_join",
    "publish": "_on_publish",
    "answer": "_on_answer",
    "mute": "_on_mute",
    "requestKeyframe": "_on_request_keyframe",
    "setAudioMode": "_on_set_audio_mode",
    "leave": "_on_leave",
    "ping": "_on_ping",
}
MESSAGE_TYPES = frozenset(_HANDLERS)


@dataclass(slots=True)
class SignalingConfig:
    """WebSocket limits (section ``[signaling]``)."""

    #: largest accepted message, bytes
    max_message_bytes: int = 256 * 1024
    #: seconds between WebSocket pings from the server (0: none)
    heartbeat: float = 20.0
    #: seconds a socket may stay open without joining
    join_timeout: float = 30.0


@dataclass(slots=True)
class SignalingStats:
    sessions: int = 0
    messages_in: int = 0
    messages_out: int = 0
    #: errors answered, by code
    errors: Counter[str] = field(default_factory=Counter)


def _field(msg: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = msg.get(name)
    if value is None:
        if required:
            raise BadMessage(f"{name} is missing")
        return None
    if kind is str and not isinstance(value, str):
        raise BadMessage(f"{name} is not a string")
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadMessage(f"{name} is not an integer")
    if kind is bool and not isinstance(value, bool):
        raise BadMessage(f"{name} is not a boolean")
    if kind is dict and not isinstance(value, dict):
        raise BadMessage(f"{name} is not an object")
    return value


class SignalingSession:
    """Implements :class:`snapconf.conference.ParticipantListener` for one socket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        conferences: Conferences,
        admission: Admission,
        config: SignalingConfig,
        stats: SignalingStats,
        clock: Callable[[], float],
    ) -> None:
        self.ws = ws
        self.conferences = conferences
        self.admission = admission
        self.config = config
        self.stats = stats
        self.clock = clock
        self.participant: Participant | None = None
        self.conference: Conference | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._offer_pending = False
        self._offer_needed = False
        self._offer_scheduled = False
        self._closing = False

    # -- ParticipantListener ----------------------------------------------------------------
    def event(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    def renegotiate(self) -> None:
        if self._offer_pending:
            self._offer_needed = True
        elif not self._offer_scheduled:
            self._offer_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_offer)

    def closed(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._outbox.put_nowait({"type": "left", "reason": reason})
            self._outbox.put_nowait(None)

    # -- loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        self.stats.sessions += 1
        writer = asyncio.create_task(self._writer())
        join_deadline = asyncio.get_running_loop().call_later(
            self.config.join_timeout, self._join_timeout
        )
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._error(BadJson("binary messages are not accepted"), None)
                elif msg.type == WSMsgType.ERROR:
                    exc = self.ws.exception()
                    if "too big" in str(exc).lower() or "message size" in str(exc).lower():
                        self.stats.errors["message_too_large"] += 1
                    break
                if self.participant is not None:
                    join_deadline.cancel()
                if self._closing:
                    break
        finally:
            join_deadline.cancel()
            self._leave("disconnected")
            self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 5)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            if not self.ws.closed:
                await self.ws.close()

    def _join_timeout(self) -> None:
        if self.participant is None and not self._closing:
            self.closed("join timeout")

    async def _writer(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                if self._closing and not self.ws.closed:
                    await self.ws.close()
                return
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(json.dumps(message, separators=(",", ":")))
                self.stats.messages_out += 1
            except (ConnectionError, RuntimeError):
                return

    async def _on_text(self, text: str) -> None:
        self.stats.messages_in += 1
        request_id: Any = None
        try:
            if len(text) > self.config.max_message_bytes:
                raise MessageTooLarge(
                    f"message is larger than {self.config.max_message_bytes} bytes"
                )
            try:
                msg = json.loads(text)
            except ValueError as exc:
                raise BadJson(f"message is not valid JSON: {exc.args[0]}") from exc
            if not isinstance(msg, dict):
                raise BadJson("message is not a JSON object")
            request_id = msg.get("id")
            if request_id is not None and not isinstance(request_id, (str, int)):
                request_id = None
                raise BadMessage("id is not a string or an integer")
            mtype = _field(msg, "type", str)
            if mtype not in MESSAGE_TYPES:
                raise UnknownType(f"unknown message type {mtype[:40]!r}")
            handler = getattr(self, _HANDLERS[mtype])
            reply = handler(msg)
            if inspect.isawaitable(reply):
                reply = await reply
            if reply is not None:
                if request_id is not None:
                    reply["id"] = request_id
                self.event(reply)
        except MessageTooLarge as exc:
            self._error(exc, request_id)
            self.closed("message too large")
        except SnapconfError as exc:
            self._error(exc, request_id)
        except Exception:
            log.exception("signaling: internal error")
            self._error(SnapconfError("internal server error"), request_id)

    def _error(self, exc: SnapconfError, request_id: Any) -> None:
        self.stats.errors[exc.code] += 1
        message: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
        if request_id is not None:
            message["id"] = request_id
        self.event(message)

    # -- handlers -----------------------------------------------------------------------
    def _require_joined(self) -> tuple[Conference, Participant]:
        if self.conference is None or self.participant is None:
            raise NotJoined("join a room first")
        return self.conference, self.participant

    def _on_ping(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong"}

    async def _on_join(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.participant is not None:
            raise AlreadyJoined("already joined a room")
        room = _field(msg, "room", str)
        if not valid_room_name(room):
            raise BadMessage("room is not 1-64 characters of A-Z a-z 0-9 . _ -")
        name = _field(msg, "displayName", str).strip()
        if not 1 <= len(name) <= 64:
            raise BadMessage("displayName is not 1-64 characters")
        grant = await self.admission.admit(room, name, msg.get("token"))
        if self.participant is not None or self._closing:  # joined or left meanwhile
            raise AlreadyJoined("already joined a room")
        role = grant.role
        name = grant.name or name
        conference = self.conferences.get_or_create(room)
        participant = Participant(display_name=name, role=role, listener=self, clock=self.clock)
        others = [p.describe() for p in conference.participants.values()]
        try:
            conference.join(participant)
        except RoomFullError as exc:
            self.conferences.discard_if_empty(conference)
            raise RoomFull(f"room {room} is full") from exc
        self.conference = conference
        self.participant = participant
        return {
            "type": "joined",
            "participantId": participant.id,
            "room": room,
            "role": role,
            "participants": others,
        }

    def _on_publish(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        sdp = _field(msg, "sdp", str)
        tracks = _field(msg, "tracks", dict, required=False) or {}
        sources: dict[str, str] = {}
        for mid, info in tracks.items():
            if not isinstance(info, dict) or not isinstance(info.get("source"), str):
                raise BadMessage(f"tracks.{str(mid)[:16]}.source is not a string")
            sources[str(mid)] = info["source"]
        try:
            answer, track_ids = conference.publish(participant, sdp, sources)
        except SdpError as exc:
            raise BadSdp(str(exc)) from exc
        return {"type": "answer", "sdp": answer, "tracks": track_ids}

    def _on_answer(self, msg: dict[str, Any]) -> None:
        _, participant = self._require_joined()
        sdp = _field(msg, "sdp", str)
        version = _field(msg, "version", int)
        if not self._offer_pending or version != participant.receive_session.version:
            raise StaleAnswer(f"answer to offer {version} is not for the latest offer")
        try:
            participant.apply_receive_answer(sdp)
        except SdpError as exc:
            raise BadSdp(str(exc)) from exc
        finally:
            self._offer_pending = False
        if self._offer_needed:
            self._offer_needed = False
            self.renegotiate()
        return None

    def _on_mute(self, msg: dict[str, Any]) -> None:
        conference, participant = self._require_joined()
        track_id = _field(msg, "trackId", str)
        muted = _field(msg, "muted", bool)
        if not conference.set_muted(participant, track_id, muted):
            raise UnknownTrack(f"track {track_id[:32]} is not yours")
        return None

    def _on_request_keyframe(self, msg: dict[str, Any]) -> None:
        conference, participant = self._require_joined()
        track_id = _field(msg, "trackId", str)
        if not conference.request_keyframe(participant, track_id):
            raise UnknownTrack(f"you do not receive track {track_id[:32]}")
        return None

    def _on_set_audio_mode(self, msg: dict[str, Any]) -> None:
        conference, participant = self._require_joined()
        mode = _field(msg, "mode", str)
        if mode not in AUDIO_MODES:
            raise BadMessage("mode is not tracks or mix")
        conference.set_audio_mode(participant, mode)
        return None

    def _on_leave(self, msg: dict[str, Any]) -> None:
        self._require_joined()
        self._leave("left")
        self.closed("left")
        return None

    # -- offers ---------------------------------------------------------------------------
    def _send_offer(self) -> None:
        self._offer_scheduled = False
        participant = self.participant
        if participant is None or participant.closed or participant.recv_transport is None:
            return
        if self._offer_pending:
            self._offer_needed = True
            return
        session = participant.receive_session
        local = participant.local_endpoint(
            participant.recv_transport, participant.recv_transport.server
        )
        sdp = session.offer(local)
        tracks: dict[str, dict[str, str]] = {}
        for slot in session.slots:
            if slot.consumer_key is None:
                continue
            if slot.consumer_key == MIX_KEY:
                tracks[slot.mid] = {
                    "participantId": "",
                    "trackId": MIX_KEY,
                    "kind": "audio",
                    "source": "mix",
                }
                continue
            consumer = participant.consumers.get(slot.consumer_key)
            if consumer is None:
                continue
            producer = consumer.producer
            tracks[slot.mid] = {
                "participantId": producer.owner_id,
                "trackId": producer.id,
                "kind": producer.kind,
                "source": producer.source,
            }
        self._offer_pending = True
        self.event({"type": "offer", "sdp": sdp, "version": session.version, "tracks": tracks})

    def _leave(self, reason: str) -> None:
        if self.conference is not None and self.participant is not None:
            self.conference.leave(self.participant, reason=reason)


class SignalingService:
    """``GET /ws``: upgrades and runs one :class:`SignalingSession` per socket."""

    def __init__(
        self,
        *,
        conferences: Conferences,
        admission: Admission,
        config: SignalingConfig,
        clock: Callable[[], float],
    ) -> None:
        self.conferences = conferences
        self.admission = admission
        self.config = config
        self.clock = clock
        self.stats = SignalingStats()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        config = self.config
        ws = web.WebSocketResponse(
            heartbeat=config.heartbeat or None,
            max_msg_size=max(2 * config.max_message_bytes, config.max_message_bytes + 65536),
        )
        await ws.prepare(request)
        session = SignalingSession(
            ws,
            conferences=self.conferences,
            admission=self.admission,
            config=config,
            stats=self.stats,
            clock=self.clock,
        )
        try:
            await session.run()
        finally:
            if not ws.closed:
                await ws.close(code=WSCloseCode.GOING_AWAY)
        return ws
