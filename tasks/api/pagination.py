"""Paging over ProcessMaker's ``{"data": [...], "meta": {...}}`` list envelope.

``PageNumberPaginator`` walks ``page``/``per_page`` (optionally several pages in flight). It
takes a ``fetch(params) -> envelope`` callable, so it holds no HTTP code and is tested alone.
Incremental syncs read a fixed window by id ranges instead (``sync/window.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from processmaker_prefect.api.concurrent import ordered_map
from processmaker_prefect.errors import MalformedResponseError

__all__ = [
    "Fetch",
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

    Offset paging over a set that changes while it is read can skip or repeat rows: the
    incremental sync reads a fixed window by id ranges instead (``sync/window.py``).

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
