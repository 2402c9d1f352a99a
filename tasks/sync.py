"""Incremental sync of one ProcessMaker resource into a destination, resumable at any point.

Each run reads the rows changed since the resource's watermark and no later than a few
seconds ago (see ``tasks._sync_readers``). Every page is upserted together with the
watermark that covers it, in one destination transaction, so a crash loses nothing and a
rerun resumes after the last committed page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks._sync_readers import IdScanReader, KeysetReader, Reader, RecentFirstReader
from tasks.blocks import resolve_settings
from tasks.destinations import Destination, Watermark, open_destination
from tasks.errors import ConfigurationError, retry_on_retriable
from tasks.processmaker import ProcessMakerClient, open_client

__all__ = [
    "RESOURCES",
    "Resource",
    "ResourceSync",
    "SyncResult",
    "progress_listeners",
    "resource_for",
    "sync_resource",
]

# Called with (resource, rows stored so far) after each page: `pm-prefect sync` draws its
# progress from here when the flow runs in its process.
progress_listeners: list[Callable[[str, int], None]] = []


@dataclass(frozen=True)
class Resource:
    """A ProcessMaker list route and how to page it by time.

    Attributes:
        name: Destination table name, e.g. ``requests``.
        path: List route under /api/1.0.
        params: Fixed query parameters (e.g. ``include=data``).
        pmql_field: PMQL name of the update time (``modified`` for requests and tasks), or
            None for routes that take no PMQL (read newest first instead).
        full_scan: The rows carry no update time at all (collection records): read the
            whole list by id on every run.
    """

    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    pmql_field: str | None = "modified"
    full_scan: bool = False


RESOURCES: dict[str, Resource] = {
    "requests": Resource("requests", "/requests", {"include": "data"}),
    "tasks": Resource("tasks", "/tasks"),
    # ProcessMaker's users, processes and groups lists take no PMQL (API-NOTES §2).
    "users": Resource("users", "/users", pmql_field=None),
    "processes": Resource("processes", "/processes", pmql_field=None),
    "groups": Resource("groups", "/groups", pmql_field=None),
}


def resource_for(name: str) -> Resource:
    """The Resource for ``name``: a core one, or ``collection:<id>`` for collection records."""
    if name in RESOURCES:
        return RESOURCES[name]
    prefix, _, ident = name.partition(":")
    if prefix == "collection" and ident.isdigit():
        path = f"/collections/{ident}/records"
        # A record is {"id", "collection_id", "data"}: no timestamps (API-NOTES §4).
        return Resource(f"collection_{ident}_records", path, pmql_field=None, full_scan=True)
    raise ConfigurationError(
        f"Unknown resource {name!r}: use {', '.join(RESOURCES)} or collection:<id>"
    )


@dataclass
class SyncResult:
    """What one resource's sync did; plain data, safe to persist."""

    resource: str
    rows: int = 0
    pages: int = 0
    full_refresh: bool = False
    watermark: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ResourceSync:
    """Syncs one resource from a client into a destination.

    Args:
        client: The ProcessMaker client.
        destination: An open destination.
        resource: What to sync.
        per_page: Rows per request.
        max_concurrency: Time slices fetched at once.
        lag: Seconds before now where the window ends, so rows committed late in the
            current second (with a lower id than one already read) are not passed over.
    """

    def __init__(
        self,
        client: ProcessMakerClient,
        destination: Destination,
        resource: Resource,
        *,
        per_page: int = 500,
        max_concurrency: int = 1,
        lag: float = 5.0,
    ) -> None:
        self.client = client
        self.destination = destination
        self.resource = resource
        self.per_page = per_page
        self.max_concurrency = max_concurrency
        self.lag = lag

    def run(self, *, full_refresh: bool = False) -> SyncResult:
        """Sync the resource; a full refresh rebuilds it and swaps it in atomically."""
        started = time.monotonic()
        result = SyncResult(self.resource.name, full_refresh=full_refresh)
        if full_refresh:
            with self.destination.full_refresh(self.resource.name):
                self._sync(result, start=None)
        else:
            self._sync(result, start=self.destination.get_watermark(self.resource.name))
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _reader(self) -> Reader:
        spec = self.resource
        if spec.full_scan:
            return IdScanReader(
                self.client, spec.name, spec.path, spec.params, per_page=self.per_page
            )
        if spec.pmql_field is None:
            return RecentFirstReader(
                self.client, spec.name, spec.path, spec.params, per_page=self.per_page
            )
        return KeysetReader(
            self.client, spec.name, spec.path, spec.params, spec.pmql_field,
            per_page=self.per_page, max_concurrency=self.max_concurrency,
        )  # fmt: skip

    def _sync(self, result: SyncResult, start: Watermark | None) -> None:
        until = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=self.lag)
        for rows, mark in self._reader().pages(start, until):
            result.rows += self.destination.write_batch(self.resource.name, rows, mark)
            result.pages += 1
            if mark is not None:
                result.watermark = mark.updated_at.isoformat()
            for listener in list(progress_listeners):
                listener(self.resource.name, result.rows)


@task(
    name="Sync ProcessMaker resource",
    task_run_name="sync-{resource}",
    description="Incrementally upsert one ProcessMaker resource into the destination.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_on_retriable,
)
def sync_resource(
    resource: str,
    destination: str,
    full_refresh: bool = False,
    connection: str | None = None,
) -> dict[str, Any]:
    """Sync ``resource`` into the destination URL; returns counts and the new watermark.

    ``connection`` names a ProcessMakerConnection block; without it the environment
    configures everything. Settings are resolved here, inside the task, so no credential
    ever becomes a task parameter.
    """
    logger = get_run_logger()
    spec = resource_for(resource)
    settings, vault_settings = resolve_settings(connection)
    with open_client(settings, vault_settings) as client, open_destination(destination) as dest:
        sync = ResourceSync(
            client,
            dest,
            spec,
            per_page=settings.page_size,
            max_concurrency=settings.max_concurrency,
            lag=settings.sync_lag,
        )
        result = sync.run(full_refresh=full_refresh)
    logger.info(
        "%s: %d rows in %d pages, watermark %s", spec.name, result.rows, result.pages,
        result.watermark,
    )  # fmt: skip
    return result.as_dict()
