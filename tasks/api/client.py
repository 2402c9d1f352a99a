"""ProcessMaker 4 REST API client (``/api/1.0``): one method per route, over one pooled session.

The client owns URLs, timeouts, retries, paging and the one place where HTTP outcomes become
our errors (:meth:`ProcessMakerClient._check`). Authentication is the ``auth`` object
(:class:`auth.BearerAuth` in production, wired by :mod:`prefect_layer.connection`): it adds the
bearer header and renews the token once on a 401; whatever 401 is left is final here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from types import TracebackType
from typing import Any

import requests

from processmaker_prefect.api.bodies import list_envelope
from processmaker_prefect.api.breaker import CircuitBreaker, breaker_for
from processmaker_prefect.api.page_reads import PageRetry
from processmaker_prefect.api.pagination import Page, PageNumberPaginator
from processmaker_prefect.api.tls import verify_option
from processmaker_prefect.api.transport import (
    DEFAULT_USER_AGENT,
    build_session,
    check_response,
    transport_error,
)
from processmaker_prefect.errors import (
    IncompleteResponseError,
    MalformedResponseError,
    OutcomeUnknownError,
    ProcessMakerPrefectError,
    ProcessMakerServerError,
)
from processmaker_prefect.process_cache import ProcessCache
from processmaker_prefect.redaction import redact_url
from processmaker_prefect.settings import ProcessMakerSettings

__all__ = ["API_PREFIX", "ProcessMakerClient", "api_path", "process_session"]

API_PREFIX = "/api/1.0"
CONNECT_TIMEOUT = 10.0  # a TCP/TLS handshake that takes longer will not succeed


class ProcessMakerClient:
    """One ProcessMaker instance's REST API over one pooled, retrying session.

    Args:
        base_url: The instance, e.g. ``https://pm.example.com`` (``/api/1.0`` is added).
        auth: requests auth adding the bearer token (and renewing it on a 401).
        timeout: Read timeout per attempt in seconds, or a ``(connect, read)`` tuple.
        retries: Retries of transient failures per call (see ``api.transport``).
        backoff: Exponential backoff factor between retries, seconds (jittered).
        verify: TLS verification: True, False, or a CA bundle path; sent with every request.
        pool_size: Pooled connections; at least the number of threads sharing the client.
        user_agent: ``User-Agent`` header.
        session: A session to share (see :func:`open_client`); the client then leaves it
            open on ``close()``. Default: a session of its own, built from the above.
        breaker: The instance's circuit breaker; pass the one the shared ``session`` reports
            to. Default: the process's breaker for ``base_url``.
        page_rounds: Rounds of retries a list page gets (see ``api.page_reads``).
        page_round_delay: Seconds before a list page's second round (doubling after).
        name_of: Names a setting in an error's fix (``ProcessMakerSettings.name_of``);
            default: the ``PROCESSMAKER_*`` variable.
    """

    def __init__(
        self,
        base_url: str,
        auth: requests.auth.AuthBase,
        *,
        timeout: float | tuple[float, float] = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        verify: bool | str = True,
        pool_size: int = 8,
        user_agent: str = DEFAULT_USER_AGENT,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
        page_rounds: int = 2,
        page_round_delay: float = 15.0,
        name_of: Callable[[str], str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Names a setting in an error's fix: a block's field, or the variable.
        self.name_of = name_of or (lambda field: f"PROCESSMAKER_{field.upper()}")
        self.breaker = breaker or breaker_for(self.base_url)
        self.page_retry = PageRetry(retries, backoff, page_rounds, page_round_delay)
        self.auth = auth
        self.pool_size = pool_size
        if isinstance(timeout, tuple):
            self.timeout = timeout
        else:
            self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self._owns_session = session is None
        # Passed on every request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
        # a session's own verify, which would silently drop PROCESSMAKER_CA_BUNDLE.
        self.verify = verify
        self._session = session or build_session(
            retries=retries,
            backoff=backoff,
            pool_size=pool_size,
            verify=verify,
            user_agent=user_agent,
            breaker=self.breaker,
        )

    @classmethod
    def from_settings(
        cls,
        settings: ProcessMakerSettings,
        auth: requests.auth.AuthBase,
        *,
        session: requests.Session | None = None,
    ) -> ProcessMakerClient:
        """A client configured by ``PROCESSMAKER_*`` settings, pooled for their concurrency."""
        return cls(
            settings.url,
            auth,
            timeout=settings.timeout,
            retries=settings.retries,
            backoff=settings.backoff,
            verify=verify_option(settings),
            pool_size=_pool_size(settings),
            session=session,
            breaker=_breaker(settings),
            page_rounds=settings.page_rounds,
            page_round_delay=settings.page_round_delay,
            name_of=settings.name_of,
        )

    def close(self) -> None:
        """Close the session, unless it is shared."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> ProcessMakerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProcessMakerClient({self.base_url!r})"

    # -- generic calls --------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """``METHOD /api/1.0{path}``: the parsed JSON body, or ``None`` for an empty one (204).

        Raises:
            ProcessMakerClientError: 4xx (subclasses for 401/403, 404, 422).
            ProcessMakerServerError: unreachable, 429 or 5xx after the retries (retriable).
            OutcomeUnknownError: a POST/PATCH was sent but its outcome is unknown.
            IncompleteResponseError: a 2xx JSON body cut off in transit (retriable).
            MalformedResponseError: a 2xx body that is not JSON.
            ProcessMakerUnavailableError: the instance's circuit breaker is open.
        """
        method = method.upper()
        full_path = api_path(path)
        shown = redact_url(full_path)  # what messages name: never a query string
        self.breaker.before_call()
        try:
            response = self._session.request(
                method,
                self.base_url + full_path,
                params=params,
                json=json,
                auth=self.auth,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            # Not chained: requests' text holds the full URL, query string (PMQL) included.
            raise self._failed(transport_error(method, shown, exc, self.name_of)) from None
        try:
            body = self._check(response, method, shown)
        except ProcessMakerPrefectError as exc:
            raise self._failed(exc) from None
        self.breaker.record_success()
        return body

    def _failed(self, exc: ProcessMakerPrefectError) -> ProcessMakerPrefectError:
        """Tell the breaker how the call ended; the error to raise for it."""
        down = isinstance(exc, (OutcomeUnknownError, IncompleteResponseError)) or (
            isinstance(exc, ProcessMakerServerError) and exc.status_code != 429
        )
        if not down:
            self.breaker.record_success()  # an answer, if not the one we wanted
            return exc
        self.breaker.record_failure(str(exc).split("; ")[0])
        if self.breaker.is_open and not isinstance(exc, OutcomeUnknownError):
            return self.breaker.error()  # a POST that may have run keeps its own line
        return exc

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """``GET /api/1.0{path}``."""
        return self.request("GET", path, params=params)

    def post(self, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """``POST /api/1.0{path}``; never replayed once it may have reached the server."""
        return self.request("POST", path, params=params, json=json)

    def put(self, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """``PUT /api/1.0{path}``."""
        return self.request("PUT", path, params=params, json=json)

    def patch(self, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """``PATCH /api/1.0{path}``; treated as non-idempotent, like POST."""
        return self.request("PATCH", path, params=params, json=json)

    def delete(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """``DELETE /api/1.0{path}``."""
        return self.request("DELETE", path, params=params)

    # -- the one validation point ---------------------------------------------------------

    def _check(self, response: requests.Response, method: str, path: str) -> Any:
        """The one validation point: a final response becomes its JSON body or our error."""
        return check_response(response, method, path, self.name_of)

    # -- lists ----------------------------------------------------------------------------

    def get_page(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET /api/1.0{path}`` of a list route: its ``{"data", "meta"}`` envelope, checked.

        A page that still fails after its retries is read again on its own
        (``processmaker_prefect.api.page_reads``) before the error escapes.
        """
        shown = redact_url(api_path(path))
        return self.page_retry.read(
            lambda: list_envelope(self.get(path, params=params), "GET", shown), self.breaker
        )

    def list_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
        max_concurrency: int = 1,
    ) -> Iterator[Page]:
        """``GET /api/1.0{path}?page=N&per_page=K``: every page's rows, in order.

        With ``max_concurrency > 1``, pages 2..N are fetched that many at a time.
        """
        paginator = PageNumberPaginator(per_page, where=f"GET {redact_url(api_path(path))}")
        concurrency = min(max_concurrency, self.pool_size)
        return paginator.pages(
            lambda p: self.get_page(path, p), params, max_concurrency=concurrency
        )

    def iter_records(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
        max_concurrency: int = 1,
    ) -> Iterator[dict[str, Any]]:
        """``GET /api/1.0{path}``, paged: one row at a time."""
        for page in self.list_pages(
            path, params, per_page=per_page, max_concurrency=max_concurrency
        ):
            yield from page

    # -- specific endpoints ---------------------------------------------------------------

    def get_user(self, user_id: int) -> dict[str, Any]:
        """``GET /api/1.0/users/{user_id}``."""
        return _expect_dict(self.get(f"/users/{int(user_id)}"), "GET", f"/users/{user_id}")

    def get_process(self, process_id: int, *, include: str | None = None) -> dict[str, Any]:
        """``GET /api/1.0/processes/{process_id}`` (``include``: e.g. ``"events,category"``)."""
        params = {"include": include} if include else None
        body = self.get(f"/processes/{int(process_id)}", params=params)
        return _expect_dict(body, "GET", f"/processes/{process_id}")

    def list_start_events(self, process_id: int) -> list[dict[str, Any]]:
        """``GET /api/1.0/processes/{process_id}?include=events``: the start events."""
        events = self.get_process(process_id, include="events").get("events")
        if not isinstance(events, list):
            raise MalformedResponseError(
                f"GET {API_PREFIX}/processes/{process_id} -> 200: no 'events' list; "
                "check that this ProcessMaker supports include=events",
                status_code=200,
                method="GET",
                path=f"{API_PREFIX}/processes/{process_id}",
            )
        return events

    def start_request(
        self, process_id: int, event: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``POST /api/1.0/process_events/{process_id}?event={event}``: the new request (201).

        Not replayed once sent: a lost answer raises ``OutcomeUnknownError``.
        """
        path = f"/process_events/{int(process_id)}"
        body = self.post(path, params={"event": event}, json=dict(data or {}))
        return _expect_dict(body, "POST", path)

    def complete_task(self, task_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /api/1.0/tasks/{task_id}`` with ``{"status": "COMPLETED", "data": ...}``.

        PUT is replayed after a lost answer; if the first attempt went through, the replay
        gets 422 "Task already closed" (raised as ``ProcessMakerValidationError``).
        """
        path = f"/tasks/{int(task_id)}"
        body = self.put(path, json={"status": "COMPLETED", "data": dict(data)})
        return _expect_dict(body, "PUT", path)

    def get_task(self, task_id: int) -> dict[str, Any]:
        """``GET /api/1.0/tasks/{task_id}``: the task (``status`` ACTIVE or CLOSED, ``user_id``)."""
        path = f"/tasks/{int(task_id)}"
        return _expect_dict(self.get(path), "GET", path)

    def reassign_task(self, task_id: int, user_id: int) -> dict[str, Any]:
        """``PUT /api/1.0/tasks/{task_id}`` with ``{"user_id": user_id}``: the reassigned task.

        ProcessMaker reassigns a CLOSED task as well, and answers 500 for a user that does
        not exist (``TaskController::update``): check both before calling.
        """
        path = f"/tasks/{int(task_id)}"
        return _expect_dict(self.put(path, json={"user_id": int(user_id)}), "PUT", path)

    def create_collection_record(
        self, collection_id: int, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``POST /api/1.0/collections/{collection_id}/records``: the new record (201)."""
        path = f"/collections/{int(collection_id)}/records"
        return _expect_dict(self.post(path, json={"data": dict(data)}), "POST", path)


def api_path(path: str) -> str:
    return API_PREFIX + "/" + path.lstrip("/")


def _expect_dict(body: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"{method} {api_path(path)} -> 2xx: expected a JSON object; "
            "check that PROCESSMAKER_URL is ProcessMaker",
            method=method,
            path=api_path(path),
        )
    return body


def _pool_size(settings: ProcessMakerSettings) -> int:
    return max(8, settings.max_concurrency + 2)


def _breaker(settings: ProcessMakerSettings) -> CircuitBreaker:
    return breaker_for(settings.url, settings.breaker_threshold, settings.breaker_cooldown)


def _open_session(settings: ProcessMakerSettings) -> requests.Session:
    return build_session(
        retries=settings.retries,
        backoff=settings.backoff,
        pool_size=_pool_size(settings),
        verify=verify_option(settings),
        user_agent=DEFAULT_USER_AGENT,
        breaker=_breaker(settings),
    )


def _session_identity(settings: ProcessMakerSettings) -> Hashable:
    """The instance (its URL and the secret its calls are made with), and what the session is
    built from: TLS, retries, pool size, breaker."""
    return (
        settings.url,
        settings.secret,
        settings.verify_tls,
        settings.ca_bundle,
        settings.retries,
        settings.backoff,
        _pool_size(settings),
        settings.breaker_threshold,
        settings.breaker_cooldown,
    )


# Every task run in the process reuses these connections instead of opening new ones; a
# connection that differs only in how it lists (page_size, sync_lag, ...) shares them.
_SESSIONS: ProcessCache[ProcessMakerSettings, requests.Session] = ProcessCache(
    _open_session, requests.Session.close, identity=_session_identity
)


def process_session(settings: ProcessMakerSettings) -> requests.Session:
    """The pooled session this process uses for ``settings``."""
    return _SESSIONS.get(settings)
