"""The SQL both backends share: state table, watermark upsert, batch upsert, staging swap.

As in dlt's ``sql_client``, the steps are written once here and a backend supplies only its
dialect (type names, parameter marker, JSON binding) and the few operations its driver does
differently: opening a transaction, loading a batch as a relation, streaming a table.
"""

# Every identifier is quoted; table names come from tasks.catalogue.spec_for and column names
# from the catalogue or variables.column_name, never from a record; every value is bound.
# ruff: noqa: S608

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from processmaker_prefect.catalogue import TableSpec, is_resource, spec_for
from processmaker_prefect.destinations.base import (
    INSTANCES_TABLE,
    NO_ID,
    REJECTED_TABLE,
    STAGING_PREFIX,
    STATE_TABLE,
    Destination,
    Watermark,
)
from processmaker_prefect.destinations.batch import Batch
from processmaker_prefect.destinations.variables import COLUMNS_TABLE, LEGACY_COLUMNS_TABLE
from processmaker_prefect.destinations.variables_sql import (
    drop_variables,
    mark_variables,
    swap_variables,
    write_variables,
)

__all__ = ["Dialect", "SqlDestination"]

_KEYS_REMEMBERED = 10_000  # keys past the column cap remembered per table, to report them


class _RollBack(Exception):
    """Raised inside a trial transaction to roll it back."""


