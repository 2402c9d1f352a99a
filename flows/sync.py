"""Scheduled incremental sync of ProcessMaker resources into DuckDB or PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks import (
    DEFAULT_RESOURCES,
    DEFAULT_URL,
    ConfigurationError,
    ProcessMakerAuthError,
    ProcessMakerPrefectError,
    ProcessMakerUnavailableError,
    TokenError,
    VaultError,
    check_destination_url,
    reconcile_resource,
    redact_userinfo,
    resolve_settings,
    resource_for,
    sync_resource,
)

__all__ = ["DEFAULT_RESOURCES", "SyncFailed", "sync"]

# Failures of Vault, credentials or configuration, or a ProcessMaker that is down, are not
# about one resource: stop there.
_RUN_WIDE = (
    ConfigurationError,
    VaultError,
    TokenError,
    ProcessMakerAuthError,
    ProcessMakerUnavailableError,
)


class SyncFailed(ProcessMakerPrefectError):
    """Some resources failed (after their retries); the others were synced."""


@flow(
    name="processmaker-sync",
    description="Incremental sync of ProcessMaker requests, tasks, users, processes, groups "
    "and collection records into a destination.",
    log_prints=False,
)
def sync(
    resources: list[str] | None = None,
    collections: list[int] | None = None,
    destination: str = DEFAULT_URL,
    full_refresh: bool = False,
    connection: str | None = None,
    reconcile: bool = False,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Sync each resource in turn; every page is committed with its watermark.

    A resource that fails (after its task's retries) does not stop the others: the run
    syncs them all, reports each, then fails naming the first failure.

    Args:
        resources: Any of requests, tasks, users, processes, groups; unset: all of them.
        collections: Ids of ProcessMaker collections whose records to sync too.
        destination: duckdb:///path.duckdb or postgresql://user@host/db (passwords in
            PGPASSWORD or ~/.pgpass, never in the URL: parameters are stored).
        full_refresh: Rebuild the resources from scratch, swapped in atomically at the end.
        connection: Name of a ProcessMakerConnection block; unset: the environment.
        reconcile: Instead of syncing, mark the stored rows ProcessMaker no longer lists
            (``_deleted_at``); schedule it daily beside the incremental sync.
        filters: A PMQL filter per resource, e.g. ``{"requests": "process_id = 5"}``; each
            filtered sync keeps a watermark of its own.

    Example:
        ```python
        from flows.sync import sync
        sync(resources=["requests", "tasks"], destination="duckdb:///pm.duckdb")
        ```
    """
    check_destination_url(destination)
    _refuse_credentials_in(destination)
    names = [*(resources or DEFAULT_RESOURCES), *(f"collection:{c}" for c in collections or [])]
    filters = filters or {}
    for name in names:
        # Fail fast on a typo, a refused route or a filter a route cannot take.
        resource_for(name).with_filter(filters.get(name))
    if unknown := sorted(set(filters) - set(names)):
        raise ConfigurationError(f"Filters name resources not synced: {', '.join(unknown)}")
    resolve_settings(connection)  # and on missing settings, before any task runs
    results: list[dict[str, Any]] = []
    failures: list[tuple[str, str]] = []
    for name in names:
        state = (
            reconcile_resource(name, destination, connection, return_state=True)
            if reconcile
            else sync_resource(
                name, destination, full_refresh, connection, filters.get(name), return_state=True
            )
        )
        try:
            results.append(state.result())
        except ProcessMakerPrefectError as exc:
            failures.append((name, f"{type(exc).__name__}: {exc}"))
            if isinstance(exc, _RUN_WIDE):  # every later resource would fail the same way
                break
        except Exception as exc:  # not ours, so not known to be redacted: its type only
            failures.append((name, type(exc).__name__))
    create_markdown_artifact(
        key="processmaker-sync",
        markdown=_report(results, failures, destination),
        description="Rows, pages, watermark and time per resource",
    )
    if failures:
        name, error = failures[0]
        raise SyncFailed(
            f"{len(failures)} of {len(names)} resources failed (first: {name}: {error}); "
            f"{len(results)} synced, {len(names) - len(results) - len(failures)} not tried; "
            "see the artifact"
        )
    return {"destination": destination, "resources": results}


def _refuse_credentials_in(destination: str) -> None:
    """A flow parameter is stored in Prefect's database: a password must not be in it."""
    parts = urlsplit(destination)
    if parts.password or "password=" in parts.query.lower():
        raise ConfigurationError(
            f"The destination URL {redact_userinfo(destination)!r} holds a password, and flow "
            "parameters are stored by Prefect: put it in PGPASSWORD or ~/.pgpass instead"
        )


def _report(
    results: list[dict[str, Any]], failures: list[tuple[str, str]], destination: str
) -> str:
    lines = [
        f"# ProcessMaker sync into `{destination}`",
        "",
        "| resource | rows | pages | watermark | seconds | full refresh |",
        "|---|---:|---:|---|---:|---|",
    ]
    if results and "deleted" in results[0]:  # a reconcile run
        lines[2:4] = [
            "| resource | ids listed | marked deleted | seconds |",
            "|---|---:|---:|---:|",
        ]
    for r in results:
        if "deleted" in r:
            lines.append(
                f"| {r['resource']} | {r['listed']} | {r['deleted']} | {r['seconds']:.2f} |"
            )
            continue
        lines.append(
            f"| {r['resource']} | {r['rows']} | {r['pages']} | {r['watermark'] or '-'} "
            f"| {r['seconds']:.2f} | {'yes' if r['full_refresh'] else 'no'} |"
        )
    if failures:
        lines += ["", "| failed resource | error |", "|---|---|"]
        for name, error in failures:
            cell = error.replace("|", "\\|")
            lines.append(f"| {name} | {cell} |")
    return "\n".join(lines)
