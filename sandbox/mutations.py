"""The SQL of live writes beyond the API's own: churn, inserts, deletes, request-data changes.

Each function runs inside the store's write transaction (``Store._writing``) and binds every
value; table and column names come from fixed allow-lists, never from a request.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["CASTS", "MUTATIONS", "cast_request_data", "set_request_data", "update_rows"]

# json_type() names by the cast a client asks for; the SQL turns the old value into that type.
CASTS: dict[str, str] = {
    "string": "CAST(json_extract(data, :path) AS TEXT)",
    "number": "CAST(json_extract(data, :path) AS REAL)",
    "boolean": "json(CASE WHEN json_extract(data, :path) THEN 'true' ELSE 'false' END)",
    "object": "json_object('value', json_extract(data, :path))",
    "array": "json_array(json_extract(data, :path))",
}


def update_rows(db: sqlite3.Connection, resource: str, ids: list[int], now: int) -> None:
    """Apply ``resource``'s churn statements to ``ids``, stamping ``updated_at = now``."""
    marks = ",".join("?" * len(ids))
    for sql in MUTATIONS[resource]:
        db.execute(sql.format(marks=marks), [now, *ids])


def set_request_data(
    db: sqlite3.Connection, process_id: int, values: dict[str, Any], now: int | None
) -> int:
    """Set ``values`` in the data of every request of ``process_id``; return the row count.

    ``now`` None leaves ``updated_at`` alone: a change an incremental sync cannot see.
    """
    stamp = "updated_at" if now is None else ":now"
    cur = db.execute(
        f"UPDATE requests SET data = json_patch(data, :values), updated_at = {stamp} "  # noqa: S608
        "WHERE process_id = :process",
        {"values": json.dumps(values), "now": now, "process": process_id},
    )
    return cur.rowcount


def cast_request_data(
    db: sqlite3.Connection, process_id: int, key: str, to: str, now: int | None
) -> int:
    """Change the JSON type of ``data.<key>`` in requests of ``process_id`` that have it."""
    stamp = "updated_at" if now is None else ":now"
    cur = db.execute(
        f"UPDATE requests SET data = json_set(data, :path, {CASTS[to]}), "  # noqa: S608
        f"updated_at = {stamp} WHERE process_id = :process "
        "AND json_type(data, :path) IS NOT NULL",
        {"path": f'$."{key}"', "now": now, "process": process_id},
    )
    return cur.rowcount


# Each statement binds (now, *ids). Names change by appending a revision counter.
MUTATIONS: dict[str, list[str]] = {
    "requests": [
        "UPDATE tasks SET status = 'CLOSED', completed_at = ?1, updated_at = ?1 "
        "WHERE process_request_id IN ({marks}) AND status = 'ACTIVE'",
        "UPDATE requests SET status = CASE status WHEN 'ACTIVE' THEN 'COMPLETED' ELSE status END,"
        " completed_at = CASE status WHEN 'ACTIVE' THEN ?1 ELSE completed_at END,"
        " case_title = name || ' #' || id || ' (rev ' || (?1 % 100000) || ')', updated_at = ?1 "
        "WHERE id IN ({marks})",
    ],
    "tasks": [
        "UPDATE tasks SET status = CASE status WHEN 'ACTIVE' THEN 'CLOSED' ELSE status END,"
        " completed_at = CASE status WHEN 'ACTIVE' THEN ?1 ELSE completed_at END,"
        " updated_at = ?1 WHERE id IN ({marks})",
    ],
    "users": [
        "UPDATE users SET title = 'Clerk (rev ' || (?1 % 100000) || ')', updated_at = ?1 "
        "WHERE id IN ({marks})",
    ],
    "groups": [
        "UPDATE groups SET description = name || ' team (rev ' || (?1 % 100000) || ')',"
        " updated_at = ?1 WHERE id IN ({marks})",
    ],
    "processes": [
        "UPDATE processes SET description = 'Revised ' || (?1 % 100000), updated_at = ?1 "
        "WHERE id IN ({marks})",
    ],
    "collections": [
        "UPDATE collections SET description = 'Revised ' || (?1 % 100000), updated_at = ?1 "
        "WHERE id IN ({marks})",
    ],
    "records": [
        "UPDATE records SET data = json_set(data, '$.revision', ?1 % 100000), updated_at = ?1 "
        "WHERE id IN ({marks})",
    ],
}
