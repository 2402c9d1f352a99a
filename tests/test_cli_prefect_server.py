"""The CLI and the sync flow against a real ``prefect server start``: what reaches its database.

A password in a deployment run's ``destination`` is refused by the server itself (the flow
parameter's JSON-schema ``pattern``, enforced with ``enforce_parameter_schema``) before the
run exists; the test then scans every table of the server's database for the password. With
``PREFECT_API_URL`` set, ``pm-prefect sync`` runs on that server, and a run another sync
blocks ends in one line.
"""

from __future__ import annotations

import json
import urllib.error
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prefect.utilities.callables import parameter_schema

from processmaker_prefect import destination_lock_name
from processmaker_prefect.flows.sync import sync as sync_flow
from tests.fixtures.cli import assert_one_error_line, run_cli
from tests.fixtures.prefect_server import prefect_rest
from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = f"Pw-{uuid.uuid4().hex[:10]}"  # unique per session: found only if we stored it
SPELLINGS = [
    f"postgresql://pm:{PASSWORD}@db.example.com/pm",
    f"postgresql://db.example.com/pm?password={PASSWORD}",
    f"postgresql://db.example.com/pm?pass%77ord={PASSWORD}",
    f"postgresql://db.example.com/pm?%70assword={PASSWORD}",
    f"postgresql://db.example.com/pm?sslpassword={PASSWORD}",
    f"host=db.example.com password={PASSWORD}",
]


def _deployment(api: dict[str, str]) -> str:
    """A deployment of the sync flow with its parameter schema enforced by the server."""
    flow = prefect_rest(api, "POST", "/flows/", {"name": "processmaker-sync"})
    schema = parameter_schema(sync_flow.fn).model_dump_for_openapi()
    deployment = prefect_rest(api, "POST", "/deployments/", {
        "name": f"cli-enforced-{uuid.uuid4().hex[:6]}",
        "flow_id": flow["id"],
        "parameter_openapi_schema": schema,
        "enforce_parameter_schema": True,
        "parameters": {},
    })  # fmt: skip
    return str(deployment["id"])


def _create_run(api: dict[str, str], deployment: str, destination: str) -> tuple[int, str]:
    try:
        run = prefect_rest(api, "POST", f"/deployments/{deployment}/create_flow_run",
                           {"parameters": {"destination": destination}})  # fmt: skip
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    return 201, json.dumps(run)


def _database_holds(api: dict[str, str], needle: str) -> list[str]:
    """The tables of the server's database (PostgreSQL) or its files (SQLite) holding it."""
    if api["PM_TEST_PREFECT_DB"] == "postgresql":
        url = api["PREFECT_API_DATABASE_CONNECTION_URL"].replace("+asyncpg", "")
        with psycopg.connect(url) as con:
            tables = [row[0] for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'public' and table_type = 'BASE TABLE'"
            )]  # fmt: skip
            return [
                table for table in tables
                if con.execute(
                    f'select count(*) from "{table}" t where t::text like %s',  # noqa: S608
                    (f"%{needle}%",),
                ).fetchone() != (0,)
            ]  # fmt: skip
    home = Path(api["PREFECT_HOME"])
    return [str(path) for path in home.glob("prefect.db*") if needle.encode() in path.read_bytes()]


def test_a_deployment_run_with_a_password_in_destination_is_refused_and_not_stored(
    prefect_api: dict[str, str],
) -> None:
    deployment = _deployment(prefect_api)
    try:
        for url in SPELLINGS:
            status, body = _create_run(prefect_api, deployment, url)
            assert status in (409, 422), f"{url}: {status} {body[:300]}"
            assert "destination" in body
        status, body = _create_run(prefect_api, deployment, "postgresql://pm@db.example.com/pm")
        assert status == 201, body  # the schema refuses passwords, not URLs
        assert _database_holds(prefect_api, PASSWORD) == []
        assert _database_holds(prefect_api, "pm@db.example.com") != []  # the scan finds things
    finally:  # the server is shared with tests that count its deployments
        for run in prefect_rest(prefect_api, "POST", "/flow_runs/filter",
                                {"deployments": {"id": {"any_": [deployment]}}}):  # fmt: skip
            prefect_rest(prefect_api, "DELETE", f"/flow_runs/{run['id']}")
        prefect_rest(prefect_api, "DELETE", f"/deployments/{deployment}")


def test_sync_runs_on_the_configured_prefect_api(
    pm_stack: PmStack, prefect_api: dict[str, str], tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'configured.duckdb'}"
    env = {**pm_stack.env, "PREFECT_API_URL": prefect_api["PREFECT_API_URL"]}
    done = run_cli(env, tmp_path / "home", "sync", "--resources", "groups",
                   "--destination", destination, secrets=pm_stack.secret_values())  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs: list[dict[str, Any]] = prefect_rest(prefect_api, "POST", "/flow_runs/filter", {
        "flow_runs": {"name": {"like_": str(tmp_path / "configured.duckdb")}},
    })  # fmt: skip
    assert [run["state_type"] for run in runs] == ["COMPLETED"]
    assert not list((tmp_path / "home" / "tmp").glob("pm-prefect-home-*"))


def test_a_run_cancelled_by_another_sync_is_one_line(
    pm_stack: PmStack, prefect_api: dict[str, str], tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'busy.duckdb'}"
    name = destination_lock_name(destination)
    prefect_rest(prefect_api, "POST", "/v2/concurrency_limits/", {"name": name, "limit": 1})
    # Another sync holds the destination: its lease on the limit's one slot.
    prefect_rest(prefect_api, "POST", "/v2/concurrency_limits/increment-with-lease", {
        "names": [name], "slots": 1, "mode": "concurrency", "lease_duration": 300,
    })  # fmt: skip
    env = {**pm_stack.env, "PREFECT_API_URL": prefect_api["PREFECT_API_URL"]}
    try:
        done = run_cli(env, tmp_path / "home", "sync", "--resources", "groups",
                       "--destination", destination, secrets=pm_stack.secret_values())  # fmt: skip
    finally:
        prefect_rest(prefect_api, "DELETE", f"/v2/concurrency_limits/{name}")
    line = assert_one_error_line(done)
    assert line.startswith("error SyncCancelled: Another sync of "), line
    assert "rerun to resume from the watermark" in line
