"""ProcessMaker API transport: a pooled session, a POST-aware retry policy, error translation.

What may be replayed is decided by whether the request can have been executed:

- nothing was sent (connect error, connect timeout): any method is retried by urllib3;
- sent, no answer (read timeout, dropped connection): only idempotent methods are replayed;
  a POST or PATCH surfaces, and the client raises ``OutcomeUnknownError``;
- answered 429 or 503: the server refused the request before doing anything (Laravel's
  throttle and maintenance mode both answer before the controller runs), so every method is
  retried, honouring ``Retry-After``;
- answered 502 or 504: a gateway lost or timed out on the upstream call, which may have run;
  only idempotent methods are retried;
- answered 500: a read (GET, HEAD, OPTIONS) is retried. On a busy ProcessMaker behind a load
  balancer a 500 on a read is most often transient (a worker restarting, a lock timeout, a
  deploy), and a read cannot have changed anything. A write answered 500, 502 or 504 may have
  run halfway: a PUT/DELETE raises the retriable ``ProcessMakerServerError`` (left to the
  Prefect task), a POST/PATCH ``OutcomeUnknownError``, which nothing retries.

Every attempt's outcome also goes to the instance's circuit breaker (``api.breaker``):
a retry sleeping out its backoff wakes and fails at once when the breaker opens.
"""

from __future__ import annotations

import http.cookiejar
import logging
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from processmaker_prefect.api.bodies import json_body
from processmaker_prefect.api.breaker import CircuitBreaker
from processmaker_prefect.errors import (
    ConfigurationError,
    OutcomeUnknownError,
    ProcessMakerAPIError,
    ProcessMakerAuthError,
    ProcessMakerClientError,
    ProcessMakerNotFoundError,
    ProcessMakerServerError,
    ProcessMakerValidationError,
)
from processmaker_prefect.redaction import redact, redact_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "IDEMPOTENT_METHODS",
    "READ_METHODS",
    "REFUSED_STATUSES",
    "ApiRetry",
    "build_session",
    "check_response",
    "transport_error",
]

DEFAULT_USER_AGENT = "processmaker-prefect/0.1 (+requests)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Statuses meaning "not executed, try later": safe to resend even a POST.
REFUSED_STATUSES = frozenset({429, 503})
# Statuses worth replaying for idempotent methods.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A read changes nothing, so a 500 (most often transient behind a load balancer) is retried too.
READ_RETRY_STATUSES = RETRY_STATUSES | {500}
# A Retry-After longer than this is not slept through: the 429/503 surfaces instead, as a
# retriable error, so a Prefect retry (or the operator) waits without holding a worker thread.
MAX_RETRY_AFTER = 120.0


