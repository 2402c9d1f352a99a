"""Operator-started flow: one call to any ProcessMaker API route with the managed token."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from processmaker_prefect import (
    NONE_IS_EMPTY,
    ConfigurationError,
    ConnectionParameter,
    ProcessMakerPrefectError,
    call_processmaker_endpoint,
    connection_name,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label, parameter, run_name

__all__ = ["call_endpoint", "route"]

JSON_LIMIT = 3_000  # characters of a body shown in the summary; the rest in the body artifact
BODY_LIMIT = 2_000_000  # characters of the body artifact: Prefect keeps artifacts in its database
ROWS_SHOWN = 20  # rows of a list page shown as a table
COLUMNS_SHOWN = 8  # scalar fields per row shown
API_PREFIX = "/api/1.0"
# Columns an operator looks for first, in this order; then dates, then the other plain fields.
_FIRST = (
    "id", "name", "username", "firstname", "lastname", "case_title", "status", "email",
    "process_id", "user_id", "title",
)  # fmt: skip
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _run_name() -> str:
    path = route(str(parameter("path") or "")).split("?")[0]
    return run_name(f"{parameter('method') or 'GET'} {path} on {connection_label()}")


@flow(
    name="processmaker-call-endpoint",
    flow_run_name=_run_name,
    description="Call one ProcessMaker API route (under /api/1.0) and keep the response.",
)
def call_endpoint(
    path: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET",
    # Empty defaults satisfy the enforced schema; Prefect validates them into new objects.
    query: Annotated[dict[str, Any], NONE_IS_EMPTY] = {},  # noqa: B006
    body: Annotated[dict[str, Any], NONE_IS_EMPTY] = {},  # noqa: B006
    connection: ConnectionParameter = None,
) -> Any:
    r"""Call ``METHOD /api/1.0{path}`` and return the JSON body (None for 204).

    Only paths under the instance's /api/1.0 are accepted: the bearer token must never be
    sent to another host. Credentials in the response (e.g. a created token) are masked.
    The run keeps two artifacts: a summary (a list page as a table) and the whole body as
    JSON; a failed call leaves an artifact naming the error.

    Args:
        path: Route under /api/1.0, e.g. `/requests/42` (a path copied with its `/api/1.0`
            prefix is taken as is).
        method: HTTP method.
        query: Query parameters, e.g. `{"pmql": "status = \"ACTIVE\"", "per_page": 5}`.
        body: JSON body for POST, PUT and PATCH. Flow parameters are stored by Prefect:
            never put a credential here.
        connection: A ProcessMaker Connection block; empty: the worker's environment.

    Example:
        ```python
        call_endpoint("/requests", query={"pmql": 'status = "ACTIVE"', "per_page": 5})
        ```
    """
    path = route(path)
    _check_path(path)
    block = connection_name(connection)
    payload = body if body or method in ("POST", "PUT", "PATCH") else None
    state = call_processmaker_endpoint(
        method, path, query or None, payload, connection=block, return_state=True
    )
    shown = f"{method} {API_PREFIX}{path.split('?')[0]}"
    try:
        result = state.result()
    except ProcessMakerPrefectError as exc:
        _failure_artifact(shown, f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:  # not ours, so not known to be redacted: its type only
        _failure_artifact(shown, type(exc).__name__)
        raise
    create_markdown_artifact(
        key="processmaker-call-endpoint",
        markdown=_summary(method, path, result),
        description=f"{shown}: summary",
    )
    create_markdown_artifact(
        key="processmaker-call-endpoint-body",
        markdown=_whole_body(shown, result),
        description=f"{shown}: the whole response body",
    )
    return result


def route(path: str) -> str:
    """``path`` without a leading ``/api/1.0``, so a path copied from the API docs works."""
    stripped = path.strip()
    if stripped == API_PREFIX or stripped.startswith((API_PREFIX + "/", API_PREFIX + "?")):
        rest = stripped[len(API_PREFIX) :]
        return rest if rest.startswith("/") else "/" + rest
    return stripped


def _check_path(path: str) -> None:
    """Refuse anything but a route under /api/1.0: no scheme, no host, no ``..`` segment.

    ``//host/x`` is a scheme-relative URL and ``%2e%2e`` a ``..`` that a proxy may decode,
    so both are refused too.
    """
    route = unquote(path.split("?")[0])
    segments = route.replace("\\", "/").split("/")
    if not route.startswith("/") or route.startswith("//") or "://" in route or ".." in segments:
        raise ConfigurationError(
            f"path must be a route under /api/1.0 such as /requests/42, not {path!r}"
        )


def _failure_artifact(shown: str, error: str) -> None:
    create_markdown_artifact(
        key="processmaker-call-endpoint",
        markdown="\n".join(
            [
                f"# {markdown.escape(shown)}",
                "",
                "The call failed; nothing was returned.",
                *markdown.failures("Error", [(shown, error)]),
            ]
        ),
        description=f"{shown}: failed",
    )


def _summary(method: str, path: str, result: Any) -> str:
    """A list page as a table of its rows' plain fields; anything else as (cut) JSON."""
    lines = [f"# {method} {API_PREFIX}{markdown.escape(path.split('?')[0])}", ""]
    if isinstance(result, dict) and isinstance(result.get("data"), list):
        rows = [row for row in result["data"] if isinstance(row, dict)]
        meta = result["meta"] if isinstance(result.get("meta"), dict) else {}
        lines += [_page_line(len(rows), meta), ""]
        columns = columns_for(rows)
        if columns:
            shown = [[_cell(row.get(c)) for c in columns] for row in rows[:ROWS_SHOWN]]
            lines += markdown.table(columns, shown)
        if len(rows) > ROWS_SHOWN:
            lines += [
                "",
                f"The first {ROWS_SHOWN} rows are shown; every row and field is in the "
                "artifact processmaker-call-endpoint-body of this run.",
            ]
        return "\n".join(lines)
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    if len(text) > JSON_LIMIT:
        lines += [
            f"{len(text):,} characters of JSON; the first {JSON_LIMIT:,} are shown, all are "
            "in the artifact processmaker-call-endpoint-body of this run.",
            "",
        ]
        text = text[:JSON_LIMIT] + "\n..."
    return "\n".join([*lines, "```json", text.replace("```", "` ` `"), "```"])


