"""The destination interface: upsert records and their watermark in one transaction.

A destination is chosen by URL (:mod:`destinations.registry`) and used as a context
manager::

    with open_destination("duckdb:///processmaker.duckdb") as dest:
        dest.write_batch("requests", rows, Watermark("requests", updated_at, last_id))

Every ``write_batch`` stores the rows and the resource's watermark in one transaction, so a
crash leaves the previous committed state: the rows and the watermark always agree. A record
that cannot be stored goes to ``_rejected`` in that same transaction instead of failing it,
so no record can hold a resource back (docs: "Unusual records").

A destination belongs to one ProcessMaker instance (:meth:`Destination.bind_instance`): every
row and watermark records its instance (``_instance``) and filter (``_filter``), and another
instance is refused before anything is written; a schema per instance keeps them apart.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from processmaker_prefect.catalogue import TableSpec, is_resource, spec_for
from processmaker_prefect.destinations.batch import (
    Batch,
    Rejected,
    canonical_json,
    decode_raw,
    to_batch,
)
from processmaker_prefect.destinations.instances import instance_id, schema_option
from processmaker_prefect.destinations.variables import DEFAULT_MAX_COLUMNS
from processmaker_prefect.errors import ConfigurationError, DestinationError
from processmaker_prefect.times import as_utc

__all__ = [
    "INSTANCES_TABLE",
    "NO_ID",
    "REJECTED_TABLE",
    "STAGING_PREFIX",
    "STATE_TABLE",
    "Destination",
    "Watermark",
    "first_line",
    "instance_id",
    "redact_userinfo",
    "schema_option",
    "state_key",
]

STATE_TABLE = "_sync_state"
REJECTED_TABLE = "_rejected"
INSTANCES_TABLE = "_sync_instance"
STAGING_PREFIX = "_staging_"
#: ``last_id`` of a watermark that covers every id at its time ("no id yet" on the next
#: window): stored as NULL in ``_sync_state``, not as this number.
NO_ID = 2**62


@dataclass(frozen=True)
class Watermark:
    """How far a resource is synced: every row up to ``(updated_at, last_id)`` is stored.

    Attributes:
        resource: The resource's table name, e.g. ``requests``.
        updated_at: The newest ``updated_at`` stored (always returned in UTC).
        last_id: The highest id stored at ``updated_at``.
        extra: Free-form reader state, stored as JSON.
    """

    resource: str
    updated_at: datetime
    last_id: int
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A naive time is ProcessMaker's UTC; store and compare everything in UTC.
        object.__setattr__(self, "updated_at", as_utc(self.updated_at))


class Destination(ABC):
    """One database holding a table per resource and the ``_sync_state`` watermarks.

    Subclasses implement the SQL; this class owns the API, the full-refresh bookkeeping and
    the translation of driver errors into :class:`DestinationError`.
    """

    kind: ClassVar[str]
    #: The driver's base error class: anything of it becomes a DestinationError.
    driver_error: ClassVar[type[Exception]]
    #: Driver errors one record can cause (a value the backend refuses): the batch is then
    #: written without the records that cause them, which go to ``_rejected``.
    row_errors: ClassVar[tuple[type[Exception], ...]] = ()
    #: The backend's JSON cannot hold NUL: ``raw`` uses batch.encode_text for it.
    encodes_nul: ClassVar[bool] = False

    def __init__(self, label: str) -> None:
        self.label = label
        self._refreshing: set[str] = set()
        #: The instance (base URL) this destination is bound to; None: not bound.
        self.instance: str | None = None
        #: Variable columns a table may hold (PROCESSMAKER_MAX_VARIABLE_COLUMNS).
        self.max_variable_columns = DEFAULT_MAX_COLUMNS
        #: Records sent to ``_rejected`` since opening, per resource.
        self.rejected: dict[str, int] = {}
        #: Variables table -> keys left in ``raw`` for want of a column (up to 10,000).
        self.keys_in_raw: dict[str, set[str]] = {}

    def __enter__(self) -> Destination:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write_batch(
        self,
        resource: str,
        rows: Sequence[Mapping[str, Any]],
        watermark: Watermark | None,
        pmql: str | None = None,
    ) -> int:
        """Upsert ``rows`` by id and store ``watermark`` (None: keep it), in one transaction.

        Within the batch the last row of an id wins. In a full refresh the rows and the
        watermark go to the staging table until :meth:`finish_full_refresh`. A filtered sync
        passes its PMQL: its watermark is kept apart from the resource's own.

        A record that cannot be stored (no integer id, no JSON text, a value the backend
        refuses) is written to ``_rejected`` in the same transaction, and the rest of the
        batch and the watermark are stored: see :attr:`rejected`.

        Returns:
            The number of distinct ids written.

        Raises:
            DestinationError: the write failed and was rolled back.
        """
        spec = spec_for(resource)
        if watermark is not None and watermark.resource != resource:
            raise ValueError(f"watermark for {watermark.resource!r} passed with {resource!r}")
        table = self._target(resource)
        batch = to_batch(spec, rows, datetime.now(UTC), encode_nul=self.encodes_nul)
        key = state_key(table, pmql)
        with self._translate(table):
            try:
                self._upsert(spec, table, batch, watermark, key, pmql)
            except self.row_errors as exc:
                batch = self._without_failing_rows(spec, table, batch, exc)
                self._upsert(spec, table, batch, watermark, key, pmql)
        if batch.rejected:
            self.rejected[resource] = self.rejected.get(resource, 0) + len(batch.rejected)
        return len(batch)

    def _without_failing_rows(
        self, spec: TableSpec, table: str, batch: Batch, error: Exception
    ) -> Batch:
        """``batch`` without the records the backend refuses, those added to its rejected.

        Halves of the batch are tried in transactions rolled back at once, down to single
        records: a few bad records cost a few dozen small trials, and only on a batch that
        failed. If no record fails alone, the batch's failure was not a record's: re-raised.
        """
        failing: dict[int, Exception] = {}

        def search(indices: list[int]) -> None:
            if not indices:
                return
            found = self._trial(spec, table, batch.subset(indices))
            if found is None:
                return
            if len(indices) == 1:
                failing[indices[0]] = found
                return
            middle = len(indices) // 2
            search(indices[:middle])
            search(indices[middle:])

        search(list(range(len(batch))))
        if not failing:
            raise error
        keep = [i for i in range(len(batch)) if i not in failing]
        rejected = list(batch.rejected)
        for index, exc in failing.items():
            cause, _ = self._explain(exc)
            record = batch.columns["raw"][index]
            rejected.append(Rejected(batch.columns["id"][index], cause, record))
        return batch.subset(keep, rejected)

    def bind_instance(self, url: str) -> None:
        """Bind this destination to the ProcessMaker instance at ``url``, before any write.

        The first instance a destination (or schema) sees is recorded in ``_sync_instance``;
        rows and watermarks from before instances were recorded are adopted as its own.

        Raises:
            ConfigurationError: the destination holds another instance's data.
        """
        instance = instance_id(url)
        with self._translate(INSTANCES_TABLE):
            other = self._bind(instance)
        if other is not None:
            raise ConfigurationError(
                f"{self.kind} {self.label} holds the data of {other}, not of {instance}: "
                "give each instance its own schema (add ?schema=<name> to the destination "
                "URL) or its own destination"
            )
        self.instance = instance

    def get_watermark(self, resource: str, pmql: str | None = None) -> Watermark | None:
        """The committed watermark of ``resource`` (of its staging table during a refresh),
        or of the sync of ``resource`` filtered by ``pmql``."""
        spec_for(resource)
        key = state_key(self._target(resource), pmql)
        with self._translate(STATE_TABLE):
            found = self._read_state(key)
        if found is None:
            return None
        updated_at, last_id, extra = found
        last = NO_ID if last_id is None else int(last_id)
        return Watermark(resource, updated_at, last, dict(extra or {}))

    def begin_full_refresh(self, resource: str) -> None:
        """Start rebuilding ``resource`` in an empty staging table; an old one is discarded."""
        spec = spec_for(resource)
        staging = STAGING_PREFIX + resource
        with self._translate(staging):
            self._reset_staging(spec, staging)
        self._refreshing.add(resource)

    def finish_full_refresh(self, resource: str) -> None:
        """Swap the staging table and its watermark in for the live ones, atomically."""
        spec = spec_for(resource)
        if resource not in self._refreshing:
            raise DestinationError(
                f"{self.kind} {self.label}, table {resource}: no full refresh in progress: "
                "call begin_full_refresh first"
            )
        with self._translate(resource):
            self._swap(spec, STAGING_PREFIX + resource, resource)
        self._refreshing.discard(resource)

    @contextmanager
    def full_refresh(self, resource: str) -> Iterator[None]:
        """Rebuild ``resource`` inside the block; on error the live table stays untouched.

        An interrupted refresh leaves ``_staging_<resource>``; the next refresh drops it.
        """
        self.begin_full_refresh(resource)
        try:
            yield
        except BaseException:
            self._refreshing.discard(resource)
            raise
        self.finish_full_refresh(resource)

    def count(self, resource: str) -> int:
        """Rows in the live table of ``resource`` (0 before its first write)."""
        spec_for(resource)
        with self._translate(resource):
            return self._count(resource) if resource in self._tables() else 0

    def checksum(self, resource: str) -> str:
        """SHA-256 over ``(id, raw)`` ordered by id: equal for equal data on any backend."""
        spec_for(resource)
        digest = hashlib.sha256()
        with self._translate(resource):
            if resource in self._tables():
                for ident, raw in self._iter_raw(resource):
                    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
                    if self.encodes_nul:
                        value = decode_raw(value)
                    digest.update(f"{ident}\t{canonical_json(value)}\n".encode())
        return digest.hexdigest()

    def mark_deleted(self, resource: str, present: Collection[int], before: datetime) -> int:
        """Mark the rows of ``resource`` whose id is not in ``present`` as deleted, in one
        transaction: ``_deleted_at`` is set (the row stays); a row in ``present`` that was
        marked is unmarked. Rows written at or after ``before`` (by a sync running meanwhile)
        are left alone. Returns the number of rows marked.
        """
        spec_for(resource)
        with self._translate(resource):
            if resource not in self._tables():
                return 0
            return self._mark_deleted(resource, present, as_utc(before))

    def stored_ids(self, resource: str) -> set[int]:
        """The ids of the rows of ``resource`` not marked deleted."""
        spec_for(resource)
        with self._translate(resource):
            return self._ids(resource) if resource in self._tables() else set()

    def resources(self) -> list[str]:
        """The resource tables present, sorted (staging and state tables excluded)."""
        with self._translate(STATE_TABLE):
            return sorted(name for name in self._tables() if is_resource(name))

    @abstractmethod
    def close(self) -> None:
        """Close the connection; an open transaction is rolled back."""

    def _target(self, resource: str) -> str:
        return STAGING_PREFIX + resource if resource in self._refreshing else resource

    @contextmanager
    def _translate(self, table: str) -> Iterator[None]:
        try:
            yield
        except self.driver_error as exc:
            cause, fix = self._explain(exc)
            raise DestinationError(
                f"{self.kind} {self.label}, table {table}: {cause}: {fix}"
            ) from exc

    @abstractmethod
    def _explain(self, exc: Exception) -> tuple[str, str]:
        """One-line cause and fix for a driver error."""

    @abstractmethod
    def _upsert(
        self,
        spec: TableSpec,
        table: str,
        batch: Batch,
        watermark: Watermark | None,
        key: str,
        pmql: str | None,
    ) -> None: ...

    @abstractmethod
    def _trial(self, spec: TableSpec, table: str, batch: Batch) -> Exception | None:
        """Write ``batch`` in a transaction rolled back at once; the row error it met, if any."""

    @abstractmethod
    def _bind(self, instance: str) -> str | None:
        """Record ``instance`` if none is; return the other instance recorded, if one is."""

    @abstractmethod
    def _read_state(self, key: str) -> tuple[datetime, int | None, Any] | None: ...

    @abstractmethod
    def _reset_staging(self, spec: TableSpec, staging: str) -> None: ...

    @abstractmethod
    def _swap(self, spec: TableSpec, staging: str, live: str) -> None: ...

    @abstractmethod
    def _mark_deleted(self, table: str, present: Collection[int], before: datetime) -> int: ...

    @abstractmethod
    def _count(self, table: str) -> int: ...

    @abstractmethod
    def _ids(self, table: str) -> set[int]: ...

    @abstractmethod
    def _iter_raw(self, table: str) -> Iterator[tuple[int, Any]]: ...

    @abstractmethod
    def _tables(self) -> set[str]: ...


def state_key(table: str, pmql: str | None) -> str:
    """The ``_sync_state`` key of a sync: the table, plus its filter if it has one."""
    pmql = " ".join((pmql or "").split())
    return f"{table} where {pmql}" if pmql else table


def first_line(exc: BaseException) -> str:
    """The first line of a driver message (DuckDB and libpq add context lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact_userinfo(url: str) -> str:
    """``url`` with its password masked and its query dropped, for messages and logs.

    The query goes too: libpq accepts ``?password=...``.
    """
    parts = urlsplit(url)._replace(query="", fragment="")
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:**********@{host}")
    return parts.geturl()
