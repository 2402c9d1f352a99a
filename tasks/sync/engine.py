"""Incremental sync of one ProcessMaker resource into a destination, resumable at any point.

Each run reads the rows changed since the resource's watermark and no later than a few
seconds ago (see ``sync.window`` and ``sync.readers``). The reader runs ahead in
a thread while pages are written; the pages queued meanwhile are upserted together with the
watermark that covers them, in one destination transaction, so a crash loses nothing and a
rerun resumes after the last committed batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.catalogue import Resource
from processmaker_prefect.destinations import Destination, Watermark
from processmaker_prefect.events import emit, instance_resource
from processmaker_prefect.sync.collector import bulk_collection
from processmaker_prefect.sync.page_scan import PageScanReader
from processmaker_prefect.sync.pipeline import ReadAhead
from processmaker_prefect.sync.readers import IdScanReader, Reader, RecentFirstReader
from processmaker_prefect.sync.window import WindowReader

__all__ = ["ResourceSync", "SyncResult", "progress_listeners"]

logger = logging.getLogger(__name__)

# Called with (resource, rows stored so far) after each page: `pm-prefect sync` draws its
# progress from here when the flow runs in its process.
progress_listeners: list[Callable[[str, int], None]] = []
# Pages written in one transaction at most: amortises a write's fixed cost (each batch of
# requests is also one upsert per process's variables table), bounds memory. 16 measured
# about 8% less CPU, but a deeper read-ahead commits later: kept at 8.
_BATCH_PAGES = 8


@dataclass
class SyncResult:
    """What one resource's sync did; plain data, safe to persist."""

    resource: str
    rows: int = 0
    pages: int = 0
    full_refresh: bool = False
    watermark: str | None = None
    seconds: float = 0.0
    write_seconds: float = 0.0  # spent in the destination, while the reader ran ahead
    rejected: int = 0  # records written to _rejected instead of their table
    keys_in_raw: int = 0  # variable keys kept only in raw: the tables' column cap was reached

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ResourceSync:
    """Syncs one resource from a client into a destination.

    Args:
        client: The ProcessMaker client.
        destination: An open destination.
        resource: What to sync.
        per_page: Rows per request.
        max_concurrency: Requests in flight at once.
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
        with bulk_collection():
            return self._run(full_refresh)

    def _run(self, full_refresh: bool) -> SyncResult:
        started = time.monotonic()
        result = SyncResult(self.resource.name, full_refresh=full_refresh)
        # Before anything is read or written: another instance's tables are refused here.
        self.destination.bind_instance(self.client.base_url)
        rejected_before = self.destination.rejected.get(self.resource.name, 0)
        pmql = self.resource.filter
        if full_refresh and pmql:  # a filtered refresh re-reads its rows; others stay
            self._sync(result, start=None)
        elif full_refresh:
            with self.destination.full_refresh(self.resource.name):
                self._sync(result, start=None)
        else:
            start = self.destination.get_watermark(self.resource.name, pmql)
            # A run that finds nothing new still reports where the stored data stands.
            result.watermark = start.updated_at.isoformat() if start else None
            self._sync(result, start=start)
        result.seconds = round(time.monotonic() - started, 3)
        result.write_seconds = round(result.write_seconds, 3)
        result.rejected = self.destination.rejected.get(self.resource.name, 0) - rejected_before
        if self.resource.name == "requests":
            result.keys_in_raw = sum(len(k) for k in self.destination.keys_in_raw.values())
        if result.rejected:
            self._report_rejected(result)
        return result

    def _report_rejected(self, result: SyncResult) -> None:
        logger.warning(
            "%s: %d records could not be stored and are in _rejected (the sync moved on)",
            result.resource, result.rejected,
        )  # fmt: skip
        emit(
            "processmaker.sync.rejected",
            instance_resource(self.client.base_url),
            payload={"resource": result.resource, "rejected": result.rejected,
                     "table": "_rejected"},
        )  # fmt: skip

    def _reader(self) -> Reader:
        spec = self.resource
        options = {"per_page": self.per_page, "max_concurrency": self.max_concurrency}
        if spec.full_scan and not spec.takes_pmql:
            return PageScanReader(
                self.client, spec.name, spec.path, spec.params, per_page=self.per_page
            )
        if spec.full_scan:
            return IdScanReader(self.client, spec.name, spec.path, spec.params, **options)
        if spec.pmql_field is None:
            return RecentFirstReader(self.client, spec.name, spec.path, spec.params, **options)
        return WindowReader(
            self.client, spec.name, spec.path, spec.params, spec.pmql_field,
            per_page=self.per_page, max_concurrency=self.max_concurrency,
        )  # fmt: skip

    def _sync(self, result: SyncResult, start: Watermark | None) -> None:
        until = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=self.lag)
        # Pages held at most, whatever the table's size: the queue (one answer per request in
        # flight, and two more), the batch being written (up to 8), and those in flight.
        depth = self.max_concurrency + 2
        with ReadAhead(self._reader().pages(start, until), depth) as ahead:
            for batch in ahead.batches(_BATCH_PAGES):
                rows = [row for page, _ in batch for row in page]
                # The last watermark of the batch covers every page in it.
                mark = next((m for _, m in reversed(batch) if m is not None), None)
                result.pages += len(batch)
                if not rows and mark is None:
                    continue
                written = time.monotonic()
                result.rows += self.destination.write_batch(
                    self.resource.name, rows, mark, self.resource.filter
                )
                result.write_seconds += time.monotonic() - written
                if mark is not None:
                    result.watermark = mark.updated_at.isoformat()
                for listener in list(progress_listeners):
                    listener(self.resource.name, result.rows)
