"""SDP offer/answer for the SFU's two transports per browser (RFC 8829 JSEP, RFC 3264).

* Send transport: the browser offers its ``sendonly`` tracks; :func:`answer_publish`
  picks one codec per m-section from the server's preferences, keeps the header
  extensions the forwarder understands, and answers ``recvonly`` with ``a=ice-lite``,
  ``a=setup:passive``, rtcp-mux and BUNDLE (RFC 8843). A ``bundle-only`` section (port 0
  in the BUNDLE group, as Firefox offers every section after the first) is taken like any
  other; the sections it cannot take are listed with a reason in
  :attr:`PublishAnswer.rejected`.
* Receive transport: the server offers one ``sendonly`` m-section per consumer
  (:class:`ReceiveSession`), recycling closed ones with a new mid once the browser has
  them closed too (RFC 8829 §5.2.2).

Parsing reuses aiortc's SDP parser; writing is ours, so that every line we send is
visible here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiortc.sdp import MediaDescription, SessionDescription

from snapconf.media.dtls import Fingerprint
from snapconf.media.router import (
    EXT_ABS_SEND_TIME,
    EXT_AUDIO_LEVEL,
    EXT_MID,
    EXT_REPAIRED_RID,
    EXT_RID,
    EXT_TRANSPORT_CC,
    Codec,
)

FORWARDED_EXTENSIONS = frozenset({EXT_MID, EXT_AUDIO_LEVEL, EXT_ABS_SEND_TIME})
#: what a publisher may send besides: simulcast stream ids (RFC 8852) and transport-wide
#: sequence numbers (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2), read by the
#: server and not forwarded
PUBLISH_EXTENSIONS = FORWARDED_EXTENSIONS | {EXT_RID, EXT_REPAIRED_RID, EXT_TRANSPORT_CC}
#: header extension ids the server uses in its own offers (same for every m-section of a
#: BUNDLE group, RFC 8285 §6). abs-send-time is not offered to receivers: it only feeds a
#: receive-side bandwidth estimate (REMB); the server estimates on the send side instead,
#: from the receivers' transport-cc feedback.
RECV_EXTENSION_IDS = {EXT_MID: 1, EXT_AUDIO_LEVEL: 2, EXT_TRANSPORT_CC: 3}
RECEIVED_EXTENSIONS = FORWARDED_EXTENSIONS | {EXT_TRANSPORT_CC}
VIDEO_FEEDBACK = ("nack", "nack pli", "ccm fir", "transport-cc")
AUDIO_FEEDBACK = ("transport-cc",)
PUBLISH_VIDEO_FEEDBACK = ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")
PUBLISH_AUDIO_FEEDBACK = ("transport-cc",)
#: the most simulcast layers taken from one publisher (RFC 8853 §5.3: the rest is refused)
MAX_SIMULCAST_LAYERS = 3
MAX_SDP_LENGTH = 64 * 1024


class SdpError(ValueError):
    """The SDP cannot be parsed or negotiated; the message says why."""


@dataclass(slots=True, frozen=True)
class LocalEndpoint:
    """What the server writes for ICE and DTLS in every m-section."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: Fingerprint
    candidates: Sequence[tuple[str, int]]


@dataclass(slots=True)
class PublishedTrack:
    """One accepted m-section of a publish offer: the makings of a Producer."""

    mid: str
    kind: str
    codec: Codec
    payload_type: int
    ssrc: int | None
    extension_ids: dict[int, str]
    msid: str | None
    #: simulcast stream ids, lowest layer first (``a=simulcast:send`` order, RFC 8853 §5.1);
    #: empty when the track is one stream
    rids: tuple[str, ...] = ()
    #: the RTX payload type answered for the codec (RFC 4588 §8.6), None without RTX
    rtx_payload_type: int | None = None
    #: the RTX SSRC of the primary stream (``a=ssrc-group:FID``), when signalled
    rtx_ssrc: int | None = None


#: why a publish m-section was rejected (the ``reason`` of :class:`RejectedSection`)
REJECT_STOPPED = "stopped"  # port 0 outside the BUNDLE group: a stopped transceiver
REJECT_NOT_SENDING = "not_sending"  # recvonly or inactive: nothing to receive
REJECT_NO_CODEC = "no_codec"  # none of the server's codecs for its kind
REJECT_UNSUPPORTED = "unsupported"  # not audio or video (a data channel, ...)


