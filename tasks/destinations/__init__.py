"""Sync destinations: DuckDB and PostgreSQL, each storing rows and watermark in one transaction."""

from __future__ import annotations

from processmaker_prefect.destinations.base import Destination, Watermark, redact_userinfo
from processmaker_prefect.destinations.registry import (
    DEFAULT_URL,
    check_destination_url,
    default_destination,
    open_destination,
)
from processmaker_prefect.destinations.started_requests import PayloadRow, StartedRequests

__all__ = [
    "DEFAULT_URL",
    "Destination",
    "PayloadRow",
    "StartedRequests",
    "Watermark",
    "check_destination_url",
    "default_destination",
    "open_destination",
    "redact_userinfo",
]
