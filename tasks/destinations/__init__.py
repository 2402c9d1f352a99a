"""Sync destinations: DuckDB and PostgreSQL, each storing rows and watermark in one transaction."""

from __future__ import annotations

from tasks.destinations.base import Destination, Watermark, redact_userinfo
from tasks.destinations.registry import DEFAULT_URL, check_destination_url, open_destination

__all__ = [
    "DEFAULT_URL",
    "Destination",
    "Watermark",
    "check_destination_url",
    "open_destination",
    "redact_userinfo",
]
