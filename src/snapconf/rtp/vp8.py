"""VP8 RTP payload descriptor: parse it, and rewrite its counters for a receiver (RFC 7741).

The payload descriptor (RFC 7741 §4.2) precedes the VP8 payload header in every packet::

         0 1 2 3 4 5 6 7
        +-+-+-+-+-+-+-+-+
        |X|R|N|S|R| PID | (REQUIRED)
        +-+-+-+-+-+-+-+-+
   X:   |I|L|T|K| RSV   | (OPTIONAL)
        +-+-+-+-+-+-+-+-+
   I:   |M| PictureID   | (OPTIONAL, a second octet when M is 1)
        +-+-+-+-+-+-+-+-+
   L:   |   TL0PICIDX   | (OPTIONAL)
        +-+-+-+-+-+-+-+-+
   T/K: |TID|Y| KEYIDX  | (OPTIONAL)
        +-+-+-+-+-+-+-+-+

A selective forwarder that switches simulcast layers, or drops frames of upper temporal
layers, must keep PictureID and TL0PICIDX continuous for each receiver: every layer has its
own counters, and libwebrtc's receiver treats a PictureID gap as a lost frame and waits for a
keyframe. :class:`Vp8Rewriter` does that, as mediasoup's and Jitsi's VP8 handlers do.

Pure code, no I/O: it runs synchronously once per forwarded video packet.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

_TRUNCATED = "VP8 payload descriptor is truncated"


@dataclass(slots=True)
class Vp8Descriptor:
    """The fields of one VP8 payload descriptor (RFC 7741 §4.2)."""

    start: bool
    """S: the packet starts a VP8 partition."""
    partition: int
    """PID: the partition index the packet's first byte belongs to."""
    picture_id: int | None
    """PictureID, 7 or 15 bits; ``None`` when I is 0."""
    long_picture_id: bool
    """M: the PictureID is 15 bits (two octets)."""
    tl0picidx: int | None
    """TL0PICIDX, the running index of base-layer frames; ``None`` when L is 0."""
    tid: int | None
    """TID, the temporal layer index; ``None`` when T is 0."""
    layer_sync: bool
    """Y: the frame depends only on the base-layer frame with the same TL0PICIDX."""
    keyidx: int | None
    """KEYIDX, the running index of keyframes; ``None`` when K is 0."""
    size: int
    """The descriptor's length in bytes: the VP8 payload (header) starts here."""
    keyframe: bool
    """S set, PID 0 and the payload header's P bit 0: the start of a keyframe (RFC 7741 §4.3)."""
    non_reference: bool = False
    """N: the frame is not used to predict other frames, so dropping it harms none."""


def parse_vp8(payload: bytes) -> Vp8Descriptor:
    """Parse the payload descriptor at the start of a VP8 RTP payload (RFC 7741 §4.2).

    Raises ``ValueError`` with an exact message: ``"VP8 payload is empty"``,
    ``"VP8 payload descriptor is truncated"`` when an announced field is missing, and
    ``"VP8 payload has no data after the descriptor"``.
    """
    # Runs per video packet: indexing past the end (IndexError, free in 3.11 until raised)
    # stands for the length checks, and comparisons for bool() calls.
    b0 = 0
    pos = 1
    picture_id = tl0picidx = tid = keyidx = None
    long_picture_id = layer_sync = False
    try:
        b0 = payload[0]
        if b0 & 0x80:
            x = payload[1]
            pos = 2
            if x & 0x80:
                p = payload[2]
                if p & 0x80:
                    picture_id = ((p & 0x7F) << 8) | payload[3]
                    long_picture_id = True
                    pos = 4
                else:
                    picture_id = p
                    pos = 3
            if x & 0x40:
                tl0picidx = payload[pos]
                pos += 1
            if x & 0x30:
                t = payload[pos]
                pos += 1
                if x & 0x20:
                    tid = t >> 6
                    layer_sync = t & 0x20 != 0
                if x & 0x10:
                    keyidx = t & 0x1F
    except IndexError:
        if not payload:
            raise ValueError("VP8 payload is empty") from None
        raise ValueError(_TRUNCATED) from None
    if pos >= len(payload):
        raise ValueError("VP8 payload has no data after the descriptor")
    start = b0 & 0x10 != 0
    partition = b0 & 0x07
    # positional: cheaper than keywords
    return Vp8Descriptor(
        start,
        partition,
        picture_id,
        long_picture_id,
        tl0picidx,
        tid,
        layer_sync,
        keyidx,
        pos,
        start and partition == 0 and not payload[pos] & 0x01,
        b0 & 0x20 != 0,
    )


