"""Fault injection for /api/1.0 (and POST /oauth/token), plus request counting by route.

Faults are set with ``POST /_sandbox/faults`` (see ``sandbox.control``). Random faults draw
from an RNG seeded with the sandbox seed; ``fail_next``/``drop_next`` are exact counters for
deterministic tests. A drop closes the TCP connection without any response bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from http import HTTPStatus
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.stats import Stats

__all__ = ["FaultMiddleware", "FaultSettings", "Faults"]

API_PREFIX = "/api/1.0"
TOKEN_PATH = "/oauth/token"


@dataclass
class FaultSettings:
    """What ``POST /_sandbox/faults`` accepts; every field defaults to "no fault"."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    churn: int = 0
    token_error_rate: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    drop_next: int = 0
    token_fail_next: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultSettings:
        """Build settings from a JSON object; unknown keys or bad types raise ``ValueError``."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        settings = cls()
        for name, value in body.items():
            default = getattr(settings, name)
            if isinstance(default, list):
                if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
                    raise ValueError(f"{name} must be a list of integers")
            elif isinstance(default, float):
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValueError(f"{name} must be a number between 0 and 1")
                value = float(value)
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            setattr(settings, name, value)
        return settings


class Faults:
    """The current fault settings, shared by the middleware and the control routes."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.settings = FaultSettings()

    @property
    def churn(self) -> int:
        return self.settings.churn

    def set(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings

    def clear(self) -> None:
        self.set(FaultSettings())

    def snapshot(self) -> dict[str, Any]:
        return asdict(self.settings)

    def decide_api(self) -> tuple[str, int] | None:
        """The fault for the next API request: ("drop", 0), ("status", code) or None."""
        with self._lock:
            s = self.settings
            if s.drop_next > 0:
                s.drop_next -= 1
                return ("drop", 0)
            if s.fail_next > 0:
                s.fail_next -= 1
                return ("status", s.fail_status)
            if s.drop_rate and self._rng.random() < s.drop_rate:
                return ("drop", 0)
            if s.rate_limit_rate and self._rng.random() < s.rate_limit_rate:
                return ("status", 429)
            if s.error_rate and self._rng.random() < s.error_rate:
                return ("status", self._rng.choice(s.error_statuses or [500]))
            return None

    def decide_token(self) -> int | None:
        """A status to fail the next token request with, or None."""
        with self._lock:
            s = self.settings
            if s.token_fail_next > 0:
                s.token_fail_next -= 1
                return s.fail_status
            if s.token_error_rate and self._rng.random() < s.token_error_rate:
                return self._rng.choice(s.error_statuses or [500])
            return None


def _error_body(status: int) -> bytes:
    # Laravel renders non-debug errors as {"message": ...}; 429 is the throttle's own text.
    if status == 429:
        return b'{"message":"Too Many Attempts."}'
    message = "Server Error" if status == 500 else HTTPStatus(status).phrase
    return json.dumps({"message": message}).encode()


class FaultMiddleware:
    """Outermost ASGI middleware: count API requests, then inject latency, errors and drops."""

    def __init__(self, app: ASGIApp, faults: Faults, stats: Stats, routes: list[BaseRoute]) -> None:
        self.app, self.faults, self.stats, self.routes = app, faults, stats, routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                # The api.fallback catch-all is counted as one bucket, not per path.
                if getattr(route, "name", None) == "fallback":
                    return API_PREFIX + "/*"
                return str(getattr(route, "path_format", API_PREFIX + "/*"))
        return API_PREFIX + "/*"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
            self.stats.count_request(method, self._template(scope))
            self.stats.enter()
            try:
                await self._api(scope, receive, send)
            finally:
                self.stats.leave()
            return
        if path == TOKEN_PATH and method == "POST":
            status = self.faults.decide_token()
            fault = None if status is None else ("status", status)
        else:
            fault = None
        await self._apply(fault, scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.faults.settings.latency_ms:
            await asyncio.sleep(self.faults.settings.latency_ms / 1000)
        await self._apply(self.faults.decide_api(), scope, receive, send)

    async def _apply(
        self, fault: tuple[str, int] | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if fault is None:
            await self.app(scope, receive, send)
        elif fault[0] == "drop":
            await _drop(scope.get("sandbox.server_send", send))
        else:
            await self._respond(send, fault[1])

    async def _respond(self, send: Send, status: int) -> None:
        headers = [(b"content-type", b"application/json")]
        if status == 429:
            retry = self.faults.settings.retry_after
            headers += [
                (b"retry-after", str(retry).encode()),
                (b"x-ratelimit-limit", b"60"),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", str(int(time.time()) + retry).encode()),
            ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": _error_body(status)})


async def _drop(send: Send) -> None:
    """Close the client's TCP connection without sending a byte.

    uvicorn passes its request cycle's bound ``send``; its ``transport`` is the socket. ASGI has
    no "abort" message, and raising would make uvicorn answer 500 instead of dropping.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: drop (no transport to close)")
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn see connection_lost before the app returns
