"""The read plan under heavy ties: 20,000 requests over 3 ``updated_at`` values, read by id
ranges in parallel, while rows are updated and inserted, and across a run that stops midway.

The module runs its own sandbox (seeded lumpy), so its churn cannot disturb other modules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from processmaker_prefect.auth import reset_token_providers
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.sync import covers, progress_listeners
from tests.fixtures.openbao import OpenBao
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import (
    api_snapshot,
    assert_equal_to_api,
    dest_snapshot,
    run_sync,
    settle,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 20_000


@pytest.fixture(scope="module")
def lumpy_sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(port=0, records=RECORDS, seed=11, distinct_updated_at=3)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def stack(
    vault_env: OpenBao,
    lumpy_sandbox: SandboxServer,
    secret_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PmStack]:
    control = SandboxControl(lumpy_sandbox.url)
    control.reset()
    stack = PmStack(vault_env, lumpy_sandbox, control, secret_path)
    stack.put(**stack.password_credentials())
    env = {
        "PROCESSMAKER_URL": lumpy_sandbox.url,
        "PROCESSMAKER_SECRET": secret_path,
        "PROCESSMAKER_BACKOFF": "0.05",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_token_providers()
    yield stack
    reset_token_providers()
    control.reset()


def requests_api(stack: PmStack) -> dict[int, str]:
    return api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "requests")


def test_the_seed_really_has_three_updated_at_values(stack: PmStack) -> None:
    """Guards the tests below: thousands of rows share each timestamp."""
    assert len(set(requests_api(stack).values())) == 3


def test_heavy_ties_are_read_exactly_in_about_records_over_page_size_requests(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    results = run_sync(database, ["requests"], per_page=500, max_concurrency=8)
    served = stack.control.stats()["requests"]["GET /api/1.0/requests"]
    assert results["requests"].rows == RECORDS
    assert_equal_to_api(stack, database, ["requests"])
    assert served <= math.ceil(RECORDS / 500) + 2


@pytest.mark.parametrize("max_concurrency", [1, 8])
def test_rows_updated_and_inserted_while_paging_are_never_lost(
    stack: PmStack, tmp_path: Path, max_concurrency: int
) -> None:
    database = tmp_path / "pm.duckdb"
    stack.control.set_faults(churn=5, churn_new=2)
    run_sync(database, ["requests"], per_page=200, max_concurrency=max_concurrency)
    stack.control.clear_faults()
    with open_destination(f"duckdb:///{database}") as dest:
        mark = dest.get_watermark("requests")
    assert mark is not None
    assert not mark.extra  # the window was read to its end
    api, stored = requests_api(stack), dest_snapshot(database, "requests")
    moved = [i for i, stamp in api.items() if datetime.fromisoformat(stamp) > mark.updated_at]
    assert len(moved) > 100  # the churn really moved rows past the window
    # Every row the run's window still holds is stored as served, in this very run.
    until = mark.updated_at
    kept = {i: stamp for i, stamp in api.items() if datetime.fromisoformat(stamp) <= until}
    assert {i: stored.get(i) for i in kept} == kept
    settle()
    run_sync(database, ["requests"], per_page=200, max_concurrency=max_concurrency)
    assert_equal_to_api(stack, database, ["requests"])


def test_a_run_stopped_midway_stores_exactly_what_its_watermark_covers_and_resumes(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    batches = 0

    def stop_after_five_batches(resource: str, rows: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 5:
            raise KeyboardInterrupt  # what a kill looks like to the code after a commit

    progress_listeners.append(stop_after_five_batches)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sync(database, ["requests"], per_page=100, max_concurrency=8)
    finally:
        progress_listeners.remove(stop_after_five_batches)
    with open_destination(f"duckdb:///{database}") as dest:
        mark = dest.get_watermark("requests")
    assert mark is not None
    assert mark.extra["window"]["done"]
    api, stored = requests_api(stack), dest_snapshot(database, "requests")
    covered = {i: t for i, t in api.items() if covers(mark, datetime.fromisoformat(t), i)}
    assert 0 < len(stored) < RECORDS
    assert stored == covered
    settle()
    stack.control.reset()
    results = run_sync(database, ["requests"], per_page=500, max_concurrency=8)
    assert results["requests"].rows == RECORDS - len(stored)  # nothing read twice
    assert_equal_to_api(stack, database, ["requests"])


@pytest.mark.parametrize("churn", [0, 2])
def test_page_number_routes_read_concurrently_equal_the_api(
    stack: PmStack, tmp_path: Path, churn: int
) -> None:
    """Users (200 here) take no PMQL: pages 2..N come concurrently, then page 1 is checked
    again; users updated meanwhile are read by the follow-up run at the latest."""
    database = tmp_path / "pm.duckdb"
    stack.control.set_faults(churn=churn)
    first = run_sync(database, ["users"], per_page=20, max_concurrency=8)["users"]
    stack.control.clear_faults()
    assert first.rows >= 190
    settle()
    run_sync(database, ["users"], per_page=20, max_concurrency=8)
    assert_equal_to_api(stack, database, ["users"])
