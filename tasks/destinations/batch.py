"""Turn records into the typed columns of their table: one batch per destination write."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from processmaker_prefect.catalogue import TableSpec
from processmaker_prefect.times import parse_timestamp

__all__ = [
    "NUL_MARK",
    "Batch",
    "Rejected",
    "bigint",
    "canonical_json",
    "decode_raw",
    "decode_text",
    "encode_text",
    "to_batch",
]

# Stands for NUL where a backend cannot hold it (PostgreSQL's text and jsonb): U+2400 SYMBOL
# FOR NULL. See encode_text for the rule that keeps it reversible.
NUL_MARK = "\u2400"
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True)
class Rejected:
    """A record that cannot be stored: its id (None: it has none), why, and its text."""

    id: int | None
    reason: str
    record: str


@dataclass(frozen=True)
class Batch:
    """One batch as columns (``names`` order), deduplicated by id, last row winning.

    ``kinds`` gives the column kind of each typed column (``raw`` and ``_synced_at`` aside).
    """

    names: list[str]
    columns: dict[str, list[Any]]
    kinds: dict[str, str] = field(default_factory=dict)
    #: The records kept (one per id, as received), for tables derived from them.
    records: list[Mapping[str, Any]] = field(default_factory=list)
    synced_at: datetime | None = None
    #: Records set aside: no integer id, or no JSON text (see ``Destination.write_batch``).
    rejected: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns["id"])

    def ids(self) -> Batch:
        """Only the ``id`` column."""
        return Batch(["id"], {"id": self.columns["id"]}, {"id": "bigint"})

    def subset(self, keep: Sequence[int], rejected: list[Rejected] | None = None) -> Batch:
        """The rows at ``keep`` (indices), with ``rejected`` (default: none)."""
        columns = {name: [values[i] for i in keep] for name, values in self.columns.items()}
        records = [self.records[i] for i in keep] if self.records else []
        return Batch(self.names, columns, self.kinds, records, self.synced_at, rejected or [])


_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> str:
    """JSON text that is the same for equal data, whatever the key order.

    orjson, not ``json.dumps``: this runs once per stored record and was the largest client
    cost of a sync (profiled: ~9x faster; the same text for ASCII data, UTF-8 instead of
    ``\\u`` escapes otherwise). Integers beyond 64 bits fall back to the standard encoder.
    """
    try:
        return orjson.dumps(value, option=_ORJSON, default=str).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def to_batch(
    spec: TableSpec,
    rows: Sequence[Mapping[str, Any]],
    synced_at: datetime,
    *,
    encode_nul: bool = False,
) -> Batch:
    """Convert records to typed columns; a missing or unfitting field becomes NULL.

    Column by column rather than row by row, and each distinct time text parsed once per
    batch (rows share ``updated_at`` values by the thousand): this runs once per stored
    record and was most of a sync's client time. A typed column takes what fits it: an
    integer beyond BIGINT, an unparsable time or a text holding NUL is NULL there (``raw``
    keeps it). A record with no integer id, or that cannot be written as JSON, is set aside
    in ``Batch.rejected``.

    Args:
        spec: The table.
        rows: The records, as received.
        synced_at: The time stamped on every row.
        encode_nul: Write NUL in ``raw`` as :data:`NUL_MARK` (:func:`encode_text`), for
            backends whose JSON cannot hold it.
    """
    latest: dict[int, Mapping[str, Any]] = {}
    rejected: list[Rejected] = []
    for row in rows:
        ident = row.get("id")
        # The rare case: "12", 12.0, beyond BIGINT, or no id at all.
        if type(ident) is not int or not _LOW <= ident < _HIGH:
            ident = bigint(ident)
            if ident is None:
                got = _short(row.get("id"))
                reason = (
                    f"an id beyond BIGINT (got {got})"
                    if type(row.get("id")) is int
                    else f"no integer id (got {got})"
                )
                rejected.append(Rejected(None, reason, _record_text(row)))
                continue
        latest.pop(ident, None)  # re-insert so the order follows the last occurrence
        latest[ident] = row
    raws: dict[int, str] = {}
    for ident, row in latest.items():
        stored = {k: v for k, v in row.items() if k not in spec.drop} if spec.drop else row
        try:
            text = canonical_json(stored)
            if encode_nul and (NUL_MARK in text or _NUL_ESCAPE.search(text)):
                text = canonical_json(_encode_value(stored))
        except (RecursionError, TypeError, ValueError) as exc:
            reason = f"cannot be written as JSON ({type(exc).__name__})"
            rejected.append(Rejected(ident, reason, _record_text(row)))
            continue
        raws[ident] = text
    kept = [latest[i] for i in raws]
    columns: dict[str, list[Any]] = {"id": list(raws)}
    times: dict[Any, datetime | None] = {}
    for column in spec.columns[1:]:
        values = [row.get(column.name) for row in kept]
        if column.kind == "timestamp":
            columns[column.name] = [_time(v, times) for v in values]
        elif column.kind == "bigint":
            columns[column.name] = [v if type(v) is int and _LOW <= v < _HIGH else bigint(v)
                                    for v in values]  # fmt: skip
        else:
            columns[column.name] = [(None if "\x00" in v else v) if type(v) is str else _text(v)
                                    for v in values]  # fmt: skip
    columns["raw"] = list(raws.values())
    columns["_synced_at"] = [synced_at] * len(kept)
    kinds: dict[str, str] = {c.name: c.kind for c in spec.columns}
    return Batch(spec.names, columns, kinds, kept, synced_at, rejected)


def encode_text(text: str) -> str:
    """``text`` with NUL written as ``␀0`` and a ``␀`` it held as ``␀␀`` (``␀`` is U+2400).

    Only a text holding NUL or ``␀`` changes, so everything else is stored as it came;
    :func:`decode_text` reverses it exactly.
    """
    if "\x00" not in text and NUL_MARK not in text:
        return text
    return text.replace(NUL_MARK, NUL_MARK * 2).replace("\x00", NUL_MARK + "0")


def decode_text(text: str) -> str:
    """The inverse of :func:`encode_text`."""
    if NUL_MARK not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == NUL_MARK and i + 1 < len(text):
            out.append("\x00" if text[i + 1] == "0" else NUL_MARK)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _encode_value(value: Any) -> Any:
    return _walk(value, encode_text)


def decode_raw(value: Any) -> Any:
    """A ``raw`` value read from PostgreSQL as it was received: every key and string passed
    through :func:`decode_text` (a no-op for a record that held neither NUL nor ``␀``)."""
    return _walk(value, decode_text)


def _walk(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {change(k) if isinstance(k, str) else k: _walk(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, change) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _record_text(row: Mapping[str, Any]) -> str:
    """The record as text for ``_rejected``: its JSON, else its repr, NUL escaped either way."""
    try:
        return canonical_json(row)
    except (RecursionError, TypeError, ValueError):
        try:
            return repr(row).replace("\x00", "\\x00")
        except RecursionError:
            return f"<a {type(row).__name__} nested too deep to write out>"


def _time(value: Any, seen: dict[Any, datetime | None]) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        return parse_timestamp(value)
    found = seen.get(value, _UNSEEN)
    if found is _UNSEEN:
        found = seen[value] = parse_timestamp(value)
    return found  # type: ignore[return-value]


_UNSEEN = object()
_LOW, _HIGH = -(2**63), 2**63  # BIGINT


def bigint(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    whole = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    number = int(value) if isinstance(value, int) or whole or digits else None
    # Outside BIGINT the database would refuse the whole batch: keep it NULL (raw has it).
    return number if number is not None and _LOW <= number < _HIGH else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else canonical_json(value)
    return None if "\x00" in text or _NUL_ESCAPE.search(text) else text
