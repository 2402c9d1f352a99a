"""Reconcile: mark the stored rows whose record is gone from ProcessMaker (``_deleted_at``).

An incremental sync sees what changed, never what was deleted. Reconcile lists the ids the
route serves now (no ``include``, large pages) and marks, in one destination transaction,
every stored row not among them; rows come back unmarked when ProcessMaker lists them again.
Nothing is dropped, so a wrong listing costs an update, never data.

Listing is exact where the route takes PMQL: ``id > N`` in id order cannot skip a row. Page
numbers can (a deletion shifts a row past a page boundary), so there each missing id is
confirmed: ``GET <path>/{id}`` must answer 404, or, without a show route, a second scan must
miss it too. Filters do not apply: a row outside a filter is not deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.catalogue import Resource
from processmaker_prefect.destinations import Destination
from processmaker_prefect.errors import ConfigurationError, ProcessMakerNotFoundError
from processmaker_prefect.sync.page_scan import list_ids

__all__ = ["ReconcileResult", "reconcile"]


@dataclass
class ReconcileResult:
    """What one resource's reconcile did; plain data, safe to persist."""

    resource: str
    listed: int = 0
    deleted: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reconcile(
    client: ProcessMakerClient, destination: Destination, resource: Resource, *, per_page: int
) -> ReconcileResult:
    """Mark the rows of ``resource`` that ProcessMaker no longer lists.

    Raises:
        ConfigurationError: ProcessMaker lists nothing while the table holds rows (a user
            who may not see them, most likely): nothing is marked.
    """
    started = time.monotonic()
    before = datetime.now(UTC)
    params = {k: v for k, v in resource.params.items() if k not in {"include", "pmql"}}
    per_page = max(per_page, 1000)  # ids only matter: fewer, larger pages
    if resource.takes_pmql:
        present = _ids_by_keyset(client, resource.path, params, per_page)
    else:
        present = list_ids(client, resource.path, params, per_page=per_page)
        stored = destination.stored_ids(resource.name)
        missing = stored - present
        if missing and resource.show:
            present |= {i for i in missing if _exists(client, f"{resource.path}/{i}")}
        elif missing:
            present |= missing & list_ids(client, resource.path, params, per_page=per_page)
    if not present and destination.count(resource.name):
        raise ConfigurationError(
            f"GET /api/1.0{resource.path} lists no rows while {resource.name} holds "
            f"{destination.count(resource.name)}: refusing to mark them all deleted; check "
            "that the ProcessMaker user may list them"
        )
    deleted = destination.mark_deleted(resource.name, present, before)
    seconds = round(time.monotonic() - started, 3)
    return ReconcileResult(resource.name, len(present), deleted, seconds)


def _ids_by_keyset(
    client: ProcessMakerClient, path: str, params: dict[str, Any], per_page: int
) -> set[int]:
    found: set[int] = set()
    last = 0
    while True:
        query = {**params, "pmql": f"id > {last}", "order_by": "id", "order_direction": "asc",
                 "page": 1, "per_page": per_page}  # fmt: skip
        ids = [
            r["id"] for r in client.get_page(path, query)["data"] if isinstance(r.get("id"), int)
        ]
        found.update(ids)
        if len(ids) < per_page or max(ids) <= last:
            return found
        last = max(ids)


def _exists(client: ProcessMakerClient, path: str) -> bool:
    try:
        client.get(path)
    except ProcessMakerNotFoundError:
        return False
    return True
