"""Operator-started flow: one call to any ProcessMaker API route with the managed token."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import unquote

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks import ConfigurationError, call_processmaker_endpoint

__all__ = ["call_endpoint"]

ARTIFACT_LIMIT = 20_000  # characters of the body shown; the rest is summarized


@flow(
    name="processmaker-call-endpoint",
    description="Call one ProcessMaker API route (under /api/1.0) and keep the response.",
)
def call_endpoint(
    path: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET",
    query: dict[str, Any] | None = None,
    body: Any = None,
    connection: str | None = None,
) -> Any:
    """Call ``METHOD /api/1.0{path}`` and return the JSON body (None for 204).

    Only paths under the instance's /api/1.0 are accepted: the bearer token must never be
    sent to another host. Credentials in the response (e.g. a created token) are masked.

    Args:
        path: Route under /api/1.0, e.g. /requests/42.
        method: HTTP method.
        query: Query parameters, e.g. {"pmql": "status = \"ACTIVE\""}.
        body: JSON body for POST, PUT and PATCH. Flow parameters are stored by Prefect:
            never put a credential here.
        connection: Name of a ProcessMakerConnection block; unset: the environment.

    Example:
        ```python
        call_endpoint("/requests", query={"pmql": 'status = "ACTIVE"', "per_page": 5})
        ```
    """
    _check_path(path)
    result = call_processmaker_endpoint(method, path, query, body, connection=connection)
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
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    head = f"# {method} /api/1.0{path.split('?')[0]}\n\n"
    if isinstance(result, dict) and isinstance(result.get("data"), list):
        meta = result.get("meta") or {}
        head += f"{len(result['data'])} rows on this page, {meta.get('total', '?')} in total.\n\n"
    if len(text) > ARTIFACT_LIMIT:
        head += f"Body: {len(text):,} characters; the first {ARTIFACT_LIMIT:,} are shown.\n\n"
        text = text[:ARTIFACT_LIMIT] + "\n..."
    return head + "```json\n" + text + "\n```"
