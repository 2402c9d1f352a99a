"""Request variables as columns: one table per process, one typed column per key of ``data``.

``requests.raw`` keeps each request's ``data`` as JSON; analysts want the form answers as
columns. Each batch of requests also lands, in the same transaction, in
``request_variables_<process_id>``: ``request_id`` (the key), ``_synced_at``, ``_deleted_at``
and one column per top-level key of ``data``. Scalars get a typed column (boolean, bigint,
double, text); objects and arrays stay JSON. A new key adds a column (schema evolution, never
a failed sync); a key whose values change type is widened (bigint to double, anything else
to text), never dropped. ``_variable_columns`` maps each (table, column) back to its key and
kind, so a column's name never changes once chosen and analysts can find any key.

Keys are typed by ProcessMaker's users, so they are untrusted: :func:`column_name` turns any
key into a safe identifier by one rule (docs: "Unusual records"), and a table takes at most
``cap`` variable columns (``PROCESSMAKER_MAX_VARIABLE_COLUMNS``); later keys stay in ``raw``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from processmaker_prefect.destinations.batch import canonical_json

__all__ = [
    "COLUMNS_TABLE",
    "DEFAULT_MAX_COLUMNS",
    "LEGACY_COLUMNS_TABLE",
    "RESERVED",
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
COLUMNS_TABLE = "_variable_columns"
LEGACY_COLUMNS_TABLE = "_sync_columns"  # its former name: renamed in place on open
SYSTEM_COLUMNS = ("request_id", "_synced_at", "_deleted_at")
# Names no key may take: the variables table's own columns, and those of the tables it is
# joined with (``requests``), so a ``SELECT *`` over a join never shows two of one name.
RESERVED = frozenset({*SYSTEM_COLUMNS, "id", "raw", "_instance", "_filter"})
DEFAULT_MAX_COLUMNS = 300
# PostgreSQL truncates identifiers at 63 bytes; names are ASCII, so 63 characters.
_MAX = 63
_HASH = 8  # hex digits of the suffix: a clash within one table is ~1 in 4 billion
_UNSAFE = re.compile(r"[^a-z0-9]+")
_WIDER = {frozenset({"bigint", "double"}): "double"}
# A NUL escape in JSON text: ``\u0000`` not itself escaped (``\\u0000`` is a backslash).
_NUL_JSON = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


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
    """``value`` as stored in a column of ``kind`` (one its kind was widened to).

    A value holding the NUL character is NULL (PostgreSQL's text and jsonb cannot hold it;
    DuckDB does the same so both hold equal data); ``raw`` keeps it.
    """
    return column_values([value], kind)[0]


def _suffix(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH]


def column_name(key: str, taken: Iterable[str]) -> str:
    """The column for ``key``: a lower-case ASCII identifier of at most 63 characters.

    The rule: fold accents and case (``Naïve Total`` -> ``naive_total``), turn each run of
    other characters into one ``_``, trim ``_`` at both ends, put ``_`` before a leading
    digit. A name that is then empty (``日本語``, ``💰``, ``""``), longer than 63 characters,
    reserved (``id``, ``request_id``, ``raw``, ``_synced_at``, ``_deleted_at``) or already
    ``taken`` by another key gets ``_`` and 8 hex digits of the SHA-256 of the original key
    (``id_3f0b9a1c``; an empty base becomes ``key_<hash>``): the same key always gets the same
    suffix, whatever order keys arrive in.
    """
    folded = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode().lower()
    base = _UNSAFE.sub("_", folded).strip("_")
    if base[:1].isdigit():
        base = f"_{base}"
    used = set(taken)
    if base and len(base) <= _MAX and base not in RESERVED and base not in used:
        return base
    stem = (base or "key")[: _MAX - _HASH - 1]
    name = f"{stem}_{_suffix(key)}"
    # A clash of suffixes too: lengthen the hash (stable, as it still comes from the key).
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    width = _HASH
    while name in used or name in RESERVED:
        width += 4
        name = f"{(base or 'key')[: _MAX - width - 1]}_{digest[:width]}"
    return name


def kinds_in(
    records: Sequence[Mapping[str, Any]], only: Collection[str] | None = None
) -> dict[str, str | None]:
    """Each top-level key of ``records`` (or of ``only``) -> the narrowest kind of its values.

    One pass over the key-value pairs, whatever the number of distinct keys: a batch of
    thousands of records each bringing keys of its own must not cost keys x records.
    """
    seen: dict[str, set[type]] = {}
    large: set[str] = set()
    for data in records:
        for key, value in data.items():
            if only is not None and key not in only:
                continue
            types = seen.get(key)
            if types is None:
                seen[key] = types = set()
            kind_type = type(value)
            types.add(kind_type)
            if kind_type is int and not _LOW <= value < _HIGH:
                large.add(key)
    kinds: dict[str, str | None] = {}
    for key, types in seen.items():  # first-seen order: stable names
        kind: str | None = None
        for kind_type in types:
            found = _KINDS.get(kind_type, "json")
            if found == "bigint" and key in large:
                found = "text"
            kind = widen(kind, found)
        kinds[key] = kind
    return kinds


def plan_columns(
    known: Mapping[str, tuple[str, str]],
    records: Sequence[Mapping[str, Any]],
    cap: int = DEFAULT_MAX_COLUMNS,
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], list[str]]:
    """Columns to add and to widen so that every value of ``records`` fits.

    Args:
        known: key -> (column, kind) already in the table.
        records: The ``data`` objects of a batch.
        cap: Variable columns a table may hold; keys beyond it get none.

    Returns:
        ``(added, widened, left_out)``: key -> (column, kind) for the first two, and the
        keys that get no column because the table is full (they stay in ``raw``).
    """
    added: dict[str, tuple[str, str]] = {}
    widened: dict[str, tuple[str, str]] = {}
    left_out: list[str] = []
    taken = {column for column, _ in known.values()}
    room = cap - len(known)
    for key, kind in kinds_in(records).items():
        if key in known:
            column, old = known[key]
            wider = widen(old, kind)
            if wider != old and wider is not None:
                widened[key] = (column, wider)
        elif len(added) < room:
            column = column_name(key, taken)
            taken.add(column)
            # A key seen only as null so far gets text: the most forgiving kind to widen.
            added[key] = (column, kind or "text")
        else:
            left_out.append(key)
    return added, widened, left_out


def column_values(values: list[Any], kind: str) -> list[Any]:
    """:func:`convert` over a whole column at once."""
    if kind == "double":
        return [None if v is None else float(v) for v in values]
    if kind == "text":
        return [
            (None if "\x00" in v else v)
            if type(v) is str
            else (None if v is None else _json_text(v))
            for v in values
        ]
    if kind == "json":
        return [None if v is None else _json_text(v) for v in values]
    return values


def _json_text(value: Any) -> str | None:
    text = canonical_json(value)
    return None if "\\u0000" in text and _NUL_JSON.search(text) else text


_KINDS: dict[type, str | None] = {
    type(None): None, bool: "boolean", int: "bigint", float: "double", str: "text",
}  # fmt: skip
_LOW, _HIGH = -(2**63), 2**63
