"""ResourceSync and its readers against a real sandbox and a real DuckDB file, no Prefect.

Every test compares the destination with what the sandbox's API serves at that moment
(ids and ``updated_at`` of every row), never with seed constants. The module runs its own
sandbox (seed 7), so mutations here cannot disturb the session sandbox's other users.
"""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from processmaker_prefect.auth import reset_token_providers
from processmaker_prefect.catalogue import RESOURCES, resource_for
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.destinations.batch import canonical_json
from processmaker_prefect.errors import ProcessMakerServerError
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.sync import ResourceSync, SyncResult, WindowReader, progress_listeners
from tests.fixtures.openbao import OpenBao
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration

LAG = 1.0
CORE = list(RESOURCES)  # requests, tasks, users, processes, groups
Snapshot = dict[int, str]  # id -> updated_at, as the API serves it


# -- what the API serves, what the destination holds -----------------------------------------


def api_snapshot(url: str, pat: str, resource: str) -> Snapshot:
    """Every row of ``resource``'s list route, read by id with a PAT: ``{id: updated_at}``."""
    spec = resource_for(resource)
    rows: Snapshot = {}
    page = 1
    while True:
        response = requests.get(
            f"{url}/api/1.0{spec.path}",
            params={**spec.params, "page": page, "per_page": 1000, "order_by": "id"},
            headers={"Authorization": f"Bearer {pat}"},
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        rows.update({int(r["id"]): str(r["updated_at"]) for r in body["data"]})
        if page >= body["meta"]["last_page"]:
            return rows
        page += 1


def dest_snapshot(database: Path, resource: str) -> Snapshot:
    """``{id: updated_at}`` of the stored rows, ``updated_at`` taken from the raw record."""
    with duckdb.connect(str(database), read_only=True) as con:
        found = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        tables = {r[0] for r in found}
        if resource not in tables:
            return {}
        rows = con.execute(f"SELECT id, raw->>'updated_at' FROM \"{resource}\"").fetchall()  # noqa: S608
    return {int(ident): str(stamp) for ident, stamp in rows}


def checksum(snapshot: Snapshot) -> str:
    digest = hashlib.sha256()
    for ident in sorted(snapshot):
        digest.update(f"{ident}\t{snapshot[ident]}\n".encode())
    return digest.hexdigest()


def assert_equal_to_api(stack: PmStack, database: Path, resources: list[str]) -> None:
    for name in resources:
        api = api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, name)
        stored = dest_snapshot(database, name)
        assert len(stored) == len(api), f"{name}: {len(stored)} stored, API has {len(api)}"
        missing = sorted(set(api) - set(stored))[:5]
        stale = sorted(i for i in api if i in stored and stored[i] != api[i])[:5]
        assert checksum(stored) == checksum(api), f"{name}: missing {missing}, stale {stale}"


def run_sync(
    database: Path,
    resources: list[str],
    *,
    per_page: int = 500,
    max_concurrency: int = 1,
    full_refresh: bool = False,
) -> dict[str, SyncResult]:
    """One sync of ``resources`` as ``sync_resource`` does it, minus Prefect."""
    results: dict[str, SyncResult] = {}
    with open_client() as client, open_destination(f"duckdb:///{database}") as dest:
        for name in resources:
            sync = ResourceSync(
                client, dest, resource_for(name), per_page=per_page,
                max_concurrency=max_concurrency, lag=LAG,
            )  # fmt: skip
            results[name] = sync.run(full_refresh=full_refresh)
    return results


def settle() -> None:
    """Wait until changes made so far are older than the sync's lag (whole seconds)."""
    time.sleep(LAG + 1)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[SandboxServer]:
    """A pristine sandbox for this module (starts in well under a second)."""
    with SandboxServer(SandboxConfig(port=0, records=1000, seed=7)) as server:
        yield server


