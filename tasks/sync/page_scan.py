"""Reading a list route whole, page by page, for routes with neither update times nor PMQL.

Such a route (``security-logs``, for instance) cannot say what changed, and without PMQL it
cannot be walked by id either: every run reads it again in id order by page number and
upserts it. A row deleted meanwhile may shift another past a page boundary, so a row can be
missed in one run; the next run reads it. Reconcile does not trust one such scan
(:mod:`processmaker_prefect.sync.reconcile`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.destinations import Watermark

__all__ = ["PageScanReader", "list_ids"]


class PageScanReader:
    """Reads every row of ``path`` by page; the watermark (``until`` and the highest id) comes
    with the last page and only records that a scan completed."""

    def __init__(
        self, client: ProcessMakerClient, table: str, path: str, params: dict[str, Any], *,
        per_page: int,
    ) -> None:  # fmt: skip
        self.client, self.table, self.path, self.params = client, table, path, params
        self.per_page = per_page

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[list[dict[str, Any]], Watermark | None]]:
        params = {**self.params, "order_by": "id", "order_direction": "asc"}
        highest = 0
        for page in self.client.list_pages(self.path, params, per_page=self.per_page):
            ids = [row.get("id") for row in page]
            highest = max([highest, *(i for i in ids if isinstance(i, int))])
            yield page, None
        yield [], Watermark(self.table, until, highest)


def list_ids(
    client: ProcessMakerClient, path: str, params: dict[str, Any], *, per_page: int
) -> set[int]:
    """Every integer id the list route serves now, read by page in id order."""
    params = {**params, "order_by": "id", "order_direction": "asc"}
    found: set[int] = set()
    for page in client.list_pages(path, params, per_page=per_page):
        found.update(r["id"] for r in page if isinstance(r.get("id"), int))
    return found
