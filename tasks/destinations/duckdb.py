"""The DuckDB destination: a batch becomes an Arrow table read in place by the shared upsert."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import duckdb
import pyarrow as pa

from processmaker_prefect.catalogue import TableSpec
from processmaker_prefect.destinations.base import first_line, schema_option
from processmaker_prefect.destinations.batch import Batch, canonical_json
from processmaker_prefect.destinations.sql import Dialect, SqlDestination
from processmaker_prefect.errors import DestinationError

__all__ = ["DuckDBDestination"]

_ARROW_TYPES = {
    "bigint": pa.int64(), "text": pa.string(), "timestamp": pa.timestamp("us", "UTC"),
    "double": pa.float64(), "boolean": pa.bool_(), "json": pa.string(),
}  # fmt: skip
_PID = re.compile(r"\(PID \d+\)")
# DuckDB's own default is 80% of the machine's memory, kept as a cache of every block it
# touched: a sync's memory then grows with the table (measured: 253 MB at 10k requests, 452
# MB at 300k). A bound keeps a worker's memory from following the table, and the buffer fills
# up to it: at 1GB the peak of a first sync of 1,000,000 realistic requests was 2.0x that of
# 100,000 (1,387 vs 687 MB), at 384MB 1.24x (805 vs 651 MB) in the same time. Not too tight:
# an upsert holds its whole batch (tasks embed their request, process and user; 16 pages of
# them failed with "Out of Memory" at 128MB). ``?memory_limit=2GB`` in the URL changes it.
DEFAULT_MEMORY_LIMIT = "384MB"
# Driver error class -> the fix to suggest; the first match in MRO order wins.
_FIXES: list[tuple[type[Exception], str]] = [
    (duckdb.ConnectionException, "the connection was closed: reopen the destination and rerun"),
    (duckdb.ConstraintException, "a row breaks a table constraint: run a full refresh"),
    (duckdb.ConversionException, "a value does not fit its column: run a full refresh"),
    (duckdb.CatalogException, "the table does not match this version: run a full refresh"),
    (duckdb.IOException, "check the file's directory, permissions and free disk space"),
    (duckdb.OutOfMemoryException, "raise ?memory_limit= in the destination URL (default 384MB)"),
    (duckdb.Error, "the transaction was rolled back: check the database file and rerun"),
]


# One writer per DuckDB file in this process. The resources of one sync run side by side,
# each with its own connection to the one database: their readers fetch while one of them
# writes, and transactions (and schema changes) never overlap, so DuckDB's optimistic
# concurrency has nothing to abort. Reentrant: a transaction may create a table.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_of(path: str) -> threading.RLock:
    if path == ":memory:":  # every connection is a database of its own
        return threading.RLock()
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(str(Path(path).resolve()), threading.RLock())


class DuckDBDestination(SqlDestination):
    """A DuckDB file (or ``:memory:``); one writer process at a time, as DuckDB requires."""

    kind = "DuckDB"
    driver_error: ClassVar[type[Exception]] = duckdb.Error
    row_errors: ClassVar[tuple[type[Exception], ...]] = (
        duckdb.ConversionException, duckdb.InvalidInputException, duckdb.OutOfRangeException,
    )  # fmt: skip
    dialect: ClassVar[Dialect] = Dialect(
        types={"bigint": "BIGINT", "text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "json": "JSON",
               "double": "DOUBLE", "boolean": "BOOLEAN"},
        param="?",
        now="current_timestamp",
    )  # fmt: skip

    def __init__(
        self, path: str, memory_limit: str = DEFAULT_MEMORY_LIMIT, schema: str | None = None
    ) -> None:
        super().__init__(path if schema is None else f"{path} (schema {schema})")
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # In memory the data itself lives in the buffer: a cap would be a size limit.
            config: dict[str, str | bool | int | float | list[str]] = (
                {} if path == ":memory:" else {"memory_limit": memory_limit}
            )
            self._writer = _writer_of(path)
            self._con = duckdb.connect(path, config=config)
            # TIMESTAMPTZ values come back in the session zone: make that UTC everywhere.
            self._con.execute("SET TimeZone = 'UTC'")
            if schema is not None:  # every table of this connection lives in its schema
                self._con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._con.execute(f"SET schema = '{schema}'")
            self._create_state()
        except (duckdb.Error, OSError) as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(f"DuckDB {path}: {cause}: {fix}") from exc

    @classmethod
    def from_url(cls, url: str) -> DuckDBDestination:
        """Open ``duckdb:///relative.duckdb``, ``duckdb:////abs.duckdb``, ``duckdb:///~/f.duckdb``
        (the user's home) or ``duckdb:///:memory:``; ``?memory_limit=1GB`` sets DuckDB's
        buffer size for this connection, ``?schema=name`` the schema of its tables."""
        path, _, query = url.removeprefix("duckdb:///").partition("?")
        limit = parse_qs(query).get("memory_limit", [DEFAULT_MEMORY_LIMIT])[-1]
        path = path if path == ":memory:" else str(Path(path).expanduser())
        return cls(path, limit, schema_option(url))

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
        if "Memory" in text and isinstance(exc, duckdb.ParserException):
            return first_line(exc), "set ?memory_limit= in the destination URL to e.g. 512MB"
        fix = next(fix for kind, fix in _FIXES if isinstance(exc, kind))
        return first_line(exc), fix

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._writer:
            self._con.begin()
            try:
                yield self._con
            except BaseException:
                # The connection may be gone already; the original error is the one to report.
                with suppress(duckdb.Error):
                    self._con.rollback()
                raise
            self._con.commit()

    def _create_state(self) -> None:
        with self._writer:
            super()._create_state()

    def _ensure(self, spec: TableSpec, table: str) -> None:
        with self._writer:
            super()._ensure(spec, table)

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
            # In a transaction a failed statement aborted, this fails too: the statement's
            # own error (out of memory, a constraint...) is the one to report.
            with suppress(duckdb.Error):
                con.unregister("_pm_batch")

    def _may_hold(self, con: Any, table: str, source: str, key: str) -> bool:
        # DuckDB's ON CONFLICT costs several times a plain INSERT (it probes and locks every
        # row), and a first sync's batches are all new rows: one join of the batch's keys,
        # a scan of the key column, tells which statement the batch needs.
        # Names are quoted only after tasks.catalogue.spec_for accepted them.
        join = f'{source} AS b JOIN "{table}" AS t ON t."{key}" = b."{key}"'
        return con.execute(f"SELECT 1 FROM {join} LIMIT 1").fetchone() is not None  # noqa: S608

    def _json_param(self, value: Mapping[str, Any]) -> Any:
        return canonical_json(dict(value))
