"""Credential events for Prefect's event feed: one grammar, no secrets, never in the way.

Names are ``processmaker.<subject>.<what happened>`` (docs/pages/operations.md, its events):

==================================  ==========================================================
``processmaker.token.obtained``     a token to use: granted, or shared in Vault (source)
``processmaker.token.refused``      the API refused a token, or the token endpoint a grant
``processmaker.refresh_token.rotated``  a rotated refresh token was stored (Vault version)
``processmaker.vault.login``        a Vault login (method, mount, TTL, renewable)
``processmaker.vault.renewed``      the Vault token was renewed (new TTL)
``processmaker.credential.expiring``  a credential expires within the warning window
``processmaker.credential.check_failed``  a doctor/healthcheck check failed
``processmaker.sync.rejected``      a sync set records aside in ``_rejected`` (resource, count)
``processmaker.task.completed``     an operator's review completed a task (run named)
``processmaker.task.reassigned``    an operator's review reassigned a task (run named)
==================================  ==========================================================

The resource is the ProcessMaker instance (``processmaker.instance.<url>``, labelled
``processmaker.block`` with the Connection block's name when the settings came from one) or,
for Vault logins, the Vault server (``vault.server.<addr>``); the Vault secret is a related resource
(``vault.secret.<mount/path>``). Payloads hold names, times and counts: never a value read
from Vault or a token.

This module is a plain hook: the layers below Prefect report here, and the Prefect layer
installs the sink that sends (:mod:`processmaker_prefect.prefect_layer.event_sink`). With no
sink installed an event is dropped. Emitting must never fail or slow a run; identical refusals
seen by many threads are sent once (``once=``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = [
    "EVENT_NAMES",
    "EventSink",
    "emit",
    "instance_resource",
    "iso",
    "reset_emitted",
    "secret_resource",
    "set_event_sink",
    "vault_resource",
    "vault_session_event",
]

logger = logging.getLogger(__name__)

EVENT_NAMES = frozenset(
    {
        "processmaker.token.obtained",
        "processmaker.token.refused",
        "processmaker.refresh_token.rotated",
        "processmaker.vault.login",
        "processmaker.vault.renewed",
        "processmaker.credential.expiring",
        "processmaker.credential.check_failed",
        "processmaker.sync.rejected",
        "processmaker.task.completed",
        "processmaker.task.reassigned",
    }
)

_lock = threading.Lock()
_sent: dict[Hashable, float] = {}  # once-key -> time.monotonic() it was sent


def _base_url(url: str) -> str:
    """scheme://host[:port]/path: never a userinfo or query part, which may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def instance_resource(url: str, block: str | None = None, **labels: str) -> dict[str, str]:
    """The ProcessMaker instance as a Prefect resource, with extra ``labels``.

    ``block`` names the ProcessMaker Connection block the settings came from, as the label
    ``processmaker.block``: an automation passes it on to the healthcheck it runs, so the
    credential that failed is the one checked.
    """
    base = _base_url(url)
    resource = {
        "prefect.resource.id": f"processmaker.instance.{base}",
        "prefect.resource.name": urlsplit(base).netloc,
        **labels,
    }
    if block:
        resource["processmaker.block"] = block
    return resource


def vault_resource(addr: str, **labels: str) -> dict[str, str]:
    """The Vault server as a Prefect resource."""
    base = _base_url(addr)
    return {
        "prefect.resource.id": f"vault.server.{base}",
        "prefect.resource.name": urlsplit(base).netloc,
        **labels,
    }


def secret_resource(path: str, addr: str | None = None) -> dict[str, str]:
    """The Vault secret holding the credentials, as a related resource (role ``credentials``)."""
    resource = {
        "prefect.resource.id": f"vault.secret.{path.strip('/')}",
        "prefect.resource.role": "credentials",
        "prefect.resource.name": path.strip("/"),
    }
    if addr:
        resource["vault.addr"] = _base_url(addr)
    return resource


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC string (``None`` stays ``None``)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


class EventSink(Protocol):
    """Where events go: the Prefect layer's sink, or a test's."""

    def listening(self) -> bool:
        """Whether an event can be delivered now, cheaply (no server to start)."""

    def send(
        self,
        event: str,
        resource: dict[str, str],
        related: list[dict[str, str]],
        payload: dict[str, Any],
    ) -> bool:
        """Hand one event over; whether it was taken."""


_sink: EventSink | None = None


def set_event_sink(sink: EventSink | None) -> EventSink | None:
    """Install ``sink`` for every later :func:`emit` (``None``: drop events); return the old one."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def _first_time(once: Hashable, window: float | None) -> bool:
    now = time.monotonic()
    with _lock:
        sent = _sent.get(once)
        if sent is not None and (window is None or now - sent < window):
            return False
        _sent[once] = now
        return True


def emit(
    event: str,
    resource: Mapping[str, str],
    *,
    related: Sequence[Mapping[str, str]] | None = None,
    payload: Mapping[str, Any] | None = None,
    once: Hashable | None = None,
    window: float | None = 300.0,
) -> bool:
    """Send one event to the installed sink, or skip it; never raises.

    Args:
        event: One of :data:`EVENT_NAMES`.
        resource: The primary resource (:func:`instance_resource`, :func:`vault_resource`).
        related: Related resources, e.g. :func:`secret_resource`.
        payload: Plain facts: names, ISO times, numbers. Never a secret.
        once: Send at most one event with this key per ``window`` seconds (``None``: for the
            life of the process), however many threads report the same thing.
        window: See ``once``.

    Returns:
        Whether the sink took the event.
    """
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event name {event!r}: add it to EVENT_NAMES")
    sink = _sink
    try:
        # A sink that cannot deliver now must not use up the once-key of a later event.
        if sink is None or not sink.listening():
            return False
        if once is not None and not _first_time((event, once), window):
            return False
        return sink.send(
            event,
            dict(resource),
            [dict(r) for r in related or []],
            dict(payload or {}),
        )
    except Exception:  # an event is never worth failing a run for
        logger.debug("Could not emit %s", event, exc_info=True)
        return False


def reset_emitted() -> None:
    """Forget which ``once`` keys were sent (tests)."""
    with _lock:
        _sent.clear()


def vault_session_event(kind: str, session: Any, ttl: int, renewable: bool) -> None:
    """``processmaker.vault.login`` or ``.renewed`` for a Vault session (``kind``)."""
    login = session.login
    emit(
        f"processmaker.vault.{kind}",
        vault_resource(
            session.settings.addr,
            **{"vault.auth.method": login.method, "vault.auth.mount": login.mount},
        ),
        payload={
            "method": login.method,
            "mount": login.mount,
            "ttl_seconds": ttl,
            "expires_at": iso(time.time() + ttl) if ttl > 0 else None,
            "renewable": renewable,
        },
    )
