"""The one resource catalogue: each ProcessMaker list route we sync, how to page it, its table.

A resource is a list route under /api/1.0 and the table it lands in, keyed by ``id``: the typed
columns below, then ``raw`` (the record as received, as JSON) and ``_synced_at``. The entries
are data, so a new resource is one more entry here and no reader or backend code changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from tasks.errors import ConfigurationError

__all__ = [
    "DEFAULT_RESOURCES",
    "RESOURCES",
    "SPECS",
    "Column",
    "Resource",
    "TableSpec",
    "is_resource",
    "resource_for",
    "spec_for",
]

Kind = Literal["bigint", "text", "timestamp"]
_COLLECTION = re.compile(r"collection_(\d{1,18})_records")


@dataclass(frozen=True)
class Column:
    """A typed column filled from the record's key of the same name."""

    name: str
    kind: Kind


@dataclass(frozen=True)
class TableSpec:
    """The typed columns of one resource's table (``id`` first) and keys never stored."""

    name: str
    columns: tuple[Column, ...]
    # Never stored, not even in raw: ProcessMaker hides them, but a misconfigured instance
    # that exposes them must not copy them into a warehouse.
    drop: frozenset[str] = frozenset()

    @property
    def names(self) -> list[str]:
        """All column names in table order, including ``raw`` and ``_synced_at``."""
        return [c.name for c in self.columns] + ["raw", "_synced_at"]


def _spec(name: str, columns: str, drop: frozenset[str] = frozenset()) -> TableSpec:
    # "id:bigint uuid:text ..." keeps each table on one readable line.
    pairs = (item.split(":") for item in columns.split())
    parsed = tuple(Column(name, cast(Kind, kind)) for name, kind in pairs)
    return TableSpec(name, parsed, drop)


@dataclass(frozen=True)
class Resource:
    """A ProcessMaker list route, how to page it by time, and the table it lands in.

    Attributes:
        name: Destination table name, e.g. ``requests``.
        path: List route under /api/1.0.
        spec: The table's typed columns and the keys never stored.
        params: Fixed query parameters (e.g. ``include=data``).
        pmql_field: PMQL name of the update time (``modified`` for requests and tasks), or
            None for routes that take no PMQL (read newest first instead).
        full_scan: The rows carry no update time at all (collection records): read the
            whole list by id on every run.
    """

    name: str
    path: str
    spec: TableSpec
    params: dict[str, Any] = field(default_factory=dict)
    pmql_field: str | None = "modified"
    full_scan: bool = False


def _resource(name: str, columns: str, **options: Any) -> Resource:
    drop = options.pop("drop", frozenset())
    return Resource(name, f"/{name}", _spec(name, columns, drop), **options)


_T = "created_at:timestamp updated_at:timestamp"
RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        _resource(
            "requests",
            "id:bigint uuid:text process_id:bigint user_id:bigint status:text name:text "
            f"case_number:bigint case_title:text {_T} initiated_at:timestamp "
            "completed_at:timestamp",
            params={"include": "data"},
        ),
        _resource(
            "tasks",
            "id:bigint uuid:text process_request_id:bigint process_id:bigint user_id:bigint "
            "element_id:text element_type:text element_name:text status:text due_at:timestamp "
            f"completed_at:timestamp {_T}",
        ),
        # ProcessMaker's users, processes and groups lists take no PMQL (API-NOTES §2).
        _resource(
            "users",
            f"id:bigint username:text email:text firstname:text lastname:text status:text {_T}",
            drop=frozenset({"password", "remember_token"}),
            pmql_field=None,
        ),
        _resource(
            "processes",
            f"id:bigint name:text status:text process_category_id:bigint {_T}",
            pmql_field=None,
        ),
        _resource("groups", f"id:bigint name:text status:text {_T}", pmql_field=None),
    )
}
#: What a sync reads when no resources are named: every core resource.
DEFAULT_RESOURCES: tuple[str, ...] = tuple(RESOURCES)
SPECS: dict[str, TableSpec] = {name: r.spec for name, r in RESOURCES.items()}
_RECORDS = "id:bigint collection_id:bigint " + _T


def resource_for(name: str) -> Resource:
    """The Resource for ``name``: a core one, or ``collection:<id>`` for collection records.

    Raises:
        ConfigurationError: ``name`` is neither.
    """
    if name in RESOURCES:
        return RESOURCES[name]
    prefix, _, ident = name.partition(":")
    if prefix == "collection" and ident.isdigit():
        path = f"/collections/{ident}/records"
        # A record is {"id", "collection_id", "data"}: no timestamps (API-NOTES §4).
        table = f"collection_{ident}_records"
        return Resource(table, path, spec_for(table), pmql_field=None, full_scan=True)
    raise ConfigurationError(
        f"Unknown resource {name!r}: use {', '.join(RESOURCES)} or collection:<id>"
    )


def is_resource(name: str) -> bool:
    """Whether ``name`` is a resource table name (``requests``, ``collection_3_records``...)."""
    return name in SPECS or _COLLECTION.fullmatch(name) is not None


def spec_for(resource: str) -> TableSpec:
    """The spec of ``resource``; collection records share one spec, named per collection.

    Raises:
        ConfigurationError: ``resource`` is not a known table name. Table names are checked
            here because they are quoted into SQL.
    """
    if resource in SPECS:
        return SPECS[resource]
    if _COLLECTION.fullmatch(resource):
        return _spec(resource, _RECORDS)
    raise ConfigurationError(
        f"Unknown destination table {resource!r}: use {', '.join(SPECS)} or collection_<id>_records"
    )
