"""The sandbox's token registry: RS256 JWT access tokens, refresh tokens, auth codes, PATs.

Access tokens are JWTs shaped like league/oauth2-server 8.5.5's ``convertToJWT`` (header
``{"typ":"JWT","alg":"RS256"}``; claims ``aud, jti, iat, nbf, exp, sub, scopes``), signed and
verified with PyJWT and an RSA key made per process. Like Passport, a JWT is only honoured while
its signature and ``exp`` verify (league's BearerTokenValidator) and its ``jti`` row is known,
unrevoked and unexpired, so revocation works before ``exp``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from processmaker_prefect.sandbox.config import ONE_YEAR

__all__ = ["AccessToken", "AuthCode", "RefreshToken", "TokenRegistry"]

# league's AuthCodeGrant is built with a PT10M auth-code TTL by Passport.
AUTH_CODE_TTL = 600


def _token_id() -> str:
    # league's generateUniqueIdentifier(40) is bin2hex(random_bytes(40)): 80 hex characters.
    return secrets.token_hex(40)


@dataclass
class AccessToken:
    """One ``oauth_access_tokens`` row."""

    id: str
    user_id: int | None
    client_id: str
    scopes: list[str]
    created_at: float
    expires_at: float
    name: str | None = None
    personal: bool = False
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass
class RefreshToken:
    """One ``oauth_refresh_tokens`` row (the string handed out is the key)."""

    access_token_id: str
    client_id: str
    user_id: int
    scopes: list[str]
    expires_at: float
    revoked: bool = False


@dataclass
class AuthCode:
    """One ``oauth_auth_codes`` row, with its PKCE challenge if one was sent."""

    client_id: str
    user_id: int
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    challenge: str | None = None
    challenge_method: str | None = None
    revoked: bool = False


@dataclass
class TokenRegistry:
    """Thread-safe in-memory store of everything issued; the TTLs apply to new tokens.

    ``ttl``, ``refresh_ttl`` and ``personal_ttl`` are Passport's ``tokensExpireIn``,
    ``refreshTokensExpireIn`` and ``personalAccessTokensExpireIn`` (each one year by default).
    """

    ttl: int
    refresh_ttl: int = ONE_YEAR
    personal_ttl: int = ONE_YEAR
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_key_pem(self) -> bytes:
        """The PEM public key that verifies every access token (Passport's oauth-public.key)."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # -- access tokens -------------------------------------------------------------------

    def issue_access(
        self,
        user_id: int | None,
        client_id: str,
        scopes: list[str],
        *,
        name: str | None = None,
        personal: bool = False,
        expires_in: float | None = None,
    ) -> tuple[str, AccessToken]:
        """Record a new access token and return ``(jwt, row)``.

        ``expires_in`` overrides the lifetime (seconds; negative issues an expired token),
        otherwise ``personal_ttl`` applies to PATs and ``ttl`` to the rest.
        """
        now = time.time()
        if expires_in is None:
            expires_in = self.personal_ttl if personal else self.ttl
        row = AccessToken(
            _token_id(), user_id, client_id, list(scopes), now, now + expires_in, name, personal
        )
        with self.lock:
            self.access[row.id] = row
        return self._sign(row), row

    def _sign(self, row: AccessToken) -> str:
        # lcobucci/jwt renders DateTimeImmutable claims with microseconds, hence floats.
        claims = {
            "aud": row.client_id,
            "jti": row.id,
            "iat": round(row.created_at, 6),
            "nbf": round(row.created_at, 6),
            "exp": round(row.expires_at, 6),
            "sub": "" if row.user_id is None else str(row.user_id),
            "scopes": row.scopes,
        }
        # lcobucci writes the header as {"typ","alg"}: keep that order (PyJWT sorts by default).
        return jwt.encode(claims, self._key, algorithm="RS256", sort_headers=False)

    def find_access(self, token: str) -> AccessToken | None:
        """The valid row behind a JWT whose signature and ``exp`` verify, else None."""
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                # league checks signature and time constraints; the audience is the client,
                # which a resource server does not pin.
                options={"verify_aud": False, "require": ["exp", "jti"]},
                # PyJWT truncates a fractional exp to whole seconds; the row check below is
                # exact, so allow that second here rather than expire a token early.
                leeway=1,
            )
        except jwt.PyJWTError:
            return None
        jti = claims["jti"]
        with self.lock:
            row = self.access.get(jti) if isinstance(jti, str) else None
            return row if row is not None and row.valid(time.time()) else None

    def revoke_access(self, token_id: str) -> None:
        with self.lock:
            if token_id in self.access:
                self.access[token_id].revoked = True

    def personal_tokens(self, user_id: int) -> list[AccessToken]:
        """The user's unrevoked PATs, newest first (what UserTokenController lists)."""
        with self.lock:
            rows = [r for r in self.access.values() if r.personal and r.user_id == user_id]
        return sorted((r for r in rows if not r.revoked), key=lambda r: -r.created_at)

    # -- refresh tokens ------------------------------------------------------------------

    def issue_refresh(self, access: AccessToken) -> str:
        """Record a refresh token bound to ``access`` and return its opaque string."""
        # league hands out a defuse-encrypted payload; its ciphertexts start "def502".
        token = "def50200" + secrets.token_hex(256)
        assert access.user_id is not None  # noqa: S101 - refresh tokens always carry a user
        row = RefreshToken(
            access.id,
            access.client_id,
            access.user_id,
            access.scopes,
            time.time() + self.refresh_ttl,
        )
        with self.lock:
            self.refresh[token] = row
        return token

    def rotate(self, token: str) -> None:
        """Revoke a used refresh token and the access token it was issued with."""
        with self.lock:
            row = self.refresh.get(token)
            if row is not None:
                row.revoked = True
                self.revoke_access(row.access_token_id)

    # -- auth codes ----------------------------------------------------------------------

    def issue_code(self, code: str, row: AuthCode) -> None:
        with self.lock:
            self.codes[code] = row

    def revoke_code(self, code: str) -> None:
        with self.lock:
            if code in self.codes:
                self.codes[code].revoked = True

    # -- bulk ------------------------------------------------------------------------------

    def issued(self) -> dict[str, list[str]]:
        """Every access token (as the JWT handed out), refresh token and auth code issued so
        far, revoked or not: what a leak scan must look for."""
        with self.lock:
            rows = list(self.access.values())
            refresh = list(self.refresh)
            codes = list(self.codes)
        # RS256 (PKCS#1 v1.5) is deterministic: re-signing gives the very token handed out.
        return {"access": [self._sign(row) for row in rows], "refresh": refresh, "codes": codes}

    def revoke_all(self) -> None:
        """Revoke every access token, PAT, refresh token and auth code issued so far."""
        with self.lock:
            for rows in (self.access, self.refresh, self.codes):
                for row in rows.values():
                    row.revoked = True
