"""Egress: what one media socket sends, protected in place and sent in batches.

A video packet for 20 subscribers becomes 20 SRTP packets. Sent one ``sendto`` at a time,
each pays Python's socket call, a system call, and a chance for the scheduler to switch
to the woken receiver before the next one. Here every outgoing datagram is written into
one of a fixed set of buffers, SRTP-protected there (RFC 3711 §3.3: the authentication
tag is appended in place), and the queued datagrams leave in one ``sendmmsg(2)`` when the
server has finished with the datagram that caused them (or on the next turn of the event
loop for timer-driven sends).

libsrtp is reached through pylibsrtp's own cffi binding (the ``srtp_t`` of a
:class:`pylibsrtp.Session`), so the keys and stream state stay pylibsrtp's; only the
copies in and out of its private buffer are skipped. ``sendmmsg`` is declared with cffi in
ABI mode (no compiler needed). Where libc has no ``sendmmsg`` (not Linux), each queued
datagram goes with ``socket.sendto``.

Nothing here awaits; :meth:`Egress.flush` is synchronous and never raises for a datagram
the kernel refuses: it is dropped and counted, as UDP would lose it anyway.
"""

from __future__ import annotations

import errno
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

import pylibsrtp
from cffi import FFI
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

Address = tuple[Any, ...]

#: bytes per buffer: the largest datagram (RTP, RTCP, DTLS, STUN) the server sends
BUFFER_SIZE = 2048
#: the most SRTP/SRTCP adds to a packet (RFC 3711 §3.1, §3.4: SRTCP index, tag up to 16
#: bytes, MKI up to 128), as libsrtp's SRTP_MAX_SRTCP_TRAILER_LEN
_SRTP_TRAILER = 4 + 16 + 128

_ffi = FFI()
_ffi.cdef(
    """
    struct iovec { void *iov_base; size_t iov_len; };
    struct msghdr {
        void *msg_name; unsigned int msg_namelen;
        struct iovec *msg_iov; size_t msg_iovlen;
        void *msg_control; size_t msg_controllen;
        int msg_flags;
    };
    struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
    int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
    """
)
_libc = _ffi.dlopen(None)
try:
    _sendmmsg: Callable[..., int] | None = _libc.sendmmsg
except AttributeError:  # pragma: no cover - not Linux
    _sendmmsg = None

_memmove = _srtp_ffi.memmove
_srtp_protect = _srtp_lib.srtp_protect

#: errors after which the rest of a batch cannot go either (RFC 8085 §3.1: drop, never block)
_BUFFER_FULL = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS})


