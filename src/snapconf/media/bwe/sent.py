"""What was sent with transport-wide sequence numbers, written on the forwarding path.

The forwarding path stamps each packet to a receiver with the next transport-wide
sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2) and writes its send
time and size here: two stores into preallocated arrays, no call and no object per packet.
The estimator reads what is new (:meth:`SendSideEstimator.catch_up`) before it acts on
feedback, probes or ticks, so it sees every packet in order as if told of each one.
"""

from __future__ import annotations

import secrets
from array import array

#: packets remembered (a power of two); the estimator catches up every tick (50 ms), so
#: this holds seconds of traffic even at tens of Mbit/s
SENT_LOG_SIZE = 4096


class SentLog:
    """The transport-wide sequence of one receive transport and what each number carried."""

    __slots__ = ("held", "mask", "probes", "sent_bytes", "sizes", "times", "value")

    def __init__(self, size: int = SENT_LOG_SIZE) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError("sent log size is not a power of two")
        #: the last number used (16 bits); the next packet takes ``value + 1``
        self.value = secrets.randbits(16)
        self.mask = size - 1
        self.times = array("d", [0.0]) * size
        self.sizes = array("l", [0]) * size
        #: 1 for a padding probe (the estimator clears it when it reads the entry)
        self.probes = bytearray(size)
        #: bytes sent with numbers, in total
        self.sent_bytes = 0
        #: the oldest number a pacer still holds (its send time is not known yet), or -1:
        #: the estimator reads the log up to the number before it
        self.held = -1

    def record(self, size: int, now: float, probe: bool = False) -> int:
        """Take the next number for a packet of ``size`` bytes sent at ``now``; the number.

        The forwarding path writes the same inline (see ``Consumer.send``).
        """
        self.value = number = (self.value + 1) & 0xFFFF
        i = number & self.mask
        self.times[i] = now
        self.sizes[i] = size
        if probe:
            self.probes[i] = 1
        self.sent_bytes += size
        return number
