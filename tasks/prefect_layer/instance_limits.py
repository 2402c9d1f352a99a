"""One Prefect global concurrency limit per ProcessMaker instance, held around every API call.

However many workers and flow runs call an instance, at most N calls are in flight to it,
N being the limit an operator creates in Prefect (UI: Concurrency, or
``prefect gcl create processmaker-pm.example.com --limit 8``). The limit is named after the
instance: ``processmaker-<host>``, plus ``-<port>`` when the URL names a port. Without such a
limit, outside a Prefect flow or task run, or on Prefect's ephemeral server (no
``PREFECT_API_URL``), calls are not limited (and cost no call to Prefect). A slot is a lease:
a worker that dies holding one frees it when the lease expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.prefect_layer.destination_locks import shared_prefect_server

__all__ = [
    "InstanceLimitedClient",
    "instance_limit_name",
    "limit_in_force",
    "reset_instance_limits",
]

# A new limit is noticed by new flow runs (a process worker starts a process per run) and, in
# a long-lived process, after this many seconds.
RECHECK_SECONDS = 60.0
# The shortest lease Prefect grants; a lease is renewed while its call lasts longer.
LEASE_SECONDS = 60.0

_checked: dict[str, tuple[float, int | None]] = {}
_lock = threading.Lock()
# Threads of one process queue here first, at most `limit` of them asking Prefect at once:
# a thread refused by Prefect sleeps for the server's Retry-After, so asking for more slots
# than exist from one process only adds sleeps.
_local: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def instance_limit_name(url: str) -> str:
    """``processmaker-pm.example.com`` for ``https://pm.example.com``; ``-8080`` for a port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"processmaker-{host}" + (f"-{parts.port}" if parts.port else "")


def limit_in_force(name: str) -> int | None:
    """The slots of the Prefect limit ``name`` when this is a Prefect run and it exists."""
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    if not shared_prefect_server():  # see tasks.destination_locks: a killed run's slot would stay
        return None
    with _lock:
        checked_at, slots = _checked.get(name, (float("-inf"), None))
        if time.monotonic() - checked_at < RECHECK_SECONDS:
            return slots
        with get_client(sync_client=True) as client:
            try:
                found = client.read_global_concurrency_limit_by_name(name)
                slots = found.limit if found.active else None
            except ObjectNotFound:
                slots = None
        if slots is not None and name not in _checked:
            _logger().info(
                "Calls to this instance hold a slot of Prefect limit %s (%d)", name, slots
            )
        _checked[name] = (time.monotonic(), slots)
        return slots


def reset_instance_limits() -> None:
    """Forget which limits exist, so the next client asks Prefect again (tests)."""
    with _lock:
        _checked.clear()
        _local.clear()


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # no run context: the module's logger
        return logging.getLogger(__name__)


class InstanceLimitedClient(ProcessMakerClient):
    """A :class:`ProcessMakerClient` whose every call holds a slot of its instance's limit.

    The slot covers the whole call, retries and backoff included: to ProcessMaker a call
    being retried is still load.
    """

    def __init__(self, base_url: str, auth: requests.auth.AuthBase, **options: Any) -> None:
        super().__init__(base_url, auth, **options)
        self.limit_name = instance_limit_name(self.base_url)
        self.limit = limit_in_force(self.limit_name)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        if self.limit is None:
            return super().request(method, path, params=params, json=json)
        with (
            _local_queue(self.limit_name, self.limit),
            concurrency(self.limit_name, occupy=1, lease_duration=LEASE_SECONDS),
        ):
            return super().request(method, path, params=params, json=json)


def _local_queue(name: str, slots: int) -> threading.BoundedSemaphore:
    with _lock:
        return _local.setdefault((name, slots), threading.BoundedSemaphore(slots))
