"""Test doubles for the SIP gateway: bridges that echo, play a tone or mix, and a scriptable
phone (a minimal UAC over UDP or TCP) that records what it hears.

Not part of the server; tests assert on what crosses real sockets (SIP responses, RTP the
phone received), these classes only provide the other end. The bridges implement
:class:`snapconf.dialin.bridge.ConferenceBridge` as the server's does: they become the
receiver of the call's plain RTP transport and send through its ``send_mix``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from snapconf.clock import SYSTEM_CLOCK, Clock
from snapconf.dialin.bridge import PhoneMedia
from snapconf.dialin.message import (
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)
from snapconf.media.codecs import get_codec
from snapconf.media.mixer import Mixer, MixerConfig, MixerInput
from snapconf.media.plain_transport import PlainTransport, PortAllocator
from snapconf.rtp.packet import RtpHeader, parse_rtp_header

__all__ = [
    "EchoBridge",
    "EchoLeg",
    "MixerBridge",
    "MixerLeg",
    "PlainPhone",
    "TestPhone",
    "ToneBridge",
    "dominant_frequency",
]


@dataclass
class EchoLeg:
    """Sends every audio packet back to the phone; remembers what happened to it."""

    bridge: EchoBridge
    conference_id: str
    caller_display: str
    masked_number: str
    media: PhoneMedia
    on_end: Callable[[str], None]
    muted: bool = False
    closed: bool = False
    received: int = 0
    mute_changes: list[bool] = field(default_factory=list)
    hand_raised: bool = False
    hand_changes: list[bool] = field(default_factory=list)

    @property
    def codec(self) -> str:
        return self.media.codec

    @property
    def payload_type(self) -> int:
        return self.media.payload_type

    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        self.received += 1
        if self.muted or self.closed:
            return
        payload = data[header.payload_offset : len(data) - header.padding_length]
        samples = self.media.clock_rate * self.media.ptime_ms // 1000
        self.media.transport.send_mix(payload, samples, header.marker)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.mute_changes.append(muted)

    def set_hand_raised(self, raised: bool) -> None:
        self.hand_raised = raised
        self.hand_changes.append(raised)

    @property
    def participant_count(self) -> int:
        return sum(
            1 for leg in self.bridge.legs
            if leg.conference_id == self.conference_id and not leg.closed
        )

    def close(self) -> None:
        self.closed = True
        if self.media.transport.receiver is self:
            self.media.transport.receiver = None


class EchoBridge:
    """A :class:`~snapconf.dialin.bridge.ConferenceBridge` whose legs echo the caller."""

    def __init__(self) -> None:
        self.legs: list[EchoLeg] = []

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        media: PhoneMedia,
        on_end: Callable[[str], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> EchoLeg:
        leg = EchoLeg(self, conference_id, caller_display, masked_number, media, on_end)
        media.transport.receiver = leg
        self.legs.append(leg)
        return leg

    def open_legs(self) -> list[EchoLeg]:
        return [leg for leg in self.legs if not leg.closed]

    def end_conference(self, conference_id: str, reason: str = "conference ended") -> None:
        for leg in self.open_legs():
            if leg.conference_id == conference_id:
                leg.on_end(reason)


class ToneBridge(EchoBridge):
    """Legs hear a sine tone (``frequency`` Hz) instead of their own voice."""

    def __init__(self, frequency: float = 1000.0) -> None:
        super().__init__()
        self.frequency = frequency
        self._tasks: set[asyncio.Task[None]] = set()

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        media: PhoneMedia,
        on_end: Callable[[str], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> EchoLeg:
        leg = await super().join_phone(conference_id, caller_display, masked_number, media,
                                       on_end)
        leg.muted = True  # do not echo
        task = asyncio.create_task(self._play(leg, media))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return leg

    async def _play(self, leg: EchoLeg, media: PhoneMedia) -> None:
        spec = get_codec(media.codec)
        enc = spec.new_encoder()
        n = spec.frame_samples(20)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        i = 0
        while not leg.closed:
            t = (np.arange(n) + i * n) / spec.sample_rate
            pcm = (8000 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
            media.transport.send_mix(enc.encode(pcm), spec.timestamp_step(20), False)
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class MixerLeg:
    """A phone as one input and one (mix-minus) output of its conference's mixer."""

    def __init__(self, bridge: MixerBridge, conference_id: str, leg_id: str, mixer: Mixer,
                 inp: MixerInput, caller_display: str, masked_number: str,
                 on_end: Callable[[str], None], media: PhoneMedia) -> None:
        self.bridge = bridge
        self.media = media
        self.codec = media.codec
        self.conference_id = conference_id
        self.id = leg_id
        self.mixer = mixer
        self.input = inp
        self.caller_display = caller_display
        self.masked_number = masked_number
        self.on_end = on_end
        self.closed = False
        self.received = 0

    def receive_rtp(self, data: bytes, header: RtpHeader, arrival: float) -> None:
        self.received += 1
        self.input.push(
            header.sequence_number,
            header.timestamp,
            header.payload_type,
            data[header.payload_offset : len(data) - header.padding_length],
            None,
            header.marker,
        )

    def set_muted(self, muted: bool) -> None:
        self.input.muted = muted

    @property
    def muted(self) -> bool:
        return self.input.muted

    hand_raised = False

    def set_hand_raised(self, raised: bool) -> None:
        self.hand_raised = raised

    @property
    def participant_count(self) -> int:
        return len(self.mixer.inputs)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.media.transport.receiver is self:
            self.media.transport.receiver = None
        self.mixer.remove_input(self.id)
        self.mixer.remove_output(self.id)


