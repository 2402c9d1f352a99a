"""An operator's decision on one ProcessMaker task, applied so that a second try changes nothing.

ProcessMaker's ``PUT /tasks/{id}`` (``TaskController::update``) refuses a second completion
(422 "Task already closed") but reassigns a CLOSED task, and answers 500 for an unknown user.
So each action first reads the task: a closed task is reported, not acted on; a task already
with the new assignee is not reassigned again (a retried or resumed run re-applies the same
decision). A completion whose answer was lost is read back before it is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from processmaker_prefect.api.client import ProcessMakerClient
from processmaker_prefect.errors import (
    IncompleteResponseError,
    OutcomeUnknownError,
    ProcessMakerClientError,
    ProcessMakerNotFoundError,
    ProcessMakerPrefectError,
    ProcessMakerServerError,
    ProcessMakerValidationError,
)

__all__ = ["Action", "Outcome", "TaskOutcome", "apply_task_action"]

Action = Literal["complete", "reassign"]
Outcome = Literal["done", "already closed", "already assigned", "refused", "failed"]

ALREADY_CLOSED = "Task already closed"  # TaskController::update's abort(422, ...)


@dataclass(frozen=True)
class TaskOutcome:
    """What happened to one task: plain data for a report, an event and a run's result.

    Attributes:
        task_id: The ProcessMaker task (``ProcessRequestToken``) id.
        outcome: ``done``, ``already closed``, ``already assigned``, ``refused`` (by
            ProcessMaker: ``message`` is its text) or ``failed`` (no answer, still open).
        message: ProcessMaker's message or how the outcome was established; "" when done.
        request_id: The task's request, when the task could be read.
        previous_user_id: The assignee before the action, when the task could be read.
    """

    task_id: int
    outcome: Outcome
    message: str = ""
    request_id: int | None = None
    previous_user_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The outcome as a JSON-ready dict."""
        return asdict(self)


def apply_task_action(
    client: ProcessMakerClient,
    task_id: int,
    action: Action,
    *,
    data: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> TaskOutcome:
    """Complete (``PUT /api/1.0/tasks/{id}`` with ``status: COMPLETED, data``) or reassign
    (the same route with ``user_id``) one task, once.

    Args:
        client: An open client.
        task_id: The task to act on.
        action: ``complete`` or ``reassign``.
        data: The completion's data (a JSON object).
        user_id: The new assignee of a reassignment (check it exists first: PM answers 500).

    Returns:
        The outcome. Errors of ProcessMaker are outcomes too (``refused``, ``failed``), so a
        batch reports every task; only a missing ``user_id`` raises.
    """
    if action == "reassign" and user_id is None:
        raise ValueError("a reassignment needs user_id")
    try:
        task = client.get_task(task_id)
    except ProcessMakerNotFoundError:
        return TaskOutcome(task_id, "refused", "Not Found: no such task (deleted?)")
    except ProcessMakerPrefectError as exc:
        return TaskOutcome(task_id, "failed", _first_line(exc))
    known = {
        "request_id": _int_or_none(task.get("process_request_id")),
        "previous_user_id": _int_or_none(task.get("user_id")),
    }
    if task.get("status") != "ACTIVE":
        return TaskOutcome(task_id, "already closed", f"status {task.get('status')}", **known)
    if action == "reassign":
        if known["previous_user_id"] == user_id:
            return TaskOutcome(task_id, "already assigned", f"to user {user_id}", **known)
        return _put(client, task_id, known, lambda: client.reassign_task(task_id, user_id or 0))
    return _put(client, task_id, known, lambda: client.complete_task(task_id, data or {}))


def _put(client: ProcessMakerClient, task_id: int, known: dict[str, Any], call: Any) -> TaskOutcome:
    try:
        call()
    except ProcessMakerValidationError as exc:
        if ALREADY_CLOSED in str(exc):  # closed between our read and our write
            return TaskOutcome(task_id, "already closed", ALREADY_CLOSED, **known)
        return TaskOutcome(task_id, "refused", _pm_message(exc), **known)
    except ProcessMakerClientError as exc:
        return TaskOutcome(task_id, "refused", _pm_message(exc), **known)
    except (ProcessMakerServerError, OutcomeUnknownError, IncompleteResponseError) as exc:
        # No answer (a timeout, a 5xx after the retries): the write may have gone through.
        return _checked_after(client, task_id, known, exc)
    except ProcessMakerPrefectError as exc:
        return TaskOutcome(task_id, "failed", _first_line(exc), **known)
    return TaskOutcome(task_id, "done", "", **known)


def _checked_after(
    client: ProcessMakerClient, task_id: int, known: dict[str, Any], exc: Exception
) -> TaskOutcome:
    """Read the task back after a write without an answer: report what ProcessMaker holds."""
    try:
        task = client.get_task(task_id)
    except ProcessMakerPrefectError:
        unchecked = f"no answer, not checked: {_first_line(exc)}"
        return TaskOutcome(task_id, "failed", unchecked, **known)
    if task.get("status") != "ACTIVE":
        return TaskOutcome(task_id, "done", "checked after no answer: now closed", **known)
    return TaskOutcome(task_id, "failed", f"no answer, still open: {_first_line(exc)}", **known)


def _pm_message(exc: ProcessMakerPrefectError) -> str:
    """ProcessMaker's own text from our one-line message ``METHOD path -> N: text; hint``."""
    text = str(exc)
    after = text.split(": ", 1)[1] if ": " in text else text
    return after.split("; ", 1)[0] or "(no message)"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
