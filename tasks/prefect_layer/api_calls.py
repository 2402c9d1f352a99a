"""Prefect tasks over the ProcessMaker API: call one route, list a route, start a request,
complete a task.

Each opens a client on the process-wide token provider (from a ProcessMakerConnection block or
PROCESSMAKER_*/VAULT_*), makes one logical call and returns plain JSON data: never a token,
never a client. NO_CACHE: a live API answer must not be served from a cache keyed on the
inputs, and a retry of a refused call must really call again. Prefect retries only our
RetriableError (429/5xx/unreachable); a POST whose outcome is unknown is never retried.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from processmaker_prefect.api import ProcessMakerClient, api_path
from processmaker_prefect.prefect_layer.blocks import resolve_settings
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.prefect_layer.task_options import CALL_TASK_OPTIONS
from processmaker_prefect.redaction import redact_secrets, redact_url

__all__ = [
    "call_processmaker_endpoint",
    "complete_processmaker_task",
    "list_processmaker_records",
    "start_processmaker_request",
]


def _open(connection: str | None) -> ProcessMakerClient:
    return open_client(*resolve_settings(connection))


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The task run's logger; the module's when called outside a run (``task.fn``)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


@task(
    name="Call ProcessMaker endpoint",
    description="One ProcessMaker REST call under /api/1.0; returns its JSON body.",
    **CALL_TASK_OPTIONS,
)
def call_processmaker_endpoint(
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    json: Any = None,
    connection: str | None = None,
) -> Any:
    """``METHOD /api/1.0{path}``: the parsed JSON body, or ``None`` for 204.

    ``connection`` names a ProcessMakerConnection block; unset, the environment is used.
    """
    with _open(connection) as client:
        # A task result may be persisted: mask credentials a response can carry (the
        # accessToken of POST /users/{id}/tokens, a password field, ...).
        return redact_secrets(client.request(method, path, params=params, json=json))


@task(
    name="List ProcessMaker records",
    description="Every row of a ProcessMaker list route, paged; capped at max_records.",
    **CALL_TASK_OPTIONS,
)
def list_processmaker_records(
    path: str,
    params: dict[str, Any] | None = None,
    max_records: int = 10_000,
    connection: str | None = None,
) -> list[dict[str, Any]]:
    """``GET /api/1.0{path}``, all pages (settings' page size and concurrency).

    Returns at most ``max_records`` rows and warns when there were more: a task result is
    held in memory, so large syncs belong in a task that streams pages to a destination.
    """
    settings, vault_settings = resolve_settings(connection)
    rows: list[dict[str, Any]] = []
    with open_client(settings, vault_settings) as client:
        pages = client.list_pages(
            path, params, per_page=settings.page_size, max_concurrency=settings.max_concurrency
        )
        for page in pages:
            rows.extend(page)
            if len(rows) > max_records:
                shown = redact_url(api_path(path))
                _logger().warning("GET %s: stopped at max_records=%d", shown, max_records)
                return redact_secrets(rows[:max_records])  # type: ignore[no-any-return]
    return redact_secrets(rows)  # type: ignore[no-any-return]


@task(
    name="Start ProcessMaker request",
    description="Trigger a process's start event; returns the new request.",
    **CALL_TASK_OPTIONS,
)
def start_processmaker_request(
    process_id: int,
    event: str,
    data: dict[str, Any] | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """``POST /api/1.0/process_events/{process_id}?event={event}``: the new request."""
    with _open(connection) as client:
        return client.start_request(process_id, event, data)


@task(
    name="Complete ProcessMaker task",
    description="Complete an active task with data; returns the closed task.",
    **CALL_TASK_OPTIONS,
)
def complete_processmaker_task(
    task_id: int, data: dict[str, Any], connection: str | None = None
) -> dict[str, Any]:
    """``PUT /api/1.0/tasks/{task_id}`` with ``{"status": "COMPLETED", "data": data}``."""
    with _open(connection) as client:
        return client.complete_task(task_id, data)
