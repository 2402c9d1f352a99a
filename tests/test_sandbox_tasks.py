"""The sandbox's ``PUT /api/1.0/tasks/{id}`` and task listing, as ProcessMaker's TaskController.

Source of truth: ProcessMaker/processmaker ``ProcessMaker/Http/Controllers/Api/TaskController.php``
(``update``), ``ProcessMaker/Models/ProcessRequestToken.php`` (``reassign``,
``persistUserData``) and ``ProcessMaker/Exception/Handler.php`` (how ``abort()`` renders).
"""

from __future__ import annotations

from typing import Any

import pytest

from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl
from tests.test_sandbox_api import api, get_json

pytestmark = pytest.mark.integration


def _new_task(sandbox: SandboxServer, data: dict[str, Any] | None = None) -> dict[str, Any]:
    started = api(sandbox, "POST", "/process_events/3", params={"event": "node_1"}, json=data or {})
    assert started.status_code == 201, started.text
    tasks = get_json(sandbox, "/tasks", process_request_id=started.json()["id"])["data"]
    assert len(tasks) == 1
    task: dict[str, Any] = tasks[0]
    return task


def test_pmql_lists_active_tasks_of_one_assignee(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    body = get_json(sandbox, "/tasks", pmql='status = "ACTIVE" AND user_id = 6', per_page=500)
    assert body["data"], "the seed has active tasks of user 6"
    assert {(t["status"], t["user_id"]) for t in body["data"]} == {("ACTIVE", 6)}
    assert body["meta"]["total"] == len(body["data"])


def test_reassign_moves_the_task_and_touches_its_request(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    task = _new_task(sandbox, {"amount": 12})
    moved = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"user_id": 5})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["user_id"], moved.json()["status"]) == (5, "ACTIVE")
    assert moved.json()["user"]["id"] == 5
    request = get_json(sandbox, f"/requests/{task['process_request_id']}", include="data")
    # persistUserData wrote _user into the data; PM's API output hides "_" keys.
    assert request["data"] == {"amount": 12}
    assert request["updated_at"] >= task["updated_at"]


def test_reassign_by_a_string_id_as_a_form_sends_it(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    task = _new_task(sandbox)
    moved = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"user_id": "4"})
    assert (moved.status_code, moved.json()["user_id"]) == (200, 4)


def test_reassign_to_an_unknown_user_is_a_500(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    # persistUserData() calls attributesToArray() on User::find(...) = null: an Error, a 500.
    task = _new_task(sandbox)
    response = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"user_id": 987654})
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})
    assert get_json(sandbox, f"/tasks/{task['id']}")["user_id"] == task["user_id"]


def test_a_closed_task_is_reassigned_too(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    # update() checks CLOSED only for a completion: clients must look before they reassign.
    task = _new_task(sandbox)
    done = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"status": "COMPLETED", "data": {}})
    assert done.status_code == 200
    moved = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"user_id": 6})
    assert (moved.status_code, moved.json()["status"], moved.json()["user_id"]) == (
        200,
        "CLOSED",
        6,
    )


def test_completing_a_closed_task_is_abort_422_without_errors(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    task = _new_task(sandbox)
    body = {"status": "COMPLETED", "data": {"ok": True}}
    assert api(sandbox, "PUT", f"/tasks/{task['id']}", json=body).status_code == 200
    again = api(sandbox, "PUT", f"/tasks/{task['id']}", json=body)
    assert (again.status_code, again.json()) == (422, {"message": "Task already closed"})


def test_completion_without_data_is_a_500_and_changes_nothing(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    # $data['data'] on a body without "data": PHP's undefined index, rendered as a 500.
    task = _new_task(sandbox)
    response = api(sandbox, "PUT", f"/tasks/{task['id']}", json={"status": "COMPLETED"})
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})
    assert get_json(sandbox, f"/tasks/{task['id']}")["status"] == "ACTIVE"


@pytest.mark.parametrize("body", [{}, {"user_id": None}, {"user_id": 0}, {"user_id": ""}])
def test_a_body_that_neither_completes_nor_reassigns_is_bare_422(
    sandbox: SandboxServer, sandbox_reset: SandboxControl, body: dict[str, Any]
) -> None:
    response = api(sandbox, "PUT", "/tasks/2", json=body)
    assert (response.status_code, response.json()) == (422, {"message": ""})
