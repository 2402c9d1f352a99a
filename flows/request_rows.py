"""start_requests' payloads from rows of a destination, and its preview-and-confirm pause.

A rerun skips every row whose idempotency key is in the destination's ``_started_requests``
(see :class:`processmaker_prefect.StartedRequests`), so each row starts one request however
often the flow runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, pause_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from pydantic import BaseModel, Field

from processmaker_prefect import (
    ConfigurationError,
    OutcomeUnknownError,
    ProcessMakerPrefectError,
    StartedRequests,
    open_destination,
)
from processmaker_prefect.flows import markdown

__all__ = ["RequestRows", "StartConfirmation", "confirmed", "start_from_rows"]

# One report row per payload: {"payload", "request_id", "error", "note"}.
Starter = Callable[[str, dict[str, Any]], dict[str, Any]]


class RequestRows(BaseModel):
    """Payloads from a SQL query over a destination, one request per row."""

    destination: str = Field(
        default="",
        title="Destination URL",
        description="duckdb:///path.duckdb or postgresql://user@host/db (no password: use "
        "PGPASSWORD or ~/.pgpass on the worker).",
    )
    query: str = Field(
        default="",
        title="SQL query",
        description="SELECT returning one row per request; its columns become the request "
        "data, e.g. SELECT invoice_no, amount FROM invoices_to_approve. Empty: no rows "
        "(the payloads are used).",
    )
    key_column: str = Field(
        default="id",
        title="Idempotency key column",
        description="Column whose value starts a request only once (kept in "
        "_started_requests with the request id).",
    )

    def given(self) -> bool:
        """Whether rows were asked for (a form left untouched sends the empty defaults)."""
        if not (self.destination.strip() or self.query.strip()):
            return False
        if not (self.destination.strip() and self.query.strip()):
            raise ConfigurationError("rows needs both a destination and a query")
        return True


class StartConfirmation(RunInput):
    """The operator's go-ahead for the requests in the preview."""

    start: bool = Field(
        False,
        title="Start them",
        description="Tick to start every request of the preview; unticked: none is started.",
    )


def confirmed(process_id: int, labels: list[str], timeout: int = 3600) -> bool:
    """Show what would start and pause until the operator says yes or no."""
    shown = labels[:200]
    more = ["", f"... and {len(labels) - len(shown)} more."] if len(labels) > len(shown) else []
    create_markdown_artifact(
        key="processmaker-start-requests-preview",
        markdown="\n".join(
            [
                f"# {len(labels)} requests to start for process {process_id}",
                "",
                "Resume the run and tick *Start them* to start them; leave it unticked to "
                "start none.",
                "",
                *markdown.table(("payload",), [(label,) for label in shown]),
                *more,
            ]
        ),
        description="Requests to start, waiting for the operator",
    )
    answer = pause_flow_run(
        wait_for_input=StartConfirmation, timeout=timeout, poll_interval=5, key="confirm"
    )
    return answer.start


def start_from_rows(
    process_id: int, rows: RequestRows, confirm: bool, start: Starter
) -> list[dict[str, Any]]:
    """Start one request per new row of ``rows``; report every row (skipped ones too)."""
    logger = get_run_logger()
    with open_destination(rows.destination) as destination:
        ledger = StartedRequests(destination, process_id)
        payloads = ledger.read_rows(rows.query, rows.key_column)
        known = ledger.known()
        report: list[dict[str, Any]] = []
        pending = []
        for row in payloads:
            if row.key in known:
                report.append(_known(row.key, *known[row.key]))
            else:
                pending.append(row)
        logger.info("%d rows: %d new, %d in _started_requests", len(payloads), len(pending),
                    len(payloads) - len(pending))  # fmt: skip
        if pending and confirm and not confirmed(process_id, [row.key for row in pending]):
            note = "not started: the operator did not confirm"
            return [*report, *({"payload": r.key, "request_id": None, "error": None,
                                "note": note} for r in pending)]  # fmt: skip
        for row in pending:
            if not ledger.claim(row.key):  # another run claimed it since we looked
                report.append(_known(row.key, "starting", None))
                continue
            report.append(_start_one(ledger, row.key, row.data, start))
    return report


def _start_one(
    ledger: StartedRequests, key: str, data: dict[str, Any], start: Starter
) -> dict[str, Any]:
    try:
        request = start(key, data)
    except OutcomeUnknownError as exc:
        # The claim stays: the request may exist. Starting it again could make a duplicate.
        error = f"{exc}; check ProcessMaker, then delete key {key!r} from _started_requests"
        return {"payload": key, "request_id": None, "error": error, "note": None}
    except ProcessMakerPrefectError as exc:
        ledger.release(key)  # refused: nothing was started, a later run may try again
        return {"payload": key, "request_id": None, "error": f"{type(exc).__name__}: {exc}",
                "note": None}  # fmt: skip
    ledger.record(key, int(request["id"]))
    return {"payload": key, "request_id": request["id"], "error": None, "note": None}


def _known(key: str, status: str, request_id: int | None) -> dict[str, Any]:
    if status == "started":
        note = "already started"
        error = None
    else:  # a claim without an answer: a run died mid-start, or the answer was lost
        note = None
        error = (
            f"outcome unknown from an earlier run: check ProcessMaker, then delete key "
            f"{key!r} from _started_requests to start it again"
        )
    return {"payload": key, "request_id": request_id, "error": error, "note": note}
