"""prefect.yaml against a real ``prefect server start`` and a process worker.

The server (``tests/fixtures/prefect_server.py``) runs on PostgreSQL when Debian's is
installed. The run forms are checked here as the UI gets them: the parameter schemas and the
block schema read back from the server.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.error
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from processmaker_prefect import OFFERED_RESOURCES
from tests.fixtures.prefect_server import BIN, prefect_rest
from tests.test_forms import null_toggles

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_deploy_all_registers_six_deployments_with_their_schedules(
    deployments: list[dict[str, Any]],
) -> None:
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == {
        "sync", "reconcile", "healthcheck", "start-requests", "call-endpoint", "review-tasks",
    }  # fmt: skip
    crons = {
        name: [s["schedule"].get("cron") for s in d["schedules"]] for name, d in by_name.items()
    }
    assert crons == {
        "sync": ["*/15 * * * *"],
        "reconcile": ["40 3 * * *"],
        "healthcheck": ["7 * * * *"],
        "start-requests": [],
        "call-endpoint": [],
        "review-tasks": [],
    }
    # No deployment-wide limit: syncs of different instances and destinations run at once
    # (the flow locks its destination instead; tests/test_scale_out.py).
    assert by_name["sync"]["global_concurrency_limit"] is None
    assert by_name["reconcile"]["global_concurrency_limit"] is None
    assert by_name["reconcile"]["parameters"]["reconcile"] is True
    assert by_name["sync"]["work_pool_name"] == "processmaker"


def test_deployments_import_the_installed_package_after_installing_it(
    deployments: list[dict[str, Any]],
) -> None:
    for deployment in deployments:
        # A module path: the worker imports the flow from the installed package, after the
        # pull step (Prefect 3.4 imports a colon-less module path before it).
        module, _, flow = deployment["entrypoint"].partition(":")
        assert module.startswith("processmaker_prefect.flows.")
        assert "/" not in module
        assert flow.isidentifier()
        write, install = deployment["pull_steps"]
        script = write["prefect.deployments.steps.run_shell_script"]["script"]
        assert "processmaker-prefect[postgres]" in script
        # pip of the flow run's own Python, not whichever `python` is first on PATH.
        assert install["prefect.deployments.steps.pip_install_requirements"] == {
            "id": "install-processmaker-prefect",
            "requirements_file": "processmaker-prefect.requirements.txt",
            "stream_output": False,
        }


@pytest.mark.parametrize(
    "name",
    ["sync", "reconcile", "healthcheck", "start-requests", "call-endpoint", "review-tasks"],
)
def test_each_run_form_has_a_block_picker_and_no_none_toggle(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]], name: str
) -> None:
    deployment = next(d for d in deployments if d["name"] == name)
    found = prefect_rest(prefect_api, "GET", f"/deployments/{deployment['id']}")
    schema = found["parameter_openapi_schema"]
    assert null_toggles(schema) == []
    # Prefect refuses a run whose parameters do not fit, before the run exists.
    assert found["enforce_parameter_schema"] is True
    assert schema["properties"]["connection"]["$ref"] == "#/definitions/ProcessMakerConnection"
    block = schema["definitions"]["ProcessMakerConnection"]
    assert block["block_type_slug"] == "processmaker-connection"
    assert block["required"] == ["url"]
    if name in ("sync", "reconcile"):
        resources = schema["properties"]["resources"]
        assert resources["items"]["enum"] == list(OFFERED_RESOURCES)
        assert "~" in schema["properties"]["destination"]["default"]


# The parameters Prefect's run form sends when nothing is touched, captured from the UI in
# Chromium: defaults as they are, an object field as its JSON editor's text, an empty block
# picker as null.
UNTOUCHED: dict[str, dict[str, Any]] = {
    "sync": {
        "full_refresh": False,
        "resources": ["requests", "tasks", "users", "processes", "groups"],
        "collection_records": [],
        "destination": "duckdb:///~/processmaker-prefect/processmaker.duckdb",
        "connection": None,
        "reconcile": False,
        "filters": {"__prefect_kind": "json", "value": "{}"},
    },
    "healthcheck": {"connection": None},
    "call-endpoint": {
        "method": "GET",
        "query": {"__prefect_kind": "json", "value": "{}"},
        "body": {"__prefect_kind": "json", "value": "{}"},
        "connection": None,
    },
    "start-requests": {"event": "node_1", "payloads": [], "connection": None},
}


def create_run(
    env: dict[str, str], deployments: list[dict[str, Any]], name: str, parameters: dict[str, Any]
) -> tuple[int, Any]:
    """POST create_flow_run as the form does (never started: no worker); (status, answer)."""
    deployment = next(d for d in deployments if d["name"] == name)
    body = {"name": "nu2-hoshina-instability", "parameters": parameters,
            "state": {"type": "SCHEDULED"}}  # fmt: skip
    try:
        run = prefect_rest(env, "POST", f"/deployments/{deployment['id']}/create_flow_run", body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    prefect_rest(env, "DELETE", f"/flow_runs/{run['id']}")  # the scheduler must not meet it
    return 201, run


@pytest.mark.parametrize("name", ["sync", "healthcheck"])
def test_a_form_nobody_touched_is_accepted(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]], name: str
) -> None:
    status, run = create_run(prefect_api, deployments, name, UNTOUCHED[name])
    assert status == 201, run
    assert run["parameters"].get("connection") is None


@pytest.mark.parametrize(("name", "required"), [("start-requests", "process_id"),
                                                 ("call-endpoint", "path")])  # fmt: skip
def test_a_form_missing_its_required_parameter_is_refused_and_no_run_exists(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]], name: str, required: str
) -> None:
    deployment = next(d for d in deployments if d["name"] == name)
    query = {"deployments": {"id": {"any_": [deployment["id"]]}}}
    before = len(prefect_rest(prefect_api, "POST", "/flow_runs/filter", query))
    status, answer = create_run(prefect_api, deployments, name, UNTOUCHED[name])
    assert status == 409
    assert f"'{required}' is a required property" in answer["detail"]
    assert len(prefect_rest(prefect_api, "POST", "/flow_runs/filter", query)) == before
    filled = {**UNTOUCHED[name], required: 3 if required == "process_id" else "/api/1.0/users/1"}
    status, run = create_run(prefect_api, deployments, name, filled)
    assert status == 201, run


@pytest.mark.parametrize(
    "connection",
    [
        "pm-prod",  # a block's name: the API, a schedule's parameters
        {"$ref": {"block_document_slug": "processmaker-connection/pm-prod"}},  # an automation
    ],
)
def test_a_connection_by_name_or_reference_is_accepted(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]], connection: Any
) -> None:
    status, run = create_run(prefect_api, deployments, "healthcheck", {"connection": connection})
    assert status == 201, run


def test_a_parameter_of_the_wrong_type_is_refused(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]]
) -> None:
    parameters = {**UNTOUCHED["sync"], "filters": {"__prefect_kind": "json",
                                                   "value": '{"requests": 5}'}}  # fmt: skip
    status, answer = create_run(prefect_api, deployments, "sync", parameters)
    assert status == 409
    assert "5 is not of type 'string'" in answer["detail"]


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
        found = prefect_rest(prefect_api, "POST", "/flow_runs/filter", query)
        assert isinstance(found, list)
        runs = [r for r in found if r["auto_scheduled"]]
        time.sleep(1)
    assert len(runs) >= 3, "the scheduler planned no runs for the sync deployment"
    starts = sorted(datetime.fromisoformat(r["expected_start_time"]) for r in runs)
    assert all(start.minute % 15 == 0 and start.second == 0 for start in starts)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts[:3]))


def test_worker_runs_the_sync_deployment_into_duckdb(
    prefect_api: dict[str, str],
    deployments: list[dict[str, Any]],
    pm_env: dict[str, str],
    installed_wheel: Path,
    tmp_path: Path,
) -> None:
    env = {**prefect_api, **pm_env}
    destination = tmp_path / "worker.duckdb"
    sync_id = next(d["id"] for d in deployments if d["name"] == "sync")
    run = prefect_rest(
        env,
        "POST",
        f"/deployments/{sync_id}/create_flow_run",
        {"parameters": {"destination": f"duckdb:///{destination}", "resources": ["users"]}},
    )
    assert isinstance(run, dict)
    # In a directory that is not the checkout, with the package from the built wheel (the
    # pull step finds it installed). The worker's bin/ need not be on PATH.
    env["PYTHONPATH"] = str(installed_wheel)
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "processmaker", "--run-once"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker.wait(timeout=240)
    finally:
        if worker.poll() is None:
            worker.kill()
    state = prefect_rest(env, "GET", f"/flow_runs/{run['id']}")
    assert state["state"]["type"] == "COMPLETED", state["state"]
    with duckdb.connect(str(destination), read_only=True) as con:
        (count,) = con.execute("select count(*) from users").fetchone() or (0,)
    assert count > 0


def test_the_connection_block_type_is_registered_with_its_form(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]]
) -> None:
    block_type = prefect_rest(prefect_api, "GET", "/block_types/slug/processmaker-connection")
    assert block_type["name"] == "ProcessMaker Connection"
    assert 'ProcessMakerConnection.load("BLOCK_NAME")' in block_type["code_example"]
    schemas = prefect_rest(
        prefect_api,
        "POST",
        "/block_schemas/filter",
        {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    fields = schemas[0]["fields"]
    assert fields["required"] == ["url"]
    assert null_toggles(fields) == []
    assert fields["properties"]["vault_token"]["format"] == "password"  # masked while typed