class MixerBridge:
    """A :class:`~snapconf.dialin.bridge.ConferenceBridge` made of one
    :class:`snapconf.media.mixer.Mixer` per conference: phones hear each other (each one the
    mix minus itself), with no conference, participants or producers around it."""

    def __init__(self, config: MixerConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or MixerConfig()
        self.clock = clock
        self.mixers: dict[str, Mixer] = {}
        self.legs: list[MixerLeg] = []
        self._n = 0

    async def join_phone(
        self,
        conference_id: str,
        caller_display: str,
        masked_number: str,
        media: PhoneMedia,
        on_end: Callable[[str], None],
        on_waiting: Callable[[], None] | None = None,
    ) -> MixerLeg:
        mixer = self.mixers.get(conference_id)
        if mixer is None:
            mixer = Mixer(self.config, self.clock or SYSTEM_CLOCK)
            mixer.start()
            self.mixers[conference_id] = mixer
        self._n += 1
        leg_id = f"phone-{self._n}"
        inp = mixer.add_input(leg_id, media.codec, media.clock_rate, media.payload_type)
        mixer.add_output(leg_id, media.codec, media.payload_type, secrets.randbits(32),
                         lambda packet: None, own_input_id=leg_id, ptime_ms=media.ptime_ms,
                         sink=media.transport)
        leg = MixerLeg(self, conference_id, leg_id, mixer, inp, caller_display, masked_number,
                       on_end, media)
        media.transport.receiver = leg
        self.legs.append(leg)
        return leg

    def open_legs(self) -> list[MixerLeg]:
        return [leg for leg in self.legs if not leg.closed]

    async def close(self) -> None:
        for mixer in self.mixers.values():
            mixer.close()
            await mixer.wait_closed()
        self.mixers.clear()


def dominant_frequency(pcm: np.ndarray, sample_rate: int) -> float:
    """The frequency (Hz) of the strongest FFT bin of ``pcm``."""
    x = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * sample_rate / len(x))


