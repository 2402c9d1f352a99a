"""The PostgreSQL destination: COPY a batch into a temp table read by the shared upsert."""

# Table names are quoted into SQL only after tasks.catalogue.spec_for accepted them; every
# value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from processmaker_prefect.destinations.base import first_line, redact_userinfo, schema_option
from processmaker_prefect.destinations.batch import Batch
from processmaker_prefect.destinations.sql import Dialect, SqlDestination
from processmaker_prefect.errors import DestinationError
from processmaker_prefect.redaction import redact

__all__ = ["PostgresDestination"]

_FIXES: list[tuple[type[Exception], str]] = [
    # Before OperationalError, its base: a limit of PostgreSQL's, not a connection problem.
    (
        pg_errors.ProgramLimitExceeded,
        "a row or table is past a PostgreSQL limit (1,600 columns a table): lower "
        "PROCESSMAKER_MAX_VARIABLE_COLUMNS",
    ),
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


_SCHEMA_LOCK = 0x706D5F73796E63  # "pm_sync": the advisory lock key of the shared tables


class PostgresDestination(SqlDestination):
    """A PostgreSQL database (current schema); psycopg 3, one connection, explicit transactions."""

    kind = "PostgreSQL"
    driver_error: ClassVar[type[Exception]] = psycopg.Error
    # DataError: a value PostgreSQL refuses (jsonb depth, a character it cannot encode...);
    # ProgramLimitExceeded: a row or a table past a size limit.
    row_errors: ClassVar[tuple[type[Exception], ...]] = (
        psycopg.DataError, pg_errors.ProgramLimitExceeded,
    )  # fmt: skip
    encodes_nul = True  # jsonb cannot hold \u0000
    dialect: ClassVar[Dialect] = Dialect(
        types={"bigint": "BIGINT", "text": "TEXT", "timestamp": "TIMESTAMPTZ", "json": "JSONB",
               "double": "DOUBLE PRECISION", "boolean": "BOOLEAN"},
        param="%s",
        now="now()",
    )  # fmt: skip

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        schema = schema_option(url)
        # ``schema`` is ours, not libpq's: the rest of the query goes to libpq.
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
        url = parts._replace(query=query).geturl()
        label = redact_userinfo(url)
        super().__init__(label if schema is None else f"{label} (schema {schema})")
        self._password = parts.password
        try:
            self._con = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self._con.execute("SET TIME ZONE 'UTC'")
            if schema is not None:  # every table of this connection lives in its schema
                self._con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._con.execute(f'SET search_path TO "{schema}"')
            self._create_state()
        except psycopg.Error as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(f"PostgreSQL {self.label}: {cause}: {fix}") from exc

    def _create_state(self) -> None:
        # The resources of one sync open the database at once, and two concurrent CREATE TABLE
        # IF NOT EXISTS of one name collide in PostgreSQL's catalogue (a duplicate pg_type
        # row): the shared tables are created by one session at a time.
        with self._con.transaction():
            self._con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            super()._create_state()

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

    @contextmanager
    def _staged_batch(self, con: Any, table: str, batch: Batch) -> Iterator[str]:
        names = ", ".join(f'"{n}"' for n in batch.names)
        # The batch's columns with the table's types and no constraints (a batch of ids only
        # has no _synced_at).
        con.execute(
            f'CREATE TEMP TABLE _pm_batch ON COMMIT DROP AS SELECT {names} FROM "{table}" '
            "WITH NO DATA"
        )
        with con.cursor() as cur, cur.copy(f"COPY _pm_batch ({names}) FROM STDIN") as copy:
            for row in zip(*(batch.columns[n] for n in batch.names), strict=True):
                copy.write_row(row)
        yield "_pm_batch"
        # A requests batch stages its variables next, in the same transaction.
        con.execute("DROP TABLE pg_temp._pm_batch")

    def _run_many(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # A psycopg connection has no executemany; its cursor shares the transaction.
        with con.cursor() as cur:
            cur.executemany(self.dialect.bind(sql), [list(r) for r in rows])

    def _json_param(self, value: Mapping[str, Any]) -> Any:
        return Jsonb(dict(value))

    def _after_rename(self, con: Any, staging: str, live: str) -> None:
        # Index names share the table namespace: free "_staging_x_pkey" for the next refresh.
        con.execute(f'ALTER INDEX IF EXISTS "{staging}_pkey" RENAME TO "{live}_pkey"')

    def _iter_raw(self, table: str) -> Iterator[tuple[int, Any]]:
        # A named (server-side) cursor streams, so memory stays flat on large tables.
        with self._transaction(), self._con.cursor(name="_pm_checksum") as cur:
            cur.execute(f'SELECT id, raw FROM "{table}" ORDER BY id')
            while chunk := cur.fetchmany(10_000):
                yield from chunk