@dataclass(slots=True, frozen=True)
class RejectedSection:
    """One m-section of a publish offer answered with port 0, and why."""

    mid: str
    kind: str
    reason: str

    def describe(self) -> dict[str, str]:
        """As the ``rejected`` list of the signaling ``answer`` (docs/signaling.md)."""
        return {"mid": self.mid, "kind": self.kind, "reason": self.reason}


@dataclass(slots=True)
class PublishAnswer:
    sdp: str
    tracks: list[PublishedTrack]
    remote_ufrag: str
    remote_fingerprints: list[Fingerprint]
    mid_extension_id: int
    rejected: list[RejectedSection] = field(default_factory=list)

    def extension_id(self, uri: str) -> int:
        """The id the accepted tracks use for header extension ``uri`` (0: none); one id
        per URI across a BUNDLE group (RFC 8285 §6, RFC 8843 §9.1)."""
        for track in self.tracks:
            for ext_id, ext_uri in track.extension_ids.items():
                if ext_uri == uri:
                    return ext_id
        return 0


def parse_sdp(sdp: str) -> SessionDescription:
    """Parse SDP text, turning every parser failure into :class:`SdpError`."""
    if not isinstance(sdp, str) or not sdp.strip():
        raise SdpError("sdp is empty")
    if len(sdp) > MAX_SDP_LENGTH:
        raise SdpError("sdp is too long")
    if not sdp.startswith("v=0"):
        raise SdpError("sdp does not start with v=0")
    try:
        return SessionDescription.parse(sdp)
    except Exception as exc:
        raise SdpError(f"sdp is malformed: {type(exc).__name__} {exc}".strip()) from exc


def _section_attributes(sdp: str) -> list[list[str]]:
    """The ``a=`` lines of each m-section, for what aiortc's parser drops (rid, simulcast)."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        elif sections and line.startswith("a="):
            sections[-1].append(line[2:].strip())
    return sections


def _simulcast_rids(attributes: list[str]) -> tuple[str, ...]:
    """The rids a section sends, in its ``a=simulcast:send`` order (RFC 8853 §5.1).

    Each alternative list contributes its first rid; paused ones (``~``) are left out, as
    are rids without an ``a=rid:<id> send`` line (RFC 8851 §4). At most
    :data:`MAX_SIMULCAST_LAYERS`.
    """
    sending = set()
    order: list[str] = []
    for attr in attributes:
        if attr.startswith("rid:"):
            parts = attr[4:].split()
            if len(parts) >= 2 and parts[1] == "send":
                sending.add(parts[0])
        elif attr.startswith("simulcast:"):
            words = attr[10:].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction != "send":
                    continue
                for alternatives in streams.split(";"):
                    rid = alternatives.split(",")[0]
                    if rid and not rid.startswith("~"):
                        order.append(rid)
    rids = tuple(dict.fromkeys(r for r in order if r in sending))
    return rids[:MAX_SIMULCAST_LAYERS] if len(rids) > 1 else ()


def _rtx_payload_type(media: MediaDescription, pt: int) -> int | None:
    """The offered RTX payload type whose ``apt`` is ``pt`` (RFC 4588 §8.6)."""
    for c in media.rtp.codecs:
        if c.mimeType.lower().endswith("/rtx") and str((c.parameters or {}).get("apt")) == str(pt):
            return int(c.payloadType) if c.payloadType is not None else None
    return None


def _fid_ssrc(media: MediaDescription, ssrc: int | None) -> int | None:
    """The RTX SSRC paired with ``ssrc`` by ``a=ssrc-group:FID`` (RFC 5576 §4.2)."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and len(group.items) == 2 and int(group.items[0]) == ssrc:
            return int(group.items[1])
    return None


