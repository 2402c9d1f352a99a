"""A bearer token and its lifetime, measured on our own clock from the moment it arrived.

The server's clock never decides when we renew: ``expires_in`` is counted from receipt, and a
JWT's ``exp`` is used only when no ``expires_in`` came, and then as ``exp - iat`` from receipt.
A local clock minutes off the server's therefore cannot make every call look expired.

Tokens shared between processes travel in the Vault secret as :data:`SHARED_KEYS`, with the
expiry as wall-clock epoch seconds of the writer (processes on one host share that clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from pydantic import SecretStr

__all__ = ["SHARED_KEYS", "Clock", "Token", "jwt_claims"]

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch; ``time.time`` unless a test injects a skewed one."""

# The keys a shared token occupies in the Vault secret, next to the credentials.
SHARED_KEYS = ("access_token", "access_token_expires_at", "access_token_obtained_at")


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's claims without verifying its signature; ``{}`` for an opaque token.

    Only used to read ``exp``, ``iat`` and ``sub``: the server verifies the signature, not us.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _lifetime(body: Mapping[str, Any], access: str) -> float | None:
    """Seconds the token lives from now: ``expires_in``, else a JWT's ``exp - iat``."""
    if body.get("expires_in") is not None:
        return float(body["expires_in"])
    claims = jwt_claims(access)
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and isinstance(iat, int | float):
        return float(exp) - float(iat)
    return None  # an opaque token, or a JWT without iat: lifetime unknown, never renewed early


@dataclass(frozen=True)
class Token:
    """An access token and what came with it. Never returned from a task, never logged.

    Attributes:
        expires_at: Epoch seconds on the clock that received it; ``None`` = unknown.
        obtained_at: Epoch seconds of receipt on the same clock.
        from_vault: Another process granted it and shared it through the Vault secret.
    """

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float | None = None
    obtained_at: float = field(default_factory=time.time)
    from_vault: bool = False

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: float | None = None) -> Token:
        """Parse a token endpoint's answer received at ``now`` (default: ``time.time()``)."""
        received = time.time() if now is None else now
        access = str(body["access_token"])
        lifetime = _lifetime(body, access)
        refresh = body.get("refresh_token")
        return cls(
            SecretStr(access),
            SecretStr(str(refresh)) if refresh else None,
            None if lifetime is None else received + lifetime,
            received,
        )

    @classmethod
    def from_shared(cls, data: Mapping[str, SecretStr]) -> Token | None:
        """The token another process stored in the Vault secret, if any is there."""
        access = data.get("access_token")
        if access is None or not access.get_secret_value():
            return None
        try:
            raw = data["access_token_expires_at"].get_secret_value()
            expires = float(raw) if raw else None
            obtained = float(data["access_token_obtained_at"].get_secret_value())
        except (KeyError, ValueError):
            return None  # half-written by hand: not trusted, a grant replaces it
        return cls(access, None, expires, obtained, from_vault=True)

    def shared_fields(self) -> dict[str, str | SecretStr]:
        """What :meth:`from_shared` reads back, for the Vault secret."""
        return {
            "access_token": self.access_token,
            "access_token_expires_at": "" if self.expires_at is None else repr(self.expires_at),
            "access_token_obtained_at": repr(self.obtained_at),
        }

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.expires_at is not None and now + seconds >= self.expires_at

    def due_for_renewal(self, leeway: float, now: float | None = None) -> bool:
        """Whether to renew now: within ``leeway`` of expiry, or past half the lifetime of a
        token that lives less than twice the leeway (else every call would renew it)."""
        if self.expires_at is None:
            return False
        lifetime = self.expires_at - self.obtained_at
        return self.expires_within(min(leeway, lifetime / 2), now)

    def subject(self) -> str | None:
        """The JWT ``sub`` claim (ProcessMaker's user id), if the token is a JWT."""
        sub = jwt_claims(self.access_token.get_secret_value()).get("sub")
        return str(sub) if sub not in (None, "") else None
