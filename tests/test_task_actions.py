"""apply_task_action against the sandbox: one decision on one task, applied at most once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from processmaker_prefect.api import ProcessMakerClient, apply_task_action
from processmaker_prefect.errors import ProcessMakerServerError
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl
from tests.test_api_client import PatAuth, api_calls

pytestmark = pytest.mark.integration


@pytest.fixture
def client(sandbox: SandboxServer, sandbox_reset: SandboxControl) -> Iterator[ProcessMakerClient]:
    with ProcessMakerClient(
        sandbox.url, PatAuth(sandbox.config.pat), retries=1, backoff=0.01, timeout=10
    ) as pm:
        yield pm


def _open_task(client: ProcessMakerClient, data: dict[str, Any] | None = None) -> dict[str, Any]:
    request = client.start_request(3, "node_1", data or {"amount": 10})
    (task,) = client.get_page("/tasks", {"process_request_id": request["id"]})["data"]
    return dict(task)


def test_complete_closes_the_task_with_the_data(client: ProcessMakerClient) -> None:
    task = _open_task(client)
    outcome = apply_task_action(client, task["id"], "complete", data={"approved": True})
    assert (outcome.outcome, outcome.request_id) == ("done", task["process_request_id"])
    assert client.get_task(task["id"])["status"] == "CLOSED"
    request = client.get(f"/requests/{task['process_request_id']}", params={"include": "data"})
    assert request["data"] == {"amount": 10, "approved": True}


def test_a_task_closed_meanwhile_is_reported_and_not_written(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    task = _open_task(client)
    client.complete_task(task["id"], {"by": "someone else"})
    puts = api_calls(sandbox_reset, "PUT /api/1.0/tasks/{id}")
    for action in ("complete", "reassign"):
        outcome = apply_task_action(client, task["id"], action, data={}, user_id=5)  # type: ignore[arg-type]
        assert (outcome.outcome, outcome.message) == ("already closed", "status CLOSED")
    assert api_calls(sandbox_reset, "PUT /api/1.0/tasks/{id}") == puts
    assert client.get_task(task["id"])["user_id"] == task["user_id"]  # PM would have moved it


def test_reassign_moves_the_task_once(
    client: ProcessMakerClient, sandbox_reset: SandboxControl
) -> None:
    task = _open_task(client)
    first = apply_task_action(client, task["id"], "reassign", user_id=5)
    assert (first.outcome, first.previous_user_id) == ("done", task["user_id"])
    again = apply_task_action(client, task["id"], "reassign", user_id=5)
    assert (again.outcome, again.message) == ("already assigned", "to user 5")
    assert api_calls(sandbox_reset, "PUT /api/1.0/tasks/{id}") == 1
    assert client.get_task(task["id"])["user_id"] == 5


def test_an_unknown_task_is_refused(client: ProcessMakerClient) -> None:
    outcome = apply_task_action(client, 99_999_999, "complete", data={})
    assert (outcome.outcome, outcome.request_id) == ("refused", None)
    assert outcome.message.startswith("Not Found")


class AnswerLost(ProcessMakerClient):
    """A transport-level fake the sandbox cannot produce: a PUT whose answer never arrives,
    either after ProcessMaker applied it (``applied``) or before it got there."""

    applied = True

    def put(self, path: str, *, params: Any = None, json: Any = None) -> Any:
        if self.applied:
            super().put(path, params=params, json=json)
        raise ProcessMakerServerError(f"PUT /api/1.0{path} -> read timed out", status_code=None)


@pytest.mark.parametrize(("applied", "outcome"), [(True, "done"), (False, "failed")])
def test_a_completion_without_an_answer_is_read_back_before_it_is_reported(
    sandbox: SandboxServer, client: ProcessMakerClient, applied: bool, outcome: str
) -> None:
    task = _open_task(client)
    with AnswerLost(sandbox.url, PatAuth(sandbox.config.pat), retries=0) as lossy:
        lossy.applied = applied
        result = apply_task_action(lossy, task["id"], "complete", data={"ok": 1})
    assert result.outcome == outcome
    expected = "checked after no answer: now closed" if applied else "no answer, still open"
    assert result.message.startswith(expected)
    assert client.get_task(task["id"])["status"] == ("CLOSED" if applied else "ACTIVE")


def test_reassign_without_a_user_is_a_programming_error(client: ProcessMakerClient) -> None:
    with pytest.raises(ValueError, match="a reassignment needs user_id"):
        apply_task_action(client, 1, "reassign")
