"""``pm-prefect sql``: one query on a destination, for a person without a DuckDB shell.

Read-only: DuckDB opens the file read-only, PostgreSQL runs the query in a read-only
transaction. Driver errors become one line naming the cause (the driver's first line) and the
fix; the URL is never printed with a password (it is refused, as for ``sync``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processmaker_prefect import (
    ConfigurationError,
    ProcessMakerPrefectError,
    check_destination_url,
    password_in_url,
)

__all__ = ["QueryError", "QueryResult", "list_tables", "run_query"]

TABLES_SQL = (
    "select table_name from information_schema.tables "
    "where table_schema = current_schema() order by table_name"
)


class QueryError(ProcessMakerPrefectError):
    """The query failed, or the destination could not be opened to run it."""


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of one query (at most ``limit`` rows; ``more`` if there were more)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    more: bool


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _duckdb_path(destination: str) -> str:
    path = destination.removeprefix("duckdb:///").partition("?")[0]
    if path == ":memory:":
        raise ConfigurationError(
            "duckdb:///:memory: holds nothing between commands: pass the file a sync wrote, "
            "e.g. --destination duckdb:///.demo/processmaker.duckdb"
        )
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ConfigurationError(
            f"No DuckDB file at {resolved}: run pm-prefect sync (or pm-prefect demo) first, "
            "or pass --destination duckdb:///path/to/file.duckdb"
        )
    return str(resolved)


def _result(cursor: Any, limit: int) -> QueryResult:
    """The first ``limit`` rows of an executed statement, and whether there were more (both
    drivers' cursors: DB-API ``description`` and ``fetchmany``)."""
    columns = tuple(d[0] for d in cursor.description or ())
    rows = cursor.fetchmany(limit + 1) if columns else []
    return QueryResult(columns, tuple(rows[:limit]), len(rows) > limit)


def _run_duckdb(destination: str, statements: Sequence[str], limit: int) -> list[QueryResult]:
    import duckdb

    path = _duckdb_path(destination)
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise QueryError(
                f"DuckDB {path} is being written by another process (a sync): wait for it "
                "to finish and rerun (DuckDB admits one writer and no readers meanwhile)"
            ) from None
        raise QueryError(f"DuckDB {path}: {_first_line(exc)}: check the file") from None
    try:
        return [_result(con.execute(statement), limit) for statement in statements]
    except duckdb.Error as exc:
        raise QueryError(
            f"{_first_line(exc)}: fix the query (the file is opened read-only)"
        ) from None
    finally:
        con.close()


def _run_postgres(destination: str, statements: Sequence[str], limit: int) -> list[QueryResult]:
    try:
        import psycopg
    except ImportError:
        raise ConfigurationError(
            "postgresql:// destinations need psycopg: pip install 'processmaker-prefect[postgres]'"
        ) from None
    try:
        con = psycopg.connect(destination, connect_timeout=10)
    except psycopg.Error as exc:
        raise QueryError(
            f"PostgreSQL: {_first_line(exc)}: check the host, the database and PGPASSWORD "
            "or ~/.pgpass"
        ) from None
    try:
        con.read_only = True  # the command only reads
        with con.cursor() as cursor:
            return [_result(cursor.execute(statement.encode()), limit) for statement in statements]
    except psycopg.Error as exc:
        raise QueryError(
            f"{_first_line(exc)}: fix the query (it runs in a read-only transaction)"
        ) from None
    finally:
        con.close()


def run_queries(destination: str, statements: Sequence[str], limit: int) -> list[QueryResult]:
    """Run ``statements`` in order on one read-only connection to ``destination``.

    Raises:
        ConfigurationError: a bad URL (or one holding a password), or no such DuckDB file.
        QueryError: the database cannot be opened, or a statement fails.
    """
    if where := password_in_url(destination):
        raise ConfigurationError(
            f"The destination URL holds a password in {where}: put it in PGPASSWORD or "
            "~/.pgpass and pass --destination postgresql://user@host/db"
        )
    scheme = check_destination_url(destination)
    run = _run_duckdb if scheme == "duckdb" else _run_postgres
    return run(destination, statements, limit)


def run_query(destination: str, query: str, limit: int = 1000) -> QueryResult:
    """Run one read-only ``query`` on ``destination`` (see :func:`run_queries`)."""
    if not query.strip():
        raise ConfigurationError('The query is empty: e.g. pm-prefect sql "select 1"')
    return run_queries(destination, [query], limit)[0]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def list_tables(destination: str) -> list[tuple[str, int]]:
    """Every table of the destination's schema with its row count, sorted by name."""
    names = [str(row[0]) for row in run_query(destination, TABLES_SQL, limit=10_000).rows]
    # Names read from the catalogue just now, quoted as identifiers.
    counting = [f"select count(*) from {_quoted(name)}" for name in names]  # noqa: S608
    counts = run_queries(destination, counting, 1)
    return [(name, int(result.rows[0][0])) for name, result in zip(names, counts, strict=True)]
