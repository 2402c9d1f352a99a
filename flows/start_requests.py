"""Operator-started flow: start one or many ProcessMaker requests from the Prefect UI."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from processmaker_prefect import (
    HIDE_NONE,
    ConfigurationError,
    ConnectionParameter,
    ProcessMakerPrefectError,
    connection_name,
    start_processmaker_request,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.request_rows import (
    RequestRows,
    confirmed,
    start_from_rows,
)
from processmaker_prefect.flows.run_names import connection_label, parameter, run_name

__all__ = ["RequestPayload", "StartRequestsFailed", "start_requests"]


class RequestPayload(BaseModel):
    """One request to start: the data its start event receives."""

    label: str = Field(
        "", title="Label", description="Your name for this payload, shown in the report."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        title="Request data",
        description='JSON object passed to the start event, e.g. {"amount": 100}.',
    )


class StartRequestsFailed(ProcessMakerPrefectError):
    """Some payloads did not start a request; the artifact lists which and why."""


def _run_name() -> str:
    return run_name(f"start process {parameter('process_id')} on {connection_label()}")


@flow(
    name="processmaker-start-requests",
    flow_run_name=_run_name,
    description="Start requests of a ProcessMaker process, one per payload.",
)
def start_requests(
    process_id: int,
    event: str = "node_1",
    payloads: tuple[RequestPayload, ...] = (),
    connection: ConnectionParameter = None,
    rows: Annotated[RequestRows | None, HIDE_NONE] = None,
    confirm: bool = False,
) -> list[dict[str, Any]]:
    """Start one request per payload; report ids and failures; fail if any payload failed.

    A start is never retried after a timeout or a dropped connection (the request may exist
    already): such payloads are reported as "outcome unknown" to check in ProcessMaker.

    Args:
        process_id: The ProcessMaker process to start.
        event: Element id of its start event, e.g. node_1.
        payloads: One request is started per payload (its data goes to the start event);
            empty: one request with no data.
        connection: A ProcessMaker Connection block; empty: the worker's environment.
        rows: Instead of payloads: one request per row of a SQL query over a destination;
            a row whose key is in the destination's _started_requests is skipped.
        confirm: Pause with a preview of what would start until the operator confirms.

    Example:
        ```python
        start_requests(process_id=3, event="node_1",
                       payloads=[RequestPayload(data={"amount": 100})])
        ```
    """
    logger = get_run_logger()
    block = connection_name(connection)
    use_rows = rows is not None and rows.given()
    if use_rows and payloads:
        raise ConfigurationError("give payloads or rows, not both")
    if use_rows and rows is not None:
        started = start_from_rows(process_id, rows, confirm, _starter(process_id, event, block))
        return _finish(process_id, event, started)
    given = list(payloads) or [RequestPayload(label="")]
    labels = [p.label or f"payload {i}" for i, p in enumerate(given, start=1)]
    if confirm and not confirmed(process_id, labels):
        return []
    report: list[dict[str, Any]] = []
    for index, payload in enumerate(given, start=1):
        label = payload.label or f"payload {index}"
        starter = start_processmaker_request.with_options(
            retries=0, task_run_name=_task_name(process_id, label)
        )
        state = starter(process_id, event, payload.data, connection=block, return_state=True)
        if state.is_completed():
            request_id = state.result().get("id")
            logger.info("%s: started request %s", label, request_id)
            report.append({"payload": label, "request_id": request_id, "error": None})
            continue
        try:
            state.result()
        except ProcessMakerPrefectError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # anything else is reported by type only
            error = type(exc).__name__
        logger.error("%s: no request started: %s", label, error)
        report.append({"payload": label, "request_id": None, "error": error})
    return _finish(process_id, event, report)


def _starter(process_id: int, event: str, block: str | None) -> Any:
    """Start one request (no retry: a request may exist after a lost answer); raises."""

    def start(label: str, data: dict[str, Any]) -> dict[str, Any]:
        starter = start_processmaker_request.with_options(
            retries=0, task_run_name=_task_name(process_id, label)
        )
        request: dict[str, Any] = starter(process_id, event, data, connection=block)
        return request

    return start


def _finish(process_id: int, event: str, report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    create_markdown_artifact(
        key="processmaker-start-requests",
        markdown=_report(process_id, event, report),
        description="Requests started, per payload",
    )
    failed = [row for row in report if row["error"]]
    if failed:
        raise StartRequestsFailed(
            f"{len(failed)} of {len(report)} payloads did not start a request "
            f"(first: {failed[0]['payload']}: {failed[0]['error']}); see the artifact"
        )
    return report


def _task_name(process_id: int, label: str) -> Any:
    name = f"start process {process_id}: {label}"
    return lambda: name  # a callable: a label's braces are not format fields


def _report(process_id: int, event: str, rows: list[dict[str, Any]]) -> str:
    table = markdown.table(
        ("payload", "request id", "result"),
        [
            (
                r["payload"],
                r["request_id"] or "-",
                "failed (below)" if r["error"] else r.get("note") or "started",
            )
            for r in rows
        ],
        right=(1,),
    )
    failed = [(r["payload"], r["error"]) for r in rows if r["error"]]
    return "\n".join(
        [
            f"# Requests started for process {process_id}, event {markdown.escape(event)}",
            "",
            f"{sum(1 for r in rows if not r['error'] and not r.get('note'))} of {len(rows)} "
            "payloads started a request.",
            "",
            *table,
            *markdown.failures("Failures", failed),
        ]
    )
