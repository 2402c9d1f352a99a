"""The ProcessMaker REST API: TLS policy, the retrying transport, paginators and the client.

Resilience lives here too, so every reader and task gets it: body checks (``bodies``), a
second round for a failing list page (``page_reads``), a circuit breaker per instance
(``breaker``).

Knows nothing of Vault or tokens: authentication is a ``requests`` auth object handed in.
"""

from __future__ import annotations

from tasks.api.breaker import CircuitBreaker, breaker_for, reset_breakers
from tasks.api.client import API_PREFIX, ProcessMakerClient, api_path, process_session
from tasks.api.pagination import KeysetCursor, KeysetPaginator, Page, PageNumberPaginator
from tasks.api.tls import check_transport, verify_option

__all__ = [
    "API_PREFIX",
    "CircuitBreaker",
    "KeysetCursor",
    "KeysetPaginator",
    "Page",
    "PageNumberPaginator",
    "ProcessMakerClient",
    "api_path",
    "breaker_for",
    "check_transport",
    "process_session",
    "reset_breakers",
    "verify_option",
]
