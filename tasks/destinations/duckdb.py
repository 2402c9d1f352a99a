"""The DuckDB destination: a batch becomes an Arrow table read in place by the shared upsert."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from tasks.destinations.base import first_line
from tasks.destinations.batch import Batch, canonical_json
from tasks.destinations.sql import Dialect, SqlDestination
from tasks.errors import DestinationError

__all__ = ["DuckDBDestination"]

_ARROW_TYPES = {
    "bigint": pa.int64(), "text": pa.string(), "timestamp": pa.timestamp("us", "UTC"),
    "double": pa.float64(), "boolean": pa.bool_(), "json": pa.string(),
}  # fmt: skip
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


class DuckDBDestination(SqlDestination):
    """A DuckDB file (or ``:memory:``); one writer process at a time, as DuckDB requires."""

    kind = "DuckDB"
    driver_error: ClassVar[type[Exception]] = duckdb.Error
    dialect: ClassVar[Dialect] = Dialect(
        types={"bigint": "BIGINT", "text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "json": "JSON",
               "double": "DOUBLE", "boolean": "BOOLEAN"},
        param="?",
        now="current_timestamp",
    )  # fmt: skip

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(path)
            # TIMESTAMPTZ values come back in the session zone: make that UTC everywhere.
            self._con.execute("SET TimeZone = 'UTC'")
            self._create_state()
        except (duckdb.Error, OSError) as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(f"DuckDB {path}: {cause}: {fix}") from exc

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

    @contextmanager
    def _staged_batch(self, con: Any, table: str, batch: Batch) -> Iterator[str]:
        types = {n: _ARROW_TYPES.get(k, pa.string()) for n, k in batch.kinds.items()}
        types.update(raw=pa.string(), _synced_at=pa.timestamp("us", "UTC"))
        arrow = pa.table({n: pa.array(batch.columns[n], types[n]) for n in batch.names})
        # The registered Arrow table is read in place: no per-row round trip.
        con.register("_pm_batch", arrow)
        try:
            yield "_pm_batch"
        finally:
            con.unregister("_pm_batch")

    def _json_param(self, value: Mapping[str, Any]) -> Any:
        return canonical_json(dict(value))
