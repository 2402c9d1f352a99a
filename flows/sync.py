"""Scheduled incremental sync of ProcessMaker resources into DuckDB or PostgreSQL."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Annotated, Any
from urllib.parse import urlsplit

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.states import Cancelled
from pydantic import WithJsonSchema

from processmaker_prefect import (
    DEFAULT_RESOURCES,
    DEFAULT_URL,
    NONE_IS_EMPTY,
    OFFERED_RESOURCES,
    ConfigurationError,
    ConnectionParameter,
    DestinationURL,
    ProcessMakerAuthError,
    ProcessMakerPrefectError,
    ProcessMakerUnavailableError,
    ResolvedConnection,
    TokenError,
    VaultError,
    check_destination_url,
    default_destination,
    destination_lock,
    destination_lock_name,
    password_in_url,
    progress_listeners,
    reconcile_resource,
    redact_userinfo,
    resolve_connection,
    resource_for,
    sync_resource,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label, parameter, run_name

__all__ = ["DEFAULT_RESOURCES", "ResourceName", "SyncFailed", "sync"]

# The run form offers the catalogue's tables as a multi-select (Prefect enforces it for runs
# of a deployment); a run started in Python or by the CLI may name any list route, which
# resource_for() checks.
ResourceName = Annotated[str, WithJsonSchema({"type": "string", "enum": list(OFFERED_RESOURCES)})]

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
    verb = "reconcile" if parameter("reconcile") else "sync"
    destination = _shown(str(parameter("destination") or DEFAULT_URL))
    return run_name(f"{verb} {connection_label()} -> {destination}")


@flow(
    name="processmaker-sync",
    flow_run_name=_run_name,
    description="Incremental sync of ProcessMaker requests, tasks, users, processes, groups "
    "and collection records into a destination.",
    log_prints=False,
)
def sync(
    resources: tuple[ResourceName, ...] = DEFAULT_RESOURCES,
    collection_records: tuple[int, ...] = (),
    destination: DestinationURL = DEFAULT_URL,
    full_refresh: bool = False,
    connection: ConnectionParameter = None,
    reconcile: bool = False,
    # Prefect validates parameters into new objects: the shared {} is never mutated.
    filters: Annotated[dict[str, str], NONE_IS_EMPTY] = {},  # noqa: B006
) -> dict[str, Any]:
    """Sync the resources side by side (``PROCESSMAKER_RESOURCE_CONCURRENCY``, 5); every page
    is committed with its watermark.

    A resource that fails (after its task's retries) does not stop the others: the run
    syncs them all, reports each, then fails naming the first failure. A run that finds
    another sync of the same destination running is cancelled, on any worker.

    Args:
        resources: The tables to sync. Left as is: requests, tasks, users, processes and
            groups (the default). `collections` is the list of collections itself; their
            records are chosen by id in `collection_records`.
        collection_records: Ids of ProcessMaker collections whose records to sync too, each
            into its own table `collection_<id>_records`, e.g. `[3, 4]`.
        destination: duckdb:///~/path.duckdb (in the worker user's home),
            duckdb:////absolute/path.duckdb or postgresql://user@host/db (passwords in
            PGPASSWORD or ~/.pgpass, never in the URL: parameters are stored); add
            ``?schema=name`` to keep an instance's tables apart from another's. Left at the
            default: a DuckDB file per instance, named from its host.
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
    names = [*(resources or DEFAULT_RESOURCES), *(f"collection:{c}" for c in collection_records)]
    filters = filters or {}
    for name in names:
        # Fail fast on a typo, a refused route or a filter a route cannot take.
        resource_for(name).with_filter(filters.get(name))
    if unknown := sorted(set(filters) - set(names)):
        raise ConfigurationError(f"Filters name resources not synced: {', '.join(unknown)}")
    # Once per run, and before any task runs (a missing setting fails here): every task gets
    # the resolved settings instead of a block name it would load again.
    resolved = resolve_connection(connection)
    settings = resolved.settings
    destination = default_destination(settings.url, destination)
    with ExitStack() as locks:
        if urlsplit(destination).scheme.lower() == "duckdb":
            # One writer process per DuckDB file: one lock for the file (in this process the
            # resources' readers feed one writer, see destinations.duckdb).
            mine = names if locks.enter_context(destination_lock(destination)) else []
        else:  # PostgreSQL: a lock per resource
            mine = [n for n in names if locks.enter_context(destination_lock(destination, n))]
        if not mine:
            # Prefect makes a returned state the run's final state.
            return Cancelled(  # type: ignore[return-value]
                message=f"Another sync of {_shown(destination)} is running (it holds "
                f"the Prefect limit {destination_lock_name(destination, names[0])}); this run "
                "stops and the next one resumes from the watermark"
            )
        if busy := [n for n in names if n not in mine]:
            get_run_logger().warning(
                "Another sync of %s is running %s: this run leaves them to it",
                _shown(destination), ", ".join(busy),
            )  # fmt: skip
        results, failures = _sync_all(
            mine, destination, full_refresh, resolved, reconcile, filters,
            settings.resource_concurrency,
        )  # fmt: skip
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
    connection: ResolvedConnection,
    reconcile: bool,
    filters: dict[str, str],
    parallel: int = 1,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Run each resource's task, up to ``parallel`` at once; results in ``names`` order.

    Side by side because a resource's time is mostly waiting for ProcessMaker, and what is
    not (its task's start, its tables, its watermark) is per resource: five small resources
    one after another pay that five times. The first resource runs alone until it has stored
    a page or ended: Vault, the credentials and ProcessMaker are then known to answer, and a
    run-wide failure (a refused credential, ProcessMaker down) stops the run there, with one
    refused grant and the breaker's calls only, the others not tried. After that, a run-wide
    failure stops new tasks from starting; those running finish and are reported.
    """

    def submit(name: str) -> PrefectFuture[dict[str, Any]]:
        if reconcile:
            return reconcile_resource.submit(name, destination, connection)
        return sync_resource.submit(name, destination, full_refresh, connection, filters.get(name))

    done: dict[str, dict[str, Any] | str] = {}
    waiting = list(reversed(names))
    flying: dict[PrefectFuture[dict[str, Any]], str] = {}
    stopped = False

    def settle(future: PrefectFuture[dict[str, Any]]) -> None:
        nonlocal stopped
        name = flying.pop(future)
        try:
            done[name] = future.result()
        except ProcessMakerPrefectError as exc:
            done[name] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, _RUN_WIDE) and not stopped:  # later ones would fail alike
                get_run_logger().error("%s: stopping the sync, see the artifact", name)
                stopped = True
        except Exception as exc:  # not ours, so not known to be redacted: its type only
            done[name] = type(exc).__name__

    if parallel > 1 and len(waiting) > 1:
        first = waiting.pop()
        flying[lead := submit(first)] = first
        if _head_start(lead):
            settle(lead)
    while flying or (waiting and not stopped):
        while waiting and not stopped and len(flying) < parallel:
            name = waiting.pop()
            flying[submit(name)] = name
        if flying:
            settle(next(as_completed(list(flying))))
    results = [r for n in names if isinstance(r := done.get(n), dict)]
    failures = [(n, r) for n in names if isinstance(r := done.get(n), str)]
    return results, failures


def _head_start(lead: PrefectFuture[dict[str, Any]]) -> bool:
    """Wait until the task ``lead`` has stored a page (``progress_listeners``: its thread is
    in this process) or has ended; whether it ended."""
    ready, ended = threading.Event(), threading.Event()

    def stored(resource: str, rows: int) -> None:
        ready.set()

    def finished(future: PrefectFuture[dict[str, Any]]) -> None:
        ended.set()
        ready.set()

    progress_listeners.append(stored)
    try:
        lead.add_done_callback(finished)
        ready.wait()
    finally:
        progress_listeners.remove(stored)
    return ended.is_set()


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
        headers = ("resource", "rows", "pages", "watermark", "seconds", "full refresh", "rejected")
        rows = [
            (
                str(r["resource"]),
                f"{r['rows']:,}",
                f"{r['pages']:,}",
                str(r["watermark"] or "none yet"),
                f"{r['seconds']:.2f}",
                "yes" if r["full_refresh"] else "no",
                f"{r.get('rejected', 0):,}",
            )
            for r in results
        ]
        right = (1, 2, 4, 6)
    rows += [(name, *["-"] * (len(headers) - 2), "failed (below)") for name, _ in failures]
    rejected = sum(int(r.get("rejected", 0)) for r in results)
    in_raw = sum(int(r.get("keys_in_raw", 0)) for r in results)
    unchanged = [r for r in results if "deleted" not in r and not r["rows"] and r["watermark"]]
    notes = (
        ["", "0 rows: nothing changed since the stored watermark; the stored rows are current."]
        if unchanged
        else []
    )
    lines = [
        f"# ProcessMaker sync into `{destination}`",
        "",
        *markdown.table(headers, rows, right=right),
        *notes,
        *(
            [
                "",
                f"**{rejected:,} records could not be stored**: see the table `_rejected` "
                "(reason and record); each is stored when it next changes in ProcessMaker.",
            ]
            if rejected
            else []
        ),
        *(
            [
                "",
                f"**{in_raw:,} request variable keys have no column** (the per-table cap "
                "PROCESSMAKER_MAX_VARIABLE_COLUMNS was reached): their values are in "
                "`requests.raw`.",
            ]
            if in_raw
            else []
        ),
        *markdown.failures("Failures", failures),
    ]
    return "\n".join(lines)
