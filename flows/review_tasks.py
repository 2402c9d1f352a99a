"""Operator flow: list open ProcessMaker tasks, pause for a decision in the UI, apply it once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger, pause_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from pydantic import Field

from processmaker_prefect import (
    HIDE_NONE,
    ConnectionParameter,
    ProcessMakerPrefectError,
    apply_processmaker_task_action,
    call_processmaker_endpoint,
    connection_name,
    list_open_processmaker_tasks,
    resolve_settings,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label

__all__ = ["DECISION_KEY", "ReviewDecision", "ReviewRefused", "review_tasks"]

# The pause's key: a retried run finds the decision already given under it and applies that
# one again (which changes nothing more: see processmaker_prefect.api.task_actions).
DECISION_KEY = "decision"
POLL_SECONDS = 5  # how soon a resume from the UI is noticed


class ReviewDecision(RunInput):
    """The operator's decision on the listed tasks (the form Prefect's UI shows on Resume)."""

    action: Literal["skip", "complete", "reassign"] = Field(
        "skip",
        title="Action",
        description="complete: close the tasks with Data; reassign: give them to User id; "
        "skip: change nothing.",
    )
    task_ids: list[int] = Field(
        default_factory=list,
        title="Task ids",
        description="Ids from the preview to act on; empty: every listed task.",
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        title="Data (completion)",
        description='JSON object submitted with a completion, e.g. {"approved": true}.',
    )
    user_id: Annotated[int | None, HIDE_NONE] = Field(
        None, ge=1, title="User id (reassignment)", description="The new assignee's user id."
    )


class ReviewRefused(ProcessMakerPrefectError):
    """The decision cannot be applied as given; nothing was changed."""


def _run_name() -> str:
    return f"review tasks on {connection_label()}"


@flow(
    name="processmaker-review-tasks",
    flow_run_name=_run_name,
    description="List open tasks, pause for the operator's decision, complete or reassign them.",
    persist_result=True,
)
def review_tasks(
    pmql: str = "",
    limit: Annotated[int, Field(ge=1, le=1000)] = 200,
    decision_timeout: Annotated[int, Field(ge=10, le=7 * 86400)] = 3600,
    connection: ConnectionParameter = None,
) -> dict[str, Any]:
    """Preview the open tasks ``pmql`` selects, wait for a decision, apply it, report.

    The run pauses with a form (:class:`ReviewDecision`). Without an answer within
    ``decision_timeout`` seconds nothing is changed and the run fails (Prefect's rule for a
    pause that timed out). Only tasks of the preview are acted on;
    a task closed meanwhile is reported, not failed; a retried run re-applies the same
    decision, which changes nothing more.

    Args:
        pmql: PMQL filter on tasks, e.g. user_id = 17 AND due < "2026-01-01"; open tasks only.
        limit: How many tasks at most.
        decision_timeout: Seconds to wait for the decision; then nothing is changed.
        connection: A ProcessMaker Connection block; empty: the worker's environment.

    Returns:
        ``listed`` (task ids), ``decision`` (as given, or None) and ``tasks`` (per task:
        ``task_id``, ``outcome``, ``message``, ``request_id``, ``previous_user_id``).

    Example:
        ```python
        review_tasks(pmql="user_id = 17", limit=50, connection="pm-prod")
        ```
    """
    logger = get_run_logger()
    block = connection_name(connection)
    base_url = resolve_settings(block)[0].url
    rows = list_open_processmaker_tasks(pmql, limit, connection=block)
    listed = [int(row["id"]) for row in rows]
    create_markdown_artifact(
        key="processmaker-review-preview",
        markdown=_preview(pmql, limit, rows, base_url),
        description="Open tasks to decide on",
    )
    result: dict[str, Any] = {"pmql": pmql, "listed": listed, "decision": None, "tasks": []}
    if not rows:
        logger.info("No open task matches; nothing to decide")
        return result
    try:
        decision = pause_flow_run(
            wait_for_input=ReviewDecision,
            timeout=decision_timeout,
            poll_interval=POLL_SECONDS,
            key=DECISION_KEY,
        )
    except FlowPauseTimeout:
        # Prefect fails a run whose pause timed out whatever it proposes next; say why first.
        _result_artifact(None, [], f"No decision within {decision_timeout} s: nothing changed.")
        raise ReviewRefused(
            f"no decision within {decision_timeout} s: nothing was changed; start a new review"
        ) from None
    result["decision"] = decision.model_dump(include={"action", "task_ids", "data", "user_id"})
    try:
        outcomes = _apply(decision, listed, block)
    except ReviewRefused as exc:
        _result_artifact(decision, [], f"Refused: {exc}")
        raise
    result["tasks"] = outcomes
    _result_artifact(decision, outcomes, _summary(decision, outcomes))
    return result


def _apply(decision: ReviewDecision, listed: list[int], block: str | None) -> list[dict[str, Any]]:
    """Apply ``decision`` to the previewed tasks it names, concurrently; one outcome each."""
    if decision.action == "skip":
        return []
    chosen = list(dict.fromkeys(decision.task_ids)) or listed
    previewed = set(listed)
    refused = [
        {"task_id": i, "outcome": "refused", "message": "not in the preview: list it first",
         "request_id": None, "previous_user_id": None}
        for i in chosen if i not in previewed
    ]  # fmt: skip
    if decision.action == "reassign":
        _check_assignee(decision.user_id, block)
    futures = [
        apply_processmaker_task_action.with_options(
            task_run_name=f"{decision.action} task {task_id}"
        ).submit(task_id, decision.action, decision.data, decision.user_id, connection=block)
        for task_id in chosen
        if task_id in previewed
    ]
    return [*(future.result() for future in futures), *refused]


def _check_assignee(user_id: int | None, block: str | None) -> None:
    """Refuse a reassignment to no one, or to a user ProcessMaker does not know (it would
    answer 500 for each task: ``TaskController::update``)."""
    if user_id is None:
        raise ReviewRefused("reassign needs a User id: resume again with one; nothing changed")
    reader = call_processmaker_endpoint.with_options(retries=0, task_run_name="check assignee")
    try:
        found = reader("GET", f"/users/{user_id}", connection=block)
    except ProcessMakerPrefectError as exc:
        raise ReviewRefused(
            f"user {user_id} cannot be read ({exc}); nothing changed: use an existing user id"
        ) from None
    if not isinstance(found, dict) or found.get("id") != user_id:
        raise ReviewRefused(f"user {user_id} not found; nothing changed: use an existing user id")


def _summary(decision: ReviewDecision, outcomes: list[dict[str, Any]]) -> str:
    if decision.action == "skip":
        return "Skipped: nothing changed."
    done = sum(1 for o in outcomes if o["outcome"] == "done")
    return f"{decision.action}: {done} of {len(outcomes)} tasks done."


def _preview(pmql: str, limit: int, rows: list[dict[str, Any]], base_url: str) -> str:
    head = ("task", "name", "request", "process", "assignee", "due", "open")
    lines = [
        "| " + " | ".join(head) + " |",
        "|---:|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row["id"], row["name"], row["request"] or f"#{row['request_id']}", row["process"],
            row["assignee"] or row["user_id"] or "-", _day(row["due_at"]),
        ]  # fmt: skip
        link = f"[task {row['id']}](<{row['url']}>)"
        lines.append("| " + " | ".join(markdown.shorten(c) for c in cells) + f" | {link} |")
    more = " (the limit: there may be more)" if len(rows) >= limit else ""
    return "\n".join(
        [
            "# Open ProcessMaker tasks to decide on",
            "",
            f"Filter: {markdown.shorten(pmql or '(none)')} on {markdown.escape(base_url)}: "
            f"{len(rows)} open tasks{more}.",
            "",
            "Resume the run to decide: complete them (with Data), reassign them (to a User "
            "id) or skip. Task ids: empty acts on every task listed here.",
            "",
            *lines,
        ]
    )


def _day(stamp: str | None) -> str:
    """``2026-01-15T08:07:34+00:00`` as ``2026-01-15 08:07`` (UTC, as ProcessMaker sends it)."""
    return stamp[:16].replace("T", " ") if stamp else "-"


def _result_artifact(
    decision: ReviewDecision | None, outcomes: list[dict[str, Any]], summary: str
) -> None:
    lines = ["# Decision applied", "", markdown.escape(summary), ""]
    if decision is not None and decision.action != "skip":
        target = f" to user {decision.user_id}" if decision.action == "reassign" else ""
        keys = ", ".join(sorted(decision.data)) or "none"
        data = f" with data keys {keys}" if decision.action == "complete" else ""
        lines += [f"Action: **{decision.action}** {markdown.escape(target + data)}.", ""]
    if outcomes:
        lines += markdown.table(
            ("task", "request", "outcome", "ProcessMaker says"),
            [
                (o["task_id"], o["request_id"] or "-", o["outcome"], o["message"] or "-")
                for o in outcomes
            ],
            right=(0, 1),
        )
    create_markdown_artifact(
        key="processmaker-review-result",
        markdown="\n".join(lines),
        description="Outcome per task of the operator's decision",
    )
