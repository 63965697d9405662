"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The sender stamps every packet of a transport with a 16-bit transport-wide sequence number in a
header extension (§2); the receiver answers with RTPFB FMT=15 feedback (§3.1) saying, for each
sequence number from a base on, whether it arrived and when. :class:`RtcpTransportCc` is that
feedback packet; :class:`TransportCcRecorder` is the receive side that writes it.

Feedback layout (§3.1), after the common RTCP feedback header (sender SSRC, media SSRC)::

    base sequence number (16) | packet status count (16)
    reference time (24, signed, x64 ms) | feedback packet count (8)
    packet chunks (16 bits each) ...
    receive deltas (8 bits unsigned or 16 bits signed, x250 µs) ...

A packet chunk is a run-length chunk (T=0: 2-bit symbol, 13-bit run length) or a status vector
chunk (T=1: S=0 fourteen 1-bit symbols, S=1 seven 2-bit symbols). Symbols: 0 not received,
1 received with a small delta (1 byte, 0..255), 2 received with a large or negative delta
(2 bytes, signed), 3 reserved.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from typing import ClassVar

EXT_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

RTCP_RTPFB = 205
RTPFB_TRANSPORT_CC = 15

#: receive delta resolution (§3.1.5)
DELTA_US = 250
#: reference time resolution (§3.1)
REFERENCE_US = 64_000

_SYMBOL_NOT_RECEIVED = 0
_SYMBOL_SMALL = 1
_SYMBOL_LARGE = 2
_MAX_RUN = 0x1FFF
_MAX_STATUS_COUNT = 0xFFFF

#: consecutive late or too old packets after which the numbering is taken as restarted
_RESTART_AFTER = 64

_FCI_HEADER = struct.Struct("!HHI")
_FEEDBACK_HEADER = struct.Struct("!BBHII")


def _symbols(arrivals: list[int | None]) -> tuple[list[int], list[int]]:
    """Status symbol and delta (in 250 µs units) for each packet; raise if a delta overflows."""
    symbols: list[int] = []
    deltas: list[int] = []
    previous = 0
    for arrival in arrivals:
        if arrival is None:
            symbols.append(_SYMBOL_NOT_RECEIVED)
            continue
        units = arrival // DELTA_US
        delta = units - previous
        previous = units
        if 0 <= delta <= 0xFF:
            symbols.append(_SYMBOL_SMALL)
        elif -0x8000 <= delta <= 0x7FFF:
            symbols.append(_SYMBOL_LARGE)
        else:
            raise ValueError("RTCP transport-cc receive delta does not fit in 16 bits")
        deltas.append(delta)
    return symbols, deltas


def _chunks(symbols: list[int]) -> list[int]:
    """Encode status symbols as packet chunks (§3.1.3, §3.1.4).

    Greedy: a run at least as long as what one vector chunk would hold becomes a run-length
    chunk; otherwise fourteen 1-bit symbols when they are all 0 or 1, else seven 2-bit symbols.
    """
    chunks: list[int] = []
    n = len(symbols)
    i = 0
    while i < n:
        symbol = symbols[i]
        run = 1
        while i + run < n and run < _MAX_RUN and symbols[i + run] == symbol:
            run += 1
        one_bit = symbol < _SYMBOL_LARGE and all(s < _SYMBOL_LARGE for s in symbols[i : i + 14])
        if run >= 14 or run == n - i or (run >= 7 and not one_bit):
            chunks.append((symbol << 13) | run)
            i += run
        elif one_bit:
            chunk = 0x8000
            for k, s in enumerate(symbols[i : i + 14]):
                chunk |= s << (13 - k)
            chunks.append(chunk)
            i += 14
        else:
            chunk = 0xC000
            for k, s in enumerate(symbols[i : i + 7]):
                chunk |= s << (12 - 2 * k)
            chunks.append(chunk)
            i += 7
    return chunks


