"""The id-range plan alone, against an in-memory list route that answers like ProcessMaker's
(``id`` conditions, ``order_by=id``, ``meta.total``), in any order and while rows leave."""

from __future__ import annotations

import bisect
import math
import random

import pytest

from processmaker_prefect.sync.idranges import TOP, Ask, IdRangePlan, gaps


class Served:
    """The rows of a fixed window; ``leave`` takes rows out, as updates past ``until`` do."""

    def __init__(self, ids: list[int], per_page: int) -> None:
        self.ids, self.per_page, self.asked = sorted(ids), per_page, 0

    def answer(self, ask: Ask) -> tuple[list[int], int]:
        self.asked += 1
        page: list[int] = []
        total = 0
        for lo, hi in ask.bounds:  # pooled bounds come in id order
            start, end = bisect.bisect_right(self.ids, lo), bisect.bisect_right(self.ids, hi)
            total += end - start
            page += self.ids[start : min(end, start + self.per_page - len(page))]
        return page, total

    def leave(self, rng: random.Random, count: int) -> set[int]:
        if not count:
            return set()
        gone = set(rng.sample(self.ids, min(count, len(self.ids))))
        self.ids = [i for i in self.ids if i not in gone]
        return gone


def run(
    served: Served, plan: IdRangePlan, rng: random.Random, churn: int = 0
) -> tuple[set[int], set[int], int]:
    """Drive the plan, answering requests in random order; returns (read, left, peak)."""
    read: set[int] = set()
    left: set[int] = set()
    flying: list[Ask] = []
    peak = 0
    while True:
        flying += plan.asks()
        peak = max(peak, len(flying))
        if not flying:
            return read, left, peak
        ask = flying.pop(rng.randrange(len(flying)))
        ids, total = served.answer(ask)
        left |= served.leave(rng, churn)
        read.update(ids[: plan.answer(ask, ids, total)])


def test_gaps_are_the_complement_of_done_intervals() -> None:
    found = [(s.lo, s.hi) for s in gaps([(10, 20), (-1, 5), (20, 30)])]
    assert found == [(5, 10), (30, TOP)]
    assert [(s.lo, s.hi) for s in gaps([])] == [(-1, TOP)]


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("shape", ["dense", "sparse", "clustered-high", "two-clusters"])
def test_every_row_is_read_in_about_rows_over_page_size_requests(
    shape: str, concurrency: int
) -> None:
    rng = random.Random(shape)
    ids = {
        "dense": list(range(1, 50_001)),
        "sparse": rng.sample(range(1, 5_000_000), 50_000),
        "clustered-high": rng.sample(range(1, 10**6), 2_000) + list(range(2 * 10**6, 2_048_000)),
        "two-clusters": list(range(1, 25_001)) + list(range(10_000_000, 10_025_000)),
    }[shape]
    served = Served(ids, 500)
    plan = IdRangePlan(500, concurrency)
    read, _, peak = run(served, plan, rng)
    assert read == set(ids)
    assert plan.finished
    assert plan.done == [(-1, TOP)]
    assert peak == concurrency
    pages = math.ceil(len(ids) / 500)
    # Ranges are cut where the ids seen so far suggest; where density jumps (a few old
    # rows, then a dense run of new ones) some ranges come back short.
    slack = 1.05 if shape in ("dense", "sparse") else 1.25
    assert served.asked <= pages * slack + 2, f"{served.asked} requests for {pages} pages"


def test_with_concurrency_eight_requests_stay_in_flight_until_the_last_rounds() -> None:
    served = Served(list(range(1, 50_001)), 500)
    plan = IdRangePlan(500, 8)
    rng = random.Random(3)
    flying: list[Ask] = []
    sizes = []
    while True:
        flying += plan.asks()
        if not flying:
            break
        sizes.append(len(flying))
        ask = flying.pop(rng.randrange(len(flying)))
        ids, total = served.answer(ask)
        plan.answer(ask, ids, total)
    full = sum(1 for size in sizes if size == 8)
    assert full >= len(sizes) - 16, sizes


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_rows_leaving_while_paging_lose_no_row_that_stays(concurrency: int) -> None:
    rng = random.Random(concurrency)
    ids = list(range(1, 20_001))
    served = Served(ids, 100)
    read, left, _ = run(served, IdRangePlan(100, concurrency), rng, churn=7)
    assert left
    assert set(ids) - left <= read


def test_a_resumed_plan_reads_only_what_is_not_done() -> None:
    rng = random.Random(5)
    ids = list(range(1, 10_001))
    first = IdRangePlan(100, 4)
    served = Served(ids, 100)
    flying: list[Ask] = []
    read: set[int] = set()
    for _ in range(30):  # then the process dies, with requests in flight
        flying += first.asks()
        ask = flying.pop(rng.randrange(len(flying)))
        got, total = served.answer(ask)
        read.update(got[: first.answer(ask, got, total)])
    done = [list(pair) for pair in first.done]  # as stored in the watermark (JSON)
    covered = {i for i in ids if any(lo < i <= hi for lo, hi in done)}
    assert covered <= read
    second = IdRangePlan(100, 4, done=done)
    again, _, _ = run(Served(ids, 100), second, rng)
    assert covered | again == set(ids)
    assert not covered & again
