"""Hostile request data: what ProcessMaker's users can type into forms, and nobody planned for.

Off by default; ``SandboxConfig(hostile_data=True)`` or ``--hostile-data`` adds these requests
after the seeded ones (same processes, users and columns: hostile DATA, not another API).
Every key and value is one a form, a script task or an import can put in a request's
``data``: SQL in a key, keys that differ only in case or in their 300th character, keys that
are the names of our own columns (``id``, ``request_id``, ``raw``, ``_deleted_at``), keys with
nothing ASCII in them, NUL in a key and in a value, a value whose JSON type changes from one
request to the next, a 1 MB string, an object nested 200 deep.

What the sandbox serves is what ProcessMaker serves: keys starting with ``_`` are stripped
from ``data`` (API-NOTES), and 2**70 comes back as a float, as PHP's ``json_decode`` reads
it (a client must still keep an integer of 2**64 or more exact when one does come).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = ["HOSTILE_KEYS", "add_hostile_requests", "hostile_data"]

LONG_KEY = "k" * 299 + "a"
NESTED_DEPTH = 200


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "bottom"}
    for level in range(depth - 1):
        value = {f"level_{depth - 1 - level}": value}
    return value


#: The odd keys of the first hostile request, with a value each.
HOSTILE_KEYS: dict[str, Any] = {
    'a"; DROP TABLE requests; --': "injection",
    "id": "not the request id",
    "ID": 1,
    "Id": 2,
    "Amount": 10.5,
    "amount": 11,
    "_deleted_at": "2025-01-01",
    "request_id": 42,
    "raw": "{not json",
    LONG_KEY: "long a",
    LONG_KEY[:-1] + "b": "long b",
    "": "empty key",
    "a.b": "dotted",
    "a b": "spaced",
    "naïve": "accent",
    "日本語": "japanese",
    "💰": "emoji",
    "nul\x00key": "NUL in the key",
    "nul_value": "before\x00after",
    "big": 2**70,
    "select": "an SQL keyword",
}


def hostile_data() -> list[dict[str, Any]]:
    """The ``data`` of each hostile request, in id order."""
    shifting: list[Any] = [7, "seven", {"n": 7}, [7, "7"]]
    return [
        HOSTILE_KEYS,
        *({"shifty": value, "note": f"shifty is a {type(value).__name__}"} for value in shifting),
        {"essay": "x" * 1_000_000},
        {"tree": _nested(NESTED_DEPTH)},
    ]


def add_hostile_requests(db: sqlite3.Connection) -> list[int]:
    """Add the hostile requests after the seeded ones (process 1, user 1); their ids.

    Their times lie inside the seeded year, so a first sync reads them with the rest; one
    also carries NUL in its case title (a typed column, not only ``data``).
    """
    first = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0]) + 1
    started = int(db.execute("SELECT COALESCE(MIN(created_at), 0) FROM requests").fetchone()[0])
    process = db.execute("SELECT id, name FROM processes ORDER BY id LIMIT 1").fetchone()
    rows = []
    for offset, data in enumerate(hostile_data()):
        ident = first + offset
        title = f"{process[1]} #{ident}" + ("\x00" if offset == 0 else "")
        stamp = started + 3600 + offset
        rows.append((ident, process[0], 1, "ACTIVE", process[1], title, json.dumps(data),
                     stamp, None, stamp, stamp))  # fmt: skip
    db.executemany(
        "INSERT INTO requests (id, process_id, user_id, status, name, case_title, data, "
        "initiated_at, completed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    return [row[0] for row in rows]
