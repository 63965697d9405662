"""The media leg of a call: its plain RTP transport, the digits it types, the prompts it hears.

One :class:`MediaLeg` per call. It owns the call's
:class:`~snapconf.media.plain_transport.PlainTransport` (what the SDP answer announces),
decodes RFC 4733 digits from it (and takes SIP INFO digits from the dialog), and plays
prompts one frame per packet time against absolute deadlines. While a prompt plays, or
while the SDP says not to send, the conference's mix is held back (the transport's
``output_held``), so the phone hears one stream at a time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from snapconf.clock import Clock
from snapconf.conference.phone import mix_ptime
from snapconf.dialin.dtmf import DtmfReceiver
from snapconf.dialin.prompts import PromptLibrary
from snapconf.dialin.sdp import Negotiated
from snapconf.media.plain_transport import PlainTransport, PortAllocator

__all__ = ["MediaLeg"]


class MediaLeg:
    """RTP, DTMF and prompts of one call."""

    def __init__(
        self,
        *,
        clock: Clock,
        prompts: PromptLibrary,
        stats: Counter[str],
        default_ptime: int,
        negotiated: Callable[[], Negotiated],
        ended: Callable[[], bool],
    ) -> None:
        self.clock = clock
        self.prompts = prompts
        self.stats = stats
        self.default_ptime = default_ptime
        #: the call's current SDP agreement (it changes with an answer in an ACK)
        self._negotiated = negotiated
        self._ended = ended
        self.rtp: PlainTransport | None = None
        self.dtmf = DtmfReceiver(self.on_digit)
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.prompt_playing = False
        #: the SDP lets us send media (sendrecv or sendonly)
        self.send_media = True

    async def open(
        self,
        host: str,
        ports: PortAllocator,
        remote: tuple[str, int] | None,
        remote_rtcp: tuple[str, int] | None,
    ) -> int:
        """Bind the call's RTP/RTCP ports; ``remote`` is None for an INVITE without SDP."""
        n = self._negotiated()
        self.rtp = PlainTransport(
            clock=self.clock,
            clock_rate=n.codec.clock_rate,
            audio_pt=n.payload_type,
            dtmf_pt=n.dtmf_payload_type,
            remote=remote,
            remote_rtcp=remote_rtcp,
            on_dtmf=self.dtmf.receive,
        )
        self.hold_output()
        return await self.rtp.open(host, ports)

    @property
    def ptime(self) -> int:
        """The packet time the phone hears, prompts and mix alike: the caller's ``a=ptime``
        (RFC 4566 section 6: what it would like to receive) when we can make it for the
        codec, else ``sip.ptime`` (which our SDP announces), else 20 ms."""
        n = self._negotiated()
        return mix_ptime(n.codec.name, n.remote_ptime, self.default_ptime)

    def set_send_media(self, direction: str) -> None:
        """Our direction in the SDP answer decides whether the phone gets media."""
        self.send_media = direction in ("sendrecv", "sendonly")
        self.hold_output()

    def hold_output(self) -> None:
        """The mix reaches the phone unless a prompt plays or the SDP says not to send."""
        if self.rtp is not None:
            self.rtp.output_held = self.prompt_playing or not self.send_media

    # -- digits ----------------------------------------------------------------------------

    def on_digit(self, digit: str) -> None:
        """A digit typed by the caller (RFC 4733 or SIP INFO)."""
        self.stats["dtmf_digits"] += 1
        self.digits.put_nowait(digit)

    async def next_digit(self, timeout: float) -> str | None:
        if not self.digits.empty():
            return self.digits.get_nowait()
        get = asyncio.ensure_future(self.digits.get())
        sleep = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + timeout))
        try:
            await asyncio.wait({get, sleep}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        return None

    # -- prompts ---------------------------------------------------------------------------

    async def play(self, names: list[str], interruptible: bool = False) -> bool:
        """Play prompts in order, one frame per ptime against absolute deadlines; return
        False if a digit interrupted them (barge-in)."""
        rtp = self.rtp
        if rtp is None:
            return True
        codec = self._negotiated().codec
        ptime = self.ptime
        samples = codec.clock_rate * ptime // 1000
        self.prompt_playing = True
        self.hold_output()
        try:
            deadline = self.clock.now()
            for name in names:
                frames = self.prompts.cached(name, codec.name, ptime)
                if frames is None:  # encoding takes milliseconds: keep it off the loop
                    frames = await asyncio.to_thread(self.prompts.frames, name, codec.name, ptime)
                    deadline = max(deadline, self.clock.now())
                for payload in frames:
                    if interruptible and not self.digits.empty():
                        return False
                    if self._ended():
                        return True
                    if self.send_media:
                        rtp.send(payload, samples)
                    deadline += ptime / 1000
                    await self.clock.sleep_until(deadline)
        finally:
            self.prompt_playing = False
            self.hold_output()
        return True

    def close(self) -> None:
        """Close the transport (its ports are free again); idempotent."""
        if self.rtp is not None:
            self.rtp.close()