class _PhoneProto(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


class _StreamProto(asyncio.Protocol):
    def __init__(self, queue: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.queue = queue
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for message in self.framer.feed(data):
            self.queue.put_nowait((message, ("", 0)))


class TestPhone:
    """A scriptable SIP phone on a loopback address (``host``, 127.0.0.1 by default; any
    127.x.y.z stands for another caller's address): builds requests, records responses and
    RTP."""

    __test__ = False  # not a pytest class

    def __init__(self, gateway: tuple[str, int], transport: str = "UDP",
                 number: str = "+33612345612", host: str = "127.0.0.1") -> None:
        self.gateway = gateway
        self.transport = transport
        self.number = number
        self.host = host
        self.sip_queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.rtp_queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.rtp_packets: list[bytes] = []
        self._sip: asyncio.DatagramTransport | None = None
        self._tcp: _StreamProto | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self.sip_port = 0
        self.rtp_port = 0
        self.call_id = secrets.token_hex(8) + "@test"
        self.from_tag = secrets.token_hex(4)
        self.to_tag: str | None = None
        self.cseq = 1
        self.remote_rtp: tuple[str, int] | None = None
        self.rtp_seq = 1000
        self.rtp_ts = 0
        self.ssrc = 0x5EED
        self.audio_pt = 0
        self.unanswered: list[SipRequest] = []

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self.transport == "UDP":
            t, _ = await loop.create_datagram_endpoint(
                lambda: _PhoneProto(self.sip_queue), local_addr=(self.host, 0))
            self._sip = t
            self.sip_port = t.get_extra_info("sockname")[1]
        else:
            _, proto = await loop.create_connection(
                lambda: _StreamProto(self.sip_queue), *self.gateway, local_addr=(self.host, 0))
            self._tcp = proto
            assert proto.transport is not None
            self.sip_port = proto.transport.get_extra_info("sockname")[1]
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _PhoneProto(self.rtp_queue), local_addr=(self.host, 0))
        self._rtp = rtp
        self.rtp_port = rtp.get_extra_info("sockname")[1]

    def close(self) -> None:
        for t in (self._sip, self._rtp):
            if t is not None:
                t.close()
        if self._tcp is not None and self._tcp.transport is not None:
            self._tcp.transport.close()

    # -- SIP -------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        if self._sip is not None:
            self._sip.sendto(data, self.gateway)
        elif self._tcp is not None and self._tcp.transport is not None:
            self._tcp.transport.write(data)

    def request(
        self, method: str, *, body: bytes = b"", content_type: str | None = None,
        extra: str = "", branch: str | None = None, cseq: int | None = None,
        to_tag: str | None = None, call_id: str | None = None,
    ) -> bytes:
        branch = branch or "z9hG4bK" + secrets.token_hex(6)
        if cseq is None:
            if method not in ("ACK", "CANCEL"):
                self.cseq += 1
            cseq = self.cseq
        tag = to_tag if to_tag is not None else self.to_tag
        to = "<sip:conf@127.0.0.1>" + (f";tag={tag}" if tag else "")
        lines = [
            f"{method} sip:conf@{self.gateway[0]}:{self.gateway[1]} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {self.host}:{self.sip_port};branch={branch};rport",
            "Max-Forwards: 70",
            f'From: "Test Phone" <sip:{self.number}@{self.host}>;tag={self.from_tag}',
            f"To: {to}",
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:phone@{self.host}:{self.sip_port}>",
        ]
        if extra:
            lines += extra.strip("\n").split("\n")
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def sdp(self, codecs: str = "0 101", direction: str = "sendrecv",
            host: str | None = None) -> bytes:
        host = host or self.host
        lines = [
            "v=0", f"o=phone 1 1 IN IP4 {self.host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
            f"m=audio {self.rtp_port} RTP/AVP {codecs}",
            "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000",
            "a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000",
            "a=rtpmap:102 telephone-event/48000", "a=fmtp:101 0-16", "a=ptime:20",
            f"a={direction}",
        ]
        return ("\r\n".join(lines) + "\r\n").encode()

    async def recv(self, timeout: float = 5.0) -> SipRequest | SipResponse:
        data, _ = await asyncio.wait_for(self.sip_queue.get(), timeout)
        return parse_message(data)

    async def expect_response(
        self, status: int, timeout: float = 5.0, method: str | None = None,
        cseq: int | None = None,
    ) -> SipResponse:
        """Wait for a response with ``status`` (skipping others); requests are answered 200
        (BYE) and kept in :attr:`unanswered`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if isinstance(msg, SipRequest):
                self.unanswered.append(msg)
                continue
            if msg.status == status and (method is None or msg.cseq.method == method) and (
                cseq is None or msg.cseq.number == cseq
            ):
                return msg

    async def expect_request(self, method: str, timeout: float = 5.0,
                             answer: bool = True) -> SipRequest:
        for i, msg in enumerate(self.unanswered):
            if msg.method == method:
                del self.unanswered[i]
                if answer:
                    self.answer(msg)
                return msg
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            m = await self.recv(max(0.01, end - loop.time()))
            if isinstance(m, SipRequest) and m.method == method:
                if answer:
                    self.answer(m)
                return m

    def answer(self, request: SipRequest, status: int = 200, reason: str = "OK") -> None:
        from snapconf.dialin.message import make_response

        self.send_raw(bytes(make_response(request, status, reason)))

    async def call(self, codecs: str = "0 101", extra: str = "") -> SipResponse:
        """INVITE, wait for the 200, ACK it; remember the dialog and the media address."""
        self.send_raw(self.request("INVITE", body=self.sdp(codecs),
                                   content_type="application/sdp", extra=extra))
        ok = await self.expect_response(200, timeout=10, method="INVITE", cseq=self.cseq)
        self.learn(ok)
        self.ack(ok)
        return ok

    def learn(self, ok: SipResponse) -> None:
        """Take the dialog's To tag and the media address from a 200 to INVITE."""
        self.to_tag = ok.to.tag
        for line in ok.body.decode().splitlines():
            if line.startswith("m=audio"):
                port = int(line.split()[1])
                pts = line.split()[3:]
                self.audio_pt = int(pts[0])
                self.remote_rtp = ("127.0.0.1", port)

    def ack(self, ok: SipResponse) -> None:
        self.send_raw(self.request("ACK", cseq=ok.cseq.number))

    async def bye(self) -> SipResponse:
        self.send_raw(self.request("BYE"))
        return await self.expect_response(200, method="BYE")

    # -- RTP -------------------------------------------------------------------------------

    def send_rtp(self, payload_type: int, payload: bytes, marker: bool = False,
                 timestamp: int | None = None, advance: int = 160) -> None:
        assert self._rtp is not None and self.remote_rtp is not None
        self.rtp_seq = (self.rtp_seq + 1) & 0xFFFF
        ts = self.rtp_ts if timestamp is None else timestamp
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                             self.rtp_seq, ts & 0xFFFFFFFF, self.ssrc)
        self._rtp.sendto(header + payload, self.remote_rtp)
        if timestamp is None:
            self.rtp_ts += advance

    async def send_dtmf(self, digits: str, pt: int = 101, gap: float = 0.06) -> None:
        """RFC 4733 events: 3 start packets, then the end packet three times."""
        for d in digits:
            event = "0123456789*#ABCD".index(d)
            ts = self.rtp_ts
            for i in range(3):
                self.send_rtp(pt, struct.pack("!BBH", event, 10, 160 * (i + 1)),
                              marker=i == 0, timestamp=ts)
                await asyncio.sleep(0.005)
            for _ in range(3):
                self.send_rtp(pt, struct.pack("!BBH", event, 0x80 | 10, 640), timestamp=ts)
            self.rtp_ts += 800
            await asyncio.sleep(gap)

    async def collect_rtp(self, seconds: float) -> list[bytes]:
        """Payloads of the audio packets received during ``seconds``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        out: list[bytes] = []
        while True:
            left = end - loop.time()
            if left <= 0:
                return out
            try:
                data, _ = await asyncio.wait_for(self.rtp_queue.get(), left)
            except TimeoutError:
                return out
            self.rtp_packets.append(data)
            with contextlib.suppress(ValueError):
                h = parse_rtp_header(data)
                out.append(data[h.payload_offset : len(data) - h.padding_length])

    def drain_rtp(self) -> int:
        n = 0
        while not self.rtp_queue.empty():
            self.rtp_packets.append(self.rtp_queue.get_nowait()[0])
            n += 1
        return n



class _Collect(asyncio.DatagramProtocol):
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sink.append(data)


class PlainPhone:
    """The RTP half of a phone with no SIP: a UDP socket that talks to a call's
    :class:`~snapconf.media.plain_transport.PlainTransport` (open it with :meth:`open`)."""

    def __init__(self, media: PhoneMedia, peer: asyncio.DatagramTransport,
                 heard: list[bytes]) -> None:
        self.media = media
        self._peer = peer
        #: every datagram the phone received (the mix), in order
        self.heard = heard

    @classmethod
    async def open(cls, codec: str = "PCMA", payload_type: int = 8, clock_rate: int = 8000,
                   ptime_ms: int = 20, dtmf_pt: int | None = 101) -> PlainPhone:
        loop = asyncio.get_running_loop()
        heard: list[bytes] = []
        peer, _ = await loop.create_datagram_endpoint(lambda: _Collect(heard),
                                                      local_addr=("127.0.0.1", 0))
        addr = peer.get_extra_info("sockname")
        transport = PlainTransport(
            clock=SYSTEM_CLOCK, clock_rate=clock_rate, audio_pt=payload_type, dtmf_pt=dtmf_pt,
            remote=addr, remote_rtcp=(addr[0], addr[1] + 1), on_dtmf=lambda *a: None,
        )
        low = 30000 + secrets.randbelow(5000) * 2
        await transport.open("127.0.0.1", PortAllocator(low, low + 400))
        return cls(PhoneMedia(transport, codec, payload_type, clock_rate, ptime_ms), peer, heard)

    @property
    def transport(self) -> PlainTransport:
        return self.media.transport

    def send(self, payload_type: int, seq: int, timestamp: int, payload: bytes,
             marker: bool = False, ssrc: int = 0x5EED) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                             seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
        self._peer.sendto(header + payload, ("127.0.0.1", self.media.transport.port))

    def close(self) -> None:
        self.media.transport.close()
        self._peer.close()
