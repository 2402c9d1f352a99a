"""The sandbox's token registry: RS256 JWT access tokens, refresh tokens, auth codes, PATs.

Access tokens are JWTs shaped like league/oauth2-server 8.5.5's ``convertToJWT`` (header
``{"typ":"JWT","alg":"RS256"}``; claims ``aud, jti, iat, nbf, exp, sub, scopes``), signed with
an RSA key made per process. Like Passport, a JWT is only honoured while its ``jti`` row is
known, unrevoked and unexpired, so revocation works before ``exp``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.config import ONE_YEAR

__all__ = ["AccessToken", "AuthCode", "RefreshToken", "TokenRegistry"]

# league's AuthCodeGrant is built with a PT10M auth-code TTL by Passport.
AUTH_CODE_TTL = 600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    """Thread-safe in-memory store of everything issued; ``ttl`` applies to new tokens."""

    ttl: int
    refresh_ttl: int = ONE_YEAR  # Passport's refreshTokensExpireIn(); set_token_ttl leaves it
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
    ) -> tuple[str, AccessToken]:
        """Record a new access token and return ``(jwt, row)``."""
        now = time.time()
        row = AccessToken(
            _token_id(), user_id, client_id, list(scopes), now, now + self.ttl, name, personal
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
        header = _b64(json.dumps({"typ": "JWT", "alg": "RS256"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"

    def find_access(self, jwt: str) -> AccessToken | None:
        """The valid row behind a JWT whose signature verifies, else None."""
        try:
            header, payload, signature = jwt.split(".")
            self._key.public_key().verify(
                _unb64(signature),
                f"{header}.{payload}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            jti = json.loads(_unb64(payload))["jti"]
        except (ValueError, KeyError, TypeError, InvalidSignature):
            return None
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
