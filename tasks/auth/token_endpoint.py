"""POST to ProcessMaker's ``/oauth/token`` and turn the answer into a Token or a typed error."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from oauthlib.oauth2 import Client, OAuth2Error
from pydantic import SecretStr

from tasks.api.transport import DEFAULT_USER_AGENT, build_session
from tasks.errors import TokenEndpointUnavailableError, TokenRejectedError
from tasks.redaction import redact

__all__ = ["Token", "TokenEndpoint", "jwt_claims"]

# RFC 6749 errors that mean "these credentials will never work": no retry, ever.
_FIX = {
    "invalid_client": "check client_id and client_secret",
    "invalid_grant": "check the credentials (username/password or refresh_token)",
    "invalid_request": "the refresh token was revoked or already used: run `pm-prefect login`",
    "unauthorized_client": "enable this grant for the client in ProcessMaker's Auth Clients",
    "unsupported_grant_type": "the server does not offer this grant; set PROCESSMAKER_AUTH",
    "invalid_scope": "ProcessMaker defines no scopes; send none",
}

# Where the generic advice above would mislead: a code or refresh token, not a password.
_GRANT_FIX = {
    ("invalid_grant", "authorization_code"): "the code expired or was already used, or the "
    "PKCE verifier does not match: run `pm-prefect login` again",
    ("invalid_request", "authorization_code"): "the code is not valid for this client and "
    "redirect URI: run `pm-prefect login` again",
    ("invalid_grant", "refresh_token"): "the refresh token was revoked or already used: "
    "run `pm-prefect login`",
}


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's claims without verifying its signature; ``{}`` for an opaque token.

    Only used to read ``exp``, ``iat`` and ``sub``: the server verifies the signature, not us.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class Token:
    """An access token and what came with it. Never returned from a task, never logged."""

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float | None = None  # epoch seconds; None = unknown (e.g. an opaque PAT)
    obtained_at: float = field(default_factory=time.time)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Token:
        access = str(body["access_token"])
        expires_at: float | None = None
        if body.get("expires_in") is not None:
            expires_at = time.time() + float(body["expires_in"])
        exp = jwt_claims(access).get("exp")
        if isinstance(exp, int | float):
            expires_at = float(exp) if expires_at is None else min(expires_at, float(exp))
        refresh = body.get("refresh_token")
        return cls(SecretStr(access), SecretStr(str(refresh)) if refresh else None, expires_at)

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at is not None and time.time() + seconds >= self.expires_at

    def due_for_renewal(self, leeway: float) -> bool:
        """Whether to renew now: within ``leeway`` of expiry, or past half the lifetime of a
        token that lives less than twice the leeway (else every call would renew it)."""
        if self.expires_at is None:
            return False
        lifetime = self.expires_at - self.obtained_at
        return self.expires_within(min(leeway, lifetime / 2))

    def subject(self) -> str | None:
        """The JWT ``sub`` claim (ProcessMaker's user id), if the token is a JWT."""
        sub = jwt_claims(self.access_token.get_secret_value()).get("sub")
        return str(sub) if sub not in (None, "") else None


class TokenEndpoint:
    """One instance's ``POST /oauth/token``, with retries on 429/5xx and none on 4xx.

    Args:
        base_url: ProcessMaker's base URL (without ``/api/1.0``).
        verify: requests' ``verify``.
        timeout: Seconds per attempt.
        retries: Retries of connection failures, 429 and 503 (Retry-After honoured).
        backoff: Backoff factor between retries.
    """

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.url = base_url.rstrip("/") + "/oauth/token"
        # The API client's retry policy, as for any POST: connection failures and 429/503
        # (refused, so not processed) are retried; a lost answer or a 500/502/504 is not,
        # since a rotated refresh token may already have been spent.
        self._session = build_session(
            retries=retries, backoff=backoff, pool_size=2, verify=verify,
            user_agent=DEFAULT_USER_AGENT,
        )  # fmt: skip
        self._timeout = timeout

    def close(self) -> None:
        self._session.close()

    def request(self, client: Client, body: str, *, grant: str, secrets: list[SecretStr]) -> Token:
        """POST ``body`` (built by ``client``) and parse the answer with ``client``.

        Raises:
            TokenRejectedError: 4xx with an OAuth error; retrying cannot help.
            TokenEndpointUnavailableError: unreachable, or 429/5xx after the retries.
        """
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise TokenEndpointUnavailableError(
                f"POST {self.url} failed ({type(exc).__name__}) for the {grant} grant: "
                "check PROCESSMAKER_URL and that ProcessMaker is up"
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> {status} for the {grant} grant after retries: "
                + ("throttled (60 grants a minute); " if status == 429 else "server error; ")
                + "try again later"
            )
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> {status}: the answer is not JSON; "
                "check that PROCESSMAKER_URL points at ProcessMaker"
            )
        if status >= 400 or "error" in parsed:
            raise self._rejected(parsed, status, grant, secrets)
        try:
            client.parse_request_body_response(json.dumps(parsed))
            return Token.from_response(parsed)
        except (OAuth2Error, KeyError, TypeError, ValueError) as exc:
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> {status}: malformed token response "
                f"({type(exc).__name__}); check that PROCESSMAKER_URL points at ProcessMaker"
            ) from None

    def _rejected(
        self, body: dict[str, Any], status: int, grant: str, secrets: list[SecretStr]
    ) -> TokenRejectedError:
        code = str(body.get("error") or f"http_{status}")
        detail = str(body.get("error_description") or body.get("message") or "")
        fix = _GRANT_FIX.get((code, grant)) or _FIX.get(code, "check the credentials in Vault")
        detail = detail.strip().rstrip(".")
        message = f"POST {self.url} -> {status} {code} for the {grant} grant: " + (
            f"{detail}; {fix}" if detail else fix
        )
        return TokenRejectedError(redact(message, secrets), error=code, status_code=status)
