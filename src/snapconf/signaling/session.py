"""One participant's WebSocket signaling session (docs/signaling.md).

Incoming messages are validated field by field and answered; conference events are
queued synchronously by :meth:`event` and written by one writer task, so the media and
conference code never awaits on a socket.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import logging
import os
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from snapconf.conference import Conference, Conferences, Participant, valid_room_name
from snapconf.conference.admission import JoinRequest
from snapconf.conference.conference import AUDIO_MODES
from snapconf.conference.participant import MIX_KEY, TrackView
from snapconf.errors import (
    AddressLimit,
    AlreadyJoined,
    BadJson,
    BadMessage,
    BadSdp,
    MessageTooLarge,
    NotJoined,
    SnapconfError,
    StaleAnswer,
    UnknownTrack,
    UnknownType,
)
from snapconf.media.sdp import RejectedSection, SdpError
from snapconf.signaling.moderation import MODERATION_TYPES
from snapconf.signaling.moderation import handle as moderate
from snapconf.web import peer_address

log = logging.getLogger(__name__)

_HANDLERS = {
    "join": "_on_join",
    "publish": "_on_publish",
    "answer": "_on_answer",
    "mute": "_on_mute",
    "requestKeyframe": "_on_request_keyframe",
    "setAudioMode": "_on_set_audio_mode",
    "setViews": "_on_set_views",
    "getStats": "_on_get_stats",
    "leave": "_on_leave",
    "restartMedia": "_on_restart_media",
    "ping": "_on_ping",
    "chat": "_on_chat",
    "raiseHand": "_on_raise_hand",
    "lowerHand": "_on_lower_hand",
    **{mtype: "_on_moderate" for mtype in MODERATION_TYPES},
}
MESSAGE_TYPES = frozenset(_HANDLERS)


#: most entries of one ``setViews`` (a page shows at most this many remote videos)
MAX_VIEWS = 64
#: largest tile side a page may report, device pixels (``setViews`` width and height)
MAX_VIEW_SIDE = 8192
#: longest track id accepted as a ``setViews`` key (the server's ids are far shorter)
MAX_VIEW_KEY = 64


def parse_views(value: Any) -> dict[str, TrackView]:
    """The ``views`` of a ``setViews`` message, validated (docs/signaling.md).

    ``{"<trackId>": {"visible": bool, "width": int, "height": int}}``, at most
    :data:`MAX_VIEWS` entries, sides from 0 to :data:`MAX_VIEW_SIDE`; anything else
    raises :class:`BadMessage` naming the field.
    """
    if not isinstance(value, dict):
        raise BadMessage("views is missing" if value is None else "views is not an object")
    if len(value) > MAX_VIEWS:
        raise BadMessage(f"views has more than {MAX_VIEWS} entries")
    views: dict[str, TrackView] = {}
    for track_id, view in value.items():
        if not 1 <= len(track_id) <= MAX_VIEW_KEY:
            raise BadMessage(f"views has a track id that is not 1-{MAX_VIEW_KEY} characters")
        name = f"views.{track_id[:16]}"
        if not isinstance(view, dict):
            raise BadMessage(f"{name} is not an object")
        visible = view.get("visible")
        if not isinstance(visible, bool):
            raise BadMessage(f"{name}.visible is not a boolean")
        sides = []
        for side in ("width", "height"):
            number = view.get(side)
            if (
                not isinstance(number, int)
                or isinstance(number, bool)
                or not 0 <= number <= MAX_VIEW_SIDE
            ):
                raise BadMessage(f"{name}.{side} is not an integer from 0 to {MAX_VIEW_SIDE}")
            sides.append(number)
        views[track_id] = TrackView(visible=visible, width=sides[0], height=sides[1])
    return views


@dataclass(slots=True)
class SignalingConfig:
    """WebSocket limits (section ``[signaling]``)."""

    #: largest accepted message, bytes
    max_message_bytes: int = 256 * 1024
    #: seconds between WebSocket pings from the server (0: none)
    heartbeat: float = 20.0
    #: seconds a socket may stay open without joining
    join_timeout: float = 30.0
    #: messages waiting to be written to one socket; beyond this the client is not reading
    #: (its TCP window stays shut) and the socket is closed (1008), so memory stays bounded
    max_queued_messages: int = 512
    #: characters of JSON waiting for one socket (one larger message alone still goes)
    max_queued_bytes: int = 1024 * 1024
    #: WebSockets open at once from one IP address (0: no cap); one office behind NAT may
    #: fill a booked conference (api.max_participants), hence more than 50
    max_sockets_per_address: int = 64
    #: participants joined at once from one IP address (0: no cap)
    max_participants_per_address: int = 50
    #: networks the two per-address caps do not apply to: loopback is a reverse proxy on
    #: this host (every client then shares its address: cap per client in the proxy) or
    #: a local load test; the descriptor headroom still applies to them
    caps_exempt: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: seconds a participant has, after its first offer or answer, to connect a media
    #: transport; one that connects neither is removed ("media timeout"). Listen-only
    #: participants connect their receive transport and stay; one alone in an empty room
    #: gets no offer and is left alone. 0: never
    media_timeout: float = 60.0
    #: browser origins allowed to open /ws besides the server's own (the request's Host and
    #: api.public_url), e.g. ["https://intranet.example.gouv.fr"]; a request without an
    #: Origin header (not a browser) is allowed
    allowed_origins: list[str] = field(default_factory=list)
    #: seconds a participant whose socket dropped without a ``leave`` keeps its seat (the
    #: others see ``participantReconnecting``); its page may ``join`` again with the
    #: ``resumeToken`` of its ``joined`` meanwhile. 0: it leaves at once
    reconnect_grace: float = 20.0
    #: descriptors kept free for the server's own work (joins, /metrics, the store):
    #: new sockets are refused (503) when fewer than this are left under RLIMIT_NOFILE
    descriptor_headroom: int = 64

    def __post_init__(self) -> None:
        for network in self.caps_exempt:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"signaling.caps_exempt: {network[:64]!r} is not an IP network"
                ) from None


@dataclass(slots=True)
class SignalingStats:
    sessions: int = 0
    messages_in: int = 0
    messages_out: int = 0
    #: errors answered, by code
    errors: Counter[str] = field(default_factory=Counter)
    #: sockets closed because their send queue was full (a client that does not read)
    outbox_overflows: int = 0
    #: WebSocket upgrades refused, by reason (too_many_sockets, origin, descriptors)
    refused: Counter[str] = field(default_factory=Counter)
    #: participants removed because no media transport connected in time
    media_timeouts: int = 0
    #: clock time of the last "send queue full" log line (logged once per interval)
    overflow_logged_at: float = float("-inf")


#: seconds between two "send queue full" log lines
OVERFLOW_LOG_INTERVAL = 60.0
#: close code for a socket whose send queue overflowed (RFC 6455 section 7.4.1)
CLOSE_QUEUE_FULL = WSCloseCode.POLICY_VIOLATION


def descriptors_left() -> int | None:
    """Descriptors this process may still open under its soft RLIMIT_NOFILE, or None."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return None
        return soft - len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _origin_key(origin: str) -> str:
    """``scheme://host:port`` with the default port made explicit, lower case; "" if bad."""
    try:
        url = URL(origin.strip())
    except ValueError:
        return ""
    if not url.scheme or not url.host:
        return ""
    return f"{url.scheme.lower()}://{url.host.lower()}:{url.port}"


