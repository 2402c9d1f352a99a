"""The ProcessMaker REST API: TLS policy, the retrying transport, paginators and the client.

Resilience lives here too, so every reader and task gets it: body checks (``bodies``), a
second round for a failing list page (``page_reads``), a circuit breaker per instance
(``breaker``).

Knows nothing of Vault or tokens: authentication is a ``requests`` auth object handed in.
"""

from __future__ import annotations

from processmaker_prefect.api.breaker import CircuitBreaker, breaker_for, reset_breakers
from processmaker_prefect.api.client import (
    API_PREFIX,
    ProcessMakerClient,
    api_path,
    process_session,
)
from processmaker_prefect.api.pagination import Page, PageNumberPaginator
from processmaker_prefect.api.task_actions import TaskOutcome, apply_task_action
from processmaker_prefect.api.tls import check_transport, verify_option

__all__ = [
    "API_PREFIX",
    "CircuitBreaker",
    "Page",
    "PageNumberPaginator",
    "ProcessMakerClient",
    "TaskOutcome",
    "api_path",
    "apply_task_action",
    "breaker_for",
    "check_transport",
    "process_session",
    "reset_breakers",
    "verify_option",
]
