"""Operator-started flow: start one or many ProcessMaker requests from the Prefect UI."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from tasks import ProcessMakerPrefectError, start_processmaker_request

__all__ = ["RequestPayload", "StartRequestsFailed", "start_requests"]


class RequestPayload(BaseModel):
    """One request to start: the data its start event receives."""

    label: str | None = Field(
        None, title="Label", description="Your name for this payload, shown in the report."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        title="Request data",
        description='JSON object passed to the start event, e.g. {"amount": 100}.',
    )


class StartRequestsFailed(ProcessMakerPrefectError):
    """Some payloads did not start a request; the artifact lists which and why."""


@flow(
    name="processmaker-start-requests",
    description="Start requests of a ProcessMaker process, one per payload.",
)
def start_requests(
    process_id: int,
    event: str = "node_1",
    payloads: list[RequestPayload] | None = None,
    connection: str | None = None,
) -> list[dict[str, Any]]:
    """Start one request per payload; report ids and failures; fail if any payload failed.

    A start is never retried after a timeout or a dropped connection (the request may exist
    already): such payloads are reported as "outcome unknown" to check in ProcessMaker.

    Args:
        process_id: The ProcessMaker process to start.
        event: Element id of its start event, e.g. node_1.
        payloads: One request is started per payload (its data goes to the start event);
            unset: one request with no data.
        connection: Name of a ProcessMakerConnection block; unset: the environment.

    Example:
        ```python
        start_requests(process_id=3, event="node_1",
                       payloads=[RequestPayload(data={"amount": 100})])
        ```
    """
    payloads = payloads or [RequestPayload(label=None)]
    starter = start_processmaker_request.with_options(retries=0)
    report: list[dict[str, Any]] = []
    for index, payload in enumerate(payloads, start=1):
        state = starter(process_id, event, payload.data, connection=connection, return_state=True)
        label = payload.label or f"payload {index}"
        if state.is_completed():
            request = state.result()
            report.append({"payload": label, "request_id": request.get("id"), "error": None})
        else:
            try:
                state.result()
            except ProcessMakerPrefectError as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # anything else is reported by type only
                error = type(exc).__name__
            report.append({"payload": label, "request_id": None, "error": error})
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


def _report(process_id: int, event: str, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# Requests started for process {process_id}, event `{event}`",
        "",
        "| payload | request id | error |",
        "|---|---:|---|",
    ]
    for row in rows:
        error = (row["error"] or "").replace("|", "\\|")
        lines.append(f"| {row['payload']} | {row['request_id'] or '-'} | {error or '-'} |")
    return "\n".join(lines)
