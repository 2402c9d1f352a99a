"""Run an :class:`~tasks.sync.idranges.IdRangePlan` over a list route, requests in parallel."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from typing import Any, cast

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.api.pagination import meta_count
from processmaker_prefect.errors import MalformedResponseError
from processmaker_prefect.sync.idranges import Ask, IdRangePlan

__all__ = ["scan_ids"]

Rows = list[dict[str, Any]]


def scan_ids(
    client: ProcessMakerClient,
    path: str,
    params: dict[str, Any],
    pmql: str,
    plan: IdRangePlan,
) -> Iterator[Rows]:
    """``GET /api/1.0{path}?pmql=(<pmql>) AND <id range>&order_by=id``: every row of the set.

    Yields each answer's rows as it arrives (any order); when a page is yielded, ``plan``
    already counts it as done, so the caller can store it with the plan's state. Up to
    ``plan.concurrency`` requests are in flight; an error is raised after the ones in flight
    return.
    """
    where = f"GET /api/1.0{path}"

    # A filtered sync's PMQL (params["pmql"]) is AND-ed with the window and the id range.
    fixed = {key: value for key, value in params.items() if key != "pmql"}
    own = params.get("pmql")

    def fetch(ask: Ask) -> dict[str, Any]:
        clauses = [f"({c})" for c in (own, pmql, ask.pmql()) if c]
        query = {**fixed, "order_by": "id", "order_direction": "asc", "page": 1,
                 "per_page": plan.per_page}  # fmt: skip
        if clauses:
            query["pmql"] = " AND ".join(clauses)
        return client.get_page(path, query)

    # Each fetch runs in a copy of the caller's context: its log lines stay with the run.
    with ThreadPoolExecutor(plan.concurrency, thread_name_prefix="pm-range") as pool:
        flying: dict[Future[dict[str, Any]], Ask] = {}
        while True:
            for ask in plan.asks():
                flying[pool.submit(copy_context().run, fetch, ask)] = ask
            if not flying:
                return
            ready, _ = wait(flying, return_when=FIRST_COMPLETED)
            for future in ready:
                ask = flying.pop(future)
                envelope = future.result()
                rows = _by_id(envelope["data"], where)
                ids = [cast(int, row["id"]) for row in rows]
                try:
                    keep = plan.answer(ask, ids, meta_count(envelope, "total", where))
                except ValueError as exc:
                    raise MalformedResponseError(
                        f"{where}: {exc}; check that the server filters by PMQL id and "
                        "honours order_by=id"
                    ) from exc
                yield rows[:keep]
                # Refill the slot at once rather than after the whole ready set.
                for ask in plan.asks():
                    flying[pool.submit(copy_context().run, fetch, ask)] = ask


def _by_id(page: Rows, where: str) -> Rows:
    """The page's rows with integer ids, each id once (the last row wins, in the first's place).

    An id written as a string (``"12"``, as some proxies and PHP versions send it) is taken
    as the integer; a row with no id that is a whole number ends the read in one line, as
    the id range it belongs to cannot be known.
    """
    by_id: dict[int, dict[str, Any]] = {}
    for row in page:
        ident = row.get("id")
        if type(ident) is not int:
            if isinstance(ident, str) and ident.strip().isdigit():
                row = {**row, "id": int(ident)}
                ident = row["id"]
            else:
                raise MalformedResponseError(
                    f"{where}: a row has no integer 'id' (got {str(ident)[:30]!r}); check "
                    "that the URL is ProcessMaker's"
                )
        by_id[ident] = row  # in place: the page stays in id order
    return list(by_id.values())
