"""Organiser sign-in with OpenID Connect (AgentConnect / ProConnect): authorization code
flow with PKCE (RFC 7636, S256), ``state`` and ``nonce``.

Random values and the PKCE challenge come from ``authlib``; the ID token is verified with
``joserfc`` (authlib's successor for JOSE: ``authlib.jose`` is deprecated) against the
provider's JWKS: signature, ``iss``, ``aud``, ``exp``, ``nonce``. The flow's secrets (state,
nonce, verifier) travel in a short-lived cookie signed by the server, so no server-side
session table is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from snapconf.bookings.config import OrganisersConfig
from snapconf.bookings.tokens import Identity, Signer, TokenError

log = logging.getLogger(__name__)

FLOW_AUDIENCE = "snapconf-oidc-flow"
FLOW_TTL = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
TIMEOUT = aiohttp.ClientTimeout(total=10)
ACCESS_CACHE_TTL = 60.0
ACCESS_CACHE_MAX = 10_000


class OidcError(Exception):
    """The sign-in failed; ``message`` is safe to show, ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class OidcClient:
    def __init__(
        self, config: OrganisersConfig, signer: Signer, wall: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.signer = signer
        self.wall = wall
        self.issuer = config.oidc_issuer.rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._access_cache: dict[str, tuple[float, Identity]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.config.oidc_issuer and self.config.oidc_client_id)

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as r:
            if r.status != 200:
                raise OidcError(f"the identity provider answered {r.status}", 502)
            data = await r.json(content_type=None)
        if not isinstance(data, dict):
            raise OidcError("the identity provider's answer is not a JSON object", 502)
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.issuer + "/.well-known/openid-configuration"
            try:
                data = await self._get_json(url)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise OidcError(f"the identity provider cannot be reached: {exc}", 502) from None
            if str(data.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("the identity provider's issuer does not match", 502)
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(name), str):
                    raise OidcError(f"the identity provider has no {name}", 502)
            self._metadata = data
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                self._keys = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
            except (aiohttp.ClientError, TimeoutError, JoseError, ValueError) as exc:
                raise OidcError(f"the identity provider's keys are unusable: {exc}", 502) from None
        return self._keys

    # -- step 1: send the browser to the provider -----------------------------------------
    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL and the flow cookie to set."""
        meta = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        now = int(self.wall())
        flow = self.signer.encode(
            {
                "iss": "snapconf",
                "aud": FLOW_AUDIENCE,
                "sub": "oidc",
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "iat": now,
                "exp": now + FLOW_TTL,
            }
        )
        params = {
            "response_type": "code",
            "client_id": self.config.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.oidc_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = meta["authorization_endpoint"]
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}", flow

    # -- step 2: the provider sends the browser back --------------------------------------
    async def finish(
        self, query: Mapping[str, str], flow_cookie: str | None, redirect_uri: str
    ) -> Identity:
        if "error" in query:
            raise OidcError(f"the identity provider refused: {query['error'][:100]}", 403)
        if not flow_cookie:
            raise OidcError("the sign-in expired or was started elsewhere; try again")
        try:
            flow = self.signer.decode(flow_cookie, FLOW_AUDIENCE)
        except TokenError:
            raise OidcError("the sign-in expired or was tampered with; try again") from None
        state = query.get("state", "")
        if not hmac.compare_digest(str(flow.get("state", "")).encode(), state.encode()):
            raise OidcError("the sign-in state does not match (possible forgery)")
        code = query.get("code")
        if not code:
            raise OidcError("the identity provider gave no code")
        tokens = await self._exchange(code, str(flow["verifier"]), redirect_uri)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the identity provider gave no ID token", 502)
        claims = await self.verify_id_token(id_token, str(flow["nonce"]))
        email = claims.get("email")
        if not isinstance(email, str) and isinstance(tokens.get("access_token"), str):
            email = (await self._userinfo(tokens["access_token"])).get("email")
        if not isinstance(email, str) or "@" not in email:
            raise OidcError("the identity provider gave no e-mail address", 403)
        if claims.get("email_verified") is False:
            raise OidcError("the e-mail address is not verified", 403)
        name = " ".join(
            str(claims[k]) for k in ("given_name", "usual_name", "family_name") if claims.get(k)
        )
        return Identity(f"{self.issuer}|{claims['sub']}", email.lower(), name)

    async def _exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        meta = await self.metadata()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.config.oidc_client_id,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        if self.config.oidc_client_secret:
            # client_secret_basic, each part form-encoded first (RFC 6749 section 2.3.1)
            pair = f"{quote_plus(self.config.oidc_client_id)}:"
            pair += quote_plus(self.config.oidc_client_secret)
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as http,
                http.post(meta["token_endpoint"], data=data, headers=headers) as r,
            ):
                body = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcError(f"the token exchange failed: {exc}", 502) from None
        if status != 200 or not isinstance(body, dict):
            raise OidcError(f"the token exchange was refused ({status})", 403)
        return body

    async def _userinfo(self, access_token: str) -> dict[str, Any]:
        meta = await self.metadata()
        url = meta.get("userinfo_endpoint")
        if not isinstance(url, str):
            return {}
        headers = {"Authorization": f"Bearer {access_token}"}
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(url, headers=headers) as r,
        ):
            if r.status != 200:
                return {}
            if r.content_type == "application/jwt":  # AgentConnect signs its userinfo
                token = jose_jwt.decode(await r.text(), await self.keys(), algorithms=ALGORITHMS)
                return dict(token.claims)
            data = await r.json(content_type=None)
            return data if isinstance(data, dict) else {}

    async def identity_from_access_token(self, access_token: str) -> Identity | None:
        """The organiser an access token of the provider belongs to (its userinfo), or None.

        Lets API clients use the provider's access tokens as bearer tokens. Answers are
        cached for ``ACCESS_CACHE_TTL`` seconds, keyed by the token's SHA-256.
        """
        if not self.enabled:
            return None
        key = hashlib.sha256(access_token.encode()).hexdigest()
        now = self.wall()
        cached = self._access_cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            info = await self._userinfo(access_token)
        except (OidcError, aiohttp.ClientError, TimeoutError, JoseError, ValueError):
            return None
        sub, email = info.get("sub"), info.get("email")
        if not isinstance(sub, str) or not isinstance(email, str) or "@" not in email:
            return None
        identity = Identity(f"{self.issuer}|{sub}", email.lower(), "")
        if len(self._access_cache) >= ACCESS_CACHE_MAX:
            self._access_cache.clear()
        self._access_cache[key] = (now + ACCESS_CACHE_TTL, identity)
        return identity

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """Signature (provider's JWKS, asymmetric algorithms only), iss, aud, exp, nonce."""
        keys = await self.keys()
        try:
            try:
                token = jose_jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except ValueError:  # unknown kid: the provider may have rotated its keys
                token = jose_jwt.decode(
                    id_token, await self.keys(refresh=True), algorithms=ALGORITHMS
                )
            registry = jose_jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.config.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
                leeway=60,
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            log.warning("organisers: ID token refused: %s", exc)
            raise OidcError(f"the ID token is not valid ({exc})", 403) from None
        return dict(token.claims)