class ApiRetry(Retry):
    """urllib3 ``Retry`` whose status retries depend on the method (see the module docstring),
    reporting each retried attempt to a circuit breaker and sleeping on it."""

    def __init__(
        self,
        *args: Any,
        max_retry_after: float = MAX_RETRY_AFTER,
        breaker: CircuitBreaker | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after
        self.breaker = breaker

    def new(self, **kw: Any) -> ApiRetry:
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("breaker", self.breaker)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if not self.total:
            return False
        if method.upper() in READ_METHODS:
            return status_code in READ_RETRY_STATUSES
        if method.upper() in IDEMPOTENT_METHODS:
            return status_code in RETRY_STATUSES
        return status_code in REFUSED_STATUSES

    def increment(
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> ApiRetry:
        response = kwargs.get("response")
        if response is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_retry_after:
                # urlopen hands back the response itself, since raise_on_status is False.
                reason = ResponseError("Retry-After too long")
                raise MaxRetryError(kwargs["_pool"], redact_url(url or ""), reason)
        new = super().increment(method, url, *args, **kwargs)
        # Only attempts that will be retried are counted here; the client counts the last one.
        if self.breaker is not None:
            if response is not None and response.status == 429:
                self.breaker.record_success()  # throttled, so up
            else:
                what = f"{method} {redact_url(url or '')}"
                if response is not None:
                    what += f" -> {response.status}"
                else:
                    what += f" failed: {_attempt_cause(kwargs.get('error'))}"
                self.breaker.record_failure(what)
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.breaker is None:
            super().sleep(response)
            return
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else 0
        # Raises ProcessMakerUnavailableError if the breaker opens meanwhile: only a request
        # that may be sent again sleeps here, so dropping it is safe, even for a POST.
        self.breaker.pause(wait or self.get_backoff_time())


def _attempt_cause(error: BaseException | None) -> str:
    if isinstance(error, (NewConnectionError, ConnectTimeoutError)):
        return "could not connect"
    if error is not None and "timeout" in type(error).__name__.lower():
        return "no answer in time"
    return "connection lost"


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _DropQueryStrings(logging.Filter):
    """urllib3 logs retried URLs with their query string, where PMQL may carry data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _DropQueryStrings) for f in _logger.filters):
        _logger.addFilter(_DropQueryStrings())


def build_session(
    *,
    retries: int,
    backoff: float,
    pool_size: int,
    verify: bool | str,
    user_agent: str,
    breaker: CircuitBreaker | None = None,
) -> requests.Session:
    """A session for one client: one pooled adapter, JSON headers, no cookies.

    Args:
        retries: Retries per call (connect, read and status alike).
        backoff: Exponential backoff factor in seconds; jitter of half of it is added.
        pool_size: Connections kept per host; at least the number of concurrent callers.
        verify: requests' ``verify``: True, False or a CA bundle path.
        user_agent: The ``User-Agent`` header.
        breaker: The instance's circuit breaker, told of every retried attempt.
    """
    retry = ApiRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=IDEMPOTENT_METHODS,  # read-error replays: idempotent methods only
        backoff_factor=backoff,
        backoff_jitter=backoff / 2,
        backoff_max=30.0,
        respect_retry_after_header=True,
        raise_on_status=False,  # the final 429/5xx reaches the client's single _check
        raise_on_redirect=False,
        breaker=breaker,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
    # API calls are stateless bearer calls; a stored cookie would only make ProcessMaker's
    # session middleware act on requests shared between threads.
    session.cookies.set_policy(_NoCookies())
    return session


_HINTS = {
    400: "fix the request (a bad PMQL answers 400)",
    401: "the token was refused even after renewal; check the credentials in Vault",
    403: "the ProcessMaker user lacks the permission; grant it in ProcessMaker",
    404: "check the id, and that this ProcessMaker has the route",
    422: "fix the payload",
    429: "throttled; try again later",
}
_ERRORS: dict[int, type[ProcessMakerClientError]] = {
    401: ProcessMakerAuthError,
    403: ProcessMakerAuthError,
    404: ProcessMakerNotFoundError,
    422: ProcessMakerValidationError,
}
# A POST answered with these may have run: the app failed midway (500) or a gateway lost
# the upstream call (502/504). 503 and 429 are refusals, so they stay retriable.
_MAYBE_EXECUTED = frozenset({500, 502, 504})
_UNKNOWN_HINT = "may have been executed; check ProcessMaker before retrying"


def _pm_text(response: requests.Response) -> str:
    """ProcessMaker's own error text: ``error`` (401) or ``message`` (Laravel), one line."""
    try:
        body = response.json()
    except ValueError:
        return "(no JSON error body)"
    text = ""
    if isinstance(body, dict):
        text = str(body.get("error") or body.get("message") or "")
    text = " ".join(text.split())
    return (text[:197] + "...") if len(text) > 200 else text or "(no error message)"


def _never_sent(exc: BaseException) -> bool:
    """Whether a requests exception proves the request never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _variable(field: str) -> str:
    return f"PROCESSMAKER_{field.upper()}"


def check_response(
    response: requests.Response,
    method: str,
    path: str,
    name_of: Callable[[str], str] = _variable,
) -> Any:
    """A final response as its parsed JSON body (``None`` if empty), or our error.

    ``path`` is the API path without its query string; messages name nothing else.
    """
    status = response.status_code
    where = f"{method} {path} -> {status}"
    if 200 <= status < 300:
        return json_body(response, method, path)
    text = _pm_text(response).rstrip(".")
    kwargs: dict[str, Any] = {"status_code": status, "method": method, "path": path}
    if status in _MAYBE_EXECUTED and method not in IDEMPOTENT_METHODS:
        raise OutcomeUnknownError(redact(f"{where}: {text}; it {_UNKNOWN_HINT}"), **kwargs)
    if status == 429 or status >= 500:
        retried = len(getattr(getattr(response.raw, "retries", None), "history", ()))
        hint = _HINTS[429] if status == 429 else "ProcessMaker failed; try again later"
        message = f"{where}: {text}; {hint} (after {retried} retries)"
        raise ProcessMakerServerError(redact(message), **kwargs)
    if 300 <= status < 400:
        message = f"{where}: redirected; set {name_of('url')} to the address it redirects to"
        raise ProcessMakerClientError(message, **kwargs)
    hint = _HINTS.get(status, "the request was refused; fix it before retrying")
    if status == 422:
        errors = _field_errors(response)
        fields = f" (fields: {', '.join(sorted(errors))})" if errors else ""
        message = redact(f"{where}: {text}; {hint}{fields}")
        raise ProcessMakerValidationError(message, errors=errors, **kwargs)
    cls = _ERRORS.get(status, ProcessMakerClientError)
    raise cls(redact(f"{where}: {text}; {hint}"), **kwargs)


def transport_error(
    method: str,
    path: str,
    exc: requests.RequestException,
    name_of: Callable[[str], str] = _variable,
) -> ProcessMakerAPIError | ConfigurationError:
    """Our error for a call that got no final response; never includes ``exc``'s text.

    ``name_of`` names a setting in the fix: the block's field, or the variable
    (``ProcessMakerSettings.name_of``).
    """
    where = f"{method} {path}"
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigurationError(
            f"{where} failed: TLS verification failed; set {name_of('ca_bundle')} to the "
            "CA that signs ProcessMaker's certificate"
        )
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return ConfigurationError(f"{name_of('url')} is not a valid http(s) URL")
    if _never_sent(exc):
        return ProcessMakerServerError(
            f"{where} failed: could not connect after retries; check {name_of('url')} "
            "and that ProcessMaker is up",
            method=method,
            path=path,
        )
    cause = "no answer in time" if _timed_out(exc) else "connection lost"
    if method not in IDEMPOTENT_METHODS:
        return OutcomeUnknownError(
            f"{where} failed: {cause} after it was sent; it {_UNKNOWN_HINT}",
            method=method,
            path=path,
        )
    return ProcessMakerServerError(
        f"{where} failed: {cause}, after retries; try again later", method=method, path=path
    )


def _field_errors(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, dict) else {}


def _timed_out(exc: BaseException) -> bool:
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(exc, requests.Timeout) or "timeout" in type(reason).__name__.lower()
