"""Operator-started flow: one call to any ProcessMaker API route with the managed token."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from processmaker_prefect import (
    HIDE_NONE,
    ConfigurationError,
    ConnectionParameter,
    call_processmaker_endpoint,
    connection_name,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label, parameter

__all__ = ["call_endpoint"]

JSON_LIMIT = 3_000  # characters of a body shown as JSON; the rest is summarized
ROWS_SHOWN = 20  # rows of a list page shown as a table
COLUMNS_SHOWN = 8  # scalar fields per row shown


def _run_name() -> str:
    path = str(parameter("path") or "").split("?")[0]
    return f"{parameter('method') or 'GET'} {path} on {connection_label()}"


@flow(
    name="processmaker-call-endpoint",
    flow_run_name=_run_name,
    description="Call one ProcessMaker API route (under /api/1.0) and keep the response.",
)
def call_endpoint(
    path: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET",
    query: Annotated[dict[str, Any] | None, HIDE_NONE] = None,
    body: Annotated[dict[str, Any] | None, HIDE_NONE] = None,
    connection: ConnectionParameter = None,
) -> Any:
    r"""Call ``METHOD /api/1.0{path}`` and return the JSON body (None for 204).

    Only paths under the instance's /api/1.0 are accepted: the bearer token must never be
    sent to another host. Credentials in the response (e.g. a created token) are masked.

    Args:
        path: Route under /api/1.0, e.g. /requests/42.
        method: HTTP method.
        query: Query parameters, e.g. {"pmql": "status = \"ACTIVE\"", "per_page": 5}.
        body: JSON body for POST, PUT and PATCH. Flow parameters are stored by Prefect:
            never put a credential here.
        connection: A ProcessMaker Connection block; empty: the worker's environment.

    Example:
        ```python
        call_endpoint("/requests", query={"pmql": 'status = "ACTIVE"', "per_page": 5})
        ```
    """
    _check_path(path)
    block = connection_name(connection)
    result = call_processmaker_endpoint(method, path, query, body, connection=block)
    create_markdown_artifact(
        key="processmaker-call-endpoint",
        markdown=_summary(method, path, result),
        description=f"{method} /api/1.0{path.split('?')[0]}",
    )
    return result


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


def _summary(method: str, path: str, result: Any) -> str:
    """A list page as a table of its rows' plain fields; anything else as (cut) JSON."""
    lines = [f"# {method} /api/1.0{markdown.escape(path.split('?')[0])}", ""]
    if isinstance(result, dict) and isinstance(result.get("data"), list):
        rows = [row for row in result["data"] if isinstance(row, dict)]
        meta = result["meta"] if isinstance(result.get("meta"), dict) else {}
        lines += [_page_line(len(rows), meta), ""]
        columns = _columns(rows)
        if columns:
            shown = [[row.get(c, "") for c in columns] for row in rows[:ROWS_SHOWN]]
            lines += markdown.table(columns, shown)
        if len(rows) > ROWS_SHOWN:
            lines += ["", f"The first {ROWS_SHOWN} rows are shown; all are in the run's result."]
        return "\n".join(lines)
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    if len(text) > JSON_LIMIT:
        lines += [
            f"{len(text):,} characters of JSON; the first {JSON_LIMIT:,} are shown, all are "
            "in the run's result.",
            "",
        ]
        text = text[:JSON_LIMIT] + "\n..."
    return "\n".join([*lines, "```json", text.replace("```", "` ` `"), "```"])


def _page_line(count: int, meta: dict[str, Any]) -> str:
    total, page, last = meta.get("total"), meta.get("current_page"), meta.get("last_page")
    where = f" (page {page} of {last})" if page and last else ""
    return f"{count} rows on this page{where}, {total if total is not None else '?'} in total."


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """The first few fields holding plain values (no nested objects), in the rows' order."""
    columns: list[str] = []
    for row in rows[:ROWS_SHOWN]:
        for key, value in row.items():
            plain = value is None or isinstance(value, (str, int, float, bool))
            if plain and key not in columns and len(columns) < COLUMNS_SHOWN:
                columns.append(key)
    return columns