@pytest.fixture
def stack(
    vault_env: OpenBao,
    own_sandbox: SandboxServer,
    secret_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PmStack]:
    """Password-grant credentials in Vault and PROCESSMAKER_* pointing at ``own_sandbox``."""
    control = SandboxControl(own_sandbox.url)
    control.reset()
    stack = PmStack(vault_env, own_sandbox, control, secret_path)
    stack.put(**stack.password_credentials())
    env = {
        "PROCESSMAKER_URL": own_sandbox.url,
        "PROCESSMAKER_SECRET": secret_path,
        "PROCESSMAKER_BACKOFF": "0.05",
        "PROCESSMAKER_SYNC_LAG": str(LAG),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stack.env = {**env, "VAULT_ADDR": vault_env.addr, "VAULT_TOKEN": vault_env.token}
    reset_token_providers()
    yield stack
    reset_token_providers()
    control.reset()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "pm.duckdb"


# -- tests ----------------------------------------------------------------------------------


def test_first_sync_equals_the_api(stack: PmStack, database: Path) -> None:
    results = run_sync(database, CORE)
    assert_equal_to_api(stack, database, CORE)
    for name in CORE:
        assert results[name].rows == len(dest_snapshot(database, name))


def test_one_token_grant_per_run_whatever_the_number_of_pages(
    stack: PmStack, database: Path
) -> None:
    results = run_sync(database, CORE, per_page=100)
    assert sum(r.pages for r in results.values()) > 20
    stats = stack.control.stats()
    assert stats["grants"] == {"password": 1}
    assert stats["requests_total"] > 20


def test_a_second_sync_without_changes_reads_one_page_per_resource(
    stack: PmStack, database: Path
) -> None:
    run_sync(database, CORE)
    stack.control.reset()
    results = run_sync(database, CORE)
    assert {name: r.rows for name, r in results.items()} == dict.fromkeys(CORE, 0)
    requests_by_route = stack.control.stats()["requests"]
    assert requests_by_route == {f"GET /api/1.0{RESOURCES[n].path}": 1 for n in CORE}


def test_after_mutations_only_the_changed_rows_move(stack: PmStack, database: Path) -> None:
    run_sync(database, CORE)
    url, pat = stack.sandbox.url, stack.sandbox.config.pat
    before = {name: api_snapshot(url, pat, name) for name in CORE}
    for resource, count in (("requests", 30), ("tasks", 40), ("users", 3), ("groups", 2)):
        stack.control.mutate(count, resource)
    settle()
    after = {name: api_snapshot(url, pat, name) for name in CORE}
    changed = {n: sum(1 for i, t in after[n].items() if before[n].get(i) != t) for n in CORE}
    # Mutated requests close their tasks too, so "changed" comes from the API, not the counts.
    assert changed["requests"] == 30
    assert changed["tasks"] >= 40
    results = run_sync(database, CORE)
    assert {name: r.rows for name, r in results.items()} == changed
    assert_equal_to_api(stack, database, CORE)


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"fail_next": 3, "fail_status": 502}, id="fail-next-502"),
        pytest.param(
            {"error_rate": 0.1, "error_statuses": [502, 503], "drop_rate": 0.05},
            id="errors-and-drops",
        ),
        pytest.param({"rate_limit_rate": 0.05, "retry_after": 1}, id="rate-limit-429"),
    ],
)
def test_injected_faults_do_not_change_the_result(
    stack: PmStack, database: Path, faults: dict[str, Any]
) -> None:
    stack.control.set_faults(**faults)
    run_sync(database, CORE, per_page=100)
    served = stack.control.stats()["requests_total"]
    stack.control.clear_faults()
    assert served > 20
    assert_equal_to_api(stack, database, CORE)


def test_a_500_fails_the_run_and_a_rerun_resumes_after_the_last_committed_page(
    stack: PmStack, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose every attempt of both rounds answers 500 (tasks.api.page_reads) fails the
    run, and the Prefect task's retry (here: a plain rerun) continues from the watermark,
    reading nothing twice."""
    monkeypatch.setenv("PROCESSMAKER_RETRIES", "1")
    monkeypatch.setenv("PROCESSMAKER_PAGE_ROUND_DELAY", "0")
    batches = 0

    def fail_after_the_first_batch(resource: str, rows: int) -> None:
        # The reader runs at most a few pages ahead of the writer (bounded read-ahead),
        # so with 20 pages of 50 rows the failing request is still to come.
        nonlocal batches
        batches += 1
        if batches == 1:  # two attempts in each of two rounds
            stack.control.set_faults(fail_next=4, fail_status=500)

    progress_listeners.append(fail_after_the_first_batch)
    try:
        with pytest.raises(ProcessMakerServerError, match=r"GET /api/1.0/requests -> 500"):
            run_sync(database, ["requests"], per_page=50)
    finally:
        progress_listeners.remove(fail_after_the_first_batch)
    stored = len(dest_snapshot(database, "requests"))
    assert 0 < stored < 1000
    results = run_sync(database, ["requests"], per_page=100, max_concurrency=4)
    api = api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "requests")
    assert results["requests"].rows == len(api) - stored
    assert_equal_to_api(stack, database, ["requests"])


def test_faults_are_really_injected(stack: PmStack, database: Path) -> None:
    """Guards the test above: the sandbox does fail, and the client's retries absorb it."""
    stack.control.set_faults(fail_next=3, fail_status=503)
    run_sync(database, ["groups"])
    # Three failed attempts plus the one that succeeded, all at the same route.
    assert stack.control.stats()["requests"] == {"GET /api/1.0/groups": 4}


def test_concurrent_id_ranges_give_the_same_result_as_sequential(
    stack: PmStack, tmp_path: Path
) -> None:
    sequential, concurrent = tmp_path / "seq.duckdb", tmp_path / "conc.duckdb"
    run_sync(sequential, ["requests", "tasks"], per_page=50)
    seq_requests = stack.control.stats()["requests_total"]
    stack.control.reset()
    results = run_sync(concurrent, ["requests", "tasks"], per_page=50, max_concurrency=4)
    assert results["requests"].pages >= 20
    # Id ranges read concurrently pool their short last pages: no more requests than one
    # after the other, give or take a short page per resource.
    assert stack.control.stats()["requests_total"] <= seq_requests + 2
    for name in ("requests", "tasks"):
        assert checksum(dest_snapshot(concurrent, name)) == checksum(
            dest_snapshot(sequential, name)
        )
        with open_destination(f"duckdb:///{concurrent}") as a:
            raw_concurrent = a.checksum(name)
        with open_destination(f"duckdb:///{sequential}") as b:
            assert b.checksum(name) == raw_concurrent
    assert_equal_to_api(stack, concurrent, ["requests", "tasks"])


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_churn_while_paging_loses_nothing_after_a_follow_up_run(
    stack: PmStack, database: Path, max_concurrency: int
) -> None:
    stack.control.set_faults(churn=3)
    run_sync(database, CORE, per_page=100, max_concurrency=max_concurrency)
    stack.control.clear_faults()
    settle()
    run_sync(database, CORE, per_page=100, max_concurrency=max_concurrency)
    assert_equal_to_api(stack, database, CORE)


def test_full_refresh_rebuilds_and_equals_the_api(stack: PmStack, database: Path) -> None:
    run_sync(database, CORE)
    with duckdb.connect(str(database)) as con:
        # Damage only a full refresh repairs: a row that is gone from the API, and rows lost.
        con.execute("INSERT INTO requests (id, raw, _synced_at) VALUES (999999, '{}', now())")
        con.execute("DELETE FROM requests WHERE id % 7 = 0")
    results = run_sync(database, ["requests"], full_refresh=True)
    assert results["requests"].full_refresh
    api = api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "requests")
    assert results["requests"].rows == len(api)
    assert_equal_to_api(stack, database, ["requests"])
    with open_destination(f"duckdb:///{database}") as dest:
        assert dest.get_watermark("requests") is not None
        assert dest.resources() == sorted(CORE)


