"""ProcessMaker's list envelope: ``ApiCollection`` meta deep-merged with Laravel's paginator.

See API-NOTES §2: ``{"data": [...], "meta": {filter, sort_by, sort_order, count, total_pages,
current_page, from, last_page, links, path, per_page, to, total}}`` and no top-level ``links``.
"""

from __future__ import annotations

import html
import math
from typing import Any

__all__ = ["envelope", "page_links"]

ON_EACH_SIDE = 3  # Laravel's AbstractPaginator::$onEachSide


def envelope(
    items: list[dict[str, Any]],
    *,
    total: int,
    page: int,
    per_page: int,
    path: str,
    filter_text: str = "",
    sort_by: str = "",
    sort_order: str = "",
) -> dict[str, Any]:
    """Wrap one page of serialised items the way ``ApiCollection`` + ``paginate()`` do.

    ``filter``, ``sort_by`` and ``sort_order`` echo the request's ``filter``, ``order_by`` and
    ``order_direction`` inputs (empty when absent), as ``ApiCollection::toArray`` does.
    """
    last_page = max(1, math.ceil(total / per_page))
    first = (page - 1) * per_page + 1
    return {
        "data": items,
        "meta": {
            "filter": html.escape(filter_text),
            "sort_by": sort_by,
            "sort_order": sort_order,
            "count": len(items),
            "total_pages": math.ceil(total / per_page),
            "current_page": page,
            "from": first if items else None,
            "last_page": last_page,
            "links": page_links(page, last_page, path),
            "path": path,
            "per_page": per_page,
            "to": first + len(items) - 1 if items else None,
            "total": total,
        },
    }


def page_links(current: int, last: int, path: str) -> list[dict[str, Any]]:
    """``LengthAwarePaginator::linkCollection()``: previous, a window of pages, next."""

    def url(page: int) -> str:
        return f"{path}?page={page}"

    def pages(start: int, end: int) -> list[dict[str, Any]]:
        return [
            {"url": url(p), "label": str(p), "active": p == current} for p in range(start, end + 1)
        ]

    dots = {"url": None, "label": "...", "active": False}
    window = ON_EACH_SIDE + 4
    if last < ON_EACH_SIDE * 2 + 8:  # UrlWindow::getSmallSlider
        middle = pages(1, last)
    elif current <= window:
        middle = [*pages(1, window + ON_EACH_SIDE), dots, *pages(last - 1, last)]
    elif current > last - window:
        middle = [*pages(1, 2), dots, *pages(last - (window + ON_EACH_SIDE - 1), last)]
    else:
        middle = [
            *pages(1, 2),
            dots,
            *pages(current - ON_EACH_SIDE, current + ON_EACH_SIDE),
            dots,
            *pages(last - 1, last),
        ]
    return [
        {"url": url(current - 1) if current > 1 else None, "label": "&laquo; Previous",
         "active": False},
        *middle,
        {"url": url(current + 1) if current < last else None, "label": "Next &raquo;",
         "active": False},
    ]  # fmt: skip
