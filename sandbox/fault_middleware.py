"""The outermost ASGI middleware: count API calls, then inject latency and the decided fault.

Faults that replace the response (statuses, drops, the HTML login page) never reach the app;
faults that damage it (a truncated body, an envelope without ``data`` or ``meta``) let the app
answer and then alter what goes on the wire. Every injected fault is counted in ``Stats``.
"""

from __future__ import annotations

import asyncio
import json
import time
from http import HTTPStatus

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processmaker_prefect.sandbox.faults import Fault, Faults
from processmaker_prefect.sandbox.stats import Stats

__all__ = ["FaultMiddleware"]

API_PREFIX = "/api/1.0"
TOKEN_PATH = "/oauth/token"
FALLBACK = API_PREFIX + "/*"

# What an SSO proxy (SAML/OIDC login in front of PM) answers to an API call without a session.
LOGIN_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title>'
    b'</head><body><form method="post" action="/saml2/login"><h1>Single Sign-On</h1>'
    b'<label>Email <input name="email" type="email"></label>'
    b'<button type="submit">Continue</button></form></body></html>'
)


def _error_body(status: int) -> bytes:
    # Laravel renders non-debug errors as {"message": ...}; 429 is the throttle's own text.
    if status == 429:
        return b'{"message":"Too Many Attempts."}'
    message = "Server Error" if status == 500 else HTTPStatus(status).phrase
    return json.dumps({"message": message}).encode()


class FaultMiddleware:
    """Count API requests by route template, then inject latency and faults."""

    def __init__(self, app: ASGIApp, faults: Faults, stats: Stats, routes: list[BaseRoute]) -> None:
        self.app, self.faults, self.stats, self.routes = app, faults, stats, routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                # The api.fallback catch-all is counted as one bucket, not per path.
                if getattr(route, "name", None) == "fallback":
                    return FALLBACK
                return str(getattr(route, "path_format", FALLBACK))
        return FALLBACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not (path.startswith(API_PREFIX + "/") or path == API_PREFIX):
            await self._handle(scope, receive, send)
            return
        self.stats.enter()  # in flight from arrival to the last byte (or the drop)
        try:
            await self._handle(scope, receive, send)
        finally:
            self.stats.leave()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
            template = self._template(scope)
            self.stats.count_request(method, template)
            if self.faults.settings.latency_ms:
                self.stats.count_delayed()
                await asyncio.sleep(self.faults.settings.latency_ms / 1000)
            # A list call: GET on a collection route (its template ends in a fixed segment).
            is_list = method == "GET" and template != FALLBACK and not template.endswith("}")
            fault = self.faults.decide_api(is_list)
            skew = self.faults.settings.total_high - self.faults.settings.total_low
            if fault is None and is_list and skew:
                fault = Fault("total", "total_skew")
        elif path == TOKEN_PATH and method == "POST":
            fault = self.faults.decide_token()
        else:
            fault = None
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind in ("truncate", "envelope", "total"):
            skew = self.faults.settings.total_high - self.faults.settings.total_low
            await self.app(scope, receive, _Damaging(send, fault, self.stats, skew))
            return
        self.stats.count_fault(fault.label)
        if fault.kind == "drop":
            await _drop(scope.get("sandbox.server_send", send))
        elif fault.kind == "html":
            headers = [(b"content-type", b"text/html; charset=UTF-8")]
            await _send(send, 200, headers, LOGIN_PAGE)
        else:
            await self._respond(send, fault.status)

    async def _respond(self, send: Send, status: int) -> None:
        headers = [(b"content-type", b"application/json")]
        retry = self.faults.settings.retry_after
        if status in (429, 503):
            headers.append((b"retry-after", str(retry).encode()))
        if status == 429:
            headers += [
                (b"x-ratelimit-limit", b"60"),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", str(int(time.time()) + retry).encode()),
            ]
        await _send(send, status, headers, _error_body(status))


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Damaging:
    """A ``send`` that buffers a 200 JSON answer and sends it damaged.

    Anything else (an error status, HTML) passes through untouched and is not counted.
    """

    def __init__(self, send: Send, fault: Fault, stats: Stats, skew: int = 0) -> None:
        self.send, self.fault, self.stats, self.skew = send, fault, stats, skew
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        damaged = self._damage(body)
        if damaged is None:
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": body})
            return
        self.stats.count_fault(self.fault.label)
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        await _send(self.send, self.start["status"], headers, damaged)

    def _damage(self, body: bytes) -> bytes | None:
        assert self.start is not None  # noqa: S101 - set before any body message
        content_type = dict(self.start["headers"]).get(b"content-type", b"")
        if self.start["status"] != 200 or b"json" not in content_type or len(body) < 2:
            return None
        if self.fault.kind == "truncate":
            # A proxy that cut the body: a complete HTTP answer holding half a JSON document.
            return body[: len(body) // 2]
        document = json.loads(body)
        if self.fault.kind == "total":
            meta = document.get("meta") if isinstance(document, dict) else None
            if not isinstance(meta, dict) or not isinstance(meta.get("total"), int):
                return None
            meta["total"] = total = max(0, meta["total"] + self.skew)
            per_page = max(1, int(meta.get("per_page") or 1))
            meta["total_pages"] = -(-total // per_page)
            meta["last_page"] = max(1, meta["total_pages"])
            return json.dumps(document).encode()
        missing = self.fault.label.rsplit("_", 1)[1]
        if not isinstance(document, dict) or missing not in document:
            return None
        del document[missing]
        return json.dumps(document).encode()


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
