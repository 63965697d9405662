"""A phone participant's media in its conference: its producer and its mix.

A phone speaks plain RTP through a :class:`~snapconf.media.plain_transport.PlainTransport`.
Its audio becomes a :class:`~snapconf.media.router.Producer` fed straight from the
transport's parsed packets, so browsers receive it like anyone's audio and it is an input
of the conference's mixer; the phone hears the mix of the others in its own codec and
packet time, stamped by the transport into the call's RTP stream.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from snapconf.media.mixer.engine import PTIMES
from snapconf.media.router import EXT_AUDIO_LEVEL, Codec, Producer

__all__ = ["drop_packet", "mix_ptime", "phone_codec", "phone_producer"]


class _NoFeedback:
    """A phone's producer: RTCP feedback (PLI, NACK) has nowhere to go for audio."""

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        pass


def phone_codec(name: str, clock_rate: int) -> Codec:
    """The producer codec of a phone's audio (Opus always signalled /2, RFC 7587 §7)."""
    if name.lower() == "opus":
        return Codec("opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")))
    return Codec(name.upper(), clock_rate, 1)


def mix_ptime(codec: str, *wanted: int | None) -> int:
    """The first of ``wanted`` packet times (ms) the mixer makes for ``codec``, else 20.

    The mixer ticks every 20 ms and sends 20, 30, 40 or 60 ms packets; Opus has no 30 ms
    frame (RFC 6716 §2.1.4).
    """
    for ptime in wanted:
        if ptime in PTIMES and not (ptime == 30 and codec.lower() == "opus"):
            return ptime
    return 20


def phone_producer(
    owner_id: str,
    codec: str,
    payload_type: int,
    clock_rate: int,
    clock: Callable[[], float],
    audio_level_id: int | None = None,
) -> Producer:
    """The producer of a phone's audio: fed by its plain transport, no RTCP feedback.

    ``audio_level_id``: the RFC 8285 id under which the caller sends its RFC 6464 level,
    if the SDP settled one; the mixer then ranks the caller without decoding it, and
    browsers receive the level with its audio.
    """
    return Producer(
        producer_id="t" + secrets.token_hex(5),
        kind="audio",
        source="microphone",
        codec=phone_codec(codec, clock_rate),
        payload_type=payload_type,
        ssrc=None,
        mid="phone",
        extension_ids={} if audio_level_id is None else {audio_level_id: EXT_AUDIO_LEVEL},
        sink=_NoFeedback(),
        owner_id=owner_id,
        clock=clock,
    )


def drop_packet(packet: bytes) -> None:
    """The whole-packet send of a sink output: never called (the sink stamps payloads)."""
