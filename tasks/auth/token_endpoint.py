"""POST to ProcessMaker's ``/oauth/token`` and turn the answer into a Token or a typed error.

The token endpoint is ProcessMaker too: its attempts count in the instance's circuit breaker
(``api.breaker``) like the API's, so a down ProcessMaker stops a grant, and the run, at once
instead of after every retry of every task attempt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests
from oauthlib.oauth2 import Client, OAuth2Error
from pydantic import SecretStr

from processmaker_prefect.api.breaker import CircuitBreaker
from processmaker_prefect.api.transport import DEFAULT_USER_AGENT, build_session
from processmaker_prefect.auth.token import Clock, Token, jwt_claims
from processmaker_prefect.errors import (
    ConfigurationError,
    ProcessMakerPrefectError,
    TokenEndpointUnavailableError,
    TokenRejectedError,
)
from processmaker_prefect.redaction import redact

__all__ = ["Token", "TokenEndpoint", "jwt_claims"]

# RFC 6749 errors that mean "these credentials will never work": no retry, ever.
_FIX = {
    "invalid_client": "check client_id and client_secret",
    "invalid_grant": "check the credentials (username/password or refresh_token)",
    "invalid_request": "the refresh token was revoked or already used: run `pm-prefect login`",
    "unauthorized_client": "enable this grant for the client in ProcessMaker's Auth Clients",
    "unsupported_grant_type": "the server does not offer this grant; set {auth}",
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


class TokenEndpoint:
    """One instance's ``POST /oauth/token``, with retries on 429/5xx and none on 4xx.

    Args:
        base_url: ProcessMaker's base URL (without ``/api/1.0``).
        verify: requests' ``verify``, passed on every POST so that ``REQUESTS_CA_BUNDLE``
            or ``CURL_CA_BUNDLE`` in the environment cannot override it.
        timeout: Seconds per attempt.
        retries: Retries of connection failures, 429 and 503 (Retry-After honoured).
        backoff: Backoff factor between retries.
        clock: Stamps each token's receipt; its expiry is counted from there.
        breaker: The instance's circuit breaker, shared with its API client: every attempt
            is counted, and while it is open no POST is sent.
        name_of: Names a setting in a fix (``ProcessMakerSettings.name_of``: the block's
            field, or the variable).
    """

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        clock: Clock = time.time,
        breaker: CircuitBreaker | None = None,
        name_of: Callable[[str], str] = lambda field: f"PROCESSMAKER_{field.upper()}",
    ) -> None:
        self.url = base_url.rstrip("/") + "/oauth/token"
        self.breaker = breaker
        self.name_of = name_of
        # The API client's retry policy, as for any POST: connection failures and 429/503
        # (refused, so not processed) are retried; a lost answer or a 500/502/504 is not,
        # since a rotated refresh token may already have been spent.
        self._session = build_session(
            retries=retries, backoff=backoff, pool_size=2, verify=verify,
            user_agent=DEFAULT_USER_AGENT, breaker=breaker,
        )  # fmt: skip
        self._timeout = timeout
        self._verify = verify
        self.clock = clock

    def close(self) -> None:
        self._session.close()

    def request(self, client: Client, body: str, *, grant: str, secrets: list[SecretStr]) -> Token:
        """POST ``body`` (built by ``client``) and parse the answer with ``client``.

        Raises:
            ConfigurationError: TLS verification failed; names the CA setting.
            TokenRejectedError: 4xx with an OAuth error; retrying cannot help.
            TokenEndpointUnavailableError: unreachable, or 429/5xx after the retries.
            ProcessMakerUnavailableError: the instance's circuit breaker is open, or opened
                on this POST's failures.
        """
        if self.breaker is not None:
            self.breaker.before_call()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeout, verify=self._verify
            )
        except requests.exceptions.SSLError:
            raise ConfigurationError(
                f"TLS verification of {self.url} failed for the {grant} grant: set "
                f"{self.name_of('ca_bundle')} to the CA that signs ProcessMaker's certificate"
            ) from None
        except requests.RequestException as exc:
            raise self._outage(
                f"POST {self.url} failed: {type(exc).__name__}",
                TokenEndpointUnavailableError(
                    f"POST {self.url} failed ({type(exc).__name__}) for the {grant} grant: "
                    f"check {self.name_of('url')} and that ProcessMaker is up"
                ),
            ) from None
        status = response.status_code
        if status >= 500:
            raise self._outage(
                f"POST {self.url} -> {status}",
                TokenEndpointUnavailableError(
                    f"POST {self.url} -> {status} for the {grant} grant after retries: "
                    "server error; try again later"
                ),
            )
        if self.breaker is not None:
            self.breaker.record_success()  # any other answer, a 429 too: ProcessMaker is up
        if status == 429:
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> 429 for the {grant} grant after retries: throttled "
                "(60 grants a minute); try again later"
            )
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> {status}: the answer is not JSON; "
                f"check that {self.name_of('url')} points at ProcessMaker"
            )
        if status >= 400 or "error" in parsed:
            raise self._rejected(parsed, status, grant, secrets)
        try:
            client.parse_request_body_response(json.dumps(parsed))
            return Token.from_response(parsed, now=self.clock())
        except (OAuth2Error, KeyError, TypeError, ValueError) as exc:
            raise TokenEndpointUnavailableError(
                f"POST {self.url} -> {status}: malformed token response "
                f"({type(exc).__name__}); check that {self.name_of('url')} points at ProcessMaker"
            ) from None

    def _outage(self, what: str, error: ProcessMakerPrefectError) -> ProcessMakerPrefectError:
        """Count a failed attempt; the breaker's one line if that opened it, else ``error``."""
        if self.breaker is None:
            return error
        self.breaker.record_failure(what)
        return self.breaker.error() if self.breaker.is_open else error

    def _rejected(
        self, body: dict[str, Any], status: int, grant: str, secrets: list[SecretStr]
    ) -> TokenRejectedError:
        code = str(body.get("error") or f"http_{status}")
        detail = str(body.get("error_description") or body.get("message") or "")
        fix = _GRANT_FIX.get((code, grant)) or _FIX.get(code, "check the credentials in Vault")
        fix = fix.format(auth=self.name_of("auth"))
        detail = detail.strip().rstrip(".")
        message = f"POST {self.url} -> {status} {code} for the {grant} grant: " + (
            f"{detail}; {fix}" if detail else fix
        )
        return TokenRejectedError(redact(message, secrets), error=code, status_code=status)
