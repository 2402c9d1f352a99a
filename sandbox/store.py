"""The sandbox's data: a seeded SQLite database, one connection per thread, indexed paging.

Reads run concurrently (WAL, a connection per server thread); writes are serialised by a lock so
the server clock and the rows it stamps stay consistent.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.hostile import add_hostile_requests
from processmaker_prefect.sandbox.resources import RESOURCES
from processmaker_prefect.sandbox.seed import create_schema, seed_database
from processmaker_prefect.sandbox.seed_admin import ADMIN_TABLES, REQUEST
from processmaker_prefect.sandbox.snapshot import Snapshot

__all__ = ["Store"]

Row = sqlite3.Row


class Store:
    """Seeded, deterministic ProcessMaker data behind a small query API.

    Args:
        config: ``records``, ``seed`` and ``username`` shape the data; ``database`` is the
            SQLite file (recreated), or None for a file in a private temporary directory.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.database is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pm-sandbox-")
            self.path = Path(self._tmp.name) / "sandbox.sqlite3"
        else:
            self.path = Path(config.database)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._write_lock = threading.Lock()
        started = time.perf_counter()
        db = self._connect()
        db.execute("PRAGMA journal_mode=WAL")
        create_schema(db)
        seed_database(db, config.records, config.seed, config.username, config.ties,
                      config.distinct_updated_at)  # fmt: skip
        if config.hostile_data:
            add_hostile_requests(db)
        self.seed_seconds = time.perf_counter() - started
        self._snapshot = Snapshot(self.path)
        # Live writes must sort after every seeded row even on a machine whose clock is behind.
        self._last_write: int = 1 + max(
            int(db.execute(f"SELECT COALESCE(MAX(updated_at), 0) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("users", "groups", "processes", "requests", "tasks", "collections",
                          "records", *ADMIN_TABLES)
        )  # fmt: skip

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=OFF")  # a disposable sandbox; speed over durability
        db.execute("PRAGMA busy_timeout=10000")
        with self._conn_lock:
            self._connections.append(db)
        return db

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = self._connect()
            self._local.db = conn
        return conn

    def close(self) -> None:
        """Close every connection and delete the temporary database."""
        self._snapshot.close()
        with self._conn_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- reads -------------------------------------------------------------------------------

    def page(
        self,
        resource: str,
        where: list[str],
        params: list[object],
        order_by: str,
        descending: bool,
        page: int,
        per_page: int,
    ) -> tuple[list[Row], int]:
        """One page of ``resource`` matching ``where`` (ANDed) and the total match count.

        ``order_by`` must already be validated against the resource's allow-list; ``id`` breaks
        ties in the same direction so the order is total and pages never overlap.
        """
        spec = RESOURCES[resource]
        if order_by not in spec.sortable and not order_by.startswith("json_extract("):
            raise ValueError(f"order_by {order_by!r} is not in the {resource} allow-list")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        direction = "DESC" if descending else "ASC"
        sql_from = f"FROM {spec.table}{clause}"
        total = self.db.execute(f"SELECT COUNT(*) {sql_from}", params).fetchone()[0]
        order = order_by if order_by.startswith("json_") else f"{spec.table}.{order_by}"
        rows = self.db.execute(
            f"SELECT {spec.table}.* {sql_from} "
            f"ORDER BY {order} {direction}, {spec.table}.id {direction} LIMIT ? OFFSET ?",
            [*params, per_page, (page - 1) * per_page],
        ).fetchall()
        return rows, total

    def get(self, table: str, row_id: int) -> Row | None:
        """The row ``row_id`` of ``table`` (a fixed table name), or None."""
        sql = f"SELECT * FROM {table} WHERE id = ?"  # noqa: S608
        row: Row | None = self.db.execute(sql, (row_id,)).fetchone()
        return row

    def by_ids(self, table: str, ids: set[int]) -> dict[int, Row]:
        """Rows of ``table`` keyed by id, for embedding related objects in a page."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        sql = f"SELECT * FROM {table} WHERE id IN ({marks})"  # noqa: S608
        return {row["id"]: row for row in self.db.execute(sql, list(ids))}

    # -- writes ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One atomic write transaction; readers never see a request without its task."""
        with self._write_lock:
            self._snapshot.before_write(self.db)
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @property
    def last_write(self) -> int:
        """Epoch seconds of the latest write (just after the newest seeded row before any)."""
        return self._last_write

    def now(self) -> int:
        # Second resolution like PM's timestamps, and never behind an earlier write, so a
        # client's "modified > T" window sees every write exactly once.
        self._last_write = max(int(time.time()), self._last_write)
        return self._last_write

    def start_request(self, process: Row, user_id: int, data: dict[str, Any]) -> int:
        """Create an ACTIVE request of ``process`` with one ACTIVE task; return the request id."""
        with self.writing():
            now = self.now()
            cur = self.db.execute(
                "INSERT INTO requests (process_id, user_id, status, name, case_title, data, "
                "initiated_at, completed_at, created_at, updated_at) "
                "VALUES (?, ?, 'ACTIVE', ?, '', ?, ?, NULL, ?, ?)",
                (process["id"], user_id, process["name"], json.dumps(data), now, now, now),
            )
            request_id = int(cur.lastrowid or 0)
            self.db.execute(
                "UPDATE requests SET case_title = name || ' #' || id WHERE id = ?", (request_id,)
            )
            self.db.execute(
                "INSERT INTO tasks (process_request_id, process_id, user_id, element_id, "
                "element_name, status, due_at, completed_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'ACTIVE', ?, NULL, ?, ?)",
                (request_id, process["id"], user_id, process["task_element"],
                 process["task_name"], now + 3 * 86400, now, now),
            )  # fmt: skip
        return request_id

    def complete_task(self, task: Row, data: dict[str, Any]) -> None:
        """Close ``task``, merge ``data`` into its request, complete the request if done."""
        with self.writing():
            now = self.now()
            self.db.execute(
                "UPDATE tasks SET status = 'CLOSED', completed_at = ?, updated_at = ? WHERE id = ?",
                (now, now, task["id"]),
            )
            self.db.execute(
                "UPDATE requests SET data = json_patch(data, ?), updated_at = ? WHERE id = ?",
                (json.dumps(data), now, task["process_request_id"]),
            )
            self.db.execute(
                "UPDATE requests SET status = 'COMPLETED', completed_at = ? WHERE id = ? "
                "AND status = 'ACTIVE' AND NOT EXISTS (SELECT 1 FROM tasks t WHERE "
                "t.process_request_id = requests.id AND t.status = 'ACTIVE')",
                (now, task["process_request_id"]),
            )

    def reassign_task(self, task: Row, user: Row) -> None:
        """Assign ``task`` to ``user`` and put the user in its request's ``_user`` data.

        ``ProcessRequestToken::reassign`` saves the new ``user_id`` and ``persistUserData``
        writes the user's attributes into the request's data under ``_user``.
        """
        person = {key: user[key] for key in ("id", "username", "email", "firstname", "lastname",
                                             "status", "title")}  # fmt: skip
        with self.writing():
            now = self.now()
            self.db.execute(
                "UPDATE tasks SET user_id = ?, updated_at = ? WHERE id = ?",
                (user["id"], now, task["id"]),
            )
            self.db.execute(
                "UPDATE requests SET data = json_set(data, '$._user', json(?)), updated_at = ? "
                "WHERE id = ?",
                (json.dumps(person), now, task["process_request_id"]),
            )

    def add_record(self, collection_id: int, data: dict[str, Any]) -> int:
        with self.writing():
            now = self.now()
            cur = self.db.execute(
                "INSERT INTO records (collection_id, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (collection_id, json.dumps(data), now, now),
            )
            return int(cur.lastrowid or 0)

    def write_record(self, record_id: int, data: dict[str, Any], *, merge: bool) -> None:
        """Replace (PUT) or merge (PATCH) a record's data."""
        expr = "json_patch(data, ?)" if merge else "json(?)"
        with self.writing():
            self.db.execute(
                f"UPDATE records SET data = {expr}, updated_at = ? WHERE id = ?",  # noqa: S608
                (json.dumps(data), self.now(), record_id),
            )

    def delete_record(self, record_id: int) -> None:
        with self.writing():
            self.db.execute("DELETE FROM records WHERE id = ?", (record_id,))

    def restore(self) -> bool:
        """Put every row back as seeded (``POST /_sandbox/reset``); True if anything changed.

        The write clock keeps running, so writes after a reset still sort after earlier ones.
        """
        with self._write_lock:
            return self._snapshot.restore(self.db)

    def delete_request(self, request_id: int) -> None:
        """Delete a request, its tasks and its files (``DELETE /api/1.0/requests/{id}``).

        Its comments stay, as PM's do (a morph relation, no cascade).
        """
        with self.writing():
            self.db.execute("DELETE FROM tasks WHERE process_request_id = ?", (request_id,))
            self.db.execute(
                "DELETE FROM media WHERE model_type = ? AND model_id = ?", (REQUEST, request_id)
            )
            self.db.execute("DELETE FROM requests WHERE id = ?", (request_id,))
