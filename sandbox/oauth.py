"""The sandbox's OAuth 2.0 server: oauthlib endpoints wired like Passport 12 / league 8.5.5.

Grants: password, refresh_token (rotating), authorization_code (PKCE ``S256``/``plain``),
client_credentials; implicit is disabled. ``OAuthServer`` is what ``sandbox.app`` mounts.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2 import (
    AuthorizationCodeGrant,
    AuthorizationEndpoint,
    BearerToken,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    ResourceOwnerPasswordCredentialsGrant,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749 import errors as oauthlib_errors

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.oauth_errors import (
    LeagueError,
    from_oauthlib,
    from_oauthlib_error,
)
from processmaker_prefect.sandbox.oauth_validator import ADMIN_USER_ID, PassportValidator, same
from processmaker_prefect.sandbox.stats import Stats
from processmaker_prefect.sandbox.throttle import Throttle
from processmaker_prefect.sandbox.tokens import AccessToken, TokenRegistry

__all__ = ["ADMIN_USER_ID", "OAuthServer", "PendingAuthorization", "TokenResult"]

# Grants whose "*" scope Passport's ScopeRepository::finalizeScopes keeps.
_STAR_GRANTS = {"password", "client_credentials", "personal_access"}


@dataclass(frozen=True)
class TokenResult:
    """What POST /oauth/token answers: a JSON body in league's key order, or a league error."""

    body: dict[str, Any] | None = None
    error: LeagueError | None = None


@dataclass
class PendingAuthorization:
    """An authorize request shown on the consent page, waiting for approve or deny."""

    uri: str
    scopes: list[str]
    credentials: dict[str, Any] = field(default_factory=dict)


