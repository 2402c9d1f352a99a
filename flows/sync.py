"""Scheduled incremental sync of ProcessMaker resources into DuckDB or PostgreSQL."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from tasks.destinations import check_destination_url
from tasks.sync import resource_for, sync_resource

__all__ = ["DEFAULT_RESOURCES", "sync"]

DEFAULT_RESOURCES = ["requests", "tasks", "users", "processes", "groups"]


@flow(
    name="processmaker-sync",
    description="Incremental sync of ProcessMaker requests, tasks, users, processes, groups "
    "and collection records into a destination.",
    log_prints=False,
)
def sync(
    resources: Annotated[
        list[str] | None,
        Field(
            title="Resources",
            description="Any of " + ", ".join(DEFAULT_RESOURCES) + "; unset: all.",
        ),
    ] = None,
    collections: Annotated[
        list[int] | None,
        Field(title="Collections", description="Ids of collections whose records to sync too."),
    ] = None,
    destination: Annotated[
        str,
        Field(
            title="Destination",
            description="duckdb:///path.duckdb or postgresql://user@host/db "
            "(passwords via PGPASSWORD or .pgpass, never in the URL).",
        ),
    ] = "duckdb:///processmaker.duckdb",
    full_refresh: Annotated[
        bool, Field(title="Full refresh", description="Rebuild the resources from scratch.")
    ] = False,
    connection: Annotated[
        str | None,
        Field(
            title="Connection block",
            description="A ProcessMakerConnection block's name; unset: the environment.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Sync each resource in turn; every page is committed with its watermark.

    Example:
        ```python
        from flows.sync import sync
        sync(resources=["requests", "tasks"], destination="duckdb:///pm.duckdb")
        ```
    """
    check_destination_url(destination)
    names = [*(resources or DEFAULT_RESOURCES), *(f"collection:{c}" for c in collections or [])]
    for name in names:
        resource_for(name)  # fail fast on a typo, before anything is written
    results = [sync_resource(name, destination, full_refresh, connection) for name in names]
    create_markdown_artifact(
        key="processmaker-sync",
        markdown=_report(results, destination),
        description="Rows, pages, watermark and time per resource",
    )
    return {"destination": destination, "resources": results}


def _report(results: list[dict[str, Any]], destination: str) -> str:
    lines = [
        f"# ProcessMaker sync into `{destination}`",
        "",
        "| resource | rows | pages | watermark | seconds | full refresh |",
        "|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['resource']} | {r['rows']} | {r['pages']} | {r['watermark'] or '-'} "
            f"| {r['seconds']:.2f} | {'yes' if r['full_refresh'] else 'no'} |"
        )
    return "\n".join(lines)
