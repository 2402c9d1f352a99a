"""Request variables as columns: one table per process, one typed column per key of ``data``.

``requests.raw`` keeps each request's ``data`` as JSON; analysts want the form answers as
columns. Each batch of requests also lands, in the same transaction, in
``request_variables_<process_id>``: ``request_id`` (the key), ``_synced_at``, ``_deleted_at``
and one column per top-level key of ``data``. Scalars get a typed column (boolean, bigint,
double, text); objects and arrays stay JSON. A new key adds a column (schema evolution, never
a failed sync); a key whose values change type is widened (bigint to double, anything else
to text), never dropped. The key -> column mapping and kinds are kept in ``_sync_columns``,
so a column's name never changes once chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from processmaker_prefect.destinations.batch import canonical_json

__all__ = [
    "COLUMNS_TABLE",
    "SYSTEM_COLUMNS",
    "VARIABLES_PREFIX",
    "column_name",
    "column_values",
    "convert",
    "kind_of",
    "kinds_in",
    "plan_columns",
    "variables_table",
    "widen",
]

VARIABLES_PREFIX = "request_variables_"
COLUMNS_TABLE = "_sync_columns"
SYSTEM_COLUMNS = ("request_id", "_synced_at", "_deleted_at")
# PostgreSQL truncates identifiers at 63 bytes; stay below so names are equal on both.
_MAX = 63
_UNSAFE = re.compile(r"[^a-z0-9_]+")
_WIDER = {frozenset({"bigint", "double"}): "double"}


def variables_table(requests_table: str, process_id: int) -> str:
    """``request_variables_<id>``, or its staging twin while ``requests`` is refreshed."""
    return requests_table.replace("requests", f"{VARIABLES_PREFIX}{process_id}", 1)


def kind_of(value: Any) -> str | None:
    """The column kind a value needs; None (JSON null) needs none."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if -(2**63) <= value < 2**63 else "text"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "text"
    return "json"


def widen(old: str | None, new: str | None) -> str | None:
    """The narrowest kind holding values of both kinds: bigint+double=double, else text."""
    if old is None or new is None or old == new:
        return old or new
    return _WIDER.get(frozenset({old, new}), "text")


def convert(value: Any, kind: str) -> Any:
    """``value`` as stored in a column of ``kind`` (one its kind was widened to)."""
    if value is None:
        return None
    if kind == "double":
        return float(value)
    if kind == "text":
        return value if isinstance(value, str) else canonical_json(value)
    if kind == "json":
        return canonical_json(value)
    return value


def column_name(key: str, taken: Iterable[str]) -> str:
    """A lower-case SQL-safe column name for ``key``, unlike any in ``taken``.

    ``Invoice Number`` becomes ``invoice_number``; a clash (with another key or a system
    column) gets a numeric suffix.
    """
    base = _UNSAFE.sub("_", key.lower()).strip("_") or "key"
    if base[0].isdigit():
        base = f"_{base}"
    base = base[:_MAX]
    used = set(taken) | set(SYSTEM_COLUMNS)
    name, n = base, 1
    while name in used:
        n += 1
        suffix = f"_{n}"
        name = base[: _MAX - len(suffix)] + suffix
    return name


def kinds_in(records: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """Each top-level key of ``records`` -> the narrowest kind holding all its values.

    Key by key over the types seen, not value by value: a batch holds thousands of records
    with a handful of keys, and only an int column needs its values looked at (beyond
    BIGINT it is text).
    """
    keys = dict.fromkeys(chain.from_iterable(records))  # first-seen order: stable names
    kinds: dict[str, str | None] = {}
    for key in keys:
        values = [data.get(key) for data in records]
        kind: str | None = None
        for kind_type in {type(v) for v in values}:
            found = _KINDS.get(kind_type, "json")
            if found == "bigint" and any(type(v) is int and not _LOW <= v < _HIGH for v in values):
                found = "text"
            kind = widen(kind, found)
        kinds[key] = kind
    return kinds


def plan_columns(
    known: Mapping[str, tuple[str, str]], records: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Columns to add and to widen so that every value of ``records`` fits.

    Args:
        known: key -> (column, kind) already in the table.
        records: The ``data`` objects of a batch.

    Returns:
        ``(added, widened)``, each key -> (column, kind).
    """
    added: dict[str, tuple[str, str]] = {}
    widened: dict[str, tuple[str, str]] = {}
    taken = {column for column, _ in known.values()}
    for key, kind in kinds_in(records).items():
        if key in known:
            column, old = known[key]
            wider = widen(old, kind)
            if wider != old and wider is not None:
                widened[key] = (column, wider)
        else:
            column = column_name(key, taken)
            taken.add(column)
            # A key seen only as null so far gets text: the most forgiving kind to widen.
            added[key] = (column, kind or "text")
    return added, widened


def column_values(values: list[Any], kind: str) -> list[Any]:
    """:func:`convert` over a whole column at once."""
    if kind == "double":
        return [None if v is None else float(v) for v in values]
    if kind == "text":
        return [v if v is None or type(v) is str else canonical_json(v) for v in values]
    if kind == "json":
        return [None if v is None else canonical_json(v) for v in values]
    return values


_KINDS: dict[type, str | None] = {
    type(None): None, bool: "boolean", int: "bigint", float: "double", str: "text",
}  # fmt: skip
_LOW, _HIGH = -(2**63), 2**63
