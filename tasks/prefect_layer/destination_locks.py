"""One sync per destination at a time, across every worker: a Prefect concurrency limit of 1.

The limit is named after the destination (``processmaker-sync-`` + scheme, host, port and
database, or the DuckDB file's absolute path; never a user or password), and on PostgreSQL
after the resource too (``...:5432:pm:requests``): there every resource has tables of its own
and one sync runs several side by side, so two runs syncing different resources of one database
do not wait for each other. A DuckDB file admits one writer process: its limit stays the whole
file's. Each is created with one slot on first use, so it shows in Prefect's UI under
Concurrency. A sync that finds it held stops at once, like a deployment's ``CANCEL_NEW``: the
sync holding it reads the same changes, and the next run resumes from the watermark. The slot
is a lease, renewed while the sync runs, so a worker that dies holding it frees it within a
minute. Outside a Prefect flow run, and on Prefect's ephemeral server (no ``PREFECT_API_URL``:
``pm-prefect sync`` on a laptop), nothing is locked here: that server lives and dies with the
process, so no other worker shares it, and a lease held by a killed run would stay in its
database with no server left to expire it. A DuckDB file still admits one writer process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import get_current_settings

__all__ = ["destination_lock", "destination_lock_name", "shared_prefect_server"]

LEASE_SECONDS = 60.0  # the shortest lease Prefect grants
_BANNED = re.compile(r"[/%&<>]+")  # characters Prefect refuses in a limit's name
_log = logging.getLogger(__name__)


def shared_prefect_server() -> bool:
    """Whether runs talk to a Prefect server of their own (``PREFECT_API_URL``), not to the
    ephemeral one a process starts for itself and takes down with it."""
    return bool(get_current_settings().api.url)


def destination_lock_name(destination: str, resource: str | None = None) -> str:
    """``processmaker-sync-postgresql:db.example.com:5432:pm:requests`` (a resource's lock on
    PostgreSQL), ``...:5432:pm`` (the database's), or the DuckDB file's path (a resource
    given for a DuckDB file is ignored: the file has one lock)."""
    scheme, _, rest = destination.partition("://")
    if scheme.lower() == "duckdb":
        path = rest.removeprefix("/").partition("?")[0]  # options do not make another file
        where = path if path == ":memory:" else str(Path(path).expanduser().resolve())
    else:
        parts = urlsplit(destination)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        if resource:
            where = f"{where}/{resource}"
    return f"processmaker-sync-{scheme.lower()}:" + _BANNED.sub(":", where.strip("/"))


@contextmanager
def destination_lock(destination: str, resource: str | None = None) -> Iterator[bool]:
    """Hold the limit of the destination (on PostgreSQL: of ``resource`` in it) for the block;
    yields False when another run holds it."""
    if FlowRunContext.get() is None or not shared_prefect_server():
        yield True
        return
    name = destination_lock_name(destination, resource)
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another worker created it just now
                limit = GlobalConcurrencyLimitCreate(name=name, limit=1)
                client.create_global_concurrency_limit(limit)
        lease = _acquire(client, name)
    if lease is None:
        yield False
        return
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease, stop), name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join(timeout=10)
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease)


def _acquire(client: SyncPrefectClient, name: str) -> UUID | None:
    """The lease on the limit's one slot, or None when another run holds it.

    The client, not ``prefect.concurrency``: a busy destination is an answer here, not an
    error to wait out or to log.
    """
    try:
        answer = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
        )
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == httpx.codes.LOCKED:
            return None
        raise
    return UUID(answer.json()["lease_id"])


def _renew(lease: UUID, stop: threading.Event) -> None:
    """Renew the lease every third of its duration until the sync ends."""
    with get_client(sync_client=True) as client:
        while not stop.wait(LEASE_SECONDS / 3):
            try:
                client.renew_concurrency_lease(lease_id=lease, lease_duration=LEASE_SECONDS)
            except Exception as exc:  # the next renewal may work; the lease has time left
                _log.warning("Renewing the destination lock failed: %s", type(exc).__name__)