class _Gapless:
    """One wrapping counter made continuous: incoming values map to outgoing ones with the
    values of dropped frames taken out, and continue from the last one sent after a rebase.

    Incoming values are held as signed distances from a base (the first value forwarded
    after a rebase); ``dropped`` is the sorted distances of dropped values newer than the
    newest forwarded, so a packet that arrives late (after newer frames were dropped) still
    gets its own outgoing value.
    The base moves forward as the stream advances so the list stays short.
    """

    __slots__ = (
        "active",
        "base_in",
        "base_out",
        "dropped",
        "half",
        "last_out",
        "mask",
        "newest",
        "newest_forwarded",
        "out_mask",
        "window",
    )

    def __init__(self, out_mask: int) -> None:
        self.out_mask = out_mask
        self.active = False
        self.last_out: int | None = None
        self.base_in = self.base_out = self.newest = self.newest_forwarded = 0
        self.mask = out_mask
        self.half = (out_mask + 1) >> 1
        self.window = 0
        self.dropped: list[int] = []

    def rebase(self, value: int, mask: int) -> None:
        self.base_in = value & mask
        self.mask = mask
        self.half = (mask + 1) >> 1
        self.window = min(64, self.half >> 2)
        last = self.last_out
        self.base_out = value & self.out_mask if last is None else (last + 1) & self.out_mask
        self.dropped.clear()
        self.newest = self.newest_forwarded = 0
        self.active = True

    def _distance(self, value: int) -> int:
        d = (value - self.base_in) & self.mask
        return d - self.mask - 1 if d >= self.half else d

    def forward(self, value: int, mask: int) -> int:
        if not self.active:
            self.rebase(value, mask)
        d = self._distance(value)
        dropped = self.dropped
        gaps = len(dropped) if not dropped or dropped[-1] < d else bisect_left(dropped, d)
        out = (self.base_out + d - gaps) & self.out_mask
        if d >= self.newest_forwarded:
            self.newest_forwarded = d
            self.last_out = out
        if d > self.newest:
            self.newest = d
            if d > 2 * self.window:
                self._fold(d - self.window)
        return out

    def drop(self, value: int) -> None:
        if not self.active:
            return
        d = self._distance(value)
        if d <= self.newest_forwarded:
            # not newer than a frame already (partly) sent: taking it out now would change
            # that frame's id between its packets; it stays a gap, like a lost frame (as
            # mediasoup's SeqManager::Drop does)
            return
        dropped = self.dropped
        i = bisect_left(dropped, d)
        if i < len(dropped) and dropped[i] == d:
            return
        dropped.insert(i, d)
        if d > self.newest:
            self.newest = d
            if d > 2 * self.window:
                self._fold(d - self.window)

    def _fold(self, p: int) -> None:
        """Move the base ``p`` values forward, folding the drops at or before it into it."""
        dropped = self.dropped
        folded = bisect_right(dropped, p)
        self.base_out = (self.base_out + p - folded) & self.out_mask
        self.base_in = (self.base_in + p) & self.mask
        self.dropped = [x - p for x in dropped[folded:]]
        self.newest -= p
        self.newest_forwarded -= p


