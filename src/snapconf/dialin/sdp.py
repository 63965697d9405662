"""SDP offer/answer for phones (RFC 4566 syntax, RFC 3264 model).

:func:`parse_sdp` reads an offer; :func:`negotiate` picks our codec and telephone-event from it
and :func:`build_answer` writes the answer, one ``m=`` line per offered line (RFC 3264 section 6),
refused streams with port 0 (section 6). When the INVITE carries no offer (RFC 3261 section
13.2.1, "delayed offer"), :func:`build_offer` writes ours for the 2xx and :func:`negotiate`
reads the answer that comes back in the ACK.

When the offer maps the RFC 6464 client-to-mixer audio level (``a=extmap``, RFC 8285 §8),
the answer keeps it under the offer's id, so that the mixer learns a caller's level from the
header without decoding (:attr:`Negotiated.audio_level_id`); our own offers propose it too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from snapconf.media.router import EXT_AUDIO_LEVEL

__all__ = [
    "CODEC_INFO",
    "Codec",
    "MediaDescription",
    "Negotiated",
    "SdpError",
    "SessionDescription",
    "build_answer",
    "build_offer",
    "negotiate",
    "offered",
    "parse_sdp",
    "provisional",
]


class SdpError(ValueError):
    """An SDP body that cannot be parsed or offers nothing we can take."""


@dataclass(frozen=True)
class Codec:
    """A codec we can speak: its SDP encoding name, RTP clock rate and channels."""

    name: str
    """Our name for it, as in :mod:`snapconf.media.codecs` (``opus``, ``G722``...)."""
    encoding: str
    clock_rate: int
    channels: int
    static_pt: int | None
    sample_rate: int


CODEC_INFO: dict[str, Codec] = {
    "opus": Codec("opus", "opus", 48000, 2, None, 48000),
    # RFC 3551 section 4.5.2: G.722 samples at 16 kHz but its RTP clock says 8000
    "G722": Codec("G722", "G722", 8000, 1, 9, 16000),
    "PCMA": Codec("PCMA", "PCMA", 8000, 1, 8, 8000),
    "PCMU": Codec("PCMU", "PCMU", 8000, 1, 0, 8000),
}
_STATIC_PT = {0: ("PCMU", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1)}
#: payload types of our own offers: Opus as browsers number it, telephone-event per clock rate
_OFFER_OPUS_PT = 111
_OFFER_DTMF_PT = {8000: 101, 48000: 110}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: the RFC 8285 id of the audio level in our own offers
_OFFER_LEVEL_ID = 1


@dataclass
class MediaDescription:
    """One ``m=`` section."""

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    """payload type -> (encoding name, clock rate, channels)."""
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None
    rtcp_port: int | None = None
    extmap: dict[int, str] = field(default_factory=dict)
    """RFC 8285 header extensions the peer sends: id (1..14, the one-byte form) -> URI."""


@dataclass
class SessionDescription:
    """The parts of an SDP body the gateway uses."""

    origin: str
    connection: str | None
    direction: str | None
    media: list[MediaDescription]


def _connection_address(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:40]!r}")
    addr = parts[2].split("/", 1)[0]
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise SdpError(f"c= address {addr[:40]!r} is not an IP address") from None
    return addr


def parse_sdp(body: bytes) -> SessionDescription:
    """Parse an SDP body (RFC 4566 section 5); raise :class:`SdpError` on bad syntax."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP does not start with v=0")
    origin = ""
    session_conn: str | None = None
    session_dir: str | None = None
    media: list[MediaDescription] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        cur = media[-1] if media else None
        if kind == "o":
            origin = value
        elif kind == "c":
            addr = _connection_address(value)
            if cur is None:
                session_conn = addr
            else:
                cur.connection = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"bad m= line {value[:40]!r}")
            port_text = parts[1].split("/", 1)[0]
            if not port_text.isdigit() or int(port_text) > 65535:
                raise SdpError(f"bad m= port {parts[1][:10]!r}")
            media.append(MediaDescription(parts[0], int(port_text), parts[2], parts[3:]))
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in _DIRECTIONS:
                if cur is None:
                    session_dir = name
                else:
                    cur.direction = name
            elif cur is None:
                continue
            elif name == "rtpmap":
                pt_text, _, enc = arg.partition(" ")
                enc_parts = enc.strip().split("/")
                if (
                    not pt_text.isdigit()
                    or len(enc_parts) < 2
                    or not enc_parts[1].isdigit()
                    or (len(enc_parts) > 2 and not enc_parts[2].isdigit())
                ):
                    raise SdpError(f"bad rtpmap {arg[:40]!r}")
                channels = int(enc_parts[2]) if len(enc_parts) > 2 else 1
                cur.rtpmap[int(pt_text)] = (enc_parts[0], int(enc_parts[1]), channels)
            elif name == "fmtp":
                pt_text, _, params = arg.partition(" ")
                if pt_text.isdigit():
                    cur.fmtp[int(pt_text)] = params.strip()
            elif name == "ptime":
                if arg.strip().isdigit():
                    cur.ptime = int(arg.strip())
            elif name == "rtcp":
                port_text = arg.split()[0] if arg.split() else ""
                if port_text.isdigit():
                    cur.rtcp_port = int(port_text)
            elif name == "extmap":
                _parse_extmap(cur, arg)
    if not origin:
        raise SdpError("SDP has no o= line")
    return SessionDescription(origin, session_conn, session_dir, media)


