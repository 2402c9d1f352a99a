"""prefect.yaml against a real ``prefect server start`` and a process worker."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox.net import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("prefect server exited early")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("prefect server did not become healthy")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real ``prefect server start`` on a free port, in its own PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(env["PREFECT_API_URL"], server)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _prefect(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _api(env: dict[str, str], method: str, path: str, body: object = None) -> object:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        env["PREFECT_API_URL"] + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


@pytest.fixture(scope="module")
def deployments(prefect_api: dict[str, str]) -> list[dict[str, Any]]:
    """`prefect deploy --all` from the checkout, as the README says."""
    _prefect(prefect_api, "work-pool", "create", "processmaker", "--type", "process")
    _prefect(prefect_api, "deploy", "--all")
    found = _api(prefect_api, "POST", "/deployments/filter", {})
    assert isinstance(found, list)
    return found


def test_deploy_all_registers_four_deployments_with_their_schedules(
    deployments: list[dict[str, Any]],
) -> None:
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == {"sync", "healthcheck", "start-requests", "call-endpoint"}
    crons = {
        name: [s["schedule"].get("cron") for s in d["schedules"]] for name, d in by_name.items()
    }
    assert crons == {
        "sync": ["*/15 * * * *"],
        "healthcheck": ["7 * * * *"],
        "start-requests": [],
        "call-endpoint": [],
    }
    for name in ("sync", "healthcheck"):
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
