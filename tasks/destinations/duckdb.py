"""The DuckDB destination: a batch becomes an Arrow table upserted in one statement."""

# Table names are quoted into SQL only after tasks.catalogue.spec_for accepted them (a fixed
# set, or collection_<digits>_records); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from tasks.catalogue import TableSpec
from tasks.destinations.base import STATE_TABLE, Destination, Watermark, first_line
from tasks.destinations.batch import Batch, canonical_json
from tasks.errors import DestinationError

__all__ = ["DuckDBDestination"]

_SQL_TYPES = {"bigint": "BIGINT", "text": "VARCHAR", "timestamp": "TIMESTAMPTZ"}
_ARROW_TYPES = {"bigint": pa.int64(), "text": pa.string(), "timestamp": pa.timestamp("us", "UTC")}
_PID = re.compile(r"\(PID \d+\)")
# Driver error class -> the fix to suggest; the first match in MRO order wins.
_FIXES: list[tuple[type[Exception], str]] = [
    (duckdb.ConnectionException, "the connection was closed: reopen the destination and rerun"),
    (duckdb.ConstraintException, "a row breaks a table constraint: run a full refresh"),
    (duckdb.ConversionException, "a value does not fit its column: run a full refresh"),
    (duckdb.CatalogException, "the table does not match this version: run a full refresh"),
    (duckdb.IOException, "check the file's directory, permissions and free disk space"),
    (duckdb.Error, "the transaction was rolled back: check the database file and rerun"),
]


def _create_sql(spec: TableSpec, table: str) -> str:
    columns = [f'"{c.name}" {_SQL_TYPES[c.kind]}' for c in spec.columns[1:]]
    return (
        f'CREATE TABLE IF NOT EXISTS "{table}" (id BIGINT PRIMARY KEY, '
        f"{', '.join(columns)}, raw JSON, _synced_at TIMESTAMPTZ NOT NULL)"
    )


class DuckDBDestination(Destination):
    """A DuckDB file (or ``:memory:``); one writer process at a time, as DuckDB requires."""

    kind = "DuckDB"
    driver_error: ClassVar[type[Exception]] = duckdb.Error

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(path)
            # TIMESTAMPTZ values come back in the session zone: make that UTC everywhere.
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (resource VARCHAR PRIMARY KEY, "
                "updated_at TIMESTAMPTZ NOT NULL, last_id BIGINT NOT NULL, extra JSON, "
                "synced_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
            )
        except (duckdb.Error, OSError) as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(f"DuckDB {path}: {cause}: {fix}") from exc
        self._ready: set[str] = set()

    @classmethod
    def from_url(cls, url: str) -> DuckDBDestination:
        """Open ``duckdb:///relative.duckdb``, ``duckdb:////abs.duckdb``, ``duckdb:///~/f.duckdb``
        (the user's home) or ``duckdb:///:memory:``."""
        path = url.removeprefix("duckdb:///")
        return cls(path if path == ":memory:" else str(Path(path).expanduser()))

    def close(self) -> None:
        self._con.close()

    def _explain(self, exc: Exception) -> tuple[str, str]:
        text = str(exc)
        if "Could not set lock" in text:
            pid = _PID.search(text)
            holder = f" {pid.group(0)}" if pid else ""
            return (
                f"database is locked by another process{holder}",
                "stop the other sync or use another file",
            )
        if isinstance(exc, OSError):
            return str(exc), "check the directory and its permissions"
        fix = next(fix for kind, fix in _FIXES if isinstance(exc, kind))
        return first_line(exc), fix

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._con.begin()
        try:
            yield self._con
        except BaseException:
            # The connection may be gone already; the original error is the one to report.
            with suppress(duckdb.Error):
                self._con.rollback()
            raise
        self._con.commit()

    def _ensure(self, spec: TableSpec, table: str) -> None:
        if table not in self._ready:
            self._con.execute(_create_sql(spec, table))
            self._ready.add(table)

    def _upsert(
        self, spec: TableSpec, table: str, batch: Batch, watermark: Watermark | None
    ) -> None:
        self._ensure(spec, table)
        types = {c.name: _ARROW_TYPES[c.kind] for c in spec.columns}
        types.update(raw=pa.string(), _synced_at=pa.timestamp("us", "UTC"))
        arrow = pa.table({n: pa.array(batch.columns[n], types[n]) for n in batch.names})
        select = ", ".join("raw::JSON" if n == "raw" else f'"{n}"' for n in batch.names)
        with self._transaction() as con:
            if len(batch):
                # The registered Arrow table is read in place: no per-row round trip.
                con.register("_pm_batch", arrow)
                try:
                    con.execute(f'INSERT OR REPLACE INTO "{table}" SELECT {select} FROM _pm_batch')
                finally:
                    con.unregister("_pm_batch")
            if watermark is not None:
                self._write_state(con, table, watermark)

    def _write_state(self, con: duckdb.DuckDBPyConnection, key: str, watermark: Watermark) -> None:
        con.execute(
            f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (?, ?, ?, ?::JSON, current_timestamp)",
            [key, watermark.updated_at, watermark.last_id, _json(watermark.extra)],
        )

    def _read_state(self, key: str) -> tuple[datetime, int, Any] | None:
        row = self._con.execute(
            f"SELECT updated_at, last_id, extra FROM {STATE_TABLE} WHERE resource = ?", [key]
        ).fetchone()
        if row is None:
            return None
        return row[0], row[1], _loads(row[2])

    def _reset_staging(self, spec: TableSpec, staging: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{staging}"')
            con.execute(f"DELETE FROM {STATE_TABLE} WHERE resource = ?", [staging])
            con.execute(_create_sql(spec, staging))
        self._ready.add(staging)

    def _swap(self, spec: TableSpec, staging: str, live: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{live}"')
            con.execute(f'ALTER TABLE "{staging}" RENAME TO "{live}"')
            con.execute(f"DELETE FROM {STATE_TABLE} WHERE resource = ?", [live])
            con.execute(
                f"INSERT INTO {STATE_TABLE} SELECT ?, updated_at, last_id, extra, synced_at "
                f"FROM {STATE_TABLE} WHERE resource = ?",
                [live, staging],
            )
            con.execute(f"DELETE FROM {STATE_TABLE} WHERE resource = ?", [staging])
        self._ready.discard(staging)
        self._ready.add(live)

    def _count(self, table: str) -> int:
        row = self._con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def _iter_raw(self, table: str) -> Iterator[tuple[int, Any]]:
        result = self._con.execute(f'SELECT id, raw FROM "{table}" ORDER BY id')
        while chunk := result.fetchmany(10_000):
            yield from chunk

    def _tables(self) -> set[str]:
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {r[0] for r in rows}


def _json(value: Any) -> str | None:
    return canonical_json(dict(value)) if value else None


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