class OAuthServer:
    """Issues, rotates, revokes and checks tokens for one sandbox.

    Args:
        config: the credentials and limits the sandbox accepts.
        stats: counts every successful grant by type.
    """

    def __init__(self, config: SandboxConfig, stats: Stats) -> None:
        self.config, self.stats = config, stats
        self.registry = TokenRegistry(
            ttl=config.token_ttl,
            refresh_ttl=config.refresh_token_ttl,
            personal_ttl=config.personal_token_ttl,
        )
        self.throttle = Throttle(config.throttle_per_minute)
        self.personal_client_id = "2" if config.client_id == "1" else "1"
        self._pat_revoked = False
        self._pending: dict[str, PendingAuthorization] = {}
        self._lock = threading.Lock()
        self.validator = PassportValidator(config, self.registry, stats)
        bearer = BearerToken(
            self.validator,
            token_generator=self._new_access_token,
            expires_in=lambda _request: self.registry.ttl,
            refresh_token_generator=self._new_refresh_token,
        )
        code_grant = AuthorizationCodeGrant(self.validator)
        self.token_endpoint = TokenEndpoint(
            default_grant_type="password",
            default_token_type=bearer,
            grant_types={
                "password": ResourceOwnerPasswordCredentialsGrant(self.validator),
                "refresh_token": RefreshTokenGrant(self.validator),
                "authorization_code": code_grant,
                "client_credentials": ClientCredentialsGrant(self.validator),
            },
        )
        self.authorization_endpoint = AuthorizationEndpoint(
            default_response_type="code",
            default_token_type=bearer,
            response_types={"code": code_grant},  # no "token": implicit stays disabled
        )

    @property
    def public_key_pem(self) -> bytes:
        """The PEM key that verifies access-token signatures."""
        return self.registry.public_key_pem

    # -- the seam used by sandbox.app, sandbox.oauth_routes and sandbox.control -----------

    def authenticate(self, authorization: str | None) -> int | None:
        """The user id behind an ``Authorization: Bearer`` header, or None.

        None for a missing, unknown, revoked or expired token and for client_credentials
        tokens, which carry no user (Passport's TokenGuard returns no user for them).
        """
        token = _bearer(authorization or "")
        if not token:
            return None
        if not self._pat_revoked and same(token, self.config.pat):
            return ADMIN_USER_ID
        row = self.registry.find_access(token)
        return None if row is None else row.user_id

    def revoke_all(self) -> None:
        """Revoke every issued access/refresh token, auth code and PAT, the configured one too."""
        self.registry.revoke_all()
        self._pat_revoked = True

    def set_token_ttl(self, seconds: int) -> None:
        """Lifetime of access tokens and PATs issued from now on (refresh tokens keep theirs)."""
        self.set_token_ttls(access=seconds, personal=seconds)

    def set_token_ttls(
        self, *, access: int | None = None, refresh: int | None = None, personal: int | None = None
    ) -> None:
        """Passport's ``tokensExpireIn``, ``refreshTokensExpireIn`` and
        ``personalAccessTokensExpireIn`` for tokens issued from now on; None keeps a value."""
        with self.registry.lock:
            if access is not None:
                self.registry.ttl = access
            if refresh is not None:
                self.registry.refresh_ttl = refresh
            if personal is not None:
                self.registry.personal_ttl = personal

    def token_ttls(self) -> dict[str, int]:
        """The three lifetimes in seconds, as ``POST /_sandbox/token-ttl`` reports them."""
        registry = self.registry
        return {
            "access_seconds": registry.ttl,
            "refresh_seconds": registry.refresh_ttl,
            "personal_seconds": registry.personal_ttl,
        }

    def reset_throttle(self) -> None:
        """Forget every /oauth/token rate-limit window."""
        self.throttle.reset()

    def reset(self) -> None:
        """Back to the configuration: throttle cleared, token lifetime and the configured PAT
        restored (tokens issued since stay as they are, revoked or not)."""
        self.throttle.reset()
        self.set_token_ttls(
            access=self.config.token_ttl,
            refresh=self.config.refresh_token_ttl,
            personal=self.config.personal_token_ttl,
        )
        self._pat_revoked = False

    # -- token endpoint ------------------------------------------------------------------

    def issue_token(self, uri: str, body: str, headers: dict[str, str]) -> TokenResult:
        """Run one POST /oauth/token request (form-encoded ``body``) through oauthlib."""
        # league asks each enabled grant canRespondToAccessTokenRequest(); none -> unsupported.
        params = dict(parse_qsl(body))
        if params.get("grant_type") == "personal_access":
            # Enabled in Passport, but only for the personal access client, whose secret the
            # sandbox never hands out: league's validateClient fails it.
            missing = not params.get("client_id") and "authorization" not in headers
            error = LeagueError.invalid_request("client_id") if missing else None
            return TokenResult(error=error or LeagueError.invalid_client())
        if params.get("grant_type") not in self.token_endpoint.grant_types:
            return TokenResult(error=LeagueError.unsupported_grant_type())
        try:
            _, response_body, status = self.token_endpoint.create_token_response(
                uri, "POST", body, headers
            )
        except LeagueError as exc:
            return TokenResult(error=exc)
        if status != 200:
            return TokenResult(error=from_oauthlib(response_body))
        token = json.loads(response_body)
        result = {
            "token_type": "Bearer",
            "expires_in": int(token["expires_in"]),
            "access_token": token["access_token"],
        }
        if "refresh_token" in token:
            result["refresh_token"] = token["refresh_token"]
        return TokenResult(body=result)

    def _new_access_token(self, request: OAuthRequest) -> str:
        scopes = list(request.scopes or [])
        if request.grant_type not in _STAR_GRANTS:
            scopes = [s for s in scopes if s != "*"]
        jwt, row = self.registry.issue_access(
            getattr(request, "user", None), request.client_id, scopes
        )
        request.sandbox_access = row
        return jwt

    def _new_refresh_token(self, request: OAuthRequest) -> str:
        access: AccessToken = request.sandbox_access
        return self.registry.issue_refresh(access)

    # -- authorization endpoint ----------------------------------------------------------

    def start_authorization(self, uri: str) -> tuple[str, PendingAuthorization]:
        """Validate GET /oauth/authorize; return an auth token and the pending request.

        Raises:
            LeagueError: the request is invalid (rendered as league renders it).
        """
        try:
            scopes, credentials = self.authorization_endpoint.validate_authorization_request(uri)
        except oauthlib_errors.OAuth2Error as exc:
            raise from_oauthlib_error(exc) from exc
        credentials.pop("request", None)
        # The sandbox has no login page: the admin counts as the logged-in browser user.
        credentials["user"] = ADMIN_USER_ID
        auth_token = secrets.token_urlsafe(30)
        pending = PendingAuthorization(uri, list(scopes), credentials)
        with self._lock:
            self._pending[auth_token] = pending
        return auth_token, pending

    def finish_authorization(self, auth_token: str, approve: bool) -> str | None:
        """The redirect Location for an approve/deny, or None for an unknown auth token."""
        with self._lock:
            pending = self._pending.pop(auth_token, None)
        if pending is None:
            return None
        redirect_uri = pending.credentials["redirect_uri"]
        if not approve:
            # Passport's DenyAuthorizationController builds this URI by hand, state included.
            separator = "&" if "?" in redirect_uri else "?"
            query = urlencode(
                {"error": "access_denied", "state": pending.credentials.get("state") or ""}
            )
            return f"{redirect_uri}{separator}{query}"
        headers, _, _ = self.authorization_endpoint.create_authorization_response(
            pending.uri, scopes=pending.scopes, credentials=pending.credentials
        )
        location: str = headers["Location"]
        return location

    # -- personal access tokens ----------------------------------------------------------

    def create_personal_token(
        self, user_id: int, name: str, expires_in: float | None = None
    ) -> tuple[str, AccessToken]:
        """Issue a PAT to ``user_id`` through the personal access client.

        ``expires_in`` (seconds) overrides ``personalAccessTokensExpireIn`` for this one token.
        """
        jwt, row = self.registry.issue_access(
            user_id, self.personal_client_id, [], name=name, personal=True, expires_in=expires_in
        )
        self.stats.count_grant("personal_access")
        return jwt, row


def _bearer(header: str) -> str:
    # Laravel's Request::bearerToken(): case-insensitive "Bearer ", cut at a comma.
    position = header.lower().rfind("bearer ")
    if position == -1:
        return ""
    return header[position + 7 :].split(",", 1)[0].strip()
