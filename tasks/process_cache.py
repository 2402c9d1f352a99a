"""The one process-wide cache: one object per key, built once, shared by threads.

A Prefect flow run on a process worker is one process; its task runs are threads in it. Vault
sessions, token providers and pooled HTTP sessions are built once per process and instance and
reused by every task run, so logins, grants and TCP handshakes are not repeated per task.
The key is the instance's identity (its URL, its Vault secret, the Vault login), not every
setting: two connections to one instance that differ in, say, ``page_size`` share one. State
that must hold *across* processes (a rotated refresh token) lives in Vault, not here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ProcessCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ProcessCache(Generic[K, V]):
    """Values built on first use per key, under one lock; ``reset`` closes and forgets them.

    Args:
        build: Makes the value for a key. Runs under the lock, so two threads asking for the
            same key get the same object and the build runs once.
        close: Releases a value on :meth:`reset` (optional).
        identity: What of a key tells values apart (default: all of it). The first key of an
            identity builds the value; a later key of the same identity gets that value.
    """

    def __init__(
        self,
        build: Callable[[K], V],
        close: Callable[[V], None] | None = None,
        identity: Callable[[K], Hashable] | None = None,
    ) -> None:
        self._build = build
        self._close = close
        self._identity = identity
        self._values: dict[Hashable, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        """The value for ``key``'s identity, built from ``key`` if this process has none yet."""
        ident = key if self._identity is None else self._identity(key)
        with self._lock:
            value = self._values.get(ident)
            if value is None:
                value = self._values[ident] = self._build(key)
            return value

    def reset(self) -> None:
        """Forget every value (tests, or after settings or credentials changed by hand)."""
        with self._lock:
            values = list(self._values.values())
            self._values.clear()
        if self._close is not None:
            for value in values:
                self._close(value)
