"""Markdown for the flows' artifacts: escaped cells, short tables, failures under the table.

Prefect renders artifacts as Markdown, so text we did not write (error messages, masks like
``client_id=****``, values from ProcessMaker) is escaped, and long text goes in a paragraph
below the table, where it wraps, instead of a cell that scrolls sideways.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["CELL_LIMIT", "escape", "failures", "shorten", "table"]

CELL_LIMIT = 80  # characters of a table cell; the rest is cut with an ellipsis
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def escape(text: object) -> str:
    """``text`` with Markdown's special characters escaped and on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def shorten(text: object, limit: int = CELL_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters (escaped)."""
    flat = " ".join(str(text).split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[int] = ()
) -> list[str]:
    """A Markdown table; cells escaped and shortened; columns in ``right`` right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(shorten(cell) for cell in row) + " |" for row in rows]
    return lines


def failures(heading: str, items: Iterable[tuple[str, str]]) -> list[str]:
    """Each failure as a bullet under a heading: ``- **name**: message`` (escaped; wraps)."""
    listed = [f"- **{escape(name)}**: {escape(message)}" for name, message in items]
    return ["", f"### {heading}", "", *listed] if listed else []
