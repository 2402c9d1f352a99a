"""ProcessMakerClient: retries, error mapping, paging and the thin tasks, against the sandbox.

The sandbox (tests/fixtures/sandbox.py) is a real HTTP server playing ProcessMaker; its fault
injection (503/429 bursts, latency, dropped connections, churn) drives the retry and
pagination tests, and its stats count what really reached it. Bad bodies, rounds and the
circuit breaker are in tests/test_api_resilience.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prefect.cache_policies import NO_CACHE

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.api.transport import ApiRetry
from processmaker_prefect.errors import (
    MalformedResponseError,
    OutcomeUnknownError,
    ProcessMakerAuthError,
    ProcessMakerClientError,
    ProcessMakerNotFoundError,
    ProcessMakerServerError,
    ProcessMakerValidationError,
    retry_on_retriable,
)
from processmaker_prefect.prefect_layer import api_calls as api_tasks
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.settings import ProcessMakerSettings
from tests.fixtures.sandbox import SandboxControl

SECRET_PMQL = 'data.ssn = "123-45-6789"'


class PatAuth(requests.auth.AuthBase):
    """The smallest bearer auth: the sandbox accepts its PAT as a user token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@pytest.fixture(scope="module")
def dead_url() -> str:
    """A loopback URL where nothing listens (bound, then closed, so the port is free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- retry policy (pure logic) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("GET", 429, True),
        ("GET", 502, True),
        ("GET", 503, True),
        ("GET", 504, True),
        ("GET", 500, True),  # a read changes nothing, and a 500 on a busy PM is often a blip
        ("HEAD", 500, True),
        ("PUT", 500, False),  # a write may have run halfway: left to the task
        ("DELETE", 500, False),
        ("PUT", 503, True),
        ("DELETE", 504, True),
        ("POST", 429, True),  # refused before running: safe to resend
        ("POST", 503, True),
        ("POST", 502, False),  # the upstream call may have run
        ("POST", 504, False),
        ("POST", 500, False),
        ("PATCH", 504, False),
        ("GET", 404, False),
    ],
)
def test_status_retries_depend_on_whether_the_call_can_have_run(
    method: str, status: int, expected: bool
) -> None:
    assert ApiRetry(total=3).is_retry(method, status) is expected


def test_retry_policy_survives_urllib3_copies() -> None:
    retry = ApiRetry(total=3, max_retry_after=7.0).new(total=2)
    assert isinstance(retry, ApiRetry)
    assert retry.max_retry_after == 7.0


def test_no_status_retry_once_retries_are_spent() -> None:
    assert ApiRetry(total=0).is_retry("GET", 503) is False


# -- construction ------------------------------------------------------------------------


def test_from_settings_takes_timeout_pool_and_tls_from_settings() -> None:
    settings = ProcessMakerSettings(
        url="https://pm.example.com/", secret="secret/pm", timeout=45, max_concurrency=12,
        verify_tls=False,
    )  # fmt: skip
    with ProcessMakerClient.from_settings(settings, PatAuth("x")) as client:
        assert client.base_url == "https://pm.example.com"
        assert client.timeout == (10.0, 45.0)  # (connect, read)
        assert client.pool_size == 14
        assert client._session.verify is False
        assert repr(client) == "ProcessMakerClient('https://pm.example.com')"


# -- nothing listening: a real refused connection ----------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refused_connection_is_retriable_for_any_method(dead_url: str, method: str) -> None:
    # A refused connect proves nothing was sent, so even a POST is safe to try again.
    client = ProcessMakerClient(dead_url, PatAuth("tok"), retries=1, backoff=0)
    with pytest.raises(
        ProcessMakerServerError,
        match=rf"^{method} /api/1.0/requests failed: could not connect after retries; "
        "check PROCESSMAKER_URL and that ProcessMaker is up$",
    ) as caught:
        client.request(method, "/requests", params={"pmql": 'data.ssn = "123-45-6789"'})
    assert caught.value.status_code is None
    assert caught.value.path == "/api/1.0/requests"


def test_retry_warnings_do_not_log_the_query_string(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = ProcessMakerClient(dead_url, PatAuth("tok"), retries=2, backoff=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(ProcessMakerServerError):
        client.get("/requests", params={"pmql": 'data.ssn = "123-45-6789"'})
    retries = [r.getMessage() for r in caplog.records if "Retrying" in r.getMessage()]
    assert len(retries) == 2
    assert all("/api/1.0/requests" in line and "ssn" not in line for line in retries)


# -- against the sandbox -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> Iterator[ProcessMakerClient]:
    with ProcessMakerClient(
        sandbox.url, PatAuth(sandbox.config.pat), retries=3, backoff=0.01, timeout=10
    ) as pm:
        yield pm


def api_calls(control: SandboxControl, route: str) -> int:
    """How many times ``route`` ("METHOD /api/1.0/...") really reached the sandbox."""
    return int(control.stats()["requests"].get(route, 0))


def test_get_user_reads_the_admin(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    assert client.get_user(1)["username"] == "admin"
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 1


def test_pages_cover_every_request_once_in_order(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    total = client.get_page("/requests", {"per_page": 1})["meta"]["total"]
    pages = list(client.list_pages("/requests", {"order_by": "id"}, per_page=100))
    ids = [row["id"] for page in pages for row in page]
    assert len(ids) == total >= 1000
    assert ids == sorted(set(ids))
    assert set(range(1, 1001)) <= set(ids)
    assert api_calls(sandbox_reset, "GET /api/1.0/requests") == 1 + len(pages)


def test_concurrent_pages_match_sequential_pages(client: ProcessMakerClient) -> None:
    params = {"order_by": "id"}
    sequential = list(client.iter_records("/requests", params, per_page=50))
    concurrent = list(client.iter_records("/requests", params, per_page=50, max_concurrency=4))
    assert [r["id"] for r in concurrent] == [r["id"] for r in sequential]


def test_get_is_retried_through_a_burst_of_503(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=3, fail_status=503)
    assert client.get_user(1)["id"] == 1
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 4


def test_persistent_503_is_a_retriable_server_error(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=10, fail_status=503)
    with pytest.raises(
        ProcessMakerServerError,
        match=r"^GET /api/1.0/users/1 -> 503: Service Unavailable; ProcessMaker failed; "
        r"try again later \(after 3 retries\)$",
    ) as caught:
        client.get_user(1)
    assert caught.value.status_code == 503
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 4


def test_429_is_retried(client: ProcessMakerClient, sandbox_reset: SandboxControl) -> None:
    sandbox_reset.set_faults(fail_next=2, fail_status=429, retry_after=0)
    assert client.get_user(1)["id"] == 1
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 3


def test_429_with_a_long_retry_after_surfaces_instead_of_sleeping(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=1, fail_status=429, retry_after=3600)
    with pytest.raises(
        ProcessMakerServerError,
        match=r"^GET /api/1.0/users/1 -> 429: Too Many Attempts; throttled; try again later "
        r"\(after 0 retries\)$",
    ):
        client.get_user(1)
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 1


def test_get_is_retried_through_a_500(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=2, fail_status=500)
    assert client.get_user(1)["id"] == 1
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 3


def test_get_is_replayed_after_dropped_connections(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(drop_next=2)
    assert client.get_user(1)["id"] == 1
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 3


def _startable(client: ProcessMakerClient) -> tuple[int, str]:
    process = client.get_page("/processes", {"per_page": 1, "order_by": "id"})["data"][0]
    return process["id"], client.list_start_events(process["id"])[0]["id"]


def _request_total(client: ProcessMakerClient) -> int:
    return int(client.get_page("/requests", {"per_page": 1})["meta"]["total"])


def test_post_refused_with_503_is_resent_and_runs_once(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    process_id, event = _startable(client)
    before = _request_total(client)
    sandbox_reset.set_faults(fail_next=1, fail_status=503)
    started = client.start_request(process_id, event, {"amount": 12})
    assert started["process_id"] == process_id
    assert _request_total(client) == before + 1
    assert api_calls(sandbox_reset, "POST /api/1.0/process_events/{process_id}") == 2


def test_post_answered_502_is_not_resent(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    process_id, event = _startable(client)
    sandbox_reset.set_faults(fail_next=1, fail_status=502)
    with pytest.raises(
        OutcomeUnknownError,
        match=rf"^POST /api/1.0/process_events/{process_id} -> 502: Bad Gateway; it may have "
        "been executed; check ProcessMaker before retrying$",
    ):
        client.start_request(process_id, event, {})
    assert api_calls(sandbox_reset, "POST /api/1.0/process_events/{process_id}") == 1


def test_post_on_a_dropped_connection_is_not_replayed(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    process_id, event = _startable(client)
    sandbox_reset.set_faults(drop_next=1)
    with pytest.raises(
        OutcomeUnknownError,
        match=rf"^POST /api/1.0/process_events/{process_id} failed: connection lost after it "
        "was sent; it may have been executed; check ProcessMaker before retrying$",
    ) as caught:
        client.start_request(process_id, event, {})
    assert caught.value.status_code is None
    assert api_calls(sandbox_reset, "POST /api/1.0/process_events/{process_id}") == 1


def test_post_that_times_out_is_not_replayed(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    slow = ProcessMakerClient(sandbox.url, PatAuth(sandbox.config.pat), timeout=(5, 0.3))
    with slow:
        process_id, event = _startable(slow)
        sandbox_reset.set_faults(latency_ms=1500)
        with pytest.raises(OutcomeUnknownError, match=r"failed: no answer in time after it was"):
            slow.start_request(process_id, event, {})
    assert api_calls(sandbox_reset, "POST /api/1.0/process_events/{process_id}") == 1


def test_get_that_times_out_is_replayed_then_retriable(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    slow = ProcessMakerClient(
        sandbox.url, PatAuth(sandbox.config.pat), timeout=(5, 0.2), retries=1, backoff=0
    )
    sandbox_reset.set_faults(latency_ms=800)
    with (
        slow,
        pytest.raises(
            ProcessMakerServerError,
            match=r"^GET /api/1.0/users/1 failed: no answer in time, after retries; "
            "try again later$",
        ),
    ):
        slow.get_user(1)
    assert api_calls(sandbox_reset, "GET /api/1.0/users/{id}") == 2


def test_404_names_method_path_status_and_fix(client: ProcessMakerClient) -> None:
    with pytest.raises(
        ProcessMakerNotFoundError,
        match=r"^GET /api/1.0/users/999999 -> 404: Not Found; check the id, and that this "
        "ProcessMaker has the route$",
    ) as caught:
        client.get_user(999999)
    assert (caught.value.method, caught.value.path) == ("GET", "/api/1.0/users/999999")


def test_422_carries_processmakers_field_errors(client: ProcessMakerClient) -> None:
    with pytest.raises(
        ProcessMakerValidationError,
        match=r"^POST /api/1.0/collections/1/records -> 422: The data field is required; "
        r"fix the payload \(fields: data\)$",
    ) as caught:
        client.post("/collections/1/records", json={})
    assert caught.value.errors == {"data": ["The data field is required."]}


def test_completing_a_closed_task_is_a_validation_error(client: ProcessMakerClient) -> None:
    closed = client.get_page("/tasks", {"status": "CLOSED", "per_page": 1})["data"][0]
    with pytest.raises(ProcessMakerValidationError, match=r"-> 422: Task already closed;"):
        client.complete_task(closed["id"], {"ok": True})


def test_401_is_an_auth_error_without_the_token(sandbox: SandboxServer) -> None:
    token = "not-the-sandbox-token-0123456789"
    with (
        ProcessMakerClient(sandbox.url, PatAuth(token), retries=0) as stranger,
        pytest.raises(
            ProcessMakerAuthError,
            match=r"^GET /api/1.0/requests -> 401: Unauthenticated; the token was refused even "
            "after renewal; check the credentials in Vault$",
        ) as caught,
    ):
        stranger.get("/requests", params={"pmql": SECRET_PMQL})
    assert token not in str(caught.value)


def test_bad_pmql_error_shows_neither_query_string_nor_pmql(client: ProcessMakerClient) -> None:
    with pytest.raises(
        ProcessMakerClientError,
        match=r"^GET /api/1.0/requests -> 400: Your PMQL contains invalid syntax; fix the "
        r"request \(a bad PMQL answers 400\)$",
    ) as caught:
        client.get("/requests", params={"pmql": SECRET_PMQL + " AND ((("})
    assert caught.value.__cause__ is None


def test_object_where_a_list_envelope_is_expected_is_malformed(
    client: ProcessMakerClient,
) -> None:
    with pytest.raises(
        MalformedResponseError,
        match=r"^GET /api/1.0/users/1 -> 200: not ProcessMaker's list envelope",
    ):
        list(client.list_pages("/users/1"))


def test_start_request_then_complete_its_task(client: ProcessMakerClient) -> None:
    process_id, event = _startable(client)
    started = client.start_request(process_id, event, {"customer": "ACME"})
    assert started["status"] == "ACTIVE"
    active = client.get_page("/tasks", {"process_request_id": started["id"], "status": "ACTIVE"})[
        "data"
    ]
    done = client.complete_task(active[0]["id"], {"approved": True})
    assert done["status"] == "CLOSED"


def test_create_collection_record(client: ProcessMakerClient) -> None:
    record = client.create_collection_record(1, {"name": "ACME", "tier": 2})
    assert record["collection_id"] == 1
    assert record["data"]["name"] == "ACME"


# -- the thin tasks ----------------------------------------------------------------------


@pytest.fixture
def tasks_use_sandbox(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> None:
    # The tasks open their client through Vault and a token grant (tests/test_auth.py);
    # here they get one holding the sandbox PAT, to test only what the task adds.
    def opener(settings: ProcessMakerSettings, *args: object) -> ProcessMakerClient:
        assert settings.url == sandbox.url  # from the environment, as without a block
        return ProcessMakerClient(settings.url, PatAuth(sandbox.config.pat), retries=0)

    monkeypatch.setattr(api_tasks, "open_client", opener)
    monkeypatch.setenv("PROCESSMAKER_URL", sandbox.url)
    monkeypatch.setenv("PROCESSMAKER_SECRET", "secret/processmaker/test")
    monkeypatch.setenv("PROCESSMAKER_PAGE_SIZE", "100")
    monkeypatch.setenv("PROCESSMAKER_MAX_CONCURRENCY", "3")


@pytest.mark.usefixtures("tasks_use_sandbox")
def test_call_endpoint_task_returns_plain_json() -> None:
    user = api_tasks.call_processmaker_endpoint.fn("GET", "/users/1")
    assert user["username"] == "admin"


@pytest.mark.usefixtures("tasks_use_sandbox")
def test_call_endpoint_task_masks_a_created_personal_access_token() -> None:
    created = api_tasks.call_processmaker_endpoint.fn(
        "POST", "/users/1/tokens", json={"name": "made-by-a-flow"}
    )
    assert created["accessToken"] == "**********"  # a task result may be persisted
    assert created["token"]["name"] == "made-by-a-flow"


@pytest.mark.usefixtures("tasks_use_sandbox")
def test_start_and_complete_tasks(client: ProcessMakerClient) -> None:
    process_id, event = _startable(client)
    started = api_tasks.start_processmaker_request.fn(process_id, event, {"x": 1})
    task = client.get_page("/tasks", {"process_request_id": started["id"]})["data"][0]
    closed = api_tasks.complete_processmaker_task.fn(task["id"], {"ok": True})
    assert closed["status"] == "CLOSED"


@pytest.mark.usefixtures("tasks_use_sandbox")
def test_list_records_task_stops_at_max_records(caplog: pytest.LogCaptureFixture) -> None:
    rows = api_tasks.list_processmaker_records.fn("/requests", {"order_by": "id"}, max_records=250)
    assert [row["id"] for row in rows] == list(range(1, 251))
    assert "GET /api/1.0/requests: stopped at max_records=250" in caplog.text


@pytest.mark.parametrize(
    "api_task",
    [
        api_tasks.call_processmaker_endpoint,
        api_tasks.list_processmaker_records,
        api_tasks.start_processmaker_request,
        api_tasks.complete_processmaker_task,
    ],
)
def test_tasks_never_cache_and_retry_only_retriable_errors(api_task: Any) -> None:
    assert api_task.cache_policy is NO_CACHE
    assert api_task.retry_condition_fn is retry_on_retriable
