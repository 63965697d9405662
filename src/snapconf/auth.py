"""Join tokens: JWTs verified with a pinned algorithm, ``exp`` required (RFC 7519).

:class:`TokenAdmission` is the admission policy of rooms nobody booked: anyone joins when
no token key is configured, otherwise a valid join token for the room is required. The
bookings (:mod:`snapconf.bookings`) fall back to it for ad-hoc rooms.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from snapconf.conference.admission import Grant, JoinRequest
from snapconf.errors import AuthExpired, AuthInvalid, AuthRequired, RoomMismatch

ROLES = ("participant", "moderator")


@dataclass(slots=True)
class AuthConfig:
    """Join authentication (section ``[auth]``). Empty secret and key: anonymous joins."""

    #: shared secret for HS256 tokens
    jwt_secret: str = ""
    #: PEM public key (or path to it) for RS256 / ES256 tokens
    jwt_public_key: str = ""
    #: the one algorithm accepted; default HS256 with a secret, RS256 with a key
    jwt_algorithm: str = ""
    #: expected ``aud`` claim, when set
    jwt_audience: str = ""
    #: seconds of clock skew tolerated on ``exp`` / ``nbf``
    leeway: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)


@dataclass(slots=True, frozen=True)
class JoinGrant:
    """What a valid token allows."""

    room: str
    role: str
    name: str | None
    subject: str | None

    def as_grant(self) -> Grant:
        return Grant(role=self.role, name=self.name, subject=self.subject)


class TokenVerifier:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        if config.jwt_public_key:
            key = config.jwt_public_key
            if not key.lstrip().startswith("-----BEGIN"):
                with open(key, encoding="ascii") as f:
                    key = f.read()
            self._key: str = key
            self._algorithm = config.jwt_algorithm or "RS256"
            if self._algorithm not in ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"):
                raise ValueError(f"auth.jwt_algorithm {self._algorithm} does not fit a public key")
        else:
            self._key = config.jwt_secret
            self._algorithm = config.jwt_algorithm or "HS256"
            if self._algorithm not in ("HS256", "HS384", "HS512"):
                raise ValueError(f"auth.jwt_algorithm {self._algorithm} does not fit a secret")

    def verify(self, token: object, room: str) -> JoinGrant:
        """Check a join token for ``room``; raises an :class:`AuthError` subclass."""
        if token is None or token == "":
            raise AuthRequired("this server requires a token to join")
        if not isinstance(token, str):
            raise AuthInvalid("token is not a string")
        options = {"require": ["exp"]}
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self.config.jwt_audience or None,
                leeway=self.config.leeway,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthExpired("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthInvalid(f"token is invalid: {exc}") from exc
        token_room = claims.get("room")
        if not isinstance(token_room, str):
            raise AuthInvalid("token has no room claim")
        if token_room not in ("*", room):
            raise RoomMismatch("token is for another room")
        role = claims.get("role", "participant")
        if role not in ROLES:
            raise AuthInvalid("token role is not participant or moderator")
        name = claims.get("name")
        subject = claims.get("sub")
        return JoinGrant(
            room=room,
            role=role,
            name=name if isinstance(name, str) and name else None,
            subject=subject if isinstance(subject, str) else None,
        )


class TokenAdmission:
    """Implements :class:`snapconf.conference.admission.AdmissionPolicy` with join tokens:
    anonymous joins without a verifier, a valid token for the room with one (phones,
    admitted by their PIN, need none)."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    async def admit(self, request: JoinRequest) -> Grant:
        # a phone comes with the PIN its dial-in face checked, never with a token
        if self.verifier is None or request.kind == "phone":
            return Grant()
        return self.verifier.verify(request.token, request.room).as_grant()
