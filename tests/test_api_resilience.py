"""Reads that survive a flaky ProcessMaker: 500s, bad bodies, second rounds, the circuit breaker.

Against the sandbox's fault injection (tests/fixtures/sandbox.py), counted in calls that reached
it and in the backoff the client asked for, never in wall-clock time: the client's breaker is a
``CountingBreaker``, our own ``CircuitBreaker`` that records each pause instead of sleeping it.
Two tests hand-build a response: the sandbox cuts bodies in half, so it cannot produce a
document cut at each kind of token, nor a complete document that is not JSON.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.api.bodies import json_body
from processmaker_prefect.api.breaker import CircuitBreaker, breaker_for, reset_breakers
from processmaker_prefect.api.page_reads import backoff_seconds
from processmaker_prefect.errors import (
    IncompleteResponseError,
    MalformedResponseError,
    OutcomeUnknownError,
    ProcessMakerNotFoundError,
    ProcessMakerServerError,
    ProcessMakerUnavailableError,
    is_retriable,
)
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

RETRIES = 3
ROUND_DELAY = 20.0
LIST = "GET /api/1.0/requests"


class PatAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class CountingBreaker(CircuitBreaker):
    """Records every pause (backoff, Retry-After, round delay) and sleeps none of it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().pause(0)  # still raises at once when open