def _whole_body(shown: str, result: Any) -> str:
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    note = f"{len(text):,} characters of JSON (credentials masked)."
    if len(text) > BODY_LIMIT:
        note = (
            f"{len(text):,} characters of JSON; the first {BODY_LIMIT:,} are kept: narrow the "
            "call (per_page, a PMQL filter) to see the rest."
        )
        text = text[:BODY_LIMIT] + "\n..."
    lines = [f"# {markdown.escape(shown)}: response body", "", note, ""]
    return "\n".join([*lines, "```json", text.replace("```", "` ` `"), "```"])


def _page_line(count: int, meta: dict[str, Any]) -> str:
    total, page, last = meta.get("total"), meta.get("current_page"), meta.get("last_page")
    where = f" (page {page} of {last})" if page and last else ""
    return f"{count} rows on this page{where}, {total if total is not None else '?'} in total."


def _cell(value: Any) -> object:
    """An empty cell for a missing or null value, never the word None."""
    return "" if value is None else value


def columns_for(rows: list[dict[str, Any]]) -> list[str]:
    """The plain fields (no nested objects) worth a column, at most ``COLUMNS_SHOWN``.

    Names, statuses and dates come first (what an operator reads a list for); columns that
    are null in every row shown, and uuids, come last, so they only fill spare columns.
    """
    sample = rows[:ROWS_SHOWN]
    plain: list[str] = []
    for row in sample:
        for key, value in row.items():
            if key not in plain and (value is None or isinstance(value, (str, int, float, bool))):
                plain.append(key)

    def rank(key: str) -> tuple[int, int]:
        values = [row.get(key) for row in sample]
        if all(value is None or value == "" for value in values):
            return (4, 0)
        if (
            key == "uuid"
            or key.endswith("_uuid")
            or all(isinstance(v, str) and _UUID.match(v) for v in values if v is not None)
        ):
            return (3, 0)
        if key in _FIRST:
            return (0, _FIRST.index(key))
        if key.endswith(("_at", "_date")) or key in ("date", "due"):
            return (1, 0)
        return (2, 0)

    # sorted() is stable: within a rank the rows' own field order is kept.
    return sorted(plain, key=rank)[:COLUMNS_SHOWN]
