"""The resources of one sync run side by side on PostgreSQL, one lock per resource; DuckDB's
resources one after another under the file's one lock."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.exceptions import ObjectAlreadyExists
from prefect.states import State

from processmaker_prefect import destination_lock_name
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.flows.sync import sync
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import assert_equal_to_api

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]

FIVE = ["requests", "tasks", "users", "processes", "groups"]
GROUP = {"id": 1, "uuid": "g-1", "name": "Finance", "description": "Finance team",
         "status": "ACTIVE", "created_at": "2024-01-01T00:00:00+00:00",
         "updated_at": "2024-01-01T00:00:00+00:00"}  # fmt: skip


@pytest.fixture
def stack(pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch) -> PmStack:
    monkeypatch.setenv("PROCESSMAKER_SYNC_LAG", "1")
    monkeypatch.setenv("PROCESSMAKER_PAGE_SIZE", "50")
    pm_stack.control.set_faults(latency_ms=30)  # so that each resource takes a while
    return pm_stack


@pytest.fixture
def database(postgres_url: str) -> str:
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS side_by_side")
        con.execute("CREATE DATABASE side_by_side")
    return postgres_url.rsplit("/", 1)[0] + "/side_by_side"


def spans_of(state: State[Any]) -> list[tuple[Any, Any]]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    return sorted((r.start_time, r.end_time) for r in runs)


def overlapping(spans: list[tuple[Any, Any]]) -> int:
    """How many task runs started before an earlier one had ended."""
    return sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)


@contextlib.contextmanager
def held(name: str) -> Iterator[None]:
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        lease = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=60
        ).json()["lease_id"]
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease)


def test_postgres_resources_run_side_by_side(stack: PmStack, database: str) -> None:
    state = sync(resources=FIVE, destination=database, return_state=True)
    result = state.result()
    assert [r["resource"] for r in result["resources"]] == FIVE  # reported in the order asked
    assert all(r["rows"] > 0 for r in result["resources"])
    spans = spans_of(state)
    assert len(spans) == len(FIVE)
    assert overlapping(spans) >= 3


def test_one_resource_at_a_time_when_asked(
    stack: PmStack, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_RESOURCE_CONCURRENCY", "1")
    state = sync(resources=FIVE, destination=database, return_state=True)
    assert len(state.result()["resources"]) == len(FIVE)
    assert overlapping(spans_of(state)) == 0


def test_duckdb_resources_run_side_by_side_into_one_writer(stack: PmStack, tmp_path: Path) -> None:
    database = tmp_path / "pm.duckdb"
    state = sync(resources=FIVE, destination=f"duckdb:///{database}", return_state=True)
    assert [r["resource"] for r in state.result()["resources"]] == FIVE
    assert overlapping(spans_of(state)) >= 3
    time.sleep(2)  # past the sync lag: what the API serves now is what was synced
    assert_equal_to_api(stack, database, FIVE)


def test_duckdb_writes_of_several_connections_never_overlap(tmp_path: Path) -> None:
    """The resources' destinations in one process share one writer: a transaction of one
    waits for the other's to end (checked on the destinations: a sync cannot show it)."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    events: list[str] = []
    with open_destination(url) as first, open_destination(url) as second:
        with first._transaction():  # type: ignore[attr-defined]
            worker = threading.Thread(target=lambda: second.write_batch("groups", [GROUP], None))
            worker.start()
            worker.join(timeout=1)
            events.append("second waited" if worker.is_alive() else "second wrote")
        worker.join(timeout=30)
        assert second.count("groups") == 1
    assert events == ["second waited"]


def test_a_resource_another_run_holds_is_left_to_it(stack: PmStack, database: str) -> None:
    with held(destination_lock_name(database, "tasks")):
        result = sync(resources=["tasks", "groups"], destination=database)
    assert [r["resource"] for r in result["resources"]] == ["groups"]
    assert stack.control.stats()["requests"].get("GET /api/1.0/tasks", 0) == 0
    again = sync(resources=["tasks", "groups"], destination=database)
    assert [r["resource"] for r in again["resources"]] == ["tasks", "groups"]


def test_a_run_whose_every_resource_is_held_is_cancelled(stack: PmStack, database: str) -> None:
    with held(destination_lock_name(database, "groups")):
        state = sync(resources=["groups"], destination=database, return_state=True)
    assert state.is_cancelled()
    assert "Another sync of" in str(state.message)
    assert stack.control.stats()["requests_total"] == 0


def test_lock_names_part_postgres_resources_but_not_a_duckdb_file(tmp_path: Path) -> None:
    pg = "postgresql://etl@db.example.com/pm"
    assert (
        destination_lock_name(pg, "requests")
        == "processmaker-sync-postgresql:db.example.com:5432:pm:requests"
    )
    assert destination_lock_name(pg, "collection:3") != destination_lock_name(pg, "requests")
    duck = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    assert destination_lock_name(duck, "requests") == destination_lock_name(duck)