def _remote_credentials(session: SessionDescription) -> tuple[str, list[Fingerprint]]:
    for media in session.media:
        if media.port == 0 or media.ice is None:
            continue
        if not media.ice.usernameFragment or not media.ice.password:
            raise SdpError("sdp has no ice-ufrag or ice-pwd")
        if media.dtls is None or not media.dtls.fingerprints:
            raise SdpError("sdp has no DTLS fingerprint")
        fingerprints = [Fingerprint(f.algorithm, f.value) for f in media.dtls.fingerprints]
        return media.ice.usernameFragment, fingerprints
    raise SdpError("sdp has no active media section")


def _codec_of(media: MediaDescription, pt: int) -> Codec | None:
    for c in media.rtp.codecs:
        if c.payloadType == pt:
            return _to_codec(c)
    return None


def _to_codec(c: object) -> Codec:
    params = tuple(sorted((str(k), str(v)) for k, v in (c.parameters or {}).items()))  # type: ignore[attr-defined]
    feedback = tuple(
        f"{f.type} {f.parameter}" if f.parameter else f.type
        for f in c.rtcpFeedback  # type: ignore[attr-defined]
    )
    name = c.mimeType.split("/", 1)[1]  # type: ignore[attr-defined]
    return Codec(
        name=name,
        clock_rate=c.clockRate,  # type: ignore[attr-defined]
        channels=c.channels or 1,  # type: ignore[attr-defined]
        parameters=params,
        feedback=feedback,
    )


def choose_codec(media: MediaDescription, preferences: Sequence[str]) -> tuple[int, Codec] | None:
    """The first codec of ``preferences`` the m-section offers (case-insensitive).

    H.264 is taken only with packetization-mode=1, which browsers all decode.
    """
    offered = [(c.payloadType, _to_codec(c)) for c in media.rtp.codecs if c.payloadType is not None]
    for wanted in preferences:
        for pt, codec in offered:
            if codec.name.lower() != wanted.lower():
                continue
            if codec.name.lower() == "h264":
                params = dict(codec.parameters)
                if params.get("packetization-mode") != "1":
                    continue
            return pt, codec
    return None


def _session_header(version: int, groups: Iterable[str], session_id: int) -> list[str]:
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN IP4 0.0.0.0",
        "s=snapconf",
        "t=0 0",
        "a=ice-lite",
    ]
    mids = list(groups)
    if mids:
        lines.append("a=group:BUNDLE " + " ".join(mids))
    lines.append("a=msid-semantic: WMS *")
    return lines


def _credential_lines(local: LocalEndpoint, setup: str) -> list[str]:
    """ICE and DTLS attributes; closed m-sections carry them too, as JSEP peers expect."""
    return [
        f"a=ice-ufrag:{local.ice_ufrag}",
        f"a=ice-pwd:{local.ice_pwd}",
        f"a=fingerprint:{local.fingerprint.algorithm} {local.fingerprint.value}",
        f"a=setup:{setup}",
        "a=rtcp-mux",
    ]


def _transport_lines(local: LocalEndpoint, setup: str) -> list[str]:
    lines = _credential_lines(local, setup)
    for i, (host, port) in enumerate(local.candidates):
        lines.append(f"a=candidate:{i + 1} 1 udp {2130706431 - i} {host} {port} typ host")
    lines.append("a=end-of-candidates")
    return lines


def _connection_line(local: LocalEndpoint) -> tuple[int, str]:
    if local.candidates:
        host, port = local.candidates[0]
        return port, f"c=IN {'IP6' if ':' in host else 'IP4'} {host}"
    return 9, "c=IN IP4 0.0.0.0"


def _codec_lines(pt: int, codec: Codec, feedback: Iterable[str]) -> list[str]:
    encoding = f"{codec.name}/{codec.clock_rate}"
    if codec.channels > 1:
        encoding += f"/{codec.channels}"
    lines = [f"a=rtpmap:{pt} {encoding}"]
    lines += [f"a=rtcp-fb:{pt} {fb}" for fb in feedback]
    if codec.parameters:
        lines.append(f"a=fmtp:{pt} " + ";".join(f"{k}={v}" for k, v in codec.parameters))
    return lines


