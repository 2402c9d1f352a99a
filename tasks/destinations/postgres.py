"""The PostgreSQL destination: COPY a batch into a temp table, then upsert it in one statement."""

# Table names are quoted into SQL only after tasks.catalogue.spec_for accepted them (a fixed
# set, or collection_<digits>_records); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from tasks.catalogue import TableSpec
from tasks.destinations.base import STATE_TABLE, Destination, Watermark, first_line, redact_userinfo
from tasks.destinations.batch import Batch
from tasks.errors import DestinationError
from tasks.redaction import redact

__all__ = ["PostgresDestination"]

_SQL_TYPES = {"bigint": "BIGINT", "text": "TEXT", "timestamp": "TIMESTAMPTZ"}
_FIXES: list[tuple[type[Exception], str]] = [
    (
        psycopg.OperationalError,
        "check host, port, user and that PostgreSQL is running; put a password in PGPASSWORD "
        "or ~/.pgpass",
    ),
    (pg_errors.InsufficientPrivilege, "grant the user CREATE and INSERT on the schema"),
    (psycopg.DataError, "a value does not fit its column: run a full refresh"),
    (psycopg.IntegrityError, "a row breaks a table constraint: run a full refresh"),
    (psycopg.InterfaceError, "the connection was closed: reopen the destination and rerun"),
    (psycopg.Error, "the transaction was rolled back: check the database and rerun"),
]


def _create_sql(spec: TableSpec, table: str) -> str:
    columns = [f'"{c.name}" {_SQL_TYPES[c.kind]}' for c in spec.columns[1:]]
    return (
        f'CREATE TABLE IF NOT EXISTS "{table}" (id BIGINT PRIMARY KEY, '
        f"{', '.join(columns)}, raw JSONB, _synced_at TIMESTAMPTZ NOT NULL)"
    )


class PostgresDestination(Destination):
    """A PostgreSQL database (current schema); psycopg 3, one connection, explicit transactions."""

    kind = "PostgreSQL"
    driver_error: ClassVar[type[Exception]] = psycopg.Error

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        super().__init__(redact_userinfo(url))
        self._password = parts.password
        try:
            self._con = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self._con.execute("SET TIME ZONE 'UTC'")
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (resource TEXT PRIMARY KEY, "
                "updated_at TIMESTAMPTZ NOT NULL, last_id BIGINT NOT NULL, extra JSONB, "
                "synced_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        except psycopg.Error as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(f"PostgreSQL {self.label}: {cause}: {fix}") from exc
        self._ready: set[str] = set()

    @classmethod
    def from_url(cls, url: str) -> PostgresDestination:
        """Open ``postgresql://user@host:port/db`` (``postgres://`` works too)."""
        return cls(url)

    def close(self) -> None:
        self._con.close()

    def _explain(self, exc: Exception) -> tuple[str, str]:
        fix = next(fix for kind, fix in _FIXES if isinstance(exc, kind))
        # libpq messages name host and user, not the password; redact anyway in case it echoes.
        return redact(first_line(exc), [self._password]), fix

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        # psycopg rolls back when the block raises, and commits when it ends.
        with self._con.transaction():
            yield self._con

    def _ensure(self, spec: TableSpec, table: str) -> None:
        if table not in self._ready:
            self._con.execute(_create_sql(spec, table))
            self._ready.add(table)

    def _upsert(
        self, spec: TableSpec, table: str, batch: Batch, watermark: Watermark | None
    ) -> None:
        self._ensure(spec, table)
        names = ", ".join(f'"{n}"' for n in batch.names)
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in batch.names[1:])
        with self._transaction() as con:
            if len(batch):
                con.execute(f'CREATE TEMP TABLE _pm_batch (LIKE "{table}") ON COMMIT DROP')
                with con.cursor() as cur:
                    with cur.copy(f"COPY _pm_batch ({names}) FROM STDIN") as copy:
                        for row in zip(*(batch.columns[n] for n in batch.names), strict=True):
                            copy.write_row(row)
                    cur.execute(
                        f'INSERT INTO "{table}" ({names}) SELECT {names} FROM _pm_batch '
                        f"ON CONFLICT (id) DO UPDATE SET {updates}"
                    )
            if watermark is not None:
                self._write_state(con, table, watermark)

    def _write_state(self, con: psycopg.Connection[Any], key: str, watermark: Watermark) -> None:
        con.execute(
            f"INSERT INTO {STATE_TABLE} (resource, updated_at, last_id, extra, synced_at) "
            "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (resource) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, last_id = EXCLUDED.last_id, "
            "extra = EXCLUDED.extra, synced_at = EXCLUDED.synced_at",
            [key, watermark.updated_at, watermark.last_id,
             Jsonb(dict(watermark.extra)) if watermark.extra else None],
        )  # fmt: skip

    def _read_state(self, key: str) -> tuple[datetime, int, Any] | None:
        row = self._con.execute(
            f"SELECT updated_at, last_id, extra FROM {STATE_TABLE} WHERE resource = %s", [key]
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def _reset_staging(self, spec: TableSpec, staging: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{staging}"')
            con.execute(f"DELETE FROM {STATE_TABLE} WHERE resource = %s", [staging])
            con.execute(_create_sql(spec, staging))
        self._ready.add(staging)

    def _swap(self, spec: TableSpec, staging: str, live: str) -> None:
        with self._transaction() as con:
            con.execute(f'DROP TABLE IF EXISTS "{live}"')
            con.execute(f'ALTER TABLE "{staging}" RENAME TO "{live}"')
            # Index names share the table namespace: free "_staging_x_pkey" for the next refresh.
            con.execute(f'ALTER INDEX IF EXISTS "{staging}_pkey" RENAME TO "{live}_pkey"')
            con.execute(f"DELETE FROM {STATE_TABLE} WHERE resource = %s", [live])
            con.execute(
                f"UPDATE {STATE_TABLE} SET resource = %s WHERE resource = %s", [live, staging]
            )
        self._ready.discard(staging)
        self._ready.add(live)

    def _count(self, table: str) -> int:
        row = self._con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def _iter_raw(self, table: str) -> Iterator[tuple[int, Any]]:
        # A named (server-side) cursor streams, so memory stays flat on large tables.
        with self._transaction(), self._con.cursor(name="_pm_checksum") as cur:
            cur.execute(f'SELECT id, raw FROM "{table}" ORDER BY id')
            while chunk := cur.fetchmany(10_000):
                yield from chunk

    def _tables(self) -> set[str]:
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {r[0] for r in rows}
