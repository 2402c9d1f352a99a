"""Per-resource column specs of the sync destinations, and the conversion of rows to columns.

Each resource gets one table keyed by ``id``: the typed columns below, then ``raw`` (the
record as received, as JSON) and ``_synced_at``. The specs are data, so a new resource is one
more entry here and no backend code changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from tasks.errors import ConfigurationError

__all__ = [
    "SPECS",
    "Batch",
    "Column",
    "TableSpec",
    "canonical_json",
    "is_resource",
    "spec_for",
    "to_batch",
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


_T = "created_at:timestamp updated_at:timestamp"
SPECS: dict[str, TableSpec] = {
    "requests": _spec(
        "requests",
        "id:bigint uuid:text process_id:bigint user_id:bigint status:text name:text "
        f"case_number:bigint case_title:text {_T} initiated_at:timestamp completed_at:timestamp",
    ),
    "tasks": _spec(
        "tasks",
        "id:bigint uuid:text process_request_id:bigint process_id:bigint user_id:bigint "
        "element_id:text element_type:text element_name:text status:text due_at:timestamp "
        f"completed_at:timestamp {_T}",
    ),
    "users": _spec(
        "users",
        f"id:bigint username:text email:text firstname:text lastname:text status:text {_T}",
        drop=frozenset({"password", "remember_token"}),
    ),
    "processes": _spec(
        "processes", f"id:bigint name:text status:text process_category_id:bigint {_T}"
    ),
    "groups": _spec("groups", f"id:bigint name:text status:text {_T}"),
}
_RECORDS = "id:bigint collection_id:bigint " + _T


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


@dataclass(frozen=True)
class Batch:
    """One batch as columns (``names`` order), deduplicated by id, last row winning."""

    names: list[str]
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.columns["id"])


def canonical_json(value: Any) -> str:
    """JSON text that is the same for equal data, whatever the key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def to_batch(spec: TableSpec, rows: Sequence[Mapping[str, Any]], synced_at: datetime) -> Batch:
    """Convert records to typed columns; a missing or unparsable field becomes NULL.

    Raises:
        ValueError: a row has no integer ``id`` (the caller turns it into DestinationError).
    """
    latest: dict[int, Mapping[str, Any]] = {}
    for index, row in enumerate(rows):
        ident = _bigint(row.get("id"))
        if ident is None:
            raise ValueError(f"row {index} has no integer id (got {row.get('id')!r})")
        latest.pop(ident, None)  # re-insert so the order follows the last occurrence
        latest[ident] = row
    columns: dict[str, list[Any]] = {name: [] for name in spec.names}
    for row in latest.values():
        for column in spec.columns:
            columns[column.name].append(_CONVERT[column.kind](row.get(column.name)))
        kept = {k: v for k, v in row.items() if k not in spec.drop} if spec.drop else row
        columns["raw"].append(canonical_json(kept))
        columns["_synced_at"].append(synced_at)
    return Batch(spec.names, columns)


def _bigint(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    whole = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    number = int(value) if isinstance(value, int) or whole or digits else None
    # Outside BIGINT the database would refuse the whole batch: keep it NULL (raw has it).
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return canonical_json(value)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ProcessMaker's ISO-8601 text; naive text is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_CONVERT: dict[str, Any] = {"bigint": _bigint, "text": _text, "timestamp": parse_timestamp}
