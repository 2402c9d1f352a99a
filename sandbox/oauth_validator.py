"""The oauthlib ``RequestValidator`` that makes oauthlib decide like Passport 12 + league 8.5.5.

Failures raise :class:`LeagueError` (not an oauthlib error), so they leave oauthlib untouched
and render with league's exact code, status and hint; the checks run in league's order.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oauthlib.common import Request
from oauthlib.oauth2 import RequestValidator
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import (
    code_challenge_method_plain,
    code_challenge_method_s256,
)
from oauthlib.oauth2.rfc6749.utils import scope_to_list

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.oauth_errors import LeagueError
from processmaker_prefect.sandbox.stats import Stats
from processmaker_prefect.sandbox.tokens import AUTH_CODE_TTL, AuthCode, TokenRegistry

__all__ = ["ADMIN_USER_ID", "PassportValidator", "same"]

ADMIN_USER_ID = 1
# RFC 7636 section 4.1 / 4.2, as league checks code_verifier and code_challenge.
_PKCE_FORMAT = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Client:
    """The one registered client; oauthlib reads ``request.client.client_id``."""

    client_id: str


def same(given: str, expected: str) -> bool:
    """Constant-time equality that also copes with non-ASCII input (str compare_digest can't)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    # league getBasicAuthCredentials: no URL-decoding, and ":" must be present.
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    if ":" not in decoded:
        return None, None
    user, password = decoded.split(":", 1)
    return user, password


class PassportValidator(RequestValidator):  # type: ignore[misc]
    """Decisions for password, refresh_token, authorization_code and client_credentials."""

    def __init__(self, config: SandboxConfig, registry: TokenRegistry, stats: Stats) -> None:
        self.config, self.registry, self.stats = config, registry, stats

    # -- clients ---------------------------------------------------------------------------

    def client_authentication_required(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        return True  # the client is confidential: league always wants its secret

    def authenticate_client(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        basic_id, basic_secret = _basic_credentials(request)
        client_id = request.client_id or basic_id  # body wins, as in getClientCredentials
        secret = request.client_secret or basic_secret
        if not client_id:
            raise LeagueError.invalid_request("client_id")
        if not (
            same(str(client_id), self.config.client_id)
            and secret is not None
            and same(str(secret), self.config.client_secret)
        ):
            error = LeagueError.invalid_client()
            if "Authorization" in request.headers:
                bearer = request.headers["Authorization"].startswith("Bearer")
                error.auth_scheme = "Bearer" if bearer else "Basic"
            raise error
        request.client_id, request.client = client_id, Client(client_id)
        return True

    def validate_client_id(
        self, client_id: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        if not same(str(client_id), self.config.client_id):
            raise LeagueError.invalid_client()
        request.client = Client(client_id)
        return True

    def validate_grant_type(
        self,
        client_id: str,
        grant_type: str,
        client: Client,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        return True  # a password client with a secret: every enabled grant is allowed

    def validate_response_type(
        self,
        client_id: str,
        response_type: str,
        client: Client,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        return response_type == "code"

    # -- scopes: Passport knows only "*" ---------------------------------------------------

    def get_default_scopes(
        self, client_id: str, request: Request, *args: Any, **kwargs: Any
    ) -> list[str]:
        return []

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: Client,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        for scope in scopes:
            if scope != "*":
                redirect = request.redirect_uri if request.response_type == "code" else None
                raise LeagueError.invalid_scope(scope, redirect)
        return True

    # -- password grant ------------------------------------------------------------------

    def validate_user(
        self,
        username: str,
        password: str,
        client: Client,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        # league's PasswordGrant validates scopes before the user; oauthlib does it after.
        self.validate_scopes(client.client_id, scope_to_list(request.scope) or [], client, request)
        if not (same(username, self.config.username) and same(password, self.config.password)):
            raise LeagueError.invalid_credentials()
        request.user = ADMIN_USER_ID
        return True

    # -- refresh grant -------------------------------------------------------------------

    def validate_refresh_token(
        self, refresh_token: str, client: Client, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        with self.registry.lock:
            row = self.registry.refresh.get(refresh_token)
        if row is None:
            raise LeagueError.invalid_refresh_token("Cannot decrypt the refresh token")
        if row.client_id != client.client_id:
            raise LeagueError.invalid_refresh_token("Token is not linked to client")
        if time.time() > row.expires_at:
            raise LeagueError.invalid_refresh_token("Token has expired")
        if row.revoked:
            raise LeagueError.invalid_refresh_token("Token has been revoked")
        request.user = row.user_id
        return True

    def get_original_scopes(
        self, refresh_token: str, request: Request, *args: Any, **kwargs: Any
    ) -> list[str]:
        return list(self.registry.refresh[refresh_token].scopes)

    def is_within_original_scope(
        self,
        request_scopes: list[str],
        refresh_token: str,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        original = self.registry.refresh[refresh_token].scopes
        for scope in request_scopes:
            if scope != "*" or scope not in original:
                raise LeagueError.invalid_scope(scope)
        return True

    def rotate_refresh_token(self, request: Request) -> bool:
        return True  # AuthorizationServer::$revokeRefreshTokens is true in league 8.5.5

    # -- authorization code --------------------------------------------------------------

    def get_default_redirect_uri(
        self, client_id: str, request: Request, *args: Any, **kwargs: Any
    ) -> str | None:
        return None

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # Sandbox simplification: any loopback http(s) URI counts as registered.
        parts = urlsplit(redirect_uri)
        if parts.scheme not in {"http", "https"} or parts.hostname not in _LOOPBACK_HOSTS:
            raise LeagueError.invalid_client()
        return True

    def is_pkce_required(self, client_id: str, request: Request) -> bool:
        # oauthlib never checks the challenge's RFC 7636 format and offers no hook for it; this
        # is the one authorize-time call that sees the challenge before it is stored.
        challenge = request.code_challenge
        if request.response_type == "code" and challenge and not _PKCE_FORMAT.match(challenge):
            raise LeagueError.invalid_request(
                "code_challenge", "Code challenge must follow the specifications of RFC-7636."
            )
        return False  # league requires PKCE only from public clients; ours is confidential

    def save_authorization_code(
        self, client_id: str, code: dict[str, str], request: Request, *args: Any, **kwargs: Any
    ) -> None:
        row = AuthCode(
            client_id=client_id,
            user_id=request.user,
            redirect_uri=request.redirect_uri,
            scopes=[s for s in request.scopes if s != "*"],
            expires_at=time.time() + AUTH_CODE_TTL,
            challenge=request.code_challenge,
            challenge_method=request.code_challenge_method if request.code_challenge else None,
        )
        self.registry.issue_code(code["code"], row)

    def validate_code(
        self, client_id: str, code: str, client: Client, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # league's validateAuthorizationCode and then its PKCE check, in that order.
        with self.registry.lock:
            row = self.registry.codes.get(code)
        if row is None:
            raise LeagueError.invalid_request("code", "Cannot decrypt the authorization code")
        if time.time() > row.expires_at:
            raise LeagueError.invalid_grant("Authorization code has expired")
        if row.revoked:
            raise LeagueError.invalid_grant("Authorization code has been revoked")
        if row.client_id != client.client_id:
            raise LeagueError.invalid_request(
                "client_id", "Authorization code was not issued to this client"
            )
        if request.redirect_uri is None:
            raise LeagueError.invalid_request("redirect_uri")
        if request.redirect_uri != row.redirect_uri:
            raise LeagueError.invalid_request("redirect_uri", "Invalid redirect URI")
        self._check_pkce(row, request.code_verifier)
        request.user, request.scopes = row.user_id, list(row.scopes)
        return True

    @staticmethod
    def _check_pkce(row: AuthCode, verifier: str | None) -> None:
        if row.challenge is None:
            if verifier is not None:
                raise LeagueError.invalid_request(
                    "code_challenge", "code_verifier received when no code_challenge is present"
                )
            return
        if verifier is None:
            raise LeagueError.invalid_request("code_verifier")
        if not _PKCE_FORMAT.match(verifier):
            raise LeagueError.invalid_request(
                "code_verifier", "Code Verifier must follow the specifications of RFC-7636."
            )
        check = (
            code_challenge_method_s256
            if row.challenge_method == "S256"
            else code_challenge_method_plain
        )
        if not check(verifier, row.challenge):
            raise LeagueError.invalid_grant("Failed to verify `code_verifier`.")

    def confirm_redirect_uri(
        self,
        client_id: str,
        code: str,
        redirect_uri: str,
        client: Client,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        return True  # already compared in validate_code, in league's order

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Request, *args: Any, **kwargs: Any
    ) -> None:
        self.registry.revoke_code(code)

    # -- issuing -------------------------------------------------------------------------

    def save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> None:
        if request.grant_type == "refresh_token":
            self.registry.rotate(request.refresh_token)
        self.stats.count_grant(request.grant_type)
