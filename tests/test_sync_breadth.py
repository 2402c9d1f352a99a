"""ETL breadth against a real sandbox and DuckDB: list routes by name, request variables as
columns, reconcile of deletions, filtered syncs (issue 13).

The module runs its own sandbox (seed 11) and resets it around each test, so deletions and
data changes here disturb no other module.
"""

# The SQL here reads the test's own DuckDB file; ids come from the sandbox.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from processmaker_prefect.catalogue import resource_for
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.sync import ResourceSync, SyncResult
from processmaker_prefect.sync.reconcile import ReconcileResult, reconcile
from tests.fixtures.openbao import OpenBao
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import LAG, api_snapshot, dest_snapshot, settle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0, records=300, seed=11)) as server:
        yield server


@pytest.fixture
def stack(
    vault_env: OpenBao, own_sandbox: SandboxServer, secret_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PmStack]:  # fmt: skip
    control = SandboxControl(own_sandbox.url)
    control.reset()
    stack = PmStack(vault_env, own_sandbox, control, secret_path)
    stack.put(**stack.password_credentials())
    for key, value in {
        "PROCESSMAKER_URL": own_sandbox.url,
        "PROCESSMAKER_SECRET": secret_path,
        "PROCESSMAKER_BACKOFF": "0.05",
        "PROCESSMAKER_SYNC_LAG": str(LAG),
    }.items():
        monkeypatch.setenv(key, value)  # fmt: skip
    yield stack
    control.reset()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "pm.duckdb"


def sync(database: Path, name: str, pmql: str | None = None, **options: Any) -> SyncResult:
    resource = options.pop("resource", None) or resource_for(name).with_filter(pmql)
    with open_client() as client, open_destination(f"duckdb:///{database}") as dest:
        return ResourceSync(client, dest, resource, per_page=50, lag=LAG).run(**options)


def run_reconcile(database: Path, name: str) -> ReconcileResult:
    with open_client() as client, open_destination(f"duckdb:///{database}") as dest:
        return reconcile(client, dest, resource_for(name), per_page=50)


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def api(stack: PmStack, method: str, path: str, **params: Any) -> Any:
    response = requests.request(
        method, f"{stack.sandbox.url}/api/1.0{path}", params=params, timeout=30,
        headers={"Authorization": f"Bearer {stack.sandbox.config.pat}"},
    )  # fmt: skip
    response.raise_for_status()
    return response.json() if response.content else None


# -- any list route by name -------------------------------------------------------------------


def test_a_generic_route_syncs_incrementally(stack: PmStack, database: Path) -> None:
    first = sync(database, "screens")
    assert first.rows == len(api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "screens"))
    assert dest_snapshot(database, "screens") == api_snapshot(
        stack.sandbox.url, stack.sandbox.config.pat, "screens"
    )
    changed = stack.control.mutate(2, "screens")["ids"]
    settle()
    second = sync(database, "screens")
    assert second.rows == len(changed)  # only what changed, newest first until the watermark
    assert dest_snapshot(database, "screens") == api_snapshot(
        stack.sandbox.url, stack.sandbox.config.pat, "screens"
    )
    (title,) = query(database, f"SELECT title FROM screens WHERE id = {changed[0]}")[0]
    assert title == api(stack, "GET", f"/screens/{changed[0]}")["title"]


def test_a_route_without_update_times_is_reread_in_full(stack: PmStack, database: Path) -> None:
    # The sandbox's lists all carry updated_at; security-logs (no updated_at in the spec) is
    # read this way. Force the same reader on group_members to run it against the sandbox.
    assert resource_for("security-logs").full_scan
    full = replace(resource_for("group_members"), full_scan=True)
    served = api_snapshot(stack.sandbox.url, stack.sandbox.config.pat, "group_members")
    assert sync(database, "group_members", resource=full).rows == len(served)
    assert sync(database, "group_members", resource=full).rows == len(served)  # read again
    assert dest_snapshot(database, "group_members") == served


def test_a_refused_route_fails_before_any_request(stack: PmStack, tmp_path: Path) -> None:
    from processmaker_prefect.flows.sync import sync as sync_flow

    stack.control.reset()
    with pytest.raises(
        ConfigurationError, match=r"'environment_variables' is refused: .*credential"
    ):
        sync_flow.fn(resources=["requests", "environment_variables"],
                     destination=f"duckdb:///{tmp_path / 'x.duckdb'}")  # fmt: skip
    with pytest.raises(
        ConfigurationError, match=r"Unknown resource 'screns': did you mean screens"
    ):
        sync_flow.fn(resources=["screns"], destination=f"duckdb:///{tmp_path / 'x.duckdb'}")
    assert stack.control.stats()["requests_total"] == 0
    assert stack.control.stats()["grants"] == {}


# -- request variables as columns -------------------------------------------------------------