def origin_allowed(request: web.Request, public_url: str, allowed: list[str]) -> bool:
    """Same-origin (the request's Host, or ``public_url``) or listed; no Origin: allowed.

    Browsers always send ``Origin`` on a WebSocket handshake (RFC 6455 section 4.1) and a
    page cannot forge it or ``Host``, so this stops other sites from opening signaling
    sockets in a visitor's browser (cross-site WebSocket hijacking, RFC 6455 section 10.2).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    key = _origin_key(origin)
    if not key:
        return False
    scheme = key.split("://", 1)[0]
    candidates = [f"{scheme}://{request.host}", public_url, *allowed]
    return any(c and _origin_key(c) == key for c in candidates)


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
        config: SignalingConfig,
        stats: SignalingStats,
        clock: Callable[[], float],
        address: str = "",
        participants_by_address: Counter[str] | None = None,
        abort: Callable[[], None] | None = None,
    ) -> None:
        self.ws = ws
        self.conferences = conferences
        self.config = config
        self.stats = stats
        self.clock = clock
        #: the TCP peer's IP address, for the per-address caps
        self.address = address
        #: whether the per-address caps apply to this peer (see ``caps_exempt``)
        self.capped = True
        self._participants_by_address = (
            participants_by_address if participants_by_address is not None else Counter()
        )
        self._holds_participant_slot = False
        #: drops the TCP connection at once (a client that does not read gets no close frame)
        self._abort = abort
        self.participant: Participant | None = None
        self.conference: Conference | None = None
        #: serialised messages waiting for the writer (None: stop), and their total size
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._queued_bytes = 0
        self._overflowed = False
        self._closer: asyncio.Task[None] | None = None
        self._media_deadline: asyncio.TimerHandle | None = None
        self._offer_pending = False
        self._offer_needed = False
        self._offer_scheduled = False
        self._closing = False
        #: a join held in the conference's waiting room (answered when a moderator decides)
        self._join_task: asyncio.Task[tuple[Conference, Participant]] | None = None

    # -- ParticipantListener ----------------------------------------------------------------
    def event(self, message: dict[str, Any]) -> None:
        if self._overflowed:
            return
        text = json.dumps(message, separators=(",", ":"))
        size = len(text)
        queued = self._queued_bytes
        if self._outbox.qsize() >= self.config.max_queued_messages or (
            queued and queued + size > self.config.max_queued_bytes
        ):
            self._overflow()
            return
        self._queued_bytes = queued + size
        self._outbox.put_nowait(text)

    def _overflow(self) -> None:
        """The client has stopped reading: drop what is queued and close the socket."""
        self._overflowed = True
        self.stats.outbox_overflows += 1
        now = self.clock()
        if now - self.stats.overflow_logged_at >= OVERFLOW_LOG_INTERVAL:
            self.stats.overflow_logged_at = now
            log.warning(
                "signaling: %s does not read its socket (%d messages queued): closed "
                "(counted in snapconf_signaling_outbox_overflows_total; logged once a minute)",
                self.address or "a client",
                self._outbox.qsize(),
            )
        while not self._outbox.empty():  # give the memory back now
            self._outbox.get_nowait()
        self._queued_bytes = 0
        self._closing = True
        self._outbox.put_nowait(None)
        # kept so the task is not collected before it ends
        self._closer = asyncio.get_running_loop().create_task(self._close_overflowed())

    async def _close_overflowed(self) -> None:
        try:
            # the close frame queues behind unread data: give it a moment, then drop
            await asyncio.wait_for(
                self.ws.close(code=CLOSE_QUEUE_FULL, message=b"send queue full"), 1.0
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            if self._abort is not None:
                self._abort()

    def renegotiate(self) -> None:
        if self._offer_pending:
            self._offer_needed = True
        elif not self._offer_scheduled:
            self._offer_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_offer)

    def closed(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._outbox.put_nowait(json.dumps({"type": "left", "reason": reason}))
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
            if self._media_deadline is not None:
                self._media_deadline.cancel()
            if self._join_task is not None and not self._join_task.done():
                self._join_task.cancel()  # leaves the waiting room
            self._disconnected()
            self._release_participant_slot()
            self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 5)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            if not self.ws.closed:
                await self.ws.close()

    def _disconnected(self) -> None:
        """The socket is gone. Without a ``leave`` (a dropped connection, not one the
        server closed), the participant's seat is held for ``reconnect_grace`` seconds."""
        conference, participant = self.conference, self.participant
        if conference is None or participant is None:
            return
        if self._closing or participant.closed:
            self._leave("disconnected")
            return
        conference.hold_seat(participant, self.config.reconnect_grace)

    def replaced(self) -> None:
        """The participant resumed on another socket while this one still looked open
        (the server had not seen it drop): this socket lets go of it and closes."""
        self.participant = None
        self.conference = None
        self.closed("replaced")

    def _join_timeout(self) -> None:
        if self.participant is None and self._join_task is None and not self._closing:
            self.closed("join timeout")

    def _claim_join(self) -> None:
        """Admitted: refuse if this socket joined or closed meanwhile, else take its slot."""
        if self.participant is not None or self._closing:
            raise AlreadyJoined("already joined a room")
        self._claim_participant_slot()

    def _claim_participant_slot(self) -> None:
        """Count this socket's participant against its address (``AddressLimit`` if full)."""
        cap = self.config.max_participants_per_address if self.capped else 0
        if self._holds_participant_slot:
            return
        if cap and self._participants_by_address[self.address] >= cap:
            raise AddressLimit(f"{cap} participants are already connected from your address")
        self._participants_by_address[self.address] += 1
        self._holds_participant_slot = True

    def _release_participant_slot(self) -> None:
        if self._holds_participant_slot:
            self._holds_participant_slot = False
            counts = self._participants_by_address
            counts[self.address] -= 1
            if counts[self.address] <= 0:
                del counts[self.address]

    def _arm_media_deadline(self) -> None:
        """After the first offer or answer, a media transport must connect in time."""
        timeout = self.config.media_timeout
        if self._media_deadline is None and timeout > 0 and self.participant is not None:
            self._media_deadline = asyncio.get_running_loop().call_later(
                timeout, self._media_timeout
            )

    def _media_timeout(self) -> None:
        participant = self.participant
        if participant is None or participant.closed or self._closing:
            return
        transports = (participant.send_transport, participant.recv_transport)
        if any(t is not None and t.connected for t in transports):
            return
        self.stats.media_timeouts += 1
        log.info("signaling: participant %s connected no media in time: removed", participant.id)
        self._leave("media timeout")
        self.closed("media timeout")

    async def _writer(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                if self._closing and not self.ws.closed:
                    await self.ws.close()
                return
            self._queued_bytes -= len(message)
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(message)
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
            except RecursionError:  # nesting deeper than the interpreter's recursion limit
                raise BadJson("message is nested too deeply") from None
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
                if reply.get("type") == "answer":  # a publish was answered
                    self._arm_media_deadline()
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
        if exc.details:
            message["details"] = exc.details
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

    async def _on_join(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        if self.participant is not None or self._join_task is not None:
            raise AlreadyJoined("already joined a room")
        room = _field(msg, "room", str)
        if not valid_room_name(room):
            raise BadMessage("room is not 1-64 characters of A-Z a-z 0-9 . _ -")
        name = _field(msg, "displayName", str).strip()
        if not 1 <= len(name) <= 64:
            raise BadMessage("displayName is not 1-64 characters")
        resume = _field(msg, "resume", str, required=False)
        if resume:
            seat = self.conferences.find_seat(room, resume)
            if seat is not None:
                return self._resume(*seat)
            # the seat is gone (its grace ended, or the room): join as a newcomer
        request = JoinRequest(
            room=room,
            display_name=name,
            kind="browser",
            token=msg.get("token"),
            address=self.address,
        )
        held = asyncio.Event()  # set when the conference's waiting room holds this join
        task = asyncio.ensure_future(
            self.conferences.join(
                request, self, claim=self._claim_join, on_waiting=lambda _id: held.set()
            )
        )
        holding = asyncio.ensure_future(held.wait())
        try:
            await asyncio.wait({task, holding}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            holding.cancel()
        if not task.done():
            # waiting room: no participant list and no media until a moderator admits;
            # ``joined`` (with this request's id) or an error comes then
            self._join_task = task
            request_id = msg.get("id")
            task.add_done_callback(lambda t: self._join_decided(t, request_id))
            self.event({"type": "lobby", "state": "waiting"})
            return None
        return self._joined(task)

    def _join_decided(
        self, task: asyncio.Task[tuple[Conference, Participant]], request_id: Any
    ) -> None:
        """A moderator admitted or refused this socket's held join (or the meeting ended)."""
        self._join_task = None
        if task.cancelled() or self._closing:
            if not task.cancelled() and task.exception() is None:
                conference, participant = task.result()
                conference.leave(participant, reason="disconnected")
            self._release_participant_slot()
            return
        try:
            reply = self._joined(task)
        except SnapconfError as exc:
            self._error(exc, request_id)
            self.closed(exc.code)  # refused, removed, conference_ended...: the page closes
            return
        except Exception:
            log.exception("signaling: internal error")
            self._error(SnapconfError("internal server error"), request_id)
            self.closed("internal")
            return
        if request_id is not None:
            reply["id"] = request_id
        self.event(reply)

    def _resume(self, conference: Conference, participant: Participant) -> dict[str, Any]:
        """Take over a participant's seat with this socket (``join`` with ``resume``)."""
        self._claim_join()
        old = participant.listener
        if isinstance(old, SignalingSession) and old is not self:
            old.replaced()
        self._offer_pending = self._offer_needed = False
        self.conference = conference
        self.participant = participant
        conference.resume(participant, self)
        return {**self._joined_reply(conference, participant), "resumed": True}

    def _joined(self, task: asyncio.Task[tuple[Conference, Participant]]) -> dict[str, Any]:
        """The ``joined`` answer of a join that went through (its error raised, if not)."""
        try:
            conference, participant = task.result()
        except BaseException:
            self._release_participant_slot()
            raise
        return self._joined_reply(conference, participant)

    def _joined_reply(self, conference: Conference, participant: Participant) -> dict[str, Any]:
        self.conference = conference
        self.participant = participant
        if participant.consumers:
            # the conference asked for an offer while joining, before this session knew its
            # participant (the join ran as a task): the offer goes after ``joined``
            self.renegotiate()
        joined: dict[str, Any] = {
            "type": "joined",
            "participantId": participant.id,
            "room": conference.name,
            "role": participant.role,
            # what a page sends in ``join`` (``resume``) to take its seat back after its
            # socket dropped, within ``reconnectGrace`` seconds
            "resumeToken": participant.resume_token,
            "reconnectGrace": self.config.reconnect_grace,
            "participants": [
                p.describe() for p in conference.participants.values() if p is not participant
            ],
        }
        if conference.title:
            joined["title"] = conference.title
        dominant = conference.dominant_speaker
        if dominant is not None and dominant in conference.participants:
            joined["dominantSpeaker"] = dominant  # a newcomer marks it at once
        # the meeting so far: the chat it may read, and the raised hands in order
        joined["chat"] = conference.chat_history(participant)
        joined["raisedHands"] = conference.hands.queue
        joined["moderation"] = conference.moderation.describe()
        if participant.role == "moderator":
            joined["waiting"] = conference.moderation.lobby.describe()
        return joined

    def _on_publish(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        sdp = _field(msg, "sdp", str)
        tracks = _field(msg, "tracks", dict, required=False) or {}
        sources: dict[str, str] = {}
        for mid, info in tracks.items():
            if not isinstance(info, dict) or not isinstance(info.get("source"), str):
                raise BadMessage(f"tracks.{str(mid)[:16]}.source is not a string")
            sources[str(mid)] = info["source"]
        rejected: list[RejectedSection] = []
        try:
            answer, track_ids = conference.publish(participant, sdp, sources, rejected=rejected)
        except SdpError as exc:
            raise BadSdp(str(exc)) from exc
        return {
            "type": "answer",
            "sdp": answer,
            "tracks": track_ids,
            "rejected": [section.describe() for section in rejected],
        }

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

    def _on_set_views(self, msg: dict[str, Any]) -> None:
        conference, participant = self._require_joined()
        conference.set_views(participant, parse_views(msg.get("views")))
        return None

    def _on_get_stats(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        return {**conference.receive_stats(participant), "type": "stats"}

    def _on_chat(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        text = _field(msg, "text", str)
        to = _field(msg, "to", str, required=False)
        return conference.send_chat(participant, text, to)

    def _on_raise_hand(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        return conference.set_hand(participant, _field(msg, "raised", bool))

    def _on_lower_hand(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        return conference.lower_hand(participant, _field(msg, "participantId", str))

    def _on_moderate(self, msg: dict[str, Any]) -> dict[str, Any]:
        conference, participant = self._require_joined()
        return moderate(conference, participant, msg)

    def _on_restart_media(self, msg: dict[str, Any]) -> None:
        """The page lost its peer connections (or is about to replace them): fresh
        transports; the page publishes again and the server sends a new receive offer."""
        conference, participant = self._require_joined()
        self._offer_pending = self._offer_needed = False
        conference.restart_media(participant)
        return None

    def _on_leave(self, msg: dict[str, Any]) -> None:
        if self._join_task is not None:  # leaves the waiting room
            self._join_task.cancel()
            self.closed("left")
            return None
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
        assert self.conference is not None
        local = participant.local_endpoint(participant.recv_transport, self.conference.media)
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
        self._arm_media_deadline()
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
        config: SignalingConfig,
        clock: Callable[[], float],
        public_url: str = "",
        descriptors: Callable[[], int | None] = descriptors_left,
    ) -> None:
        self.conferences = conferences
        self.config = config
        self.clock = clock
        #: the server's public base URL (api.public_url), an origin allowed to open /ws
        self.public_url = public_url
        self.descriptors = descriptors
        self.stats = SignalingStats()
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in config.caps_exempt]
        #: open sockets and joined participants, by peer IP address
        self.sockets_by_address: Counter[str] = Counter()
        self.participants_by_address: Counter[str] = Counter()

    def _is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)

    def _refuse(self, status: int, code: str, message: str) -> web.Response:
        self.stats.refused[code] += 1
        return web.json_response(
            {"error": {"code": code, "message": message, "field": None}}, status=status
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        config = self.config
        if not origin_allowed(request, self.public_url, config.allowed_origins):
            return self._refuse(403, "origin_not_allowed", "this page's origin may not connect")
        address = peer_address(request)
        capped = not self._is_exempt(address)
        cap = config.max_sockets_per_address if capped else 0
        if cap and self.sockets_by_address[address] >= cap:
            return self._refuse(
                429, "too_many_sockets", f"{cap} sockets are already open from your address"
            )
        left = self.descriptors()
        if left is not None and left < config.descriptor_headroom:
            return self._refuse(503, "server_busy", "the server is at its connection limit")
        ws = web.WebSocketResponse(
            heartbeat=config.heartbeat or None,
            max_msg_size=max(2 * config.max_message_bytes, config.max_message_bytes + 65536),
        )
        self.sockets_by_address[address] += 1
        try:
            await ws.prepare(request)
            transport = request.transport
            session = SignalingSession(
                ws,
                conferences=self.conferences,
                config=config,
                stats=self.stats,
                clock=self.clock,
                address=address,
                participants_by_address=self.participants_by_address,
                abort=transport.abort if transport is not None else None,
            )
            session.capped = capped
            try:
                await session.run()
            finally:
                if not ws.closed:
                    await ws.close(code=WSCloseCode.GOING_AWAY)
        finally:
            self.sockets_by_address[address] -= 1
            if self.sockets_by_address[address] <= 0:
                del self.sockets_by_address[address]
        return ws
