"""The review's Prefect tasks, called as plain functions (``task.fn``) against the sandbox."""

from __future__ import annotations

import pytest

from processmaker_prefect.prefect_layer.task_review import (
    apply_processmaker_task_action,
    list_open_processmaker_tasks,
    open_tasks_pmql,
)
from tests.fixtures.stack import PmStack
from tests.test_sandbox_api import api, get_json

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("pmql", "sent"),
    [
        ("", 'status = "ACTIVE"'),
        ("  user_id = 6 ", 'status = "ACTIVE" AND (user_id = 6)'),
        # Unwrapped, the OR would bring in closed tasks of user 7.
        ("user_id = 6 OR user_id = 7", 'status = "ACTIVE" AND (user_id = 6 OR user_id = 7)'),
    ],
)
def test_only_open_tasks_are_asked_for(pmql: str, sent: str) -> None:
    assert open_tasks_pmql(pmql) == sent


def test_the_preview_lists_open_tasks_with_their_link_up_to_the_limit(pm_stack: PmStack) -> None:
    rows = list_open_processmaker_tasks.fn("user_id = 6 OR user_id = 7", limit=7)
    assert len(rows) == 7
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for row in rows:
        task = get_json(pm_stack.sandbox, f"/tasks/{row['id']}")
        assert (task["status"], task["user_id"] in (6, 7)) == ("ACTIVE", True)
        assert row["url"] == f"{pm_stack.sandbox.url}/tasks/{row['id']}/edit"
        assert row["process"]
        assert row["assignee"]


def test_applying_returns_plain_data_and_a_second_time_changes_nothing(
    pm_stack: PmStack,
) -> None:
    started = api(pm_stack.sandbox, "POST", "/process_events/3", params={"event": "node_1"},
                  json={"amount": 3})  # fmt: skip
    (task,) = get_json(pm_stack.sandbox, "/tasks", process_request_id=started.json()["id"])["data"]
    first = apply_processmaker_task_action.fn(task["id"], "complete", {"approved": True})
    assert first == {"task_id": task["id"], "outcome": "done", "message": "",
                     "request_id": started.json()["id"], "previous_user_id": 1}  # fmt: skip
    again = apply_processmaker_task_action.fn(task["id"], "complete", {"approved": True})
    assert (again["outcome"], again["message"]) == ("already closed", "status CLOSED")
