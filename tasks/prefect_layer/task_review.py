"""Prefect tasks of the task review: list the open tasks to decide on, apply one decision.

Thin like :mod:`api_calls`: each opens a client, calls :mod:`processmaker_prefect.api` and
returns plain data. Applying is never retried by Prefect (``retries=0``): the outcome of a
write without an answer is read back by :func:`~processmaker_prefect.api.task_actions.
apply_task_action` instead. An applied action is one event, naming the operator's run.
"""

from __future__ import annotations

from typing import Any

from prefect import runtime, task
from prefect.cache_policies import NO_CACHE

from processmaker_prefect.api.task_actions import Action, apply_task_action
from processmaker_prefect.events import emit, instance_resource
from processmaker_prefect.prefect_layer.blocks import resolve_settings
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.prefect_layer.task_options import CALL_TASK_OPTIONS
from processmaker_prefect.redaction import redact_secrets

__all__ = [
    "TASK_EVENTS",
    "apply_processmaker_task_action",
    "list_open_processmaker_tasks",
    "open_tasks_pmql",
]

TASK_EVENTS: dict[str, str] = {
    "complete": "processmaker.task.completed",
    "reassign": "processmaker.task.reassigned",
}


def open_tasks_pmql(pmql: str) -> str:
    """``pmql`` narrowed to open tasks: ``status = "ACTIVE" AND (pmql)``.

    The operator's filter is parenthesised, so an ``OR`` in it cannot widen the list to
    closed tasks.
    """
    pmql = pmql.strip()
    return 'status = "ACTIVE"' + (f" AND ({pmql})" if pmql else "")


def _preview_row(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    request = row.get("process_request") or {}
    process = row.get("process") or {}
    user = row.get("user") or {}
    return {
        "id": row["id"],
        "name": row.get("element_name") or "",
        "request_id": row.get("process_request_id"),
        "request": request.get("case_title") or request.get("name") or "",
        "process_id": row.get("process_id"),
        "process": process.get("name") or "",
        "user_id": row.get("user_id"),
        "assignee": user.get("fullname") or user.get("username") or "",
        "due_at": row.get("due_at"),
        "url": f"{base_url.rstrip('/')}/tasks/{row['id']}/edit",  # PM's task page
    }


@task(
    name="List open ProcessMaker tasks",
    description="The open tasks a PMQL filter selects, as preview rows (at most `limit`).",
    **CALL_TASK_OPTIONS,
)
def list_open_processmaker_tasks(
    pmql: str, limit: int = 200, connection: str | None = None
) -> list[dict[str, Any]]:
    """``GET /api/1.0/tasks?pmql=status = "ACTIVE" AND (<pmql>)``, by id, at most ``limit``.

    Returns:
        Rows of ``id``, ``name``, ``request_id``, ``request``, ``process_id``, ``process``,
        ``user_id``, ``assignee``, ``due_at`` and ``url`` (the task's page in ProcessMaker).
    """
    settings, vault_settings = resolve_settings(connection)
    params = {"pmql": open_tasks_pmql(pmql), "order_by": "id", "order_direction": "asc"}
    rows: list[dict[str, Any]] = []
    with open_client(settings, vault_settings) as client:
        for page in client.list_pages("/tasks", params, per_page=min(limit, settings.page_size)):
            rows.extend(_preview_row(row, settings.url) for row in page)
            if len(rows) >= limit:
                break
    return redact_secrets(rows[:limit])  # type: ignore[no-any-return]


@task(
    name="Apply decision to ProcessMaker task",
    description="Complete or reassign one task, once; returns its outcome.",
    cache_policy=NO_CACHE,
    retries=0,
)
def apply_processmaker_task_action(
    task_id: int,
    action: Action,
    data: dict[str, Any] | None = None,
    user_id: int | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """``PUT /api/1.0/tasks/{task_id}`` (completion with ``data``, or ``user_id``), after a
    ``GET`` of the task; one ``processmaker.task.completed``/``.reassigned`` event when done.

    Returns:
        ``task_id``, ``outcome`` (done, already closed, already assigned, refused, failed),
        ``message``, ``request_id``, ``previous_user_id``.
    """
    settings, vault_settings = resolve_settings(connection)
    with open_client(settings, vault_settings) as client:
        outcome = apply_task_action(client, task_id, action, data=data, user_id=user_id)
    if outcome.outcome == "done":
        _emit_applied(settings.url, action, outcome.as_dict(), user_id, data)
    return outcome.as_dict()


def _emit_applied(
    url: str,
    action: Action,
    outcome: dict[str, Any],
    user_id: int | None,
    data: dict[str, Any] | None,
) -> None:
    run_id, run_name = str(runtime.flow_run.id or ""), str(runtime.flow_run.name or "")
    payload: dict[str, Any] = {
        "task_id": outcome["task_id"],
        "request_id": outcome["request_id"],
        "action": action,
        "previous_user_id": outcome["previous_user_id"],
        "flow_run_id": run_id,
        "flow_run_name": run_name,
    }
    if action == "reassign":
        payload["user_id"] = user_id
    else:  # the names the completion set, not their values: events are broadcast widely
        payload["data_keys"] = sorted(data or {})
    related = []
    if run_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": run_name,
            }
        )
    emit(
        TASK_EVENTS[action],
        instance_resource(url, **{"processmaker.task.id": str(outcome["task_id"])}),
        related=related,
        payload=payload,
    )
