"""The SQL of request variables tables: evolve the columns, upsert, stage and swap them.

Called by :class:`tasks.destinations.sql.SqlDestination` inside the transaction that writes
the requests batch, so a request and its variables are always committed together.
"""

# Table names are request_variables_<int> (or their _staging_ twins) and column names come
# from variables.column_name ([a-z0-9_], quoted anyway); every key is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from processmaker_prefect.destinations.batch import Batch, bigint, decode_text, encode_text
from processmaker_prefect.destinations.variables import (
    COLUMNS_TABLE,
    VARIABLES_PREFIX,
    column_values,
    plan_columns,
    variables_table,
)

__all__ = ["drop_variables", "mark_variables", "swap_variables", "write_variables"]


class _Sql(Protocol):
    """What these steps need of a SQL destination."""

    @property
    def dialect(self) -> Any: ...
    @property
    def _variables(self) -> dict[str, dict[str, tuple[str, str]]]: ...
    @property
    def max_variable_columns(self) -> int: ...
    def _left_out(self, table: str, keys: list[str]) -> None: ...
    def _run(self, con: Any, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def _run_many(self, con: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def _merge(self, con: Any, table: str, batch: Batch, key: str) -> None: ...
    def _tables(self) -> set[str]: ...
    def _after_rename(self, con: Any, staging: str, live: str) -> None: ...


def write_variables(dest: _Sql, con: Any, requests_table: str, batch: Batch) -> None:
    """Upsert the ``data`` of each request of ``batch`` into its process's variables table."""
    by_process: dict[int, tuple[list[int], list[Mapping[str, Any]]]] = {}
    for ident, record in zip(batch.columns["id"], batch.records, strict=True):
        process, data = record.get("process_id"), record.get("data")
        if type(process) is not int:
            process = bigint(process)
        if process is not None and isinstance(data, Mapping):
            ids, datas = by_process.setdefault(process, ([], []))
            ids.append(ident)
            datas.append(data)
    for process, (ids, datas) in by_process.items():
        table = variables_table(requests_table, process)
        known = _evolve(dest, con, table, datas)
        columns: dict[str, list[Any]] = {
            "request_id": ids,
            "_synced_at": [batch.synced_at] * len(ids),
        }
        for key, (column, kind) in known.items():
            columns[column] = column_values([data.get(key) for data in datas], kind)
        kinds = {"request_id": "bigint", "_synced_at": "timestamp"}
        kinds.update({column: kind for column, kind in known.values()})
        dest._merge(con, table, Batch(list(columns), columns, kinds), "request_id")


def _evolve(
    dest: _Sql, con: Any, table: str, records: list[Mapping[str, Any]]
) -> dict[str, tuple[str, str]]:
    """Create ``table`` if new, add and widen columns for ``records``; return key -> column.

    The columns known are kept in ``dest._variables`` (the destination drops them when a
    transaction fails), so a batch that brings no new key and no wider value runs no SQL
    here; otherwise they are read again from ``_variable_columns`` inside the transaction.
    """
    cap = dest.max_variable_columns
    cached = dest._variables.get(table)
    if cached is not None:
        added, widened, left_out = plan_columns(cached, records, cap)
        if not added and not widened:
            dest._left_out(table, left_out)
            return cached
    types = dest.dialect.types
    con.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" (request_id BIGINT PRIMARY KEY, '
        f"_synced_at {types['timestamp']} NOT NULL, _deleted_at {types['timestamp']})"
    )
    found = dest._run(
        con, f"SELECT key, column_name, kind FROM {COLUMNS_TABLE} WHERE table_name = ?", [table]
    ).fetchall()
    # Keys are stored encoded (PostgreSQL's text cannot hold NUL): see batch.encode_text.
    known = {decode_text(key): (column, kind) for key, column, kind in found}
    added, widened, left_out = plan_columns(known, records, cap)
    dest._left_out(table, left_out)
    for column, kind in added.values():
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {types[kind]}')
    if added:
        rows = [[table, encode_text(key), column, kind] for key, (column, kind) in added.items()]
        dest._run_many(
            con,
            f"INSERT INTO {COLUMNS_TABLE} (table_name, key, column_name, kind) VALUES (?, ?, ?, ?)",
            rows,
        )
    for key, (column, kind) in widened.items():
        con.execute(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {types[kind]} '
            f'USING "{column}"::{types[kind]}'
        )
        dest._run(con, f"UPDATE {COLUMNS_TABLE} SET kind = ? WHERE table_name = ? AND key = ?",
                  [kind, table, encode_text(key)])  # fmt: skip
    dest._variables[table] = merged = {**known, **added, **widened}
    return merged


def drop_variables(dest: _Sql, con: Any, requests_table: str) -> None:
    """Drop the variables tables that belong to ``requests_table`` (live or staging)."""
    prefix = variables_table(requests_table, 0)[:-1]
    for table in dest._tables():
        if table.startswith(prefix) and table[len(prefix) :].isdigit():
            con.execute(f'DROP TABLE IF EXISTS "{table}"')
            dest._run(con, f"DELETE FROM {COLUMNS_TABLE} WHERE table_name = ?", [table])


def swap_variables(dest: _Sql, con: Any, staging: str, live: str) -> None:
    """Replace the live variables tables with the staged ones (a full refresh's end)."""
    drop_variables(dest, con, live)
    prefix = variables_table(staging, 0)[:-1]
    for table in dest._tables():
        if table.startswith(prefix) and table[len(prefix) :].isdigit():
            target = f"{VARIABLES_PREFIX}{table[len(prefix) :]}"
            con.execute(f'ALTER TABLE "{table}" RENAME TO "{target}"')
            dest._after_rename(con, table, target)
            dest._run(con, f"UPDATE {COLUMNS_TABLE} SET table_name = ? WHERE table_name = ?",
                      [target, table])  # fmt: skip


def mark_variables(dest: _Sql, con: Any, requests_table: str) -> None:
    """Copy each request's ``_deleted_at`` to its variables row (after a reconcile)."""
    prefix = variables_table(requests_table, 0)[:-1]
    for table in dest._tables():
        if table.startswith(prefix) and table[len(prefix) :].isdigit():
            con.execute(
                f'UPDATE "{table}" SET _deleted_at = r._deleted_at FROM "{requests_table}" AS r '
                f'WHERE r.id = "{table}".request_id '
                f'AND "{table}"._deleted_at IS DISTINCT FROM r._deleted_at'
            )