def _parse_extmap(m: MediaDescription, arg: str) -> None:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` (RFC 8285 §8).

    Kept only when the peer may send it (no direction, ``sendrecv`` or ``sendonly``) and the
    id fits the one-byte header form (1..14); anything else is ignored, as an extension we
    do not take (§6)."""
    parts = arg.split()
    if len(parts) < 2:
        return
    id_text, _, direction = parts[0].partition("/")
    if not id_text.isdigit() or not 1 <= int(id_text) <= 14:
        return
    if direction not in ("", "sendrecv", "sendonly"):
        return
    m.extmap[int(id_text)] = parts[1]


@dataclass(frozen=True)
class Negotiated:
    """The outcome of an offer: what we send and receive on the one audio stream."""

    index: int
    """Index of the accepted ``m=`` line in the offer."""
    codec: Codec
    payload_type: int
    dtmf_payload_type: int | None
    remote_host: str
    remote_port: int
    remote_rtcp_port: int
    direction: str
    """The offer's direction, ``inactive`` when ``c=0.0.0.0`` (RFC 3264 section 8.4)."""
    remote_ptime: int | None
    opus_fmtp: str | None = None
    audio_level_id: int | None = None
    """The RFC 8285 id of the RFC 6464 audio level the caller sends, if it offered one."""

    @property
    def on_hold(self) -> bool:
        """True when the peer will not send us media (sendonly is music-on-hold; inactive)."""
        return self.direction in ("sendonly", "inactive")

    @property
    def answer_direction(self) -> str:
        return {
            "sendrecv": "sendrecv",
            "sendonly": "recvonly",
            "recvonly": "sendonly",
            "inactive": "inactive",
        }[self.direction]


def _formats(m: MediaDescription) -> list[tuple[int, str, int, int]]:
    out: list[tuple[int, str, int, int]] = []
    for fmt in m.formats:
        if not fmt.isdigit() or int(fmt) > 127:
            continue
        pt = int(fmt)
        if pt in m.rtpmap:
            enc, rate, ch = m.rtpmap[pt]
            out.append((pt, enc, rate, ch))
        elif pt in _STATIC_PT:
            enc, rate, ch = _STATIC_PT[pt]
            out.append((pt, enc, rate, ch))
    return out


def negotiate(offer: SessionDescription, preference: tuple[str, ...]) -> Negotiated:
    """Accept the first audio stream over plain RTP/AVP with the best codec we share.

    RFC 3264 section 6.1: the answer keeps the offer's payload type numbers. telephone-event
    (RFC 4733 section 7.1.1) is taken only at the chosen codec's clock rate. Raises
    :class:`SdpError` when no stream can be accepted (the caller answers 488).
    """
    for index, m in enumerate(offer.media):
        if m.media != "audio" or m.port == 0 or m.proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
            continue
        formats = _formats(m)
        for name in preference:
            info = CODEC_INFO[name]
            pt = next(
                (
                    p
                    for p, enc, rate, _ in formats
                    if enc.lower() == info.encoding.lower() and rate == info.clock_rate
                ),
                None,
            )
            if pt is None:
                continue
            dtmf = next(
                (
                    p
                    for p, enc, rate, _ in formats
                    if enc.lower() == "telephone-event" and rate == info.clock_rate
                ),
                None,
            )
            host = m.connection or offer.connection
            if host is None:
                raise SdpError("no c= line for the audio stream")
            direction = m.direction or offer.direction or "sendrecv"
            if host in ("0.0.0.0", "::"):
                direction = "inactive"
            return Negotiated(
                index=index,
                codec=info,
                payload_type=pt,
                dtmf_payload_type=dtmf,
                remote_host=host,
                remote_port=m.port,
                remote_rtcp_port=m.rtcp_port or m.port + 1,
                direction=direction,
                remote_ptime=m.ptime,
                opus_fmtp=m.fmtp.get(pt) if name == "opus" else None,
                audio_level_id=next(
                    (i for i, uri in sorted(m.extmap.items()) if uri == EXT_AUDIO_LEVEL), None
                ),
            )
    raise SdpError("no acceptable audio stream in the offer")


def _session_lines(host: str, session_id: int, version: int) -> list[str]:
    """The session part of our SDP (RFC 4566 section 5): v=, o=, s=, c=, t=."""
    ip = "IP6" if ":" in host else "IP4"
    return [
        "v=0",
        f"o=snapconf {session_id} {version} IN {ip} {host}",
        "s=snapconf",
        f"c=IN {ip} {host}",
        "t=0 0",
    ]


def build_answer(
    offer: SessionDescription,
    chosen: Negotiated,
    *,
    host: str,
    port: int,
    session_id: int,
    version: int,
    ptime: int,
) -> bytes:
    """Write the answer: the chosen stream on ``host:port``, every other one with port 0."""
    lines = _session_lines(host, session_id, version)
    for index, m in enumerate(offer.media):
        if index != chosen.index:
            lines.append(f"m={m.media} 0 {m.proto} {m.formats[0]}")
            continue
        pts = [chosen.payload_type]
        if chosen.dtmf_payload_type is not None:
            pts.append(chosen.dtmf_payload_type)
        lines.append(f"m=audio {port} RTP/AVP {' '.join(str(p) for p in pts)}")
        c = chosen.codec
        if c.channels > 1:
            lines.append(f"a=rtpmap:{chosen.payload_type} {c.encoding}/{c.clock_rate}/2")
        else:
            lines.append(f"a=rtpmap:{chosen.payload_type} {c.encoding}/{c.clock_rate}")
        if c.name == "opus":
            lines.append(f"a=fmtp:{chosen.payload_type} useinbandfec=1;minptime=10")
        if chosen.dtmf_payload_type is not None:
            lines.append(f"a=rtpmap:{chosen.dtmf_payload_type} telephone-event/{c.clock_rate}")
            lines.append(f"a=fmtp:{chosen.dtmf_payload_type} 0-16")
        if chosen.audio_level_id is not None:
            lines.append(f"a=extmap:{chosen.audio_level_id} {EXT_AUDIO_LEVEL}")
        lines.append(f"a=ptime:{ptime}")
        lines.append(f"a={chosen.answer_direction}")
    return ("\r\n".join(lines) + "\r\n").encode()


def offered(preference: tuple[str, ...]) -> list[tuple[int, Codec]]:
    """The payload types and codecs of our offer, in order of preference."""
    out = []
    for name in preference:
        codec = CODEC_INFO[name]
        out.append((_OFFER_OPUS_PT if codec.static_pt is None else codec.static_pt, codec))
    return out


def provisional(preference: tuple[str, ...]) -> Negotiated:
    """What a call without an offer expects until the ACK answers ours: our first codec."""
    pt, codec = offered(preference)[0]
    return Negotiated(
        index=0,
        codec=codec,
        payload_type=pt,
        dtmf_payload_type=_OFFER_DTMF_PT.get(codec.clock_rate),
        remote_host="",
        remote_port=0,
        remote_rtcp_port=0,
        direction="sendrecv",
        remote_ptime=None,
    )


def build_offer(
    preference: tuple[str, ...],
    *,
    host: str,
    port: int,
    session_id: int,
    version: int,
    ptime: int,
) -> bytes:
    """Our offer for an INVITE that had none (RFC 3264 section 5): every codec we speak,
    best first, and telephone-event at each of their clock rates (RFC 4733 section 7.1.1)."""
    formats = offered(preference)
    rates = sorted({codec.clock_rate for _, codec in formats})
    dtmf = [(_OFFER_DTMF_PT[rate], rate) for rate in rates if rate in _OFFER_DTMF_PT]
    pts = [str(pt) for pt, _ in formats] + [str(pt) for pt, _ in dtmf]
    lines = _session_lines(host, session_id, version)
    lines.append(f"m=audio {port} RTP/AVP {' '.join(pts)}")
    for pt, c in formats:
        channels = "/2" if c.channels > 1 else ""
        lines.append(f"a=rtpmap:{pt} {c.encoding}/{c.clock_rate}{channels}")
        if c.name == "opus":
            lines.append(f"a=fmtp:{pt} useinbandfec=1;minptime=10")
    for pt, rate in dtmf:
        lines.append(f"a=rtpmap:{pt} telephone-event/{rate}")
        lines.append(f"a=fmtp:{pt} 0-16")
    lines.append(f"a=extmap:{_OFFER_LEVEL_ID} {EXT_AUDIO_LEVEL}")
    lines += [f"a=ptime:{ptime}", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
