"""A real WebRTC participant built on aiortc, speaking the snapconf signaling protocol.

Used by the tests and benchmarks: it joins a room, publishes tracks (generated, or
pre-encoded packets so that benchmarks spend no CPU encoding), and receives the other
participants' tracks, decoded or only counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCBundlePolicy

log = logging.getLogger(__name__)


class SignalingError(Exception):
    """The server answered a request with an ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class ReceivedTrack:
    """A remote track as this client receives it."""

    mid: str
    participant_id: str
    track_id: str
    kind: str
    source: str
    track: MediaStreamTrack | None = None
    receiver: RTCRtpReceiver | None = None
    packets: int = 0
    bytes: int = 0
    frames: list[Any] = field(default_factory=list)
    frame_count: int = 0
    last_packet_at: float = 0.0
    task: asyncio.Task[None] | None = None


class Client:
    """One participant. Use as ``async with Client(url, room, name) as c: ...``."""

    def __init__(
        self,
        base_url: str,
        room: str,
        display_name: str,
        *,
        token: str | None = None,
        decode: bool = True,
        keep_frames: int = 50,
        resume: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.room = room
        self.display_name = display_name
        self.token = token
        #: the seat to take back (``resumeToken`` of an earlier ``joined``), and ours
        self.resume = resume
        self.resume_token: str | None = None
        self.decode = decode
        self.keep_frames = keep_frames
        self.participant_id: str | None = None
        self.participants: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.track_ids: dict[str, str] = {}  # mid -> published track id
        self.received: dict[str, ReceivedTrack] = {}  # by mid
        self.send_pc: RTCPeerConnection | None = None
        self.recv_pc: RTCPeerConnection | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._changed = asyncio.Condition()
        self._offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._offer_task: asyncio.Task[None] | None = None
        self._offer_tracks: dict[str, dict[str, str]] = {}
        self.closed = False

    async def __aenter__(self) -> Client:
        await self.join()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- signaling ----------------------------------------------------------------------
    async def connect(self) -> None:
        ws_url = self.base_url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(ws_url, max_msg_size=4 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        self._offer_task = asyncio.create_task(self._handle_offers())

    async def request(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a request with an id and wait for its answer; errors raise SignalingError."""
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.send({**message, "id": request_id})
        try:
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if reply.get("type") == "error":
            raise SignalingError(reply.get("code", ""), reply.get("message", ""))
        return reply

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def send_raw(self, text: str) -> None:
        """Send text as is (tests of bad input)."""
        assert self._ws is not None
        await self._ws.send_str(text)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            request_id = data.get("id")
            if request_id in self._pending and not self._pending[request_id].done():
                self._pending[request_id].set_result(data)
                continue
            await self._on_event(data)
        async with self._changed:
            self.events.append({"type": "socket-closed"})
            self._changed.notify_all()

    async def _on_event(self, data: dict[str, Any]) -> None:
        mtype = data.get("type")
        if mtype == "offer":
            self._offers.put_nowait(data)
        elif mtype == "participantJoined":
            p = data["participant"]
            self.participants[p["id"]] = p
        elif mtype == "participantLeft":
            self.participants.pop(data["participantId"], None)
        async with self._changed:
            self.events.append(data)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Client], bool], timeout: float = 15.0) -> None:
        """Wait until ``predicate(self)`` holds, re-checked at every event."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(_wait(), timeout)

    # -- join / publish / leave ----------------------------------------------------------
    async def join(self) -> dict[str, Any]:
        if self._ws is None:
            await self.connect()
        message: dict[str, Any] = {
            "type": "join",
            "room": self.room,
            "displayName": self.display_name,
        }
        if self.token is not None:
            message["token"] = self.token
        if self.resume is not None:
            message["resume"] = self.resume
        reply = await self.request(message)
        self.participant_id = reply["participantId"]
        self.resume_token = reply.get("resumeToken")
        for p in reply["participants"]:
            self.participants[p["id"]] = p
        return reply

    async def publish(self, tracks: list[tuple[MediaStreamTrack, str]]) -> dict[str, str]:
        """Send ``(track, source)`` pairs on the send connection; returns {mid: track id}."""
        if self.send_pc is None:
            self.send_pc = RTCPeerConnection(
                RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
        sources: dict[str, dict[str, str]] = {}
        transceivers = []
        for track, source in tracks:
            transceivers.append((self.send_pc.addTransceiver(track, direction="sendonly"), source))
        offer = await self.send_pc.createOffer()
        await self.send_pc.setLocalDescription(offer)
        for transceiver, source in transceivers:
            assert transceiver.mid is not None
            sources[transceiver.mid] = {"source": source}
        reply = await self.request(
            {"type": "publish", "sdp": self.send_pc.localDescription.sdp, "tracks": sources}
        )
        await self.send_pc.setRemoteDescription(
            RTCSessionDescription(sdp=reply["sdp"], type="answer")
        )
        self.track_ids = dict(reply["tracks"])
        return self.track_ids

    async def set_audio_mode(self, mode: str) -> None:
        """ "mix": receive the conference mix as one audio track; "tracks": one per speaker."""
        await self.send({"type": "setAudioMode", "mode": mode})

    async def mute(self, track_id: str, muted: bool) -> None:
        await self.send({"type": "mute", "trackId": track_id, "muted": muted})

    async def leave(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, AssertionError):
            await self.send({"type": "leave"})

    # -- receiving ------------------------------------------------------------------------
    async def _handle_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            try:
                await self._apply_offer(offer)
            except Exception:
                log.exception("client %s: cannot apply offer", self.display_name)

    async def _apply_offer(self, offer: dict[str, Any]) -> None:
        if self.recv_pc is None:
            self.recv_pc = RTCPeerConnection(
                RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
            self.recv_pc.on("track", self._on_track)
        self._offer_tracks = offer.get("tracks", {})
        for mid, info in self._offer_tracks.items():
            if mid not in self.received:
                self.received[mid] = ReceivedTrack(
                    mid=mid,
                    participant_id=info["participantId"],
                    track_id=info["trackId"],
                    kind=info["kind"],
                    source=info["source"],
                )
        await self.recv_pc.setRemoteDescription(
            RTCSessionDescription(sdp=offer["sdp"], type="offer")
        )
        answer = await self.recv_pc.createAnswer()
        await self.recv_pc.setLocalDescription(answer)
        # tracks that are no longer offered stop here
        for mid, received in list(self.received.items()):
            if mid not in self._offer_tracks:
                if received.task is not None:
                    received.task.cancel()
                del self.received[mid]
        await self.send(
            {
                "type": "answer",
                "sdp": self.recv_pc.localDescription.sdp,
                "version": offer["version"],
            }
        )
        async with self._changed:
            self._changed.notify_all()

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.recv_pc is not None
        transceiver = next(
            (t for t in self.recv_pc.getTransceivers() if t.receiver.track is track), None
        )
        if transceiver is None or transceiver.mid is None:
            return
        received = self.received.get(transceiver.mid)
        if received is None:
            return
        received.track = track
        received.receiver = transceiver.receiver
        if self.decode:
            received.task = asyncio.create_task(self._consume(received, track))
        else:
            self._count_only(received, transceiver.receiver)

    async def _consume(self, received: ReceivedTrack, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            received.frame_count += 1
            received.last_packet_at = loop.time()
            received.frames.append(frame)
            if len(received.frames) > self.keep_frames:
                del received.frames[0]

    def _count_only(self, received: ReceivedTrack, receiver: RTCRtpReceiver) -> None:
        """Count RTP packets at the receiver without jitter buffer or decoder."""
        loop = asyncio.get_running_loop()

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            received.packets += 1
            received.bytes += len(packet.payload)
            received.last_packet_at = loop.time()

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    # -- lifecycle ------------------------------------------------------------------------
    async def drop(self) -> None:
        """Lose the signaling socket without a ``leave`` (as a network cut does); the peer
        connections stay."""
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        """Leave, close both peer connections and the socket; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._ws is not None and not self._ws.closed:
            await self.leave()
        for received in self.received.values():
            if received.task is not None:
                received.task.cancel()
        for task in (self._offer_task, self._reader):
            if task is not None:
                task.cancel()
        for pc in (self.send_pc, self.recv_pc):
            if pc is not None:
                await pc.close()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