def answer_publish(
    offer_sdp: str,
    local: LocalEndpoint,
    *,
    audio_codecs: Sequence[str],
    video_codecs: Sequence[str],
    version: int = 1,
    session_id: int | None = None,
) -> PublishAnswer:
    """Answer a browser's offer of the tracks it sends (RFC 3264 §6).

    Every audio/video m-section the browser sends on gets one codec, a ``bundle-only``
    one included: port 0 with its mid in the offer's BUNDLE group (RFC 8843 §6, RFC 8829
    §5.2.1). Others are rejected with port 0 and listed in ``rejected``: a stopped
    transceiver (port 0 outside the group), ``recvonly`` or ``inactive`` sections, data
    channels, sections without a codec of ours.
    """
    offer = parse_sdp(offer_sdp)
    attributes = _section_attributes(offer_sdp)
    remote_ufrag, remote_fingerprints = _remote_credentials(offer)
    port, c_line = _connection_line(local)
    offered_bundle = {
        mid for group in offer.group if group.semantic == "BUNDLE" for mid in group.items
    }
    tracks: list[PublishedTrack] = []
    rejected: list[RejectedSection] = []
    sections: list[list[str]] = []
    bundle: list[str] = []
    mid_extension_id = 0
    for index, media in enumerate(offer.media):
        mid = media.rtp.muxId or str(index)
        fmt = " ".join(str(f) for f in media.fmt)
        prefs = audio_codecs if media.kind == "audio" else video_codecs
        chosen = None
        if media.kind not in ("audio", "video"):
            reason = REJECT_UNSUPPORTED
        elif media.port == 0 and mid not in offered_bundle:
            reason = REJECT_STOPPED
        elif media.direction not in ("sendonly", "sendrecv"):
            reason = REJECT_NOT_SENDING
        else:
            chosen = choose_codec(media, prefs)
            reason = REJECT_NO_CODEC
        if chosen is None:
            rejected.append(RejectedSection(mid, media.kind, reason))
            sections.append(
                [
                    f"m={media.kind} 0 {media.profile} {fmt}",
                    "c=IN IP4 0.0.0.0",
                    f"a=mid:{mid}",
                    "a=inactive",
                    *_credential_lines(local, "passive"),
                ]
            )
            continue
        pt, offered_codec = chosen
        rids: tuple[str, ...] = ()
        rtx_pt: int | None = None
        if media.kind == "audio":
            feedback: tuple[str, ...] = tuple(
                fb for fb in PUBLISH_AUDIO_FEEDBACK if fb in offered_codec.feedback
            )
            params = dict(offered_codec.parameters)
            if offered_codec.name.lower() == "opus":
                # in-band FEC and DTX (RFC 7587 §6.1): a lost packet is rebuilt from the
                # next one, and silence costs a packet every 400 ms instead of every 20 ms
                params = {"minptime": "10", "usedtx": "1", "useinbandfec": "1"}
            codec = Codec(
                offered_codec.name,
                offered_codec.clock_rate,
                offered_codec.channels,
                tuple(sorted(params.items())),
            )
        else:
            feedback = tuple(fb for fb in PUBLISH_VIDEO_FEEDBACK if fb in offered_codec.feedback)
            rtx_pt = _rtx_payload_type(media, pt)
            if index < len(attributes):
                rids = _simulcast_rids(attributes[index])
            codec = Codec(
                offered_codec.name,
                offered_codec.clock_rate,
                offered_codec.channels,
                offered_codec.parameters,
                feedback,
            )
        extension_ids = {
            h.id: h.uri for h in media.rtp.headerExtensions if h.uri in PUBLISH_EXTENSIONS
        }
        if not rids:
            extension_ids = {i: u for i, u in extension_ids.items() if u != EXT_REPAIRED_RID}
        for ext_id, uri in extension_ids.items():
            if uri == EXT_MID:
                mid_extension_id = ext_id
        ssrc = None if rids else _primary_ssrc(media)
        tracks.append(
            PublishedTrack(
                mid=mid,
                kind=media.kind,
                codec=codec,
                payload_type=pt,
                ssrc=ssrc,
                extension_ids=extension_ids,
                msid=media.msid,
                rids=rids,
                rtx_payload_type=rtx_pt,
                rtx_ssrc=_fid_ssrc(media, ssrc) if rtx_pt is not None else None,
            )
        )
        bundle.append(mid)
        lines = [
            f"m={media.kind} {port} {media.profile} {pt}" + (f" {rtx_pt}" if rtx_pt else ""),
            c_line,
            f"a=mid:{mid}",
            "a=recvonly",
        ]
        lines += [f"a=extmap:{i} {u}" for i, u in sorted(extension_ids.items())]
        lines += _transport_lines(local, "passive")
        lines += _codec_lines(pt, codec, feedback)
        if rtx_pt is not None:
            lines += [f"a=rtpmap:{rtx_pt} rtx/{codec.clock_rate}", f"a=fmtp:{rtx_pt} apt={pt}"]
        if rids:
            lines += [f"a=rid:{rid} recv" for rid in rids]
            lines.append("a=simulcast:recv " + ";".join(rids))
        sections.append(lines)
    if not tracks:
        raise SdpError("sdp offers no audio or video track the server can receive")
    sid = session_id if session_id is not None else secrets.randbits(62)
    out = _session_header(version, bundle, sid)
    for lines in sections:
        out += lines
    return PublishAnswer(
        sdp="\r\n".join(out) + "\r\n",
        tracks=tracks,
        remote_ufrag=remote_ufrag,
        remote_fingerprints=remote_fingerprints,
        mid_extension_id=mid_extension_id,
        rejected=rejected,
    )


