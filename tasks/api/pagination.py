"""Paginators over ProcessMaker's ``{"data": [...], "meta": {...}}`` list envelope.

``PageNumberPaginator`` walks ``page``/``per_page`` (optionally several pages in flight);
``KeysetPaginator`` walks a moving set by ``(updated_at, id)`` for incremental syncs. Both
take a ``fetch(params) -> envelope`` callable, so they hold no HTTP code and are tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processmaker_prefect.api.concurrent import ordered_map
from processmaker_prefect.errors import MalformedResponseError
from processmaker_prefect.times import parse_time, pmql_time

__all__ = [
    "Fetch",
    "KeysetCursor",
    "KeysetPaginator",
    "Page",
    "PageNumberPaginator",
    "meta_count",
]

Page = list[dict[str, Any]]
Fetch = Callable[[dict[str, Any]], dict[str, Any]]
"""Fetches one page: query parameters in, the validated envelope out."""


def meta_count(envelope: Mapping[str, Any], key: str, where: str) -> int:
    """``meta[key]`` of a list envelope as a count (``total``, ``last_page``...).

    Raises:
        MalformedResponseError: it is missing or not a non-negative integer.
    """
    value = envelope.get("meta", {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedResponseError(
            f"{where}: meta.{key} is missing or not a count; check that the URL is ProcessMaker's"
        )
    return value


class PageNumberPaginator:
    """``page``/``per_page`` paging, as Laravel's ``paginate()`` serves it.

    Offset paging over a set that changes while it is read can skip or repeat rows; use
    :class:`KeysetPaginator` for syncs of a moving set.

    Args:
        per_page: Rows per page.
        start_page: The first page to ask for (1-based).
        where: ``METHOD path`` of the list, for error messages.
    """

    def __init__(self, per_page: int, *, start_page: int = 1, where: str = "list") -> None:
        if per_page < 1 or start_page < 1:
            raise ValueError("per_page and start_page must be at least 1")
        self.per_page = per_page
        self.where = where
        self.current_page = start_page - 1  # the last page read; 0 before the first
        self.last_page: int | None = None  # unknown until the first page arrives
        self._previous: tuple[int, list[Any]] = (0, [])  # the last page read and its ids

    @property
    def has_next_page(self) -> bool:
        return self.last_page is None or self.current_page < self.last_page

    def next_params(self) -> dict[str, int]:
        return {"page": self.current_page + 1, "per_page": self.per_page}

    def update_state(self, envelope: Mapping[str, Any]) -> None:
        """Record a page just read; the latest ``last_page`` wins (the set may change).

        ``meta`` is counted apart from the page, so the page decides: a page holding more
        rows than ``meta.total`` leaves for it (a count too low) is followed by one more read
        even at ``last_page``, and an empty one ends the list whatever ``last_page`` claims
        (a count too high).

        Raises:
            MalformedResponseError: the page holds the same rows as the one before (a proxy
                serving a cached page for another page number).
        """
        data = envelope["data"]
        self.current_page = meta_count(envelope, "current_page", self.where)
        self.last_page = meta_count(envelope, "last_page", self.where)
        ids = [row.get("id") for row in data]
        if ids and self._previous == (self.current_page - 1, ids):
            raise MalformedResponseError(
                f"{self.where}: page {self.current_page} repeats the rows of the page before; "
                "a proxy or cache in front of ProcessMaker serves stale pages: bypass it"
            )
        self._previous = (self.current_page, ids)
        if not data:  # nothing more, whatever last_page claims
            self.last_page = self.current_page
        elif self.last_page <= self.current_page and len(data) >= self.per_page:
            total = envelope["meta"].get("total")
            expected = total - (self.current_page - 1) * self.per_page
            if isinstance(total, int) and len(data) > expected:
                self.last_page = self.current_page + 1

    def pages(
        self, fetch: Fetch, params: Mapping[str, Any] | None = None, *, max_concurrency: int = 1
    ) -> Iterator[Page]:
        """Yield every page's rows in order.

        After page one tells ``last_page``, up to ``max_concurrency`` pages are in flight at
        once; pages are still yielded in order, and at most that many are held in memory.
        """
        base = dict(params or {})
        first = fetch({**base, **self.next_params()})
        self.update_state(first)
        yield first["data"]
        if max_concurrency <= 1:
            while self.has_next_page:
                envelope = fetch({**base, **self.next_params()})
                self.update_state(envelope)
                yield envelope["data"]
            return
        yield from self._concurrent(fetch, base, max_concurrency)

    def _concurrent(self, fetch: Fetch, base: dict[str, Any], limit: int) -> Iterator[Page]:
        numbers = _PageNumbers(self)
        for envelope in ordered_map(lambda n: fetch({**base, **n}), numbers, limit):
            self.update_state(envelope)
            yield envelope["data"]


class _PageNumbers:
    """The next page numbers to ask for, up to the latest ``last_page`` the answers tell.

    An iterator object, not a generator: it runs dry at ``last_page`` and resumes if a
    later answer raises it.
    """

    def __init__(self, paginator: PageNumberPaginator) -> None:
        self.paginator = paginator
        self.next_page = paginator.current_page + 1

    def __iter__(self) -> _PageNumbers:
        return self

    def __next__(self) -> dict[str, int]:
        if self.next_page > (self.paginator.last_page or 0):
            raise StopIteration
        self.next_page += 1
        return {"page": self.next_page - 1, "per_page": self.paginator.per_page}


@dataclass(frozen=True)
class KeysetCursor:
    """Everything up to and including ``(modified, id)`` has been read."""

    modified: datetime | None = None
    id: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, to persist between runs."""
        return {"modified": self.modified.isoformat() if self.modified else None, "id": self.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeysetCursor:
        raw = data.get("modified")
        return cls(parse_time(raw, "cursor") if raw else None, int(data.get("id") or 0))


class KeysetPaginator:
    """Incremental paging over a moving set, ordered by ``(updated_at, id)``.

    Every request is page 1 of the window after the cursor,
    ``(modified > "T" OR (modified = "T" AND id > N))`` AND the optional upper bound
    ``modified <= "U"`` AND the caller's own PMQL. A row changed while paging moves past
    the cursor (or out of the window, above ``until``), so it is read later, never skipped.
    Pass ``until`` a few seconds in the past: a row changed in the very second of the cursor,
    with an id below it, would otherwise be missed. Timestamps are whole seconds in UTC.

    ProcessMaker sorts by one column only, so rows sharing the last timestamp of a full page
    come in no defined order. Unless ``ties_sorted_by_id``, that timestamp is then read
    again in id order (``modified = "T" AND id > N``, ``order_by=id``): one small extra
    request per full page, and no row lost at a page boundary.

    Args:
        per_page: Rows per request.
        cursor: Where the previous run stopped; ``None`` reads from the beginning.
        until: Upper bound on the time field, inclusive.
        pmql: Extra PMQL, AND-ed with the window.
        pmql_field: PMQL name of the time field (``modified`` for requests and tasks).
        time_field: The same field's key in a row and for ``order_by`` (``updated_at``).
        id_field: Unique increasing id, in rows, PMQL and ``order_by``.
        ties_sorted_by_id: The server orders equal timestamps by id (skip the re-reads).
        where: ``METHOD path`` of the list, for error messages.
    """

    def __init__(
        self,
        per_page: int,
        *,
        cursor: KeysetCursor | None = None,
        until: datetime | None = None,
        pmql: str | None = None,
        pmql_field: str = "modified",
        time_field: str = "updated_at",
        id_field: str = "id",
        ties_sorted_by_id: bool = False,
        where: str = "list",
    ) -> None:
        if per_page < 1:
            raise ValueError("per_page must be at least 1")
        self.per_page = per_page
        self.cursor = cursor or KeysetCursor()
        self.until = until
        self.pmql = pmql.strip() if pmql else None
        self.pmql_field, self.time_field, self.id_field = pmql_field, time_field, id_field
        self.ties_sorted_by_id = ties_sorted_by_id
        self.where = where

    def next_params(self, *, tie: datetime | None = None) -> dict[str, Any]:
        """Query parameters for the window after the cursor, or for one timestamp ``tie``."""
        f, c = self.pmql_field, self.cursor
        parts = []
        if tie is not None:
            after = c.id if c.modified == tie else 0
            parts.append(f'{f} = "{pmql_time(tie)}" AND {self.id_field} > {after}')
        elif c.modified is not None:
            t = pmql_time(c.modified)
            parts.append(f'({f} > "{t}" OR ({f} = "{t}" AND {self.id_field} > {c.id}))')
        if self.until is not None:
            parts.append(f'{f} <= "{pmql_time(self.until)}"')
        if self.pmql:
            parts.append(f"({self.pmql})")
        params: dict[str, Any] = {
            "page": 1,
            "per_page": self.per_page,
            "order_by": self.id_field if tie is not None else self.time_field,
            "order_direction": "asc",
        }
        if parts:
            params["pmql"] = " AND ".join(parts)
        return params

    def _key(self, row: Mapping[str, Any]) -> tuple[datetime, int]:
        ident = row.get(self.id_field)
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise MalformedResponseError(f"{self.where}: a row has no integer {self.id_field!r}")
        return parse_time(row.get(self.time_field), self.where), ident

    def _advance(self, key: tuple[datetime, int]) -> None:
        old = self.cursor
        if old.modified is not None and key <= (old.modified, old.id):
            raise MalformedResponseError(
                f"{self.where}: keyset made no progress past {old.as_dict()}; check that the "
                f"server filters by {self.pmql_field} and sorts by {self.time_field}"
            )
        self.cursor = KeysetCursor(*key)

    def pages(self, fetch: Fetch, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Yield pages of new or changed rows; ``self.cursor`` covers every page yielded."""
        base = dict(params or {})
        while True:
            rows = fetch({**base, **self.next_params()})["data"]
            if not rows:
                return
            keys = [self._key(row) for row in rows]
            times = [t for t, _ in keys]
            if times != sorted(times):
                raise MalformedResponseError(
                    f"{self.where}: rows are not sorted by {self.time_field}; "
                    "check that the server honours order_by"
                )
            full = len(rows) >= self.per_page
            if self.ties_sorted_by_id and keys != sorted(keys):
                raise MalformedResponseError(
                    f"{self.where}: equal timestamps are not sorted by id; "
                    "use ties_sorted_by_id=False"
                )
            if not full or self.ties_sorted_by_id:
                # Whole window read, or ties in id order: the page's largest key is exact.
                self._advance(max(keys))
                yield rows
                if not full:
                    return
                continue
            tie = times[-1]
            head = [row for row, key in zip(rows, keys, strict=True) if key[0] < tie]
            if head:
                self._advance(max(k for k in keys if k[0] < tie))
                yield head
            yield from self._drain(fetch, base, tie)

    def _drain(self, fetch: Fetch, base: dict[str, Any], tie: datetime) -> Iterator[Page]:
        """Read every row at timestamp ``tie`` in id order, then move the cursor past it."""
        while True:
            rows = fetch({**base, **self.next_params(tie=tie)})["data"]
            if rows:
                keys = [self._key(row) for row in rows]
                if any(t != tie for t, _ in keys) or keys != sorted(keys):
                    raise MalformedResponseError(
                        f"{self.where}: re-reading one timestamp returned other rows or "
                        "rows out of id order; check that the server filters by PMQL"
                    )
                self._advance(keys[-1])
                yield rows
            if len(rows) < self.per_page:
                if self.cursor.modified != tie:  # e.g. rows changed meanwhile; move on
                    self.cursor = KeysetCursor(tie, 0)
                return
