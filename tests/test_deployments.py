"""prefect.yaml against a real ``prefect server start`` and a process worker."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fixtures.prefect import api as _api
from tests.fixtures.prefect import prefect_cli as _prefect

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def deployments(prefect_api: dict[str, str]) -> list[dict[str, Any]]:
    """`prefect deploy --all` from the checkout, as the README says."""
    _prefect(prefect_api, "work-pool", "create", "processmaker", "--type", "process")
    _prefect(prefect_api, "deploy", "--all")
    found = _api(prefect_api, "POST", "/deployments/filter", {})
    assert isinstance(found, list)
    return found


def test_deploy_all_registers_five_deployments_with_their_schedules(
    deployments: list[dict[str, Any]],
) -> None:
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == {"sync", "reconcile", "healthcheck", "start-requests", "call-endpoint"}
    crons = {
        name: [s["schedule"].get("cron") for s in d["schedules"]] for name, d in by_name.items()
    }
    assert crons == {
        "sync": ["*/15 * * * *"],
        "reconcile": ["40 3 * * *"],
        "healthcheck": ["7 * * * *"],
        "start-requests": [],
        "call-endpoint": [],
    }
    assert by_name["reconcile"]["parameters"]["reconcile"] is True
    for name in ("sync", "reconcile", "healthcheck"):
        assert by_name[name]["global_concurrency_limit"]["limit"] == 1
        assert by_name[name]["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert by_name["sync"]["work_pool_name"] == "processmaker"


def test_the_scheduler_plans_sync_runs_every_fifteen_minutes(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]]
) -> None:
    sync_id = next(d["id"] for d in deployments if d["name"] == "sync")
    query = {
        "deployments": {"id": {"any_": [sync_id]}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
    }
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(runs) < 3:
        found = _api(prefect_api, "POST", "/flow_runs/filter", query)
        assert isinstance(found, list)
        runs = found
        time.sleep(1)
    assert len(runs) >= 3, "the scheduler planned no runs for the sync deployment"
    starts = sorted(datetime.fromisoformat(r["expected_start_time"]) for r in runs)
    assert all(start.minute % 15 == 0 and start.second == 0 for start in starts)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts[:3]))


def test_worker_runs_the_sync_deployment_into_duckdb(
    prefect_api: dict[str, str],
    deployments: list[dict[str, Any]],
    pm_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {**prefect_api, **pm_env}
    destination = tmp_path / "worker.duckdb"
    sync_id = next(d["id"] for d in deployments if d["name"] == "sync")
    run = _api(
        env,
        "POST",
        f"/deployments/{sync_id}/create_flow_run",
        {"parameters": {"destination": f"duckdb:///{destination}", "resources": ["users"]}},
    )
    assert isinstance(run, dict)
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "processmaker", "--run-once"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker.wait(timeout=240)
    finally:
        if worker.poll() is None:
            worker.kill()
    state = _api(env, "GET", f"/flow_runs/{run['id']}")
    assert isinstance(state, dict)
    assert state["state"]["type"] == "COMPLETED", state["state"]
    with duckdb.connect(str(destination), read_only=True) as con:
        (count,) = con.execute("select count(*) from users").fetchone() or (0,)
    assert count > 0


def test_the_connection_block_type_registers(prefect_api: dict[str, str]) -> None:
    _prefect(prefect_api, "block", "register", "-m", "tasks.blocks")
    block_type = _api(prefect_api, "GET", "/block_types/slug/processmaker-connection")
    assert isinstance(block_type, dict)
    assert block_type["name"] == "ProcessMaker Connection"
    schemas = _api(
        prefect_api,
        "POST",
        "/block_schemas/filter",
        {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    assert isinstance(schemas, list)
    fields = schemas[0]["fields"]["properties"]
    assert {"url", "secret", "auth", "vault_addr", "vault_token"} <= set(fields)
    formats = {option.get("format") for option in fields["vault_token"]["anyOf"]}
    assert "password" in formats  # shown masked in the UI
