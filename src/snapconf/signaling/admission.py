"""Who may join which room: the seam between signaling and whatever decides it.

The default, :class:`TokenAdmission`, admits anyone when no token key is configured and
otherwise requires a valid join token (:mod:`snapconf.signaling.auth`). A deployment with
booked conferences plugs in an admission that also consults its store.
"""

from __future__ import annotations

from typing import Protocol

from snapconf.signaling.auth import JoinGrant, TokenVerifier


class Admission(Protocol):
    async def admit(self, room: str, display_name: str, token: object) -> JoinGrant:
        """Grant or refuse a join; raises a :class:`snapconf.errors.SnapconfError`."""
        ...


class TokenAdmission:
    """Anonymous joins without a verifier; a valid token for the room with one."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    async def admit(self, room: str, display_name: str, token: object) -> JoinGrant:
        if self.verifier is None:
            return JoinGrant(room=room, role="participant", name=None, subject=None)
        return self.verifier.verify(token, room)
