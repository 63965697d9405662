"""DTLS-SRTP with pyOpenSSL memory BIOs, the server always taking the DTLS server role.

Handshake per RFC 6347, SRTP keys exported per RFC 5764 §4.2, the peer's certificate
checked against the ``a=fingerprint`` of its SDP (RFC 8122 §5). The server answers
``a=setup:passive`` and offers ``a=setup:actpass``, so browsers are always the DTLS client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.rtcdtlstransport import (
    SRTP_PROFILES,
    X509_DIGEST_ALGORITHMS,
    RTCCertificate,
    certificate_digest,
)
from OpenSSL import SSL
from pylibsrtp import Policy, Session

from snapconf.media.router import HISTORY_SIZE

#: SRTP protection profiles, our preference first (the DTLS server's order decides, RFC 5764
#: §4.1.1): AEAD AES-128-GCM (RFC 7714), authenticated encryption at less CPU per packet
#: than AES-CM with HMAC-SHA1 and fewer AES rounds than AES-256-GCM, then the others.
_ORDER = (b"SRTP_AEAD_AES_128_GCM", b"SRTP_AEAD_AES_256_GCM", b"SRTP_AES128_CM_SHA1_80")
PROFILES = sorted(SRTP_PROFILES, key=lambda p: _ORDER.index(p.openssl_profile))


@dataclass(slots=True, frozen=True)
class Fingerprint:
    """One ``a=fingerprint`` value (RFC 8122 §5)."""

    algorithm: str
    value: str


class DtlsCertificate:
    """The server's certificate, shared by every transport, and its SDP fingerprint."""

    def __init__(self) -> None:
        self._certificate = RTCCertificate.generateCertificate()
        sha256 = next(f for f in self._certificate.getFingerprints() if f.algorithm == "sha-256")
        self.fingerprint = Fingerprint("sha-256", sha256.value)
        self._context = self._certificate._create_ssl_context(srtp_profiles=PROFILES)

    def new_connection(self) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_accept_state()
        return connection


class DtlsError(Exception):
    """The DTLS handshake failed or the peer's certificate does not match its SDP."""


class DtlsClosed(Exception):
    """The peer closed the association with a close_notify alert (RFC 5246 §7.2.1).

    A normal end, as when a browser closes its peer connection or its page: not a
    :class:`DtlsError`.
    """


class DtlsSession:
    """One DTLS association; feed it datagrams, it calls ``send`` with what to send back.

    When the handshake completes and the peer's certificate matches one of
    ``remote_fingerprints``, :attr:`srtp_rx` and :attr:`srtp_tx` are set.
    """

    def __init__(
        self,
        certificate: DtlsCertificate,
        remote_fingerprints: list[Fingerprint],
        send: Callable[[bytes], None],
    ) -> None:
        self._ssl = certificate.new_connection()
        self._remote_fingerprints = remote_fingerprints
        self._send = send
        self.connected = False
        self.srtp_rx: Session | None = None
        self.srtp_tx: Session | None = None
        #: the negotiated SRTP protection profile, e.g. ``SRTP_AEAD_AES_128_GCM``
        self.srtp_profile = ""

    def receive(self, data: bytes) -> None:
        """Handle one DTLS datagram.

        Raises :class:`DtlsError` when the handshake fails, :class:`DtlsClosed` when the
        peer sends close_notify (we answer with ours).
        """
        self._ssl.bio_write(data)
        if not self.connected:
            try:
                self._ssl.do_handshake()
            except SSL.WantReadError:
                self._flush()
                return
            except SSL.Error as exc:
                self._flush()
                raise DtlsError(f"DTLS handshake failed: {exc}") from exc
            self._flush()
            self._verify_peer()
            self._setup_srtp()
            self.connected = True
            return
        # after the handshake: alerts (close_notify) or retransmitted finished flights
        try:
            self._ssl.recv(1500)
        except SSL.ZeroReturnError as exc:
            self.close()
            raise DtlsClosed("DTLS closed by the peer") from exc
        except SSL.Error:
            pass
        self._flush()

    def handle_timeout(self) -> None:
        """Retransmit our last flight if OpenSSL's DTLS timer has expired."""
        if not self.connected and self._ssl.DTLSv1_get_timeout() == 0:
            self._ssl.DTLSv1_handle_timeout()
            self._flush()

    def close(self) -> None:
        """Send close_notify once connected; idempotent."""
        if self.connected:
            self.connected = False
            with contextlib.suppress(SSL.Error):
                self._ssl.shutdown()
            self._flush()

    def _flush(self) -> None:
        while True:
            try:
                data = self._ssl.bio_read(1500)
            except SSL.Error:
                return
            if not data:
                return
            self._send(data)

    def _verify_peer(self) -> None:
        certificate = self._ssl.get_peer_certificate(as_cryptography=True)
        if certificate is None:
            raise DtlsError("DTLS peer sent no certificate")
        checked = 0
        for fingerprint in self._remote_fingerprints:
            algorithm = fingerprint.algorithm.lower()
            if algorithm not in X509_DIGEST_ALGORITHMS:
                continue
            if fingerprint.value.upper() != certificate_digest(certificate, algorithm):
                raise DtlsError("DTLS peer certificate does not match its fingerprint")
            checked += 1
        if not checked:
            raise DtlsError("DTLS peer has no fingerprint with a supported algorithm")

    def _setup_srtp(self) -> None:
        selected = self._ssl.get_selected_srtp_profile()
        for profile in PROFILES:
            if profile.openssl_profile == selected:
                break
        else:
            raise DtlsError("DTLS negotiated no SRTP protection profile")
        material = self._ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
        )
        # we are the DTLS server: the client's write key is our receive key (RFC 5764 §4.2)
        rx = Policy(
            key=profile.get_key_and_salt(material, 0),
            ssrc_type=Policy.SSRC_ANY_INBOUND,
            srtp_profile=profile.libsrtp_profile,
        )
        rx.allow_repeat_tx = True
        rx.window_size = 1024
        tx = Policy(
            key=profile.get_key_and_salt(material, 1),
            ssrc_type=Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=profile.libsrtp_profile,
        )
        # a NACKed packet goes again under its index (RFC 4585 §6.2.1, no RTX): the send
        # window covers the router's history, and no more (libsrtp shifts it per packet)
        tx.allow_repeat_tx = True
        tx.window_size = HISTORY_SIZE
        self.srtp_rx = Session(rx)
        self.srtp_tx = Session(tx)
        self.srtp_profile = profile.openssl_profile.decode()
