"""Scheduled incremental sync of ProcessMaker resources into DuckDB or PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Cancelled

from processmaker_prefect import (
    DEFAULT_RESOURCES,
    DEFAULT_URL,
    HIDE_NONE,
    RESOURCE_NAMES,
    ConfigurationError,
    ConnectionParameter,
    DestinationURL,
    ProcessMakerAuthError,
    ProcessMakerPrefectError,
    ProcessMakerUnavailableError,
    TokenError,
    VaultError,
    check_destination_url,
    connection_name,
    destination_lock,
    destination_lock_name,
    password_in_url,
    reconcile_resource,
    redact_userinfo,
    resolve_settings,
    resource_for,
    sync_resource,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label, parameter

__all__ = ["DEFAULT_RESOURCES", "ResourceName", "SyncFailed", "sync"]

if TYPE_CHECKING:
    ResourceName = str
else:
    # The catalogue's names as a Literal: the run form offers them as a multi-select, and the
    # list grows with the catalogue.
    ResourceName = Literal[RESOURCE_NAMES]

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


def _shown(destination: str) -> str:
    """The destination as given, without a query; masked if it holds a password."""
    if password_in_url(destination):
        return "(a destination URL holding a password, refused)"
    if urlsplit(destination).password is not None:
        return redact_userinfo(destination)
    return destination.partition("?")[0]


def _run_name() -> str:
    return f"sync {connection_label()} -> {_shown(str(parameter('destination') or DEFAULT_URL))}"


@flow(
    name="processmaker-sync",
    flow_run_name=_run_name,
    description="Incremental sync of ProcessMaker requests, tasks, users, processes, groups "
    "and collection records into a destination.",
    log_prints=False,
)
def sync(
    resources: tuple[ResourceName, ...] = DEFAULT_RESOURCES,
    collections: tuple[int, ...] = (),
    destination: DestinationURL = DEFAULT_URL,
    full_refresh: bool = False,
    connection: ConnectionParameter = None,
    reconcile: bool = False,
    filters: Annotated[dict[str, str] | None, HIDE_NONE] = None,
) -> dict[str, Any]:
    """Sync each resource in turn; every page is committed with its watermark.

    A resource that fails (after its task's retries) does not stop the others: the run
    syncs them all, reports each, then fails naming the first failure. A run that finds
    another sync of the same destination running is cancelled, on any worker.

    Args:
        resources: The resources to sync; all of them by default.
        collections: Ids of ProcessMaker collections whose records to sync too.
        destination: duckdb:///~/path.duckdb (in the worker user's home),
            duckdb:////absolute/path.duckdb or postgresql://user@host/db (passwords in
            PGPASSWORD or ~/.pgpass, never in the URL: parameters are stored).
        full_refresh: Rebuild the resources from scratch, swapped in atomically at the end.
        connection: A ProcessMaker Connection block; empty: the worker's environment.
        reconcile: Instead of syncing, mark the stored rows ProcessMaker no longer lists
            (``_deleted_at``); schedule it daily beside the incremental sync.
        filters: A PMQL filter per resource, e.g. ``{"requests": "process_id = 5"}``; each
            filtered sync keeps a watermark of its own.

    Example:
        ```python
        from processmaker_prefect.flows.sync import sync
        sync(resources=["requests", "tasks"], destination="duckdb:///~/pm.duckdb")
        ```
    """
    _refuse_credentials_in(destination)  # first: the other checks' messages name the URL
    check_destination_url(destination)
    names = [*(resources or DEFAULT_RESOURCES), *(f"collection:{c}" for c in collections)]
    filters = filters or {}
    for name in names:
        # Fail fast on a typo, a refused route or a filter a route cannot take.
        resource_for(name).with_filter(filters.get(name))
    if unknown := sorted(set(filters) - set(names)):
        raise ConfigurationError(f"Filters name resources not synced: {', '.join(unknown)}")
    block = connection_name(connection)
    resolve_settings(connection)  # and on missing settings, before any task runs
    with destination_lock(destination) as held:
        if not held:
            # Prefect makes a returned state the run's final state.
            return Cancelled(  # type: ignore[return-value]
                message=f"Another sync of {_shown(destination)} is running (it holds "
                f"the Prefect limit {destination_lock_name(destination)}); this run stops and "
                "the next one resumes from the watermark"
            )
        results, failures = _sync_all(names, destination, full_refresh, block, reconcile, filters)
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


def _sync_all(
    names: list[str],
    destination: str,
    full_refresh: bool,
    connection: str | None,
    reconcile: bool,
    filters: dict[str, str],
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
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
                get_run_logger().error("%s: stopping the sync, see the artifact", name)
                break
        except Exception as exc:  # not ours, so not known to be redacted: its type only
            failures.append((name, type(exc).__name__))
    return results, failures


def _refuse_credentials_in(destination: str) -> None:
    """A flow parameter is stored in Prefect's database: a password must not be in it.

    The parameter's type refuses it already where Prefect validates parameters; this is for
    a caller that skips validation (``validate_parameters=False``).
    """
    if where := password_in_url(destination):
        raise ConfigurationError(
            f"The destination URL holds a password in {where}: flow parameters are stored by "
            "Prefect, so put it in PGPASSWORD or ~/.pgpass instead"
        )


def _report(
    results: list[dict[str, Any]], failures: list[tuple[str, str]], destination: str
) -> str:
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    if results and "deleted" in results[0]:  # a reconcile run
        headers = ("resource", "ids listed", "marked deleted", "seconds")
        rows = [
            (str(r["resource"]), f"{r['listed']:,}", f"{r['deleted']:,}", f"{r['seconds']:.2f}")
            for r in results
        ]
        right: tuple[int, ...] = (1, 2, 3)
    else:
        headers = ("resource", "rows", "pages", "watermark", "seconds", "full refresh")
        rows = [
            (
                str(r["resource"]),
                f"{r['rows']:,}",
                f"{r['pages']:,}",
                str(r["watermark"] or "-"),
                f"{r['seconds']:.2f}",
                "yes" if r["full_refresh"] else "no",
            )
            for r in results
        ]
        right = (1, 2, 4)
    rows += [(name, *["-"] * (len(headers) - 2), "failed (below)") for name, _ in failures]
    lines = [
        f"# ProcessMaker sync into `{destination}`",
        "",
        *markdown.table(headers, rows, right=right),
        *markdown.failures("Failures", failures),
    ]
    return "\n".join(lines)