def flaky_client(sandbox: SandboxServer, threshold: int = 100) -> ProcessMakerClient:
    breaker = CountingBreaker(sandbox.url, threshold=threshold, cooldown=3600)
    return ProcessMakerClient(
        sandbox.url, PatAuth(sandbox.config.pat), retries=RETRIES, backoff=0.5, timeout=10,
        breaker=breaker, page_rounds=2, page_round_delay=ROUND_DELAY,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox of this module's own: its tests count every call the server gets and inject
    faults by exact counters, so no other module's late request may take one."""
    with SandboxServer(SandboxConfig(port=0, records=1000, seed=1)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer, sandbox_reset: SandboxControl) -> Iterator[ProcessMakerClient]:
    with flaky_client(sandbox) as pm:
        yield pm


def pauses(client: ProcessMakerClient) -> list[float]:
    assert isinstance(client.breaker, CountingBreaker)
    return client.breaker.pauses


def calls(control: SandboxControl, route: str = LIST) -> int:
    return int(control.stats()["requests"].get(route, 0))


def page(client: ProcessMakerClient) -> list[int]:
    return [row["id"] for row in client.get_page("/requests", {"per_page": 50})["data"]]


# -- 500s, Retry-After, second rounds ----------------------------------------------------------


def test_a_500_on_a_read_is_retried_with_jittered_backoff(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    clean = page(client)
    sandbox_reset.reset()
    sandbox_reset.set_faults(fail_next=3, fail_status=500, list_only=True)
    assert page(client) == clean
    assert calls(sandbox_reset) == 4
    # urllib3: the first retry at once, then 0.5 * 2**n plus up to 0.25 of jitter.
    first, second, third = pauses(client)
    assert first == 0
    assert 1.0 <= second <= 1.25
    assert 2.0 <= third <= 2.25


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(
    client: ProcessMakerClient, sandbox_reset: SandboxControl, status: int
) -> None:
    sandbox_reset.set_faults(fail_next=2, fail_status=status, retry_after=7, list_only=True)
    page(client)
    assert calls(sandbox_reset) == 3
    assert pauses(client) == [7.0, 7.0]


def test_a_page_that_spends_its_retries_gets_a_second_slower_round(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=RETRIES + 2, fail_status=500, list_only=True)
    assert len(page(client)) == 50
    assert calls(sandbox_reset) == RETRIES + 3  # one whole round, then two calls of the next
    round_pause = max(pauses(client))
    assert ROUND_DELAY <= round_pause <= ROUND_DELAY * 1.5


def test_a_page_that_fails_every_round_raises_the_retriable_server_error(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(error_rate=1.0, error_statuses=[500], list_only=True)
    with pytest.raises(
        ProcessMakerServerError,
        match=rf"^{LIST} -> 500: Server Error; ProcessMaker failed; try again later "
        rf"\(after {RETRIES} retries\)$",
    ) as caught:
        page(client)
    assert is_retriable(caught.value)
    assert calls(sandbox_reset) == 2 * (RETRIES + 1)  # two rounds, bounded


def test_a_post_answered_500_is_not_replayed(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    process = client.get_page("/processes", {"per_page": 1, "order_by": "id"})["data"][0]
    event = client.list_start_events(process["id"])[0]["id"]
    sandbox_reset.set_faults(fail_next=1, fail_status=500)
    with pytest.raises(
        OutcomeUnknownError,
        match=rf"^POST /api/1.0/process_events/{process['id']} -> 500: Server Error; it may "
        "have been executed; check ProcessMaker before retrying$",
    ):
        client.start_request(process["id"], event, {})
    assert calls(sandbox_reset, "POST /api/1.0/process_events/{process_id}") == 1
    assert pauses(client) == []


# -- bad bodies --------------------------------------------------------------------------------


def test_an_html_login_page_is_one_line_and_not_read_again(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(html_rate=1.0, list_only=True)
    with pytest.raises(
        MalformedResponseError,
        match=rf'^{LIST} -> 200: an HTML page \("Sign in"\) where JSON belongs; a proxy or '
        "single sign-on answers for ProcessMaker: set PROCESSMAKER_URL to an address that "
        "reaches its API directly$",
    ) as caught:
        page(client)
    assert not is_retriable(caught.value)
    assert calls(sandbox_reset) == 1


def test_a_truncated_body_is_read_again_and_then_named(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(truncate_rate=1.0, list_only=True)
    with pytest.raises(
        IncompleteResponseError,
        match=rf"^{LIST} -> 200: the JSON body \(application/json\) breaks off after \d+ "
        "bytes; a proxy or the connection cut it, try again later$",
    ) as caught:
        page(client)
    assert is_retriable(caught.value)
    assert calls(sandbox_reset) == 2 * (RETRIES + 1)  # re-read like a failed call, per round
    assert sandbox_reset.stats()["injected"] == {"truncate": 2 * (RETRIES + 1)}


def test_truncated_bodies_now_and_then_cost_nothing_but_re_reads(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    clean = [r["id"] for r in client.iter_records("/requests", {"order_by": "id"}, per_page=50)]
    sandbox_reset.reset()
    sandbox_reset.set_faults(truncate_rate=0.3, list_only=True, seed=15)
    flaky = [r["id"] for r in client.iter_records("/requests", {"order_by": "id"}, per_page=50)]
    assert flaky == clean
    assert sandbox_reset.stats()["injected"]["truncate"] > 3


def test_an_envelope_without_data_or_meta_is_named_and_not_read_again(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(envelope_rate=1.0, list_only=True, seed=3)
    lines = set()
    for _ in range(8):
        with pytest.raises(MalformedResponseError) as caught:
            page(client)
        assert not is_retriable(caught.value)
        lines.add(str(caught.value))
    assert calls(sandbox_reset) == 8
    tail = "; check that the path names a list route and PROCESSMAKER_URL is ProcessMaker"
    assert lines == {
        f'{LIST} -> 200: not ProcessMaker\'s list envelope: "data" is missing, not a list '
        f"(keys: meta){tail}",
        f'{LIST} -> 200: not ProcessMaker\'s list envelope: "meta" is missing, not an object '
        f"(keys: data){tail}",
    }


# -- the circuit breaker -----------------------------------------------------------------------


def test_a_down_processmaker_stops_every_call_after_n_failures(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    with flaky_client(sandbox, threshold=5) as client:
        sandbox_reset.set_faults(down=True, fail_status=503, retry_after=1)
        with pytest.raises(
            ProcessMakerUnavailableError,
            match=rf"^ProcessMaker at {sandbox.url} looks down: 5 calls in a row failed \(the "
            rf"last: {LIST} -> 503\); calls stop for 3600 s\. Check ProcessMaker, then run "
            r"again \(a sync resumes after its last stored page\)$",
        ) as caught:
            page(client)
        assert not is_retriable(caught.value)
        assert calls(sandbox_reset) == 5
        # Backoff: Retry-After (1 s) between the first round's four calls, one round delay,
        # then the fifth failure opens the breaker during its Retry-After wait.
        waits = pauses(client)
        assert waits[:3] == [1.0, 1.0, 1.0]
        assert ROUND_DELAY <= waits[3] <= ROUND_DELAY * 1.5
        assert waits[4:] == [1.0]
        # Open: every call fails at once, lists or not, without reaching ProcessMaker.
        with pytest.raises(ProcessMakerUnavailableError):
            client.get_user(1)
        with pytest.raises(ProcessMakerUnavailableError):
            page(client)
        assert sandbox_reset.stats()["requests_total"] == 5


def test_a_breaker_is_per_instance_and_shared_by_the_process() -> None:
    reset_breakers()
    try:
        one = breaker_for("https://pm.example.com/")
        assert breaker_for("https://pm.example.com") is one
        assert breaker_for("https://other.example.com") is not one
        built = ProcessMakerClient("https://pm.example.com", PatAuth("x"))
        assert built.breaker is one
        # A password written into the URL is not named in the breaker's line.
        named = breaker_for("https://admin:hunter2-secret@pm.example.com").instance
        assert named == "https://pm.example.com"
    finally:
        reset_breakers()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_after_the_cooldown_one_trial_call_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("https://pm.example.com", threshold=2, cooldown=30, clock=clock)
    breaker.record_failure("GET /api/1.0/users -> 500")
    breaker.before_call()  # one failure: still closed
    breaker.record_failure("GET /api/1.0/users -> 502")
    with pytest.raises(ProcessMakerUnavailableError, match=r"the last: GET /api/1.0/users -> 502"):
        breaker.before_call()
    clock.now = 30
    breaker.before_call()  # the trial
    with pytest.raises(ProcessMakerUnavailableError):
        breaker.before_call()  # others wait for the trial's outcome
    breaker.record_failure("GET /api/1.0/users failed: connection lost")
    with pytest.raises(ProcessMakerUnavailableError):
        breaker.before_call()  # the trial failed: open for another cooldown
    clock.now = 60
    breaker.before_call()
    breaker.record_success()
    breaker.before_call()
    breaker.before_call()  # closed again


def test_a_throttled_or_refused_call_proves_the_server_up(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    with flaky_client(sandbox, threshold=3) as client:
        sandbox_reset.set_faults(fail_next=2, fail_status=500, list_only=True)
        page(client)
        client.breaker.record_failure("x")
        client.breaker.record_failure("y")
        with pytest.raises(ProcessMakerNotFoundError):  # an answer: the server is up
            client.get_user(999999)
        client.breaker.record_failure("z")
        client.breaker.before_call()  # 404 reset the count: two failures, not three
        sandbox_reset.set_faults(fail_next=4, fail_status=429, retry_after=0, list_only=True)
        page(client)  # four 429s in a row do not open it
        assert not client.breaker.is_open


def test_a_retry_waiting_out_its_backoff_wakes_when_the_breaker_opens() -> None:
    breaker = CircuitBreaker("https://pm.example.com", threshold=1, cooldown=60)
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            breaker.pause(600)
        except ProcessMakerUnavailableError as exc:
            raised.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    breaker.record_failure("GET /api/1.0/requests -> 500")
    waiter.join(timeout=30)  # a bound on a hang, not a timing: the wait is 600 s
    assert not waiter.is_alive()
    assert len(raised) == 1


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    assert [int(backoff_seconds(n, 1.0)) for n in range(4)] == [1, 2, 4, 8]
    assert backoff_seconds(10, 1.0) == 30.0
    assert backoff_seconds(10, 1.0, cap=900.0) > 30.0


def _response(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body
    response.headers["Content-Type"] = "application/json"
    return response


@pytest.mark.parametrize(
    "body",
    [b'{"data": [{"id": 1, "ok": tr', b'{"data": [{"id": -1.5e', b'{"data": [{"name": "ACM'],
)
def test_a_document_that_runs_out_is_cut_off(body: bytes) -> None:
    # Built by hand: the sandbox cuts bodies in half, not at each kind of token.
    with pytest.raises(IncompleteResponseError, match=r"breaks off after \d+ bytes"):
        json_body(_response(body), "GET", "/api/1.0/requests")


@pytest.mark.parametrize("body", [b"{'data': []}", b'{"data": [1 2]}', b'{"a": 1} x'])
def test_a_complete_document_that_is_not_json_is_not_read_again(body: bytes) -> None:
    with pytest.raises(MalformedResponseError, match=r"the body is not JSON") as caught:
        json_body(_response(body), "GET", "/api/1.0/requests")
    assert not is_retriable(caught.value)
