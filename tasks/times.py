"""The one way to read and write ProcessMaker's times: aware UTC datetimes everywhere.

ProcessMaker stores times in UTC and sends ISO-8601 (``2025-08-14T00:50:02+00:00``); PMQL takes
``YYYY-MM-DD HH:MM:SS``. A naive time is taken as UTC, never as the worker's local time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processmaker_prefect.errors import MalformedResponseError

__all__ = ["as_utc", "parse_time", "parse_timestamp", "pmql_time"]


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text (or a datetime); None if absent or unparsable."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def parse_time(value: Any, where: str) -> datetime:
    """Like :func:`parse_timestamp`, for a time a reader cannot do without.

    Raises:
        MalformedResponseError: ``value`` is not ISO-8601 (``where`` names the route).
    """
    moment = parse_timestamp(value if isinstance(value, datetime) else str(value))
    if moment is None:
        raise MalformedResponseError(
            f"{where}: a row's timestamp is not ISO-8601; check the keyset's time field"
        )
    return moment


def pmql_time(moment: datetime) -> str:
    """A PMQL datetime literal: ``YYYY-MM-DD HH:MM:SS`` in UTC, as ProcessMaker stores it."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")
