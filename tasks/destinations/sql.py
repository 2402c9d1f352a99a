"""The SQL both backends share: state table, watermark upsert, batch upsert, staging swap.

As in dlt's ``sql_client``, the steps are written once here and a backend supplies only its
dialect (type names, parameter marker, JSON binding) and the few operations its driver does
differently: opening a transaction, loading a batch as a relation, streaming a table.
"""

# Table and column names are quoted into SQL only after tasks.catalogue.spec_for (or the
# variables layer's normalisation) accepted them; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from processmaker_prefect.catalogue import TableSpec, spec_for
from processmaker_prefect.destinations.base import STATE_TABLE, Destination, Watermark
from processmaker_prefect.destinations.batch import Batch
from processmaker_prefect.destinations.variables import COLUMNS_TABLE
from processmaker_prefect.destinations.variables_sql import (
    drop_variables,
    mark_variables,
    swap_variables,
    write_variables,
)

__all__ = ["Dialect", "SqlDestination"]


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

    def _create_state(self) -> None:
        t = self.dialect.types
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (resource {t['text']} PRIMARY KEY, "
            f"updated_at {t['timestamp']} NOT NULL, last_id BIGINT NOT NULL, extra {t['json']}, "
            f"synced_at {t['timestamp']} NOT NULL DEFAULT {self.dialect.now})"
        )
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} (table_name {t['text']} NOT NULL, "
            f"key {t['text']} NOT NULL, column_name {t['text']} NOT NULL, "
            f"kind {t['text']} NOT NULL, PRIMARY KEY (table_name, key))"
        )

    def _create_sql(self, spec: TableSpec, table: str) -> str:
        t = self.dialect.types
        columns = [f'"{c.name}" {t[c.kind]}' for c in spec.columns[1:]]
        return (
            f'CREATE TABLE IF NOT EXISTS "{table}" (id BIGINT PRIMARY KEY, '
            f"{', '.join(columns)}, raw {t['json']}, _synced_at {t['timestamp']} NOT NULL, "
            f"_deleted_at {t['timestamp']})"
        )

    def _ensure(self, spec: TableSpec, table: str) -> None:
        if table not in self._ready:
            self._con.execute(self._create_sql(spec, table))
            # Tables made before deletions were tracked gain the column here.
            self._con.execute(
                f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS _deleted_at '
                f"{self.dialect.types['timestamp']}"
            )
            self._ready.add(table)

    def _upsert(
        self, spec: TableSpec, table: str, batch: Batch, watermark: Watermark | None, key: str
    ) -> None:
        self._ensure(spec, table)
        try:
            with self._transaction() as con:
                if len(batch):
                    self._merge(con, table, batch, "id")
                    if spec.name == "requests":
                        write_variables(self, con, table, batch)
                if watermark is not None:
                    self._write_state(con, key, watermark)
        except BaseException:
            self._variables.clear()  # columns added in the rolled-back transaction are gone
            raise

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

    def _write_state(self, con: Any, key: str, watermark: Watermark) -> None:
        extra = self._json_param(watermark.extra) if watermark.extra else None
        self._run(
            con,
            f"INSERT INTO {STATE_TABLE} (resource, updated_at, last_id, extra, synced_at) "
            f"VALUES (?, ?, ?, ?, {self.dialect.now}) ON CONFLICT (resource) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, last_id = EXCLUDED.last_id, "
            "extra = EXCLUDED.extra, synced_at = EXCLUDED.synced_at",
            [key, watermark.updated_at, watermark.last_id, extra],
        )

    def _read_state(self, key: str) -> tuple[datetime, int, Any] | None:
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