def _primary_ssrc(media: MediaDescription) -> int | None:
    """The media SSRC: the first of an FID group (RFC 5576 §4.2), else the first listed."""
    for group in media.ssrc_group:
        if group.semantic in ("FID", "SIM") and group.items:
            return int(group.items[0])
    if media.ssrc:
        return int(media.ssrc[0].ssrc)
    return None


@dataclass(slots=True)
class ReceiveSlot:
    """One m-section of the receive transport's offer."""

    mid: str
    kind: str
    consumer_key: str | None  # None: closed (port 0)
    payload_type: int = 0
    codec: Codec | None = None
    ssrc: int = 0
    cname: str = ""
    stream_id: str = ""
    track_id: str = ""
    #: the RTX stream of this video m-section (RFC 4588 §8.6; 0: none)
    rtx_payload_type: int = 0
    rtx_ssrc: int = 0
    #: this mid was in an offer already (the browser knows it)
    offered: bool = False
    #: closed in the current description, the last offer and its answer: only such an
    #: m-section may take a new mid (RFC 8829 §5.2.2)
    recyclable: bool = False
    #: the closed m-section this one took the place of, until an offer names this one
    replaced: ReceiveSlot | None = None


@dataclass(slots=True)
class ReceiveAnswer:
    remote_ufrag: str
    remote_fingerprints: list[Fingerprint]
    accepted: dict[str, dict[int, str]]  # consumer key -> extension ids accepted
    refused: list[str]  # consumer keys the browser rejected
    #: accepted consumer keys whose answer kept the RTX payload type
    rtx: set[str] = field(default_factory=set)


#: RFC 3551 §6 static payload types, used as such (some peers expect them)
_STATIC_PTS = {("pcmu", 8000): 0, ("pcma", 8000): 8, ("g722", 8000): 9}
_AUDIO_PTS = (111, 110, 109, 108, 107, 63)
_VIDEO_PTS = (96, 98, 100, 102, 104, 106, 119, 120, 121, 122, 123, 124, 125, 126, 127)
#: how many distinct dynamic codecs of each kind one receive session can map; a room keeps
#: its distinct codecs within these, so that every receiver can map every producer
PAYLOAD_TYPE_CAPACITY = {"audio": len(_AUDIO_PTS), "video": len(_VIDEO_PTS)}


def rtx_payload_type_for(payload_type: int) -> int:
    """The RTX payload type paired with a video payload type of ours (0: none).

    The first video payload types are even so that each has the odd one above it for RTX.
    """
    return payload_type + 1 if 96 <= payload_type <= 106 and payload_type % 2 == 0 else 0


