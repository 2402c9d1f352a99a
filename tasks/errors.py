"""The one error taxonomy of processmaker-prefect.

Every third-party failure (hvac, requests, oauthlib, DuckDB, psycopg) is translated once, at
the boundary where it happens, with ``raise ... from exc``. Messages are one line that names
the cause and the fix: method, path, status, Vault path or environment variable; never a
query string, a header, a token or any other secret value.

    ProcessMakerPrefectError
    ├── ConfigurationError                 bad or missing setting; names the variable
    ├── VaultError
    │   ├── VaultAuthError                 login failed, token invalid, permission denied
    │   ├── VaultNotFoundError             secret path missing
    │   │   └── VaultKeyMissingError       path exists, a required key does not
    │   ├── VaultCasConflictError          check-and-set lost: someone wrote a newer version
    │   └── VaultUnavailableError (R)      unreachable, sealed, 5xx
    ├── TokenError
    │   ├── TokenRejectedError             invalid_grant / invalid_client / invalid_request
    │   ├── RefreshTokenNotSavedError      rotated, but not stored in Vault: run `pm-prefect login`
    │   └── TokenEndpointUnavailableError (R)   connection error, 429, 5xx
    ├── ProcessMakerAPIError
    │   ├── ProcessMakerClientError        4xx other than below
    │   │   ├── ProcessMakerAuthError      401 after one re-authentication, 403
    │   │   ├── ProcessMakerNotFoundError  404
    │   │   └── ProcessMakerValidationError   422 with field errors
    │   ├── ProcessMakerServerError (R)    connection error, 429, 5xx
    │   ├── ProcessMakerUnavailableError   circuit open: N calls in a row failed; stop
    │   ├── OutcomeUnknownError            non-idempotent call timed out; not replayed
    │   └── MalformedResponseError         not JSON, or not ProcessMaker's envelope
    │       └── IncompleteResponseError (R)   a JSON body cut off in transit
    └── DestinationError                   the sync destination failed; nothing half-written

(R) marks subclasses of :class:`RetriableError`: only those are retried, by urllib3 inside a
call, by the client for a list page (``processmaker_prefect.api.page_reads``), or by Prefect through
:func:`is_retriable` as a task's ``retry_condition_fn``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "DestinationError",
    "IncompleteResponseError",
    "MalformedResponseError",
    "OutcomeUnknownError",
    "ProcessMakerAPIError",
    "ProcessMakerAuthError",
    "ProcessMakerClientError",
    "ProcessMakerNotFoundError",
    "ProcessMakerPrefectError",
    "ProcessMakerServerError",
    "ProcessMakerUnavailableError",
    "ProcessMakerValidationError",
    "RefreshTokenNotSavedError",
    "RetriableError",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenRejectedError",
    "VaultAuthError",
    "VaultCasConflictError",
    "VaultError",
    "VaultKeyMissingError",
    "VaultNotFoundError",
    "VaultUnavailableError",
    "is_retriable",
    "retry_on_retriable",
]


class ProcessMakerPrefectError(Exception):
    """Base of every error this package raises on purpose."""


class RetriableError(ProcessMakerPrefectError):
    """Marker base: the failure is transient and the same call may succeed later."""


class ConfigurationError(ProcessMakerPrefectError):
    """A setting is missing or invalid; the message names the variable or block field."""


class VaultError(ProcessMakerPrefectError):
    """Base of Vault failures."""


class VaultAuthError(VaultError):
    """Vault refused the login or the token lacks a policy for the path."""


class VaultNotFoundError(VaultError):
    """The secret path does not exist (or the token may not see that it does)."""


class VaultKeyMissingError(VaultNotFoundError):
    """The secret exists but lacks a key the chosen grant needs."""


class VaultCasConflictError(VaultError):
    """A check-and-set write lost: the secret has a newer version than the one read."""


class VaultUnavailableError(VaultError, RetriableError):
    """Vault is unreachable, sealed, or answered 5xx."""


class TokenError(ProcessMakerPrefectError):
    """Base of OAuth token-endpoint failures."""


class TokenRejectedError(TokenError):
    """The token endpoint refused the credentials; retrying cannot help.

    Attributes:
        error: The RFC 6749 error code (``invalid_grant``, ``invalid_client``, ...).
        status_code: The HTTP status the endpoint answered with.
    """

    def __init__(self, message: str, *, error: str = "", status_code: int | None = None):
        super().__init__(message)
        self.error = error
        self.status_code = status_code


class RefreshTokenNotSavedError(TokenError):
    """ProcessMaker rotated the refresh token and Vault did not take the new one.

    The stored refresh token is spent, so no retry can succeed: a person must run
    ``pm-prefect login``. The run that got the new tokens keeps using them until it ends.
    """


class TokenEndpointUnavailableError(TokenError, RetriableError):
    """The token endpoint is unreachable, throttling (429) or failing (5xx)."""


class ProcessMakerAPIError(ProcessMakerPrefectError):
    """Base of ProcessMaker REST API failures.

    Attributes:
        status_code: The HTTP status, or ``None`` when no response arrived.
        method: The HTTP method of the failed call.
        path: The API path of the failed call, without its query string.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str = "",
        path: str = "",
    ):
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.path = path


class ProcessMakerClientError(ProcessMakerAPIError):
    """ProcessMaker answered 4xx: the request itself is wrong and will not succeed as is."""


class ProcessMakerAuthError(ProcessMakerClientError):
    """401 after one re-authentication, or 403."""


class ProcessMakerNotFoundError(ProcessMakerClientError):
    """404: the route or the record does not exist."""


class ProcessMakerValidationError(ProcessMakerClientError):
    """422: ProcessMaker rejected the payload.

    Attributes:
        errors: ProcessMaker's field errors, ``{"field": ["message", ...]}``.
    """

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.errors = errors or {}


class ProcessMakerServerError(ProcessMakerAPIError, RetriableError):
    """Connection error, 429 or 5xx, still failing after the client's own retries."""


class ProcessMakerUnavailableError(ProcessMakerAPIError):
    """ProcessMaker looks down: so many calls in a row failed that calls stop for a while.

    Raised by the circuit breaker (``api.breaker``) instead of spending every retry of
    every call on an outage. Not retriable on purpose: Prefect's retries come seconds later,
    while the breaker is still open; the next scheduled run resumes from the watermark.
    """


class OutcomeUnknownError(ProcessMakerAPIError):
    """A non-idempotent call (POST) timed out or lost its connection after being sent.

    It is not replayed automatically, because the request may have been executed: check in
    ProcessMaker before starting it again.
    """


class MalformedResponseError(ProcessMakerAPIError):
    """ProcessMaker answered with something that is not JSON or not the expected envelope."""


class IncompleteResponseError(MalformedResponseError, RetriableError):
    """A JSON body that breaks off: cut in transit (a proxy, a worker killed mid-answer).

    Reading it again can help, unlike the other malformed bodies.
    """


class DestinationError(ProcessMakerPrefectError):
    """The destination refused a write; the transaction was rolled back."""


def is_retriable(exc: BaseException) -> bool:
    """Return whether ``exc`` is a transient failure worth another attempt."""
    return isinstance(exc, RetriableError)


def retry_on_retriable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a task only when it failed with a RetriableError.

    A 4xx, a rejected credential or a configuration error fails at once instead of
    repeating against a throttled token endpoint.
    """
    try:
        state.result()
    except Exception as exc:
        return is_retriable(exc)
    return False
