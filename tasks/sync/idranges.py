"""The id-range plan: read a set of rows that can only shrink, by id, many ranges at once.

A range ``(lo, hi]`` is read with keyset paging on ``id`` (``id > lo AND id <= hi``, ordered by
id, page 1 every time), so a row that leaves the set meanwhile cannot push another past a
page boundary. Every answer's ``meta.total`` says how many rows the range still holds: a
range is read page by page only while it holds a full page, and its last, partial page is
pooled with other ranges' into one request (``(id > a AND id <= b) OR ...``), so the pages
read are about the rows divided by the page size. When a request slot is free and no range
waits, the range with the most rows left is cut in parts at ids estimated from its density,
so ``concurrency`` requests stay in flight until the end.

``meta.total`` is a count the server takes apart from the page (a count/select race, a
caching proxy can make it wrong), so it only plans, never decides what was read: a full
page means there may be more whatever the total says, and a range whose page comes back
shorter than its total promised is read again from its last id before it counts as read.

This module is pure bookkeeping, tested alone; :mod:`sync.scan` runs it over HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["TOP", "Ask", "IdRangePlan", "Span", "gaps"]

TOP = 2**62  # an id above every real id: "no upper bound"
_MAX_PAGES = 32  # a range holding more is cut anyway, so the server never counts a huge one
_MAX_POOLED = 16  # ranges in one pooled request, to keep its PMQL short


@dataclass(eq=False)
class Span:
    """Ids in ``(lo, hi]`` still to read; ``rows`` is how many it held at the last answer."""

    lo: int
    hi: int = TOP
    rows: int | None = None
    density: float | None = None  # rows per id, as last seen
    busy: bool = False
    moved: bool = False  # ``hi`` was lowered while a request was out: its total is stale
    recheck: bool = False  # its last page came back shorter than its total said: read again


@dataclass(frozen=True)
class Ask:
    """One request: the spans it reads and their bounds when it was sent."""

    spans: tuple[Span, ...]
    bounds: tuple[tuple[int, int], ...] = field(default=())
    pooled: bool = False  # the last rows of several spans, each under a page

    def pmql(self) -> str:
        """The id condition of this request (empty: every id)."""
        parts = [_range(lo, hi) for lo, hi in self.bounds]
        if len(parts) == 1:
            return parts[0]
        return "(" + " OR ".join(f"({part})" for part in parts) + ")"


def _range(lo: int, hi: int) -> str:
    parts = ([f"id > {lo}"] if lo >= 0 else []) + ([f"id <= {hi}"] if hi < TOP else [])
    return " AND ".join(parts)


def gaps(done: list[tuple[int, int]]) -> list[Span]:
    """The spans not covered by ``done`` (sorted, disjoint ``(lo, hi]`` intervals)."""
    found, previous = [], -1
    for lo, hi in sorted(done):
        if lo > previous:
            found.append(Span(previous, lo))
        previous = max(previous, hi)
    if previous < TOP:
        found.append(Span(previous, TOP))
    return found


class IdRangePlan:
    """Decides the next requests from the answers so far; tracks which ids are done.

    Args:
        per_page: Rows per request.
        concurrency: Requests in flight at most.
        done: ``(lo, hi]`` intervals already read (a resumed run); the rest is read.
    """

    def __init__(self, per_page: int, concurrency: int, done: Sequence[Sequence[int]] = ()) -> None:
        self.per_page, self.concurrency = per_page, max(1, concurrency)
        self.done: list[tuple[int, int]] = []
        for lo, hi in done:
            self._mark_done(lo, hi)
        self.spans: list[Span] = gaps(self.done)
        self.pooled: list[Span] = []  # spans under a page each, read together
        self.in_flight = 0

    @property
    def finished(self) -> bool:
        return not self.spans and not self.pooled and self.in_flight == 0

    def asks(self) -> list[Ask]:
        """The requests to send now, to fill the free slots."""
        out: list[Ask] = []
        while self.in_flight < self.concurrency and (ask := self._next()) is not None:
            for span in ask.spans:
                span.busy = True
            self.in_flight += 1
            out.append(ask)
        return out

    def _next(self) -> Ask | None:
        idle = [s for s in self.spans if not s.busy]
        free = self.concurrency - self.in_flight
        if len(idle) < free:
            self._split(free - len(idle) + 1)
            idle = [s for s in self.spans if not s.busy]
        if idle:
            return Ask((idle[0],), ((idle[0].lo, idle[0].hi),))
        return self._pool()

    def _left(self, span: Span) -> int:
        """Rows expected in ``span`` beyond its request in flight (0: unknown)."""
        if span.rows is None or span.moved:
            return 0
        return span.rows - (self.per_page if span.busy else 0)

    def _split(self, wanted: int) -> None:
        span = max(self.spans, key=self._left, default=None)
        if span is None or (left := self._left(span)) < 2 * self.per_page:
            return
        # Parts of a page or more, so that each part's first answer is a full page.
        most = _MAX_PAGES * self.per_page
        parts = max(min(wanted, left // self.per_page), math.ceil(left / most))
        density = span.density or 0.0
        if span.hi >= TOP and density <= 0:
            return
        start = span.lo + (round(1.25 * self.per_page / density) if span.busy and density else 0)
        end = span.hi if span.hi < TOP else start + math.ceil(left / density)
        step = (end - start) / parts
        cuts = sorted({int(start + step * i) for i in range(1, parts)} - {span.lo})
        cuts = [c for c in cuts if span.lo < c < span.hi]
        if not cuts:
            return
        bounds = [*cuts, span.hi]
        self.spans.extend(Span(lo, hi, density=span.density) for lo, hi in pairwise(bounds))
        span.hi, span.rows = cuts[0], None
        span.moved = span.busy

    def _pool(self) -> Ask | None:
        if not self.pooled:
            return None
        chosen: list[Span] = []
        rows = 0
        for span in sorted(self.pooled, key=lambda s: -(s.rows or 0)):
            if rows + (span.rows or 0) <= self.per_page and len(chosen) < _MAX_POOLED:
                chosen.append(span)
                rows += span.rows or 0
        # Wait for more small ranges unless the page is mostly full or none will come.
        if rows < 0.75 * self.per_page and self.spans:
            return None
        for span in chosen:
            self.pooled.remove(span)
        chosen.sort(key=lambda s: s.lo)
        return Ask(tuple(chosen), tuple((s.lo, s.hi) for s in chosen), pooled=True)

    def answer(self, ask: Ask, ids: list[int], total: int) -> int:
        """Record an answer (its row ids, ascending, and ``meta.total``).

        Returns:
            How many leading rows to keep: rows beyond a span's bound lowered meanwhile are
            read by the span that took them over.

        Raises:
            ValueError: the ids are not ascending, or the first or last is outside the asked
                bounds.
        """
        self.in_flight -= 1
        if any(b <= a for a, b in pairwise(ids)) or not all(
            any(lo < i <= hi for lo, hi in ask.bounds) for i in ids[:1] + ids[-1:]
        ):
            raise ValueError("rows are not ids inside the asked ranges in ascending order")
        if not ask.pooled:
            return self._answer_span(ask.spans[0], ids, total)
        # A short page holds every row of its spans, unless the total says it missed some.
        complete = len(ids) < self.per_page and total <= len(ids)
        last = ids[-1] if ids else TOP
        for span in ask.spans:
            span.busy = False
            if complete or span.hi <= last:
                self._mark_done(span.lo, span.hi)
                continue
            if span.lo < last:  # more rows than pooled: the server gained some; read on
                self._mark_done(span.lo, last)
                span.lo = last
            span.rows = None
            self.spans.append(span)
        return len(ids)

    def _answer_span(self, span: Span, ids: list[int], total: int) -> int:
        span.busy = False
        keep = sum(1 for i in ids if i <= span.hi)
        short = len(ids) < self.per_page
        if keep < len(ids) or (short and (total <= len(ids) or span.recheck)):
            # Beyond the lowered bound, or a short page the total agrees with (or a second
            # short page in a row): the span is read to its end.
            self._mark_done(span.lo, span.hi)
            self.spans.remove(span)
            return keep
        if not ids:  # an empty page where the total promised rows: read the range again
            span.recheck, span.rows = True, None
            return 0
        last = ids[-1]
        self._mark_done(span.lo, last)
        width = last - (span.lo if span.lo >= 0 else ids[0] - 1)
        span.density = len(ids) / max(width, 1)
        span.lo = last
        # A short page the total disagrees with: once more from its last id, to be sure.
        span.recheck = short
        believable = total >= len(ids) and not span.moved and not short
        span.rows = total - len(ids) if believable else None
        span.moved = False
        if span.rows is not None and span.rows < self.per_page:
            self.spans.remove(span)
            self.pooled.append(span)
        return keep

    def _mark_done(self, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        merged: list[tuple[int, int]] = []
        for a, b in sorted([*self.done, (lo, hi)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.done = merged
