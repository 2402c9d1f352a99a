"""Counters of what clients really did and what the sandbox did to them.

Token grants by type, API requests by route, faults injected by kind, calls delayed by latency.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Thread-safe counters served at ``GET /_sandbox/stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self._delayed = 0

    def count_grant(self, grant_type: str) -> None:
        """Count one *successful* token grant of ``grant_type`` (e.g. ``password``)."""
        with self._lock:
            self._grants[grant_type] += 1

    def count_request(self, method: str, route: str) -> None:
        """Count one API request by its route template, e.g. ``GET /api/1.0/requests``."""
        with self._lock:
            self._requests[f"{method} {route}"] += 1

    def count_fault(self, label: str) -> None:
        """Count one injected fault, e.g. ``error_503``, ``drop``, ``truncate``."""
        with self._lock:
            self._injected[label] += 1

    def count_delayed(self) -> None:
        """Count one API call held back by the ``latency_ms`` fault."""
        with self._lock:
            self._delayed += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "grants": dict(self._grants),
                "grants_total": sum(self._grants.values()),
                "requests": dict(self._requests),
                "requests_total": sum(self._requests.values()),
                "injected": dict(self._injected),
                "injected_total": sum(self._injected.values()),
                "delayed": self._delayed,
            }

    def reset(self) -> None:
        with self._lock:
            self._grants.clear()
            self._requests.clear()
            self._injected.clear()
            self._delayed = 0