@dataclass(slots=True)
class ReceiveSession:
    """The server-offered receive transport: m-sections, payload types, versions."""

    slots: list[ReceiveSlot] = field(default_factory=list)
    version: int = 0
    session_id: int = field(default_factory=lambda: secrets.randbits(62))
    _next_mid: int = 0
    #: mid -> open (True) or closed, for every m-section of the last offer
    _offered: dict[str, bool] = field(default_factory=dict)
    _payload_types: dict[tuple[str, int, int, tuple[tuple[str, str], ...]], int] = field(
        default_factory=dict
    )

    def payload_type_for(self, codec: Codec) -> int:
        """A payload type unique to this codec within the BUNDLE group (RFC 8843 §9.1)."""
        key = codec.key()
        pt = self._payload_types.get(key)
        if pt is None:
            used = set(self._payload_types.values())
            static = _STATIC_PTS.get((codec.name.lower(), codec.clock_rate))
            pool = (
                (static,)
                if static is not None
                else (_AUDIO_PTS if codec.kind == "audio" else _VIDEO_PTS)
            )
            pt = next((p for p in pool if p not in used), None)
            if pt is None:
                # free the payload types of codecs no bundled m-section lists any more (an
                # open one, or the first, which tags the BUNDLE group), then retry; closed
                # m-sections are outside the group, so a payload type may mean another codec
                listed = {
                    s.codec.key()
                    for i, s in enumerate(self.slots)
                    if s.codec is not None and (i == 0 or s.consumer_key is not None)
                }
                for old in [k for k in self._payload_types if k not in listed]:
                    del self._payload_types[old]
                used = set(self._payload_types.values())
                pt = next((p for p in pool if p not in used), None)
            if pt is None:
                raise SdpError("no payload type left for this codec")
            self._payload_types[key] = pt
        return pt

    def add(
        self,
        *,
        consumer_key: str,
        kind: str,
        codec: Codec,
        ssrc: int,
        cname: str,
        stream_id: str,
        track_id: str,
        rtx_ssrc: int = 0,
    ) -> ReceiveSlot:
        """Add an m-section for a consumer, recycling a closed one of any kind.

        Only an m-section closed in the current description (offered closed, or rejected,
        and answered) is recycled: one closed since the last offer is still open for the
        browser, and taking its place would change the m-line order, which browsers refuse
        (RFC 8829 §5.2.2, §5.7). The new one then goes at the end.

        The first m-section is never recycled: it tags the BUNDLE group (RFC 8843 §7.2),
        so it stays in the group, ``inactive``, when its consumer goes.
        """
        pt = self.payload_type_for(codec)
        mid = f"r{self._next_mid}"
        self._next_mid += 1
        slot = ReceiveSlot(mid, kind, consumer_key, pt, codec, ssrc, cname, stream_id, track_id)
        if kind == "video" and rtx_ssrc:
            slot.rtx_payload_type = rtx_payload_type_for(pt)
            slot.rtx_ssrc = rtx_ssrc if slot.rtx_payload_type else 0
        for i, existing in enumerate(self.slots):
            if i > 0 and existing.consumer_key is None and existing.recyclable:
                slot.replaced = existing
                self.slots[i] = slot
                return slot
        self.slots.append(slot)
        return slot

    def remove(self, consumer_key: str) -> None:
        """Close a consumer's m-section; one no offer named yet goes as if never added."""
        for i, slot in enumerate(self.slots):
            if slot.consumer_key != consumer_key:
                continue
            if slot.offered:
                slot.consumer_key = None
            elif slot.replaced is not None:
                self.slots[i] = slot.replaced  # back to what the browser last saw there
            else:
                del self.slots[i]  # appended since the last offer, like any after it
            return

    def slot(self, consumer_key: str) -> ReceiveSlot | None:
        for slot in self.slots:
            if slot.consumer_key == consumer_key:
                return slot
        return None

    def offer(self, local: LocalEndpoint) -> str:
        """The next offer (RFC 8829 §5.2.2): same m-section order, closed ones at port 0.

        The first m-section, the BUNDLE tag, stays bundled and ``inactive`` instead, so that
        an offer with no remote track left is still a valid max-bundle offer.
        """
        self.version += 1
        port, c_line = _connection_line(local)
        bundled = [s.mid for i, s in enumerate(self.slots) if i == 0 or s.consumer_key is not None]
        out = _session_header(self.version, bundled, self.session_id)
        for index, slot in enumerate(self.slots):
            pt = (
                slot.payload_type
                if slot.codec is not None
                else (111 if slot.kind == "audio" else 96)
            )
            if index == 0 and (slot.consumer_key is None or slot.codec is None):
                out += [f"m={slot.kind} {port} UDP/TLS/RTP/SAVPF {pt}", c_line]
                out += [f"a=mid:{slot.mid}", "a=inactive"]
                out += _transport_lines(local, "actpass")
                if slot.codec is not None:
                    out += _codec_lines(pt, slot.codec, ())
                continue
            if slot.consumer_key is None or slot.codec is None:
                out += [
                    f"m={slot.kind} 0 UDP/TLS/RTP/SAVPF {pt}",
                    "c=IN IP4 0.0.0.0",
                    f"a=mid:{slot.mid}",
                    "a=inactive",
                ]
                out += _credential_lines(local, "actpass")
                if slot.codec is not None:
                    out += _codec_lines(pt, slot.codec, ())
                continue
            rtx = slot.rtx_payload_type
            out += [
                f"m={slot.kind} {port} UDP/TLS/RTP/SAVPF {pt}" + (f" {rtx}" if rtx else ""),
                c_line,
                f"a=mid:{slot.mid}",
                "a=sendonly",
                f"a=msid:{slot.stream_id} {slot.track_id}",
            ]
            for uri, ext_id in RECV_EXTENSION_IDS.items():
                if uri == EXT_AUDIO_LEVEL and slot.kind != "audio":
                    continue
                if uri == EXT_ABS_SEND_TIME and slot.kind != "video":
                    continue
                out.append(f"a=extmap:{ext_id} {uri}")
            out += _transport_lines(local, "actpass")
            feedback = VIDEO_FEEDBACK if slot.kind == "video" else AUDIO_FEEDBACK
            out += _codec_lines(pt, slot.codec, feedback)
            if rtx:
                out += [
                    f"a=rtpmap:{rtx} rtx/{slot.codec.clock_rate}",
                    f"a=fmtp:{rtx} apt={pt}",
                    f"a=ssrc-group:FID {slot.ssrc} {slot.rtx_ssrc}",
                ]
            for ssrc in (slot.ssrc, slot.rtx_ssrc) if rtx else (slot.ssrc,):
                out += [
                    f"a=ssrc:{ssrc} cname:{slot.cname}",
                    f"a=ssrc:{ssrc} msid:{slot.stream_id} {slot.track_id}",
                ]
        for slot in self.slots:
            slot.offered = True
            slot.replaced = None
        self._offered = {slot.mid: slot.consumer_key is not None for slot in self.slots}
        return "\r\n".join(out) + "\r\n"

    def apply_answer(self, answer_sdp: str) -> ReceiveAnswer:
        """Read the browser's answer to :meth:`offer`: which consumers it accepted.

        Consumers added since that offer are in neither list: the next offer carries them.
        """
        answer = parse_sdp(answer_sdp)
        by_mid = {m.rtp.muxId: m for m in answer.media}
        accepted: dict[str, dict[int, str]] = {}
        refused: list[str] = []
        rtx: set[str] = set()
        for slot in self.slots:
            was_open = self._offered.get(slot.mid)
            if was_open is None:
                continue  # not in the offer answered
            media = by_mid.get(slot.mid)
            slot.recyclable = not was_open or media is None or media.port == 0
            if slot.consumer_key is None:
                continue
            if media is None or media.port == 0 or media.direction in ("inactive", "sendonly"):
                refused.append(slot.consumer_key)
                continue
            accepted[slot.consumer_key] = {
                h.id: h.uri for h in media.rtp.headerExtensions if h.uri in RECEIVED_EXTENSIONS
            }
            if slot.rtx_payload_type and any(
                c.payloadType == slot.rtx_payload_type for c in media.rtp.codecs
            ):
                rtx.add(slot.consumer_key)
        if accepted:
            ufrag, fingerprints = _remote_credentials(answer)
        else:
            ufrag, fingerprints = "", []
        return ReceiveAnswer(ufrag, fingerprints, accepted, refused, rtx)
