"""The review-tasks and start-requests deployments on a real Prefect server, a process worker
and the sandbox.

Each test starts a deployment, waits for the run to pause with its input form, resumes it
through the REST API as the UI does (``POST /flow_runs/{id}/resume`` with ``run_input``) and
reads ProcessMaker's side back from the sandbox. A second resume and a retried run must change
nothing more; rows started from a table are started once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.prefect_server import BIN, ROOT, prefect_rest
from tests.fixtures.stack import PmStack
from tests.test_sandbox_api import api, get_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env(prefect_api: dict[str, str], pm_env: dict[str, str]) -> dict[str, str]:
    return {**prefect_api, **pm_env}


@pytest.fixture
def review_id(deployments: list[dict[str, Any]]) -> str:
    return str(next(d["id"] for d in deployments if d["name"] == "review-tasks"))


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A process worker that takes the scheduled runs once and waits for them to end."""
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "processmaker", "--run-once"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def wait_for(env: dict[str, str], run_id: str, *types: str, timeout: float = 300) -> dict[str, Any]:
    """The flow run once its state is one of ``types``."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = prefect_rest(env, "GET", f"/flow_runs/{run_id}")
        state = run.get("state") or {}
        if state.get("type") in types:
            return run
        if state.get("type") in {"FAILED", "CRASHED", "CANCELLED"} - set(types):
            raise AssertionError(f"run ended {state.get('type')}: {state.get('message')}")
        if time.monotonic() > deadline:
            raise AssertionError(f"run still {state.get('type')} after {timeout} s")
        time.sleep(1)


def resume(env: dict[str, str], run_id: str, decision: dict[str, Any]) -> dict[str, Any]:
    """What the UI's Resume button sends: the form's values as ``run_input``."""
    answer: dict[str, Any] = prefect_rest(
        env, "POST", f"/flow_runs/{run_id}/resume", {"run_input": decision}
    )
    return answer


def run_result(env: dict[str, str], run_id: str) -> Any:
    """The run's persisted result, read as a Prefect client reads it."""
    code = (
        "import json, sys, uuid\n"
        "from prefect.client.orchestration import get_client\n"
        "with get_client(sync_client=True) as c:\n"
        "    run = c.read_flow_run(uuid.UUID(sys.argv[1]))\n"
        "print(json.dumps(run.state.result()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, run_id], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def artifacts(env: dict[str, str], run_id: str) -> dict[str, str]:
    found = prefect_rest(
        env, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    )
    return {a["key"]: a["data"] for a in found}


def new_tasks(sandbox: SandboxServer, count: int) -> list[dict[str, Any]]:
    """``count`` fresh open tasks, each of its own request (process 3, assigned to user 1)."""
    tasks = []
    for n in range(count):
        started = api(sandbox, "POST", "/process_events/3", params={"event": "node_1"},
                      json={"invoice": f"INV-{n:04d}", "note": "Ünïcode — ok"})  # fmt: skip
        assert started.status_code == 201, started.text
        (task,) = get_json(sandbox, "/tasks", process_request_id=started.json()["id"])["data"]
        tasks.append(task)
    return tasks


def task_state(sandbox: SandboxServer, task_id: int) -> tuple[str, int, str]:
    task = get_json(sandbox, f"/tasks/{task_id}")
    return task["status"], task["user_id"], task["updated_at"]


def start_review(env: dict[str, str], review_id: str, pmql: str, **more: Any) -> str:
    run = prefect_rest(
        env, "POST", f"/deployments/{review_id}/create_flow_run",
        {"parameters": {"pmql": pmql, **more}},
    )  # fmt: skip
    return str(run["id"])


def test_complete_applies_once_reports_closed_and_refuses_ids_not_previewed(
    env: dict[str, str],
    review_id: str,
    sandbox: SandboxServer,
    worker: list[subprocess.Popen[bytes]],
    pm_stack: PmStack,
) -> None:
    tasks = new_tasks(sandbox, 3)
    ids = [t["id"] for t in tasks]
    run_id = start_review(
        env, review_id, f"request IN ({', '.join(str(t['process_request_id']) for t in tasks)})"
    )
    worker.append(start_worker(env))
    paused = wait_for(env, run_id, "PAUSED")

    # The form the UI renders: the schema saved under the pause's keyset.
    keyset = paused["state"]["state_details"]["run_input_keyset"]
    schema = prefect_rest(env, "GET", f"/flow_runs/{run_id}/input/{keyset['schema']}")
    props = schema["properties"]
    assert set(props) == {"action", "task_ids", "data", "user_id"}
    assert props["action"]["enum"] == ["skip", "complete", "reassign"]
    assert props["user_id"]["type"] == "integer"  # no "None" switch (HIDE_NONE)
    preview = artifacts(env, run_id)["processmaker-review-preview"]
    for task_id in ids:
        assert f"/tasks/{task_id}/edit" in preview

    # Someone closes the last task while the operator looks at the preview.
    closed = api(sandbox, "PUT", f"/tasks/{ids[2]}", json={"status": "COMPLETED", "data": {}})
    assert closed.status_code == 200
    decision = {"action": "complete", "task_ids": [*ids, 424242], "data": {"approved": True}}
    assert resume(env, run_id, decision)["status"] == "ACCEPT"
    wait_for(env, run_id, "COMPLETED")
    worker[0].wait(timeout=120)

    result = run_result(env, run_id)
    assert result["decision"] == {**decision, "user_id": None}
    outcomes = {o["task_id"]: o["outcome"] for o in result["tasks"]}
    assert outcomes == {ids[0]: "done", ids[1]: "done", ids[2]: "already closed", 424242: "refused"}
    report = artifacts(env, run_id)["processmaker-review-result"]
    assert "already closed" in report
    assert "not in the preview" in report
    completed = _events(env, "processmaker.task.completed", run_id, expected=2)
    assert sorted(e["payload"]["task_id"] for e in completed) == ids[:2]
    assert {e["payload"]["data_keys"] == ["approved"] for e in completed} == {True}
    for task in tasks[:2]:
        request = get_json(sandbox, f"/requests/{task['process_request_id']}", include="data")
        assert (request["status"], request["data"]["approved"]) == ("COMPLETED", True)
    before = [task_state(sandbox, i) for i in ids]
    logs = prefect_rest(env, "POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
    kept = json.dumps([result, artifacts(env, run_id), logs])
    for secret in pm_stack.secret_values():
        assert secret not in kept

    # A second resume is refused by Prefect: the run is not paused any more.
    second = resume(env, run_id, {"action": "reassign", "user_id": 5})
    assert (second["status"], second["details"]["reason"]) == (
        "ABORT",
        "Cannot resume a flow run that is not paused.",
    )

    # A retried run lists the tasks again: none is open, so it asks nothing and changes nothing.
    retry(env, run_id, worker)
    retried = run_result(env, run_id)
    assert (retried["listed"], retried["tasks"]) == ([], [])
    assert [task_state(sandbox, i) for i in ids] == before


def test_reassign_moves_the_chosen_tasks_and_emits_one_event_each(
    env: dict[str, str],
    review_id: str,
    sandbox: SandboxServer,
    worker: list[subprocess.Popen[bytes]],
) -> None:
    tasks = new_tasks(sandbox, 3)
    ids = [t["id"] for t in tasks]
    pmql = " OR ".join(f"request = {t['process_request_id']}" for t in tasks)
    run_id = start_review(env, review_id, pmql)
    worker.append(start_worker(env))
    wait_for(env, run_id, "PAUSED")
    answer = resume(env, run_id, {"action": "reassign", "task_ids": ids[:2], "user_id": 5})
    assert answer["status"] == "ACCEPT"
    wait_for(env, run_id, "COMPLETED")
    worker[0].wait(timeout=120)
    assert [task_state(sandbox, i)[:2] for i in ids] == [
        ("ACTIVE", 5), ("ACTIVE", 5), ("ACTIVE", tasks[2]["user_id"]),
    ]  # fmt: skip
    events = _events(env, "processmaker.task.reassigned", run_id, expected=2)
    assert sorted(e["payload"]["task_id"] for e in events) == ids[:2]
    for event in events:
        assert event["payload"]["user_id"] == 5
        assert event["payload"]["flow_run_id"] == run_id
        assert {r["prefect.resource.role"] for r in event["related"]} >= {"flow-run"}
    before = [task_state(sandbox, i) for i in ids]

    # A retried run finds the decision given under the pause's key and applies it again:
    # the tasks already have their assignee, so nothing is written and no event is sent.
    retry(env, run_id, worker)
    retried = run_result(env, run_id)
    assert retried["decision"]["action"] == "reassign"
    assert [o["outcome"] for o in retried["tasks"]] == ["already assigned"] * 2
    assert [task_state(sandbox, i) for i in ids] == before
    assert len(_events(env, "processmaker.task.reassigned", run_id, expected=3)) == 2


def test_skip_an_unknown_assignee_and_no_decision_in_time_change_nothing(
    env: dict[str, str],
    review_id: str,
    sandbox: SandboxServer,
    worker: list[subprocess.Popen[bytes]],
) -> None:
    (task,) = new_tasks(sandbox, 1)
    before = task_state(sandbox, task["id"])
    skipped = start_review(env, review_id, f"request = {task['process_request_id']}")
    timed_out = start_review(
        env, review_id, f"request = {task['process_request_id']}", decision_timeout=10
    )
    nobody = start_review(env, review_id, f"request = {task['process_request_id']}")
    worker.append(start_worker(env))
    wait_for(env, skipped, "PAUSED")
    assert resume(env, skipped, {"action": "skip"})["status"] == "ACCEPT"
    wait_for(env, skipped, "COMPLETED")
    # ProcessMaker would answer 500 per task for an unknown user: refused before any call.
    wait_for(env, nobody, "PAUSED")
    assert resume(env, nobody, {"action": "reassign", "user_id": 987654})["status"] == "ACCEPT"
    refused = wait_for(env, nobody, "FAILED")
    assert "user 987654 cannot be read" in refused["state"]["message"]
    failed = wait_for(env, timed_out, "FAILED")
    worker[0].wait(timeout=120)
    assert run_result(env, skipped)["tasks"] == []
    # Prefect fails a run whose pause timed out; the flow said first that nothing changed.
    # Which side ends it first is a race: Prefect's server ("never resumed") or the flow's own
    # pause timeout (ReviewRefused); either way the run is Failed and nothing was changed.
    message = failed["state"]["message"]
    assert "never resumed" in message or "no decision within 10 s: nothing was changed" in message
    assert "nothing changed" in artifacts(env, timed_out)["processmaker-review-result"]
    assert task_state(sandbox, task["id"]) == before


def retry(env: dict[str, str], run_id: str, worker: list[subprocess.Popen[bytes]]) -> None:
    """Retry the finished run as the UI's Retry does, and let a worker run it to the end."""
    scheduled = {"type": "SCHEDULED", "name": "AwaitingRetry"}
    prefect_rest(env, "POST", f"/flow_runs/{run_id}/set_state", {"state": scheduled, "force": True})
    worker.append(start_worker(env))
    wait_for(env, run_id, "COMPLETED")
    worker[-1].wait(timeout=120)


def _events(env: dict[str, str], name: str, run_id: str, expected: int) -> list[dict[str, Any]]:
    """The events ``name`` that name the run, once the server has stored ``expected``."""
    deadline = time.monotonic() + 60
    while True:
        page = prefect_rest(env, "POST", "/events/filter", {
            "filter": {
                "event": {"name": [name]},
                "related": {"resources_in_roles": [[f"prefect.flow-run.{run_id}", "flow-run"]]},
                "occurred": {"since": "2000-01-01T00:00:00Z"},
            },
            "limit": 50,
        })  # fmt: skip
        found: list[dict[str, Any]] = page["events"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_start_requests_from_rows_confirmed_in_the_ui_start_each_row_once(
    env: dict[str, str],
    deployments: list[dict[str, Any]],
    sandbox: SandboxServer,
    worker: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    table = tmp_path / "imported.duckdb"
    with duckdb.connect(str(table)) as con:
        con.execute(
            "CREATE TABLE imported_orders (order_ref TEXT, customer TEXT, total DECIMAL(12, 2));"
            "INSERT INTO imported_orders VALUES ('SO-2026-0001', 'Ærøskøbing Fish Co.', 1200.50),"
            " ('SO-2026-0002', 'Smith; DROP TABLE x', 0), ('SO-2026-0003', NULL, 99.99)"
        )
    starter = next(d["id"] for d in deployments if d["name"] == "start-requests")
    rows = {"destination": f"duckdb:///{table}", "key_column": "order_ref",
            "query": "SELECT order_ref, customer, total FROM imported_orders"}  # fmt: skip

    def start(confirm: bool, answer: bool | None) -> str:
        parameters = {"process_id": 3, "rows": rows, "confirm": confirm}
        path = f"/deployments/{starter}/create_flow_run"
        run = prefect_rest(env, "POST", path, {"parameters": parameters})
        worker.append(start_worker(env))
        if answer is not None:
            wait_for(env, run["id"], "PAUSED")
            assert resume(env, run["id"], {"start": answer})["status"] == "ACCEPT"
        wait_for(env, run["id"], "COMPLETED")
        worker[-1].wait(timeout=120)
        return str(run["id"])

    first = start(confirm=True, answer=True)
    assert "SO-2026-0002" in artifacts(env, first)["processmaker-start-requests-preview"]
    start(confirm=False, answer=None)  # a rerun: every row is in _started_requests
    for ref in ("SO-2026-0001", "SO-2026-0002", "SO-2026-0003"):
        held = get_json(sandbox, "/requests", pmql=f'data.order_ref = "{ref}"')["data"]
        assert len(held) == 1, ref

    # A new row, and an operator who says no: it is not started and stays to start later.
    with duckdb.connect(str(table)) as con:
        con.execute("INSERT INTO imported_orders VALUES ('SO-2026-0004', 'Late', 5)")
    start(confirm=True, answer=False)
    assert get_json(sandbox, "/requests", pmql='data.order_ref = "SO-2026-0004"')["data"] == []
    with duckdb.connect(str(table), read_only=True) as con:
        keys = {
            k for (k,) in con.execute("SELECT idempotency_key FROM _started_requests").fetchall()
        }
    assert keys == {"SO-2026-0001", "SO-2026-0002", "SO-2026-0003"}
