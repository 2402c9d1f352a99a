"""A sync against a flaky ProcessMaker: one run completes, or a down one stops it at once.

The session sandbox fails a share of list calls (``list_only``, seeded, so a run is
reproducible); the flow runs on Prefect's embedded server with its real task retries. What is
asserted is counted: calls that reached the sandbox, token grants, Prefect task runs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import State

from processmaker_prefect.catalogue import resource_for
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.errors import ProcessMakerUnavailableError
from processmaker_prefect.flows.sync import DEFAULT_RESOURCES, SyncFailed, sync
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.sync import ResourceSync, progress_listeners
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import assert_equal_to_api, dest_snapshot

pytestmark = pytest.mark.integration

LAG = 1
THRESHOLD = 8
RETRIES = 5
CONCURRENCY = 4
# 20 % of list calls fail, in equal parts: 503 and 429 with Retry-After: 1, 500, a drop.
TWENTY_PERCENT = {
    "error_rate": 0.10, "error_statuses": [500, 503], "rate_limit_rate": 0.05,
    "drop_rate": 0.05, "retry_after": 1, "list_only": True, "seed": 8,
}  # fmt: skip


@pytest.fixture
def stack(pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch) -> PmStack:
    settings = {
        "PROCESSMAKER_SYNC_LAG": str(LAG),
        "PROCESSMAKER_PAGE_SIZE": "100",
        "PROCESSMAKER_MAX_CONCURRENCY": str(CONCURRENCY),
        "PROCESSMAKER_RETRIES": str(RETRIES),
        "PROCESSMAKER_BACKOFF": "0.05",
        "PROCESSMAKER_PAGE_ROUND_DELAY": "0.2",
        "PROCESSMAKER_BREAKER_THRESHOLD": str(THRESHOLD),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    time.sleep(LAG + 1)  # other tests may have just changed the shared sandbox
    return pm_stack


def task_run_counts(state: State[Any]) -> dict[str, int]:
    """``{task run name: run count}`` of the flow run behind ``state``: >1 means retried."""
    run_id = state.state_details.flow_run_id
    assert isinstance(run_id, UUID)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {run.name: run.run_count for run in runs}


@pytest.mark.usefixtures("prefect_server")
def test_sync_flow_completes_in_one_run_with_20_percent_of_list_calls_failing(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    stack.control.set_faults(**TWENTY_PERCENT)
    state = sync(destination=f"duckdb:///{database}", return_state=True)
    stats = stack.control.stats()
    stack.control.clear_faults()
    assert state.is_completed(), state.message
    # Every kind was injected, and not one Prefect retry was needed to absorb them.
    assert {"error_500", "error_503", "rate_limit", "drop"} <= set(stats["injected"])
    assert stats["injected_total"] >= 0.1 * stats["requests_total"]
    assert task_run_counts(state) == {f"sync-{name}": 1 for name in DEFAULT_RESOURCES}
    assert stats["grants"] == {"password": 1}
    assert_equal_to_api(stack, database, list(DEFAULT_RESOURCES))


def test_sync_completes_in_one_run_with_10_percent_of_list_calls_answering_500(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    stack.control.set_faults(error_rate=0.1, error_statuses=[500], list_only=True, seed=8)
    with open_client() as client, open_destination(f"duckdb:///{database}") as dest:
        for name in DEFAULT_RESOURCES:
            ResourceSync(
                client, dest, resource_for(name), per_page=100, max_concurrency=CONCURRENCY,
                lag=LAG,
            ).run()  # fmt: skip
    stats = stack.control.stats()
    stack.control.clear_faults()
    assert stats["injected"]["error_500"] >= 3
    assert stats["grants"] == {"password": 1}
    assert_equal_to_api(stack, database, list(DEFAULT_RESOURCES))


def test_a_page_that_fails_a_whole_round_costs_that_page_and_nothing_else(
    stack: PmStack, tmp_path: Path
) -> None:
    with open_client() as client, open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}") as dest:
        ResourceSync(client, dest, resource_for("requests"), per_page=100, lag=LAG).run()
    clean = stack.control.stats()["requests_total"]
    stack.control.reset()  # the same seeded rows, and fresh counters
    pages = 0

    def fail_a_round_after_three_pages(resource: str, rows: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 1:  # every attempt of a page to come: its first round answers 500
            stack.control.set_faults(fail_next=RETRIES + 1, fail_status=500, list_only=True)

    database = tmp_path / "b.duckdb"
    progress_listeners.append(fail_a_round_after_three_pages)
    try:
        with open_client() as client, open_destination(f"duckdb:///{database}") as dest:
            ResourceSync(client, dest, resource_for("requests"), per_page=100, lag=LAG).run()
    finally:
        progress_listeners.remove(fail_a_round_after_three_pages)
    stats = stack.control.stats()
    assert stats["injected"] == {"error_500": RETRIES + 1}
    assert stats["requests_total"] == clean + RETRIES + 1  # no page read twice
    assert_equal_to_api(stack, database, ["requests"])


@pytest.mark.usefixtures("prefect_server")
def test_sync_flow_stops_at_once_with_one_line_when_processmaker_is_down(
    stack: PmStack, tmp_path: Path
) -> None:
    """Bounded: at most THRESHOLD failed calls plus the CONCURRENCY - 1 already in flight when
    the breaker opens; backoff at most THRESHOLD waits of Retry-After (1 s) or urllib3's
    backoff (0.05 * 2**n, under 1 s for n < 5), and one page round delay (0.2 s, jittered)."""
    database = tmp_path / "pm.duckdb"
    stack.control.set_faults(
        error_rate=2 / 3, error_statuses=[500, 503], drop_rate=1 / 3, retry_after=1,
        list_only=True, seed=1,
    )  # fmt: skip
    state = sync(destination=f"duckdb:///{database}", return_state=True)
    stats = stack.control.stats()
    url = re.escape(stack.sandbox.url)
    with pytest.raises(
        SyncFailed,
        match=rf"^1 of 5 resources failed \(first: requests: ProcessMakerUnavailableError: "
        rf"ProcessMaker at {url} looks down: {THRESHOLD} calls in a row failed \(the last: "
        r"GET /api/1.0/requests (-> 50[03]|failed: connection lost)[^)]*\); calls stop for "
        r"60 s\. Check ProcessMaker, then run again \(a sync resumes after its last stored "
        r"page\)\); 0 synced, 4 not tried; see the artifact$",
    ):
        state.result()
    assert stats["requests_total"] <= THRESHOLD + CONCURRENCY - 1
    assert set(stats["requests"]) == {"GET /api/1.0/requests"}  # nothing else was tried
    assert task_run_counts(state) == {"sync-requests": 1}  # not retried by Prefect either
    assert dest_snapshot(database, "requests") == {}


def test_while_the_breaker_is_open_a_rerun_fails_without_a_call(
    stack: PmStack, tmp_path: Path
) -> None:
    stack.control.set_faults(error_rate=1.0, error_statuses=[500], list_only=True)
    with open_client() as client, open_destination(f"duckdb:///{tmp_path / 'pm.duckdb'}") as dest:
        groups = ResourceSync(client, dest, resource_for("groups"), per_page=100, lag=LAG)
        with pytest.raises(ProcessMakerUnavailableError):
            groups.run()
        calls = stack.control.stats()["requests_total"]
        assert calls == THRESHOLD
        stack.control.clear_faults()  # ProcessMaker is back, but the cooldown is not over
        with pytest.raises(ProcessMakerUnavailableError):
            ResourceSync(client, dest, resource_for("users"), per_page=100, lag=LAG).run()
    assert stack.control.stats()["requests_total"] == calls