def test_a_new_variable_becomes_a_column_on_the_next_run(stack: PmStack, database: Path) -> None:
    sync(database, "requests")
    (before,) = query(database, "SELECT count(*) FROM request_variables_2")[0]
    assert before == query(database, "SELECT count(*) FROM requests WHERE process_id = 2")[0][0]
    names = "SELECT column_name FROM information_schema.columns WHERE table_name = '%s'"
    columns = {r[0] for r in query(database, names % "request_variables_2")}
    assert {"days", "leave_type"} <= columns  # process 2's form (sandbox.seed.PROCESS_DATA)
    stack.control.change_request_data(2, values={"priority": "high"})
    settle()
    sync(database, "requests")
    assert query(database, "SELECT count(*), count(priority) FROM request_variables_2")[0] == (
        before, before,
    )  # fmt: skip
    assert query(database, "SELECT DISTINCT priority FROM request_variables_2") == [("high",)]


def test_a_type_change_widens_the_column(stack: PmStack, database: Path) -> None:
    sync(database, "requests")
    kind = "SELECT data_type FROM information_schema.columns WHERE table_name = " \
           "'request_variables_2' AND column_name = 'days'"  # fmt: skip
    assert query(database, kind) == [("BIGINT",)]
    stack.control.change_request_data(2, cast={"days": "string"})
    settle()
    sync(database, "requests")
    assert query(database, kind) == [("VARCHAR",)]
    stored = dict(query(database, "SELECT request_id, days FROM request_variables_2"))
    served = {r["id"]: r["data"]["days"] for r in
              api(stack, "GET", "/requests", include="data", pmql="process_id = 2",
                  per_page=1000)["data"]}  # fmt: skip
    assert stored == served


# -- deletions ------------------------------------------------------------------------------


def test_reconcile_marks_a_deleted_request_and_the_sync_does_not(
    stack: PmStack, database: Path
) -> None:
    sync(database, "requests")
    victim = api(stack, "GET", "/requests", per_page=1, order_by="id")["data"][0]
    api(stack, "DELETE", f"/requests/{victim['id']}")
    settle()
    sync(database, "requests")
    deleted = "SELECT id FROM requests WHERE _deleted_at IS NOT NULL"
    assert query(database, deleted) == []
    result = run_reconcile(database, "requests")
    assert (result.deleted, query(database, deleted)) == (1, [(victim["id"],)])
    table = f"request_variables_{victim['process_id']}"
    assert query(database, f"SELECT request_id FROM {table} WHERE _deleted_at IS NOT NULL") == [
        (victim["id"],)
    ]
    assert run_reconcile(database, "requests").deleted == 0  # marked once
    assert query(database, "SELECT count(*) FROM requests")[0][0] == result.listed + 1


def test_reconcile_by_page_confirms_with_the_show_route(stack: PmStack, database: Path) -> None:
    sync(database, "users")
    stack.control.reset()
    assert run_reconcile(database, "users").deleted == 0
    # users takes no PMQL: ids come by page; nothing missing means no confirmation request.
    routes = stack.control.stats()["requests"]
    assert not any(route.startswith("GET /api/1.0/users/") for route in routes)


# -- filtered syncs -----------------------------------------------------------------------------


def test_two_filtered_syncs_keep_separate_watermarks(stack: PmStack, database: Path) -> None:
    one = sync(database, "requests", "process_id = 1")
    two = sync(database, "requests", "process_id = 2")
    assert min(one.rows, two.rows) > 0
    assert query(database, "SELECT DISTINCT process_id FROM requests ORDER BY 1") == [(1,), (2,)]
    states = dict(query(database, "SELECT resource, last_id FROM _sync_state"))
    assert set(states) == {"requests where process_id = 1", "requests where process_id = 2"}
    stack.control.change_request_data(1, values={"note": "x"})
    settle()
    assert sync(database, "requests", "process_id = 2").rows == 0
    assert sync(database, "requests", "process_id = 1").rows == one.rows


def test_a_filter_on_a_route_without_pmql_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"'users' cannot be filtered: .* takes no PMQL"):
        resource_for("users").with_filter("status = 'ACTIVE'")


def test_the_flow_checks_filters_before_any_request(stack: PmStack, tmp_path: Path) -> None:
    from processmaker_prefect.flows.sync import sync as sync_flow

    target = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with pytest.raises(ConfigurationError, match=r"'users' cannot be filtered"):
        sync_flow.fn(resources=["users"], filters={"users": "id > 1"}, destination=target)
    with pytest.raises(ConfigurationError, match=r"Filters name resources not synced: tasks"):
        sync_flow.fn(resources=["requests"], filters={"tasks": "status = 'ACTIVE'"},
                     destination=target)  # fmt: skip
    assert stack.control.stats()["requests_total"] == 0