def test_collection_records_without_timestamps_are_rescanned_and_equal_the_api(
    stack: PmStack, database: Path
) -> None:
    """A record is {id, collection_id, data} (API-NOTES §4): each run reads it whole, by id."""
    url, pat = stack.sandbox.url, stack.sandbox.config.pat

    def api_records() -> dict[int, str]:
        response = requests.get(
            f"{url}/api/1.0/collections/1/records",
            params={"per_page": 5000, "order_by": "id"},
            headers={"Authorization": f"Bearer {pat}"},
            timeout=30,
        )
        response.raise_for_status()
        return {int(r["id"]): canonical_json(r) for r in response.json()["data"]}

    def stored_records() -> dict[int, str]:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute("SELECT id, raw FROM collection_1_records").fetchall()
        return {int(i): canonical_json(json.loads(raw)) for i, raw in rows}

    first = run_sync(database, ["collection:1"], per_page=100)["collection:1"]
    expected = api_records()
    assert first.rows == len(expected) > 100
    assert stored_records() == expected
    stack.control.mutate(50, "records")
    second = run_sync(database, ["collection:1"], per_page=100)["collection:1"]
    assert second.rows == len(expected)
    changed = api_records()
    assert changed != expected
    assert stored_records() == changed


def test_a_short_lived_token_is_still_granted_once_per_run(stack: PmStack, database: Path) -> None:
    stack.control.set_token_ttl(120)
    try:
        run_sync(database, ["requests"], per_page=100)
    finally:
        stack.control.set_token_ttl(365 * 24 * 3600)
    assert stack.control.stats()["grants"] == {"password": 1}


def test_memory_stays_flat_whatever_the_number_of_rows(stack: PmStack, tmp_path: Path) -> None:
    """Peak Python memory for ten times the rows stays about the same: pages are streamed."""
    api = api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "requests")
    stamps = sorted(datetime.fromisoformat(t) for t in api.values())
    spec = RESOURCES["requests"]

    def peak(until: datetime, name: str) -> tuple[int, int]:
        with open_client() as client, open_destination(f"duckdb:///{tmp_path / name}") as dest:
            reader = WindowReader(
                client, spec.name, spec.path, spec.params, "modified", per_page=50
            )
            tracemalloc.start()
            rows = 0
            try:
                for page, mark in reader.pages(None, until):
                    rows += dest.write_batch(spec.name, page, mark)
                return rows, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    peak(stamps[99], "warm-up.duckdb")  # imports and caches are not what is measured
    few, few_peak = peak(stamps[99], "few.duckdb")
    many, many_peak = peak(stamps[-1], "many.duckdb")
    assert few < 120
    assert many == len(api) >= 1000
    assert many_peak < 2.5 * few_peak, f"{many_peak} bytes for {many} rows, {few_peak} for {few}"