class SrtpError(Exception):
    """libsrtp refused to protect a packet; ``status`` is its ``srtp_err_status_t``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"SRTP protect failed (libsrtp status {status})")
        self.status = status


class Destination:
    """A remote address as a ready ``sockaddr`` (made once per address, not per packet)."""

    __slots__ = ("addr", "length", "sockaddr")

    def __init__(self, addr: Address) -> None:
        host, port = addr[0], addr[1]
        self.addr = addr
        if ":" in host:
            flowinfo = addr[2] if len(addr) > 2 else 0
            scope = addr[3] if len(addr) > 3 else 0
            # struct sockaddr_in6: family (host order), port and flow info (network order),
            # address, scope id (host order)
            raw = (
                struct.pack("=H", socket.AF_INET6)
                + struct.pack("!HI", port, flowinfo)
                + socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
                + struct.pack("=I", scope)
            )
        else:  # struct sockaddr_in: family, port, address, 8 bytes of zeros
            raw = (
                struct.pack("=H", socket.AF_INET)
                + struct.pack("!H", port)
                + socket.inet_aton(host)
                + bytes(8)
            )
        self.sockaddr = _ffi.new("char[]", raw)
        self.length = len(raw)


def srtp_context(session: pylibsrtp.Session) -> Any:
    """The libsrtp ``srtp_t`` behind a pylibsrtp session (valid while the session lives)."""
    return session._srtp[0]


class Egress:
    """The send queue of one UDP socket: up to ``capacity`` datagrams per ``sendmmsg``.

    ``on_first`` is called when a datagram is queued into an empty batch, so that the owner
    can make sure :meth:`flush` runs (at once after the current receive, or soon).
    ``on_drop(reason, count)`` counts datagrams the kernel refused.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        on_first: Callable[[Egress], None],
        on_drop: Callable[[str, int], None],
        capacity: int = 64,
    ) -> None:
        self.sock = sock
        self.capacity = capacity
        self.count = 0
        #: datagrams and bytes handed to the kernel (or refused by it, counted in on_drop)
        self.datagrams = 0
        self.bytes = 0
        self.closed = False
        self._fd = sock.fileno()
        self._on_first = on_first
        self._on_drop = on_drop
        self._buffers = [_srtp_ffi.new("char[]", BUFFER_SIZE) for _ in range(capacity)]
        #: the same buffers as memoryviews: a slice assignment copies with less overhead
        self._views = [memoryview(_srtp_ffi.buffer(b)) for b in self._buffers]
        self._headers = _ffi.new("struct mmsghdr[]", capacity)
        self._iovecs = _ffi.new("struct iovec[]", capacity)
        self._msgs = [self._headers[i].msg_hdr for i in range(capacity)]
        self._iovs = [self._iovecs[i] for i in range(capacity)]
        #: the destination of each queued datagram (keeps its sockaddr alive until sent)
        self._dests: list[Destination | None] = [None] * capacity
        for i in range(capacity):
            address = int(_srtp_ffi.cast("uintptr_t", self._buffers[i]))
            self._iovs[i].iov_base = _ffi.cast("void *", address)
            self._msgs[i].msg_iov = self._iovecs + i
            self._msgs[i].msg_iovlen = 1
        self._length = _srtp_ffi.new("int *")

    # -- queueing (hot path) ------------------------------------------------------------
    def send(self, data: bytes, dest: Destination) -> None:
        """Queue ``data`` as it is (STUN, DTLS)."""
        n = len(data)
        if n > BUFFER_SIZE:
            raise ValueError(f"datagram of {n} bytes is too long")
        i = self._next_slot(dest)
        _memmove(self._buffers[i], data, n)
        self._send_queued(i, n)

    def send_srtcp(self, packet: bytes, context: Any, dest: Destination) -> None:
        """Queue one RTCP compound packet protected with ``context`` (RFC 3711 §3.4)."""
        n = len(packet)
        if n + _SRTP_TRAILER > BUFFER_SIZE:
            raise ValueError(f"packet of {n} bytes is too long")
        i = self._next_slot(dest)
        length = self._length
        length[0] = n
        _memmove(self._buffers[i], packet, n)
        status = _srtp_lib.srtp_protect_rtcp(context, self._buffers[i], length)
        if status:
            raise SrtpError(status)
        self._send_queued(i, length[0])

    def _send_queued(self, i: int, n: int) -> None:
        """Buffer ``i``, now holding ``n`` bytes, is part of the batch."""
        self._iovs[i].iov_len = n
        self.bytes += n
        self.count = i + 1
        if i == 0:
            self._on_first(self)

    def _next_slot(self, dest: Destination) -> int:
        i = self.count
        if i == self.capacity:
            self.flush()
            i = 0
        if self._dests[i] is not dest:
            self._address(i, dest)
        return i

    def _address(self, i: int, dest: Destination) -> None:
        self._dests[i] = dest
        msg = self._msgs[i]
        msg.msg_name = dest.sockaddr
        msg.msg_namelen = dest.length

    # -- sending --------------------------------------------------------------------------
    def flush(self) -> None:
        """Send every queued datagram; refused ones are dropped and counted."""
        count = self.count
        if not count:
            return
        self.count = 0
        if self.closed:
            self._on_drop("socket_closed", count)
            return
        self.datagrams += count
        if _sendmmsg is None:  # pragma: no cover - not Linux
            self._flush_one_by_one(count)
            return
        start = 0
        headers = self._headers
        while start < count:
            sent = _sendmmsg(self._fd, headers + start, count - start, 0)
            if sent >= 0:
                start += sent
                continue
            code = _ffi.errno
            if code == errno.EINTR:
                continue
            if code in _BUFFER_FULL:
                self._on_drop("send_buffer_full", count - start)
                return
            self._on_drop("send_error", 1)  # this datagram only: go on with the next
            start += 1

    def _flush_one_by_one(self, count: int) -> None:  # pragma: no cover - not Linux
        for i in range(count):
            dest = self._dests[i]
            assert dest is not None
            try:
                self.sock.sendto(
                    _srtp_ffi.buffer(self._buffers[i], self._iovs[i].iov_len)[:], dest.addr
                )
            except OSError:
                self._on_drop("send_error", 1)

    def close(self) -> None:
        """Send what is queued, then drop and count whatever comes later; idempotent."""
        if self.closed:
            return
        self.flush()
        self.closed = True


#: the budget of a sender no pacer paces
_UNPACED = math.inf


class SrtpSender:
    """One transport's RTP on an egress, with its SRTP context and destination bound once.

    :meth:`send_rtp` is the last step of the forwarding path, once per consumer, so it is
    written out flat: pick a buffer, copy the rewritten header and the shared payload,
    protect in place (RFC 3711 §3.3: the tag is appended where the packet lies), queue.

    A pacer (:mod:`snapconf.media.pacer`) keeps its budget here, in bytes: a packet within
    it is sent at once, one that is not goes to ``over_budget`` (the pacer, which refills
    the budget from its clock or queues the packet). Without a pacer the budget is
    infinite. The check is a subtraction, so that pacing costs nothing more per packet.
    """

    __slots__ = ("budget", "context", "dest", "egress", "over_budget")

    def __init__(self, egress: Egress, context: Any, dest: Destination) -> None:
        self.egress = egress
        self.context = context
        self.dest = dest
        self.budget = _UNPACED
        self.over_budget: Callable[[bytes, bytes], None] | None = None

    def send_rtp(self, packet: bytes, body: bytes = b"") -> None:
        """Queue ``packet + body`` as one SRTP packet; raises when libsrtp refuses it."""
        egress = self.egress
        h = len(packet)
        n = h + len(body)
        budget = self.budget
        if budget != _UNPACED:
            budget -= n
            if budget < 0 and self.over_budget is not None:
                self.over_budget(packet, body)
                return
            self.budget = budget
        if n + _SRTP_TRAILER > BUFFER_SIZE:
            raise ValueError(f"packet of {n} bytes is too long")
        i = egress.count
        if i == egress.capacity:
            egress.flush()
            i = 0
        if egress._dests[i] is not self.dest:
            egress._address(i, self.dest)
        view = egress._views[i]
        view[:h] = packet
        view[h:n] = body
        length = egress._length
        length[0] = n
        status = _srtp_protect(self.context, egress._buffers[i], length)
        if status:
            raise SrtpError(status)
        size: int = length[0]
        egress._iovs[i].iov_len = size
        egress.bytes += size
        egress.count = i + 1
        if i == 0:
            egress._on_first(egress)
