"""Requests started from rows of a destination: the rows, and the ``_started_requests`` ledger.

An operator (or an analyst) keeps the payloads in a table of the destination and names one
column the idempotency key. Before a request is started for a key, the key is claimed in
``_started_requests`` (status ``starting``, in its own committed transaction); once
ProcessMaker answered, the row records the request id (``started``). A rerun skips every key
in the ledger: a ``started`` one was done, a ``starting`` one has an unknown outcome (the run
died or the answer was lost) and must be checked in ProcessMaker, never started blindly again.
A start ProcessMaker refused is released, so a later run tries it again.
"""

# The ledger's name is ours; the operator's query is run as given (it is theirs, like PMQL).
# Every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from processmaker_prefect.destinations.base import Destination
from processmaker_prefect.destinations.sql import SqlDestination
from processmaker_prefect.errors import ConfigurationError

__all__ = ["STARTED_TABLE", "PayloadRow", "StartedRequests"]

STARTED_TABLE = "_started_requests"


@dataclass(frozen=True)
class PayloadRow:
    """One row of the operator's query: its idempotency key and the request data."""

    key: str
    data: dict[str, Any]


class StartedRequests:
    """The rows to start and the ledger of what was started, in one SQL destination.

    Args:
        destination: An open DuckDB or PostgreSQL destination (``open_destination``).
        process_id: The process the requests belong to: a key is started once per process.
    """

    def __init__(self, destination: Destination, process_id: int) -> None:
        if not isinstance(destination, SqlDestination):
            raise ConfigurationError(f"{destination.label}: rows can only be read from SQL")
        self.destination = destination
        self.process_id = int(process_id)
        t = destination.dialect.types
        with destination._translate(STARTED_TABLE):
            destination._con.execute(
                f"CREATE TABLE IF NOT EXISTS {STARTED_TABLE} ("
                f"process_id BIGINT NOT NULL, idempotency_key {t['text']} NOT NULL, "
                f"status {t['text']} NOT NULL, request_id BIGINT, "
                f"claimed_at {t['timestamp']} NOT NULL DEFAULT {destination.dialect.now}, "
                f"started_at {t['timestamp']}, PRIMARY KEY (process_id, idempotency_key))"
            )

    def read_rows(self, query: str, key_column: str) -> list[PayloadRow]:
        """Run the operator's ``query``; each row's ``key_column`` is its idempotency key and
        its columns (the key too) the request data (JSON values: dates as ISO text).

        Raises:
            ConfigurationError: the query is not a SELECT, lacks the key column, or a key is
                empty or repeated (one line naming the fix).
            DestinationError: the database refused the query.
        """
        words = query.strip().split(None, 1)
        if not words or words[0].upper() not in {"SELECT", "WITH", "FROM", "TABLE"}:
            raise ConfigurationError("rows query: give a SELECT over the destination's tables")
        with self.destination._translate("rows query"):
            cursor = self.destination._con.execute(query)
            names = [column[0] for column in cursor.description or []]
            records = cursor.fetchall()
        if key_column not in names:
            raise ConfigurationError(
                f"rows query: no column {key_column!r} (has: {', '.join(names)}); "
                "name the idempotency key column"
            )
        index = names.index(key_column)
        rows: list[PayloadRow] = []
        seen: set[str] = set()
        for number, record in enumerate(records, start=1):
            key = record[index]
            text = "" if key is None else str(key).strip()
            if not text:
                raise ConfigurationError(
                    f"rows query: row {number} has no {key_column}; every row needs a key"
                )
            if text in seen:
                raise ConfigurationError(
                    f"rows query: key {text!r} appears twice; make {key_column} unique"
                )
            seen.add(text)
            # The key stays in the data: the request itself shows which row started it.
            data = {n: _json_value(v) for n, v in zip(names, record, strict=True)}
            rows.append(PayloadRow(text, data))
        return rows

    def known(self) -> dict[str, tuple[str, int | None]]:
        """Every key of this process in the ledger: ``key -> (status, request id)``."""
        with self.destination._translate(STARTED_TABLE):
            found = self.destination._run(
                self.destination._con,
                f"SELECT idempotency_key, status, request_id FROM {STARTED_TABLE} "
                "WHERE process_id = ?",
                [self.process_id],
            ).fetchall()
        return {str(key): (str(status), request_id) for key, status, request_id in found}

    def claim(self, key: str) -> bool:
        """Mark ``key`` as being started, committed before the start; False if it was there."""
        with self.destination._translate(STARTED_TABLE), self.destination._transaction() as con:
            inserted = self.destination._run(
                con,
                f"INSERT INTO {STARTED_TABLE} (process_id, idempotency_key, status) "
                "VALUES (?, ?, 'starting') ON CONFLICT DO NOTHING RETURNING idempotency_key",
                [self.process_id, key],
            ).fetchall()
        return bool(inserted)

    def record(self, key: str, request_id: int) -> None:
        """``key`` started request ``request_id``."""
        with self.destination._translate(STARTED_TABLE), self.destination._transaction() as con:
            self.destination._run(
                con,
                f"UPDATE {STARTED_TABLE} SET status = 'started', request_id = ?, "
                f"started_at = {self.destination.dialect.now} "
                "WHERE process_id = ? AND idempotency_key = ?",
                [int(request_id), self.process_id, key],
            )

    def release(self, key: str) -> None:
        """Forget a claim whose start ProcessMaker refused: a later run tries it again."""
        with self.destination._translate(STARTED_TABLE), self.destination._transaction() as con:
            self.destination._run(
                con,
                f"DELETE FROM {STARTED_TABLE} WHERE process_id = ? AND idempotency_key = ? "
                "AND status = 'starting'",
                [self.process_id, key],
            )


def _json_value(value: Any) -> Any:
    """A database value as JSON: ProcessMaker stores request data as JSON."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value