@dataclass(slots=True)
class RtcpTransportCc:
    """Transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1)."""

    packet_type: ClassVar[int] = RTCP_RTPFB
    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    #: 24-bit signed, units of 64 ms
    reference_time: int
    #: 8-bit, incremented for each feedback packet sent
    feedback_count: int
    #: one entry per packet from base_sequence on: its arrival in µs since
    #: reference_time x 64 ms (a multiple of 250 µs once on the wire), None if not received
    arrivals: list[int | None] = field(default_factory=list)

    @classmethod
    def parse_fci(cls, sender_ssrc: int, media_ssrc: int, fci: bytes) -> RtcpTransportCc:
        """Parse the feedback control information (the bytes after the two SSRCs)."""
        if len(fci) < 8:
            raise ValueError("RTCP transport-cc feedback is shorter than 8 bytes")
        base, count, ref_and_count = _FCI_HEADER.unpack_from(fci, 0)
        if count == 0:
            raise ValueError("RTCP transport-cc packet status count is zero")
        reference = ref_and_count >> 8
        if reference & 0x800000:
            reference -= 0x1000000
        symbols: list[int] = []
        pos = 8
        while len(symbols) < count:
            if pos + 2 > len(fci):
                raise ValueError("RTCP transport-cc packet chunks are truncated")
            chunk = (fci[pos] << 8) | fci[pos + 1]
            pos += 2
            if not chunk & 0x8000:
                symbols.extend([(chunk >> 13) & 0x3] * (chunk & _MAX_RUN))
            elif not chunk & 0x4000:
                symbols.extend((chunk >> (13 - k)) & 0x1 for k in range(14))
            else:
                symbols.extend((chunk >> (12 - 2 * k)) & 0x3 for k in range(7))
        del symbols[count:]
        arrivals: list[int | None] = []
        units = 0
        for symbol in symbols:
            if symbol == _SYMBOL_NOT_RECEIVED:
                arrivals.append(None)
                continue
            if symbol == _SYMBOL_SMALL:
                if pos + 1 > len(fci):
                    raise ValueError("RTCP transport-cc receive deltas are truncated")
                units += fci[pos]
                pos += 1
            elif symbol == _SYMBOL_LARGE:
                if pos + 2 > len(fci):
                    raise ValueError("RTCP transport-cc receive deltas are truncated")
                units += int.from_bytes(fci[pos : pos + 2], "big", signed=True)
                pos += 2
            else:
                raise ValueError("RTCP transport-cc packet status symbol is reserved")
            arrivals.append(units * DELTA_US)
        return cls(sender_ssrc, media_ssrc, base, reference, ref_and_count & 0xFF, arrivals)

    def __bytes__(self) -> bytes:
        """The whole RTCP packet (PT 205, FMT 15), padded to 32 bits with the P bit set
        and the pad count in the last byte (RFC 3550 §6.4.1), as libwebrtc writes it."""
        if not 0 < len(self.arrivals) <= _MAX_STATUS_COUNT:
            raise ValueError("RTCP transport-cc packet status count is out of range")
        symbols, deltas = _symbols(self.arrivals)
        fci = bytearray(
            _FCI_HEADER.pack(
                self.base_sequence & 0xFFFF,
                len(self.arrivals),
                ((self.reference_time & 0xFFFFFF) << 8) | (self.feedback_count & 0xFF),
            )
        )
        for chunk in _chunks(symbols):
            fci += chunk.to_bytes(2, "big")
        for delta in deltas:
            if 0 <= delta <= 0xFF:
                fci.append(delta)
            else:
                fci += delta.to_bytes(2, "big", signed=True)
        padding = -len(fci) % 4
        first = 0x80 | RTPFB_TRANSPORT_CC
        if padding:
            first |= 0x20
            fci += bytes(padding - 1) + bytes((padding,))
        header = _FEEDBACK_HEADER.pack(
            first, RTCP_RTPFB, (8 + len(fci)) // 4, self.sender_ssrc, self.media_ssrc
        )
        return header + bytes(fci)


@dataclass(slots=True)
class TransportCcRecorderStats:
    """Counters of a :class:`TransportCcRecorder` (for /metrics)."""

    #: packets whose sequence number was stored
    recorded: int = 0
    #: packets dropped because feedback covering their sequence number was already sent
    late: int = 0
    #: packets dropped because they were older than the recorder's window
    too_old: int = 0
    #: sequence numbers skipped unreported because a gap was longer than the window
    gap_skipped: int = 0
    #: sequence numbers the feedback reported not received
    reported_lost: int = 0
    #: feedback packets written
    feedback_packets: int = 0
    #: times the sender's numbering jumped backwards for good and the recorder followed it
    restarts: int = 0