@dataclass(frozen=True)
class Dialect:
    """What differs between two SQL databases in the statements we run.

    Attributes:
        types: Column kind (``bigint``, ``text``, ``timestamp``, ``json`` ...) -> SQL type.
        param: The driver's placeholder for a bound value (``?`` or ``%s``).
        now: The current-time expression.
    """

    types: Mapping[str, str]
    param: str
    now: str

    def bind(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this driver's style."""
        return sql if self.param == "?" else sql.replace("?", self.param)


class SqlDestination(Destination):
    """A destination over a DB-API-like connection ``self._con``; the dialect is data."""

    dialect: ClassVar[Dialect]
    _con: Any

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self._ready: set[str] = set()
        # Variables table -> its key -> (column, kind), as committed; see variables_sql.
        self._variables: dict[str, dict[str, tuple[str, str]]] = {}
        # Resources with rows in _rejected: a stored row leaves it (checked only for these).
        self._with_rejected: set[str] = set()

    # -- what a backend supplies ----------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A transaction yielding the connection: committed at the end, rolled back on error."""

    @abstractmethod
    def _staged_batch(self, con: Any, table: str, batch: Batch) -> AbstractContextManager[str]:
        """The batch readable as a relation (its name yielded) inside the transaction."""

    @abstractmethod
    def _json_param(self, value: Mapping[str, Any]) -> Any:
        """A mapping bound as a JSON parameter."""

    def _after_rename(self, con: Any, staging: str, live: str) -> None:
        """Rename what the table rename left behind (PostgreSQL's index names)."""

    # -- the shared steps -----------------------------------------------------------------

    def _run(self, con: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return con.execute(self.dialect.bind(sql), list(params)) if params else con.execute(sql)

    def _run_many(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql`` once per row of parameters, in the transaction of ``con``."""
        con.executemany(self.dialect.bind(sql), [list(r) for r in rows])

    def _create_state(self) -> None:
        """Create the bookkeeping tables, and bring those of an older version up to date."""
        t = self.dialect.types
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (resource {t['text']} PRIMARY KEY, "
            f"updated_at {t['timestamp']} NOT NULL, last_id BIGINT, extra {t['json']}, "
            f"synced_at {t['timestamp']} NOT NULL DEFAULT {self.dialect.now}, "
            f"instance {t['text']}, filter {t['text']})"
        )
        for column in ("instance", "filter"):
            self._con.execute(
                f"ALTER TABLE {STATE_TABLE} ADD COLUMN IF NOT EXISTS {column} {t['text']}"
            )
        # "Every id at this time" was 2**62 before it was NULL.
        self._con.execute(f"ALTER TABLE {STATE_TABLE} ALTER COLUMN last_id DROP NOT NULL")
        self._run(self._con, f"UPDATE {STATE_TABLE} SET last_id = NULL WHERE last_id >= ?", [NO_ID])
        tables = self._tables()
        if LEGACY_COLUMNS_TABLE in tables and COLUMNS_TABLE not in tables:
            self._con.execute(f"ALTER TABLE {LEGACY_COLUMNS_TABLE} RENAME TO {COLUMNS_TABLE}")
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} (table_name {t['text']} NOT NULL, "
            f"key {t['text']} NOT NULL, column_name {t['text']} NOT NULL, "
            f"kind {t['text']} NOT NULL, PRIMARY KEY (table_name, key))"
        )
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {REJECTED_TABLE} (resource {t['text']} NOT NULL, "
            f"id BIGINT, reason {t['text']} NOT NULL, record {t['text']} NOT NULL, "
            f"_instance {t['text']}, _rejected_at {t['timestamp']} NOT NULL)"
        )
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {INSTANCES_TABLE} (instance {t['text']} PRIMARY KEY, "
            f"bound_at {t['timestamp']} NOT NULL DEFAULT {self.dialect.now})"
        )
        found = self._con.execute(f"SELECT DISTINCT resource FROM {REJECTED_TABLE}").fetchall()
        self._with_rejected = {r[0] for r in found}

    def _create_sql(self, spec: TableSpec, table: str) -> str:
        t = self.dialect.types
        columns = [f'"{c.name}" {t[c.kind]}' for c in spec.columns[1:]]
        return (
            f'CREATE TABLE IF NOT EXISTS "{table}" (id BIGINT PRIMARY KEY, '
            f"{', '.join(columns)}, raw {t['json']}, _synced_at {t['timestamp']} NOT NULL, "
            f"_deleted_at {t['timestamp']}, _instance {t['text']}, _filter {t['text']})"
        )

    def _ensure(self, spec: TableSpec, table: str) -> None:
        if table not in self._ready:
            self._con.execute(self._create_sql(spec, table))
            # Tables made by an older version gain the columns added since.
            t = self.dialect.types
            for column, kind in (("_deleted_at", "timestamp"), ("_instance", "text"),
                                 ("_filter", "text")):  # fmt: skip
                self._con.execute(
                    f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS {column} {t[kind]}'
                )
            self._ready.add(table)

    def _bind(self, instance: str) -> str | None:
        with self._transaction() as con:
            found = con.execute(f"SELECT instance FROM {INSTANCES_TABLE}").fetchall()
            others = sorted(r[0] for r in found if r[0] != instance)
            if others:
                return str(others[0])
            if found:
                return None
            # The first instance here: what an older version wrote is taken as its own, once.
            self._run(con, f"INSERT INTO {INSTANCES_TABLE} (instance) VALUES (?)", [instance])
            self._run(
                con, f"UPDATE {STATE_TABLE} SET instance = ? WHERE instance IS NULL", [instance]
            )
            text = self.dialect.types["text"]
            for table in sorted(self._tables()):
                if not is_resource(table.removeprefix(STAGING_PREFIX)):
                    continue
                for column in ("_instance", "_filter"):
                    con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS {column} {text}')
                self._run(
                    con, f'UPDATE "{table}" SET _instance = ? WHERE _instance IS NULL', [instance]
                )
        return None

    def _upsert(
        self,
        spec: TableSpec,
        table: str,
        batch: Batch,
        watermark: Watermark | None,
        key: str,
        pmql: str | None,
    ) -> None:
        self._ensure(spec, table)
        try:
            with self._transaction() as con:
                self._write_rows(con, spec, table, batch, pmql)
                if batch.rejected:
                    self._write_rejected(con, spec.name, batch)
                if watermark is not None:
                    self._write_state(con, key, watermark, pmql)
        except BaseException:
            self._variables.clear()  # columns added in the rolled-back transaction are gone
            raise

    def _write_rows(
        self, con: Any, spec: TableSpec, table: str, batch: Batch, pmql: str | None
    ) -> None:
        if not len(batch):
            return
        rows = len(batch)
        tagged = Batch(
            [*batch.names, "_instance", "_filter"],
            {**batch.columns, "_instance": [self.instance] * rows, "_filter": [pmql] * rows},
            {**batch.kinds, "_instance": "text", "_filter": "text"},
            batch.records,
            batch.synced_at,
        )
        self._merge(con, table, tagged, "id")
        if spec.name == "requests":
            write_variables(self, con, table, batch)
        if spec.name in self._with_rejected:
            # A record stored now (fixed in ProcessMaker since) is no longer rejected.
            with self._staged_batch(con, REJECTED_TABLE, batch.ids()) as ids:
                self._run(
                    con, f"DELETE FROM {REJECTED_TABLE} WHERE resource = ? AND id IN "
                    f"(SELECT id FROM {ids})", [spec.name],
                )  # fmt: skip

    def _write_rejected(self, con: Any, resource: str, batch: Batch) -> None:
        now = datetime.now(UTC)
        for item in batch.rejected:
            if item.id is not None:
                self._run(con, f"DELETE FROM {REJECTED_TABLE} WHERE resource = ? AND id = ?",
                          [resource, item.id])  # fmt: skip
            self._run(
                con, f"INSERT INTO {REJECTED_TABLE} (resource, id, reason, record, _instance, "
                "_rejected_at) VALUES (?, ?, ?, ?, ?, ?)",
                [resource, item.id, item.reason, item.record, self.instance, now],
            )  # fmt: skip
        self._with_rejected.add(resource)

    def _trial(self, spec: TableSpec, table: str, batch: Batch) -> Exception | None:
        try:
            with self._transaction() as con:
                self._write_rows(con, spec, table, batch, None)
                raise _RollBack
        except _RollBack:
            return None
        except self.row_errors as exc:
            return exc
        finally:
            self._variables.clear()  # the trial's columns were rolled back with it

    def _left_out(self, table: str, keys: list[str]) -> None:
        if not keys:
            return
        held = self.keys_in_raw.setdefault(table.removeprefix(STAGING_PREFIX), set())
        for key in keys:
            if len(held) >= _KEYS_REMEMBERED:
                break
            held.add(key)

    def _merge(self, con: Any, table: str, batch: Batch, key: str) -> None:
        """Upsert ``batch`` into ``table`` by ``key``; a row seen again is no longer deleted."""
        json_type = self.dialect.types["json"]
        names = ", ".join(f'"{n}"' for n in batch.names)
        kinds = {**batch.kinds, "raw": "json"}
        # Arrow and COPY carry JSON as text: cast it where the column is JSON.
        select = ", ".join(
            f'"{n}"::{json_type}' if kinds.get(n) == "json" else f'"{n}"' for n in batch.names
        )
        updates = [f'"{n}" = EXCLUDED."{n}"' for n in batch.names if n != key]
        updates.append('"_deleted_at" = NULL')
        with self._staged_batch(con, table, batch) as source:
            insert = f'INSERT INTO "{table}" ({names}) SELECT {select} FROM {source}'
            if self._may_hold(con, table, source, key):
                insert += f" ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"
            con.execute(insert)

    def _may_hold(self, con: Any, table: str, source: str, key: str) -> bool:
        """Whether ``table`` may hold a key of ``source``; False makes the upsert an insert."""
        return True

    def _write_state(
        self, con: Any, key: str, watermark: Watermark, pmql: str | None = None
    ) -> None:
        extra = self._json_param(watermark.extra) if watermark.extra else None
        last_id = None if watermark.last_id >= NO_ID else watermark.last_id
        self._run(
            con,
            f"INSERT INTO {STATE_TABLE} (resource, updated_at, last_id, extra, synced_at, "
            f"instance, filter) VALUES (?, ?, ?, ?, {self.dialect.now}, ?, ?) "
            "ON CONFLICT (resource) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, last_id = EXCLUDED.last_id, "
            "extra = EXCLUDED.extra, synced_at = EXCLUDED.synced_at, "
            "instance = EXCLUDED.instance, filter = EXCLUDED.filter",
            [key, watermark.updated_at, last_id, extra, self.instance, pmql],
        )

    def _read_state(self, key: str) -> tuple[datetime, int | None, Any] | None:
        row = self._run(
            self._con, f"SELECT updated_at, last_id, extra FROM {STATE_TABLE} WHERE resource = ?",
            [key],
        ).fetchone()  # fmt: skip
        if row is None:
            return None
        # DuckDB hands JSON back as text, psycopg as the decoded value.
        extra = json.loads(row[2]) if isinstance(row[2], str) else row[2]
        return row[0], row[1], extra

    def _reset_staging(self, spec: TableSpec, staging: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{staging}"')
            self._run(con, f"DELETE FROM {STATE_TABLE} WHERE resource = ?", [staging])
            con.execute(self._create_sql(spec, staging))
            if spec.name == "requests":
                drop_variables(self, con, staging)
        self._variables.clear()
        self._ready.add(staging)

    def _swap(self, spec: TableSpec, staging: str, live: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{live}"')
            con.execute(f'ALTER TABLE "{staging}" RENAME TO "{live}"')
            self._after_rename(con, staging, live)
            self._run(con, f"DELETE FROM {STATE_TABLE} WHERE resource = ?", [live])
            self._run(
                con, f"UPDATE {STATE_TABLE} SET resource = ? WHERE resource = ?", [live, staging]
            )
            if spec.name == "requests":
                swap_variables(self, con, staging, live)
        self._variables.clear()
        self._ready.discard(staging)
        self._ready.add(live)

    def _mark_deleted(self, table: str, present: Collection[int], before: datetime) -> int:
        self._ensure(spec_for(table), table)  # a table from before deletions were tracked
        ids = Batch(["id"], {"id": sorted(present)}, {"id": "bigint"})
        with self._transaction() as con:
            with self._staged_batch(con, table, ids) as source:
                marked = self._run(
                    con,
                    f'UPDATE "{table}" SET _deleted_at = ? WHERE _deleted_at IS NULL '
                    f"AND _synced_at < ? AND id NOT IN (SELECT id FROM {source}) RETURNING id",
                    [datetime.now(UTC), before],
                ).fetchall()
                # A row listed again (restored in ProcessMaker) is no longer deleted.
                con.execute(
                    f'UPDATE "{table}" SET _deleted_at = NULL WHERE _deleted_at IS NOT NULL '
                    f"AND id IN (SELECT id FROM {source})"
                )
            if table == "requests":
                mark_variables(self, con, table)
        return len(marked)

    def _count(self, table: str) -> int:
        row = self._con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def _ids(self, table: str) -> set[int]:
        self._ensure(spec_for(table), table)
        rows = self._con.execute(f'SELECT id FROM "{table}" WHERE _deleted_at IS NULL').fetchall()
        return {int(r[0]) for r in rows}

    def _iter_raw(self, table: str) -> Iterator[tuple[int, Any]]:
        result = self._con.execute(f'SELECT id, raw FROM "{table}" ORDER BY id')
        while chunk := result.fetchmany(10_000):
            yield from chunk

    def _tables(self) -> set[str]:
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {r[0] for r in rows}