class Vp8Rewriter:
    """Per consumer: keeps picture ID and TL0PICIDX continuous for the receiver across
    simulcast layer switches (each layer has its own counters) and across frames dropped to
    shed temporal layers (mediasoup/Jitsi do the same; libwebrtc's decoder-side reference
    finder treats a picture-ID gap as a lost frame and stalls until a keyframe).

    Until the first :meth:`switch`, the ids of the first stream pass through unchanged
    (apart from the frames dropped). After :meth:`switch`, the next forwarded frame (a
    keyframe of the new layer) gets the last sent picture ID + 1 and TL0PICIDX + 1, and the
    frames after it follow on. A frame is either forwarded (every packet through
    :meth:`rewrite`) or dropped (:meth:`drop`), never both. 7-bit picture IDs are written
    modulo 128 in the same single octet, so a payload keeps its length.
    """

    __slots__ = ("_in", "_out", "_picture_id", "_tl0picidx")

    def __init__(self) -> None:
        self._picture_id = _Gapless(0x7FFF)
        self._tl0picidx = _Gapless(0xFF)
        # the last descriptor rewritten and its rewrite: the packets after a frame's first
        # carry the same descriptor, so they cost one comparison (cleared on any change)
        self._in = b""
        self._out = b""

    def switch(self) -> None:
        """The next forwarded frame comes from another layer (a keyframe): continue from
        the last ids sent."""
        self._picture_id.active = False
        self._tl0picidx.active = False
        self._in = b""

    def drop(self, d: Vp8Descriptor) -> None:
        """A frame that is not forwarded: its picture ID (and its TL0PICIDX, when it is a
        base-layer frame) is taken out of the outgoing sequence.

        Call it for each dropped packet, or only for each dropped frame's first packet:
        repeats of a picture ID are ignored. Drops before the first frame forwarded after a
        :meth:`switch` are ignored (there is nothing to continue yet), and so are drops of a
        frame older than one already forwarded (it stays a gap, as a lost frame would).
        """
        self._in = b""
        if d.picture_id is not None:
            self._picture_id.drop(d.picture_id)
        if d.tl0picidx is not None and not d.tid:  # TID 0, or no temporal layers
            self._tl0picidx.drop(d.tl0picidx)

    def rewrite_descriptor(self, payload: bytes, d: Vp8Descriptor) -> bytes:
        """The descriptor of ``payload`` (``d = parse_vp8(payload)``) with the receiver's
        picture ID and TL0PICIDX: ``d.size`` bytes. The packet body to send is this followed
        by ``payload[d.size:]`` (``header + desc + payload[d.size:]``). Same effect on the
        state as :meth:`rewrite`."""
        key = payload[: d.size]
        if key == self._in:
            return self._out
        if d.picture_id is None and d.tl0picidx is None:
            return key
        buf = bytearray(key)
        pos = 2
        if d.picture_id is not None:
            if d.long_picture_id:
                out = self._picture_id.forward(d.picture_id, 0x7FFF)
                buf[2] = 0x80 | (out >> 8)
                buf[3] = out & 0xFF
                pos = 4
            else:
                buf[2] = self._picture_id.forward(d.picture_id, 0x7F) & 0x7F
                pos = 3
        if d.tl0picidx is not None:
            buf[pos] = self._tl0picidx.forward(d.tl0picidx, 0xFF)
        self._in = key
        self._out = out_bytes = bytes(buf)
        return out_bytes

    def rewrite(self, payload: bytes, d: Vp8Descriptor) -> bytes:
        """``payload`` (``d = parse_vp8(payload)``) with the receiver's picture ID and
        TL0PICIDX, the same length; a payload with neither field is returned as is.

        Cheap for the packets after a frame's first (same descriptor: one comparison), and
        one concatenation: cheaper in CPython than a bytearray copy or a memoryview join."""
        if d.picture_id is None and d.tl0picidx is None:
            return payload
        return self.rewrite_descriptor(payload, d) + payload[d.size :]