class TransportCcRecorder:
    """Receive side (towards publishers): remembers each packet's transport-wide sequence number
    and arrival, and writes feedback covering them.

    Memory is bounded by ``window`` (a power of two): two preallocated arrays indexed by the
    unwrapped sequence number modulo the window. A gap longer than the window is reported from
    its last ``window`` packets only (the skipped ones are counted in ``stats.gap_skipped``).
    """

    def __init__(
        self,
        sender_ssrc: int,
        media_ssrc: int = 0,
        *,
        window: int = 8192,
        max_packet_size: int = 1200,
    ) -> None:
        if window <= 0 or window & (window - 1):
            raise ValueError("transport-cc recorder window is not a power of two")
        self.sender_ssrc = sender_ssrc
        self.media_ssrc = media_ssrc
        self.stats = TransportCcRecorderStats()
        self._window = window
        self._mask = window - 1
        self._max_packet_size = max_packet_size
        self._seqs = array("q", [-1]) * window
        self._times = array("d", [0.0]) * window
        self._started = False
        self._last16 = 0
        self._highest = -1
        #: first unwrapped sequence number not yet covered by feedback
        self._next_report = 0
        self._feedback_count = 0
        self._stale_run = 0

    def record(self, sequence: int, arrival: float) -> None:
        """Store one received packet's transport-wide ``sequence`` and ``arrival`` (seconds).

        Hot path, once per received packet: unwraps the 16-bit number against the highest seen.
        """
        if not self._started:
            self._started = True
            self._last16 = sequence
            self._highest = sequence
            self._next_report = sequence
            unwrapped = sequence
        else:
            diff = (sequence - self._last16) & 0xFFFF
            if diff < 0x8000:
                unwrapped = self._highest + diff
                self._highest = unwrapped
                self._last16 = sequence
            else:
                unwrapped = self._highest + diff - 0x10000
                if unwrapped < self._next_report or unwrapped <= self._highest - self._window:
                    if unwrapped < self._next_report:
                        self.stats.late += 1
                    else:
                        self.stats.too_old += 1
                    self._stale_run += 1
                    if self._stale_run >= _RESTART_AFTER:
                        # the sender's numbering jumped (a restart): follow it
                        self.stats.restarts += 1
                        self._stale_run = 0
                        self._started = False
                        self.record(sequence, arrival)
                    return
        self._stale_run = 0
        slot = unwrapped & self._mask
        self._seqs[slot] = unwrapped
        self._times[slot] = arrival
        self.stats.recorded += 1

    def feedback(self) -> list[bytes]:
        """Serialised feedback packets for everything recorded since the last call.

        Several packets when a receive delta does not fit in 16 bits or one packet would exceed
        ``max_packet_size``; ``[]`` when nothing new was recorded.
        """
        if not self._started or self._highest < self._next_report:
            return []
        start = self._next_report
        end = self._highest + 1
        if end - start > self._window:
            self.stats.gap_skipped += end - self._window - start
            start = end - self._window
        self._next_report = end
        seqs = self._seqs
        times = self._times
        mask = self._mask
        packets: list[bytes] = []
        base = start
        arrivals: list[int | None] = []
        reference_us = 0
        have_reference = False
        previous_units = 0
        # header (20) + padding (3) + chunks (at worst one per 7 statuses) + deltas
        delta_bytes = 0
        for seq in range(start, end):
            slot = seq & mask
            if seqs[slot] != seq:
                arrivals.append(None)
                self.stats.reported_lost += 1
                continue
            us = round(times[slot] * 1_000_000)
            if not have_reference:
                reference_us = (us // REFERENCE_US) * REFERENCE_US
                have_reference = True
            units = (us - reference_us) // DELTA_US
            delta = units - previous_units
            size = 2 if not 0 <= delta <= 0xFF else 1
            overflow = not -0x8000 <= delta <= 0x7FFF
            too_big = (
                23 + 2 * (len(arrivals) // 7 + 1) + delta_bytes + size > self._max_packet_size
                or len(arrivals) >= _MAX_STATUS_COUNT
            )
            if overflow or too_big:
                packets.append(self._packet(base, reference_us, arrivals))
                base = seq
                arrivals = []
                reference_us = (us // REFERENCE_US) * REFERENCE_US
                units = (us - reference_us) // DELTA_US
                delta = units
                size = 1
                delta_bytes = 0
            previous_units = units
            delta_bytes += size
            arrivals.append(us - reference_us)
        # the highest sequence number is always a recorded packet, so ``arrivals`` is not empty
        packets.append(self._packet(base, reference_us, arrivals))
        return packets

    def _packet(self, base: int, reference_us: int, arrivals: list[int | None]) -> bytes:
        reference = reference_us // REFERENCE_US
        reference = ((reference + 0x800000) & 0xFFFFFF) - 0x800000
        count = self._feedback_count
        self._feedback_count = (count + 1) & 0xFF
        self.stats.feedback_packets += 1
        feedback = RtcpTransportCc(
            self.sender_ssrc, self.media_ssrc, base & 0xFFFF, reference, count, arrivals
        )
        return bytes(feedback)
