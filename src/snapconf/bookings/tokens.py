"""Tokens the server signs: API bearer tokens, organiser sessions, join tokens.

All are HS256 JWTs under ``api.token_secret``; the ``aud`` claim keeps them apart
(``snapconf-api``, ``snapconf-session``; join tokens carry none, as
:mod:`snapconf.auth` expects: ``room``, ``exp``, ``role``, ``name``, ``sub``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from snapconf.auth import AuthConfig, TokenVerifier

log = logging.getLogger(__name__)

API_AUDIENCE = "snapconf-api"
SESSION_AUDIENCE = "snapconf-session"
ISSUER = "snapconf"


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in organiser."""

    organiser_id: str
    email: str
    name: str = ""


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def domain_allowed(email: str, allowed: list[str]) -> bool:
    """Any domain when ``allowed`` is empty; else the domain or one of its subdomains."""
    if not allowed:
        return True
    domain = email_domain(email)
    return any(domain == d.lower() or domain.endswith("." + d.lower()) for d in allowed)


class TokenError(Exception):
    pass


class Signer:
    def __init__(self, secret: str, wall: Callable[[], float] = time.time) -> None:
        if not secret:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "api: no api.token_secret, using a random key: tokens and sessions end at restart"
            )
        self._secret = secret
        self.wall = wall
        self.join_verifier = TokenVerifier(AuthConfig(jwt_secret=secret, leeway=5.0))

    def encode(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def decode(self, token: str, audience: str) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"token is invalid: {exc}") from exc
        return claims

    def _identity_token(self, identity: Identity, audience: str, ttl: float) -> str:
        now = int(self.wall())
        return self.encode(
            {
                "iss": ISSUER,
                "aud": audience,
                "sub": identity.organiser_id,
                "email": identity.email,
                "name": identity.name,
                "iat": now,
                "exp": now + int(ttl),
            }
        )

    def _identity(self, token: str, audience: str) -> Identity:
        claims = self.decode(token, audience)
        sub, email, name = claims.get("sub"), claims.get("email"), claims.get("name", "")
        if not isinstance(sub, str) or not isinstance(email, str) or not isinstance(name, str):
            raise TokenError("token claims are not strings")
        return Identity(sub, email, name)

    def api_token(self, identity: Identity, ttl: float) -> str:
        return self._identity_token(identity, API_AUDIENCE, ttl)

    def verify_api_token(self, token: str) -> Identity:
        return self._identity(token, API_AUDIENCE)

    def session(self, identity: Identity, ttl: float) -> str:
        return self._identity_token(identity, SESSION_AUDIENCE, ttl)

    def verify_session(self, token: str) -> Identity:
        return self._identity(token, SESSION_AUDIENCE)

    def csrf(self, session_token: str) -> str:
        """A form token bound to the session cookie (double submit, keyed)."""
        return hmac.new(self._secret.encode(), session_token.encode(), hashlib.sha256).hexdigest()

    def join_token(
        self, room: str, role: str, expires: float, name: str | None, subject: str | None
    ) -> str:
        claims: dict[str, object] = {"room": room, "role": role, "exp": int(expires)}
        if name:
            claims["name"] = name
        if subject:
            claims["sub"] = subject
        return self.encode(claims)
