"""The /_sandbox control routes: stats, faults, data changes, token lifetimes and reset.

They are test and demo controls, never part of ProcessMaker's API, so they need no token.
docs/pages/sandbox.md lists each with its JSON fields and defaults.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from processmaker_prefect.sandbox.faults import FaultSettings
from processmaker_prefect.sandbox.mutations import CASTS
from processmaker_prefect.sandbox.oauth_routes import token_json
from processmaker_prefect.sandbox.resources import RESOURCES
from processmaker_prefect.sandbox.serializers import iso

__all__ = ["control_routes"]


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=422)


async def stats(request: Request) -> Response:
    """GET /_sandbox/stats: grants by type, API requests by route template, and the CPU
    seconds the sandbox process has used (a benchmark tells its own cost from the server's)."""
    sandbox = request.app.state.sandbox
    snapshot = {**sandbox.stats.snapshot(), "faults": sandbox.faults.snapshot()}
    return JSONResponse({**snapshot, "cpu_seconds": round(time.process_time(), 3)})


async def set_faults(request: Request) -> Response:
    """POST /_sandbox/faults: replace the fault settings (omitted keys mean no fault)."""
    try:
        settings = FaultSettings.from_json(await _json(request))
    except ValueError as exc:
        return _bad(str(exc))
    request.app.state.sandbox.faults.set(settings)
    return JSONResponse(request.app.state.sandbox.faults.snapshot())


async def clear_faults(request: Request) -> Response:
    """DELETE /_sandbox/faults: no faults."""
    request.app.state.sandbox.faults.clear()
    return Response(status_code=204)


def _count(body: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}")
    return value


async def mutate(request: Request) -> Response:
    """POST /_sandbox/mutate {"resource": "requests", "count": 1, "new": 0}: update ``count``
    existing rows and insert ``new`` rows now (new rows: requests, tasks, records only)."""
    body = await _json(request)
    resource = body.get("resource", "requests")
    if resource not in RESOURCES:
        return _bad(f"resource must be one of {', '.join(sorted(RESOURCES))}")
    try:
        new = _count(body, "new", 0)
        count = _count(body, "count", 0 if new else 1, minimum=0 if new else 1)
    except ValueError as exc:
        return _bad(str(exc))
    store, churn = request.app.state.sandbox.store, request.app.state.sandbox.churn
    ids = await run_in_threadpool(churn.mutate, resource, count) if count else []
    new_ids = await run_in_threadpool(churn.insert, resource, new) if new else []
    return JSONResponse(
        {"resource": resource, "ids": ids, "new_ids": new_ids, "updated_at": iso(store.last_write)}
    )


_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


async def request_data(request: Request) -> Response:
    """POST /_sandbox/request-data {"process_id": 1, "set": {...}, "cast": {"key": "string"},
    "touch": true}: add or change keys in the data of every request of a process."""
    body = await _json(request)
    process_id, values, cast = body.get("process_id"), body.get("set", {}), body.get("cast", {})
    touch = body.get("touch", True)
    if not isinstance(process_id, int) or isinstance(process_id, bool):
        return _bad("process_id must be an integer")
    if not isinstance(values, dict) or not isinstance(cast, dict) or not (values or cast):
        return _bad("give set (key -> value) and/or cast (key -> type)")
    if not all(_KEY.match(str(key)) for key in [*values, *cast]):
        return _bad("keys must be identifiers: a letter, then letters, digits or _")
    if not all(to in CASTS for to in cast.values()):
        return _bad(f"cast types must be one of {', '.join(CASTS)}")
    if not isinstance(touch, bool):
        return _bad("touch must be true or false")
    store, churn = request.app.state.sandbox.store, request.app.state.sandbox.churn
    changed = await run_in_threadpool(
        lambda: churn.change_request_data(process_id, values=values, cast=cast, touch=touch)
    )
    return JSONResponse(
        {"process_id": process_id, "changed": changed, "updated_at": iso(store.last_write)}
    )


async def revoke_all(request: Request) -> Response:
    """POST /_sandbox/revoke-all: revoke every issued access and refresh token."""
    request.app.state.sandbox.oauth.revoke_all()
    return Response(status_code=204)


async def token_ttl(request: Request) -> Response:
    """POST /_sandbox/token-ttl {"access_seconds", "refresh_seconds", "personal_seconds"}:
    lifetimes of tokens issued from now on; ``{"seconds": n}`` sets access and personal."""
    body = await _json(request)
    names = ("seconds", "access_seconds", "refresh_seconds", "personal_seconds")
    if not any(name in body for name in names):
        return _bad(f"give one of {', '.join(names)}")
    for name in names:
        value = body.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return _bad(f"{name} must be a positive integer")
    oauth = request.app.state.sandbox.oauth
    legacy = body.get("seconds")
    oauth.set_token_ttls(
        access=body.get("access_seconds", legacy),
        refresh=body.get("refresh_seconds"),
        personal=body.get("personal_seconds", legacy),
    )
    return JSONResponse(oauth.token_ttls())


async def personal_token(request: Request) -> Response:
    """POST /_sandbox/personal-tokens {"user_id": 1, "name": "sandbox", "expires_in": s}: a PAT
    with its own lifetime (negative: already expired); answers like PM's PAT create."""
    body = await _json(request)
    user_id, name = body.get("user_id", 1), body.get("name", "sandbox")
    expires_in = body.get("expires_in")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        return _bad("user_id must be a positive integer")
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        return _bad("name must be a string of 1 to 255 characters")
    if expires_in is not None and (not isinstance(expires_in, int) or isinstance(expires_in, bool)):
        return _bad("expires_in must be an integer number of seconds")
    oauth = request.app.state.sandbox.oauth
    jwt, row = oauth.create_personal_token(user_id, name, expires_in)
    return JSONResponse({"accessToken": jwt, "token": token_json(row)})


async def reset(request: Request) -> Response:
    """POST /_sandbox/reset: every seeded row back as seeded, rows added since gone; faults,
    stats and the token-endpoint throttle cleared; token lifetimes and the configured PAT
    restored."""
    sandbox = request.app.state.sandbox
    await run_in_threadpool(sandbox.store.restore)
    sandbox.churn.reset()
    sandbox.faults.clear()
    sandbox.stats.reset()
    sandbox.oauth.reset()
    return Response(status_code=204)


def control_routes() -> list[Route]:
    return [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/faults", set_faults, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/mutate", mutate, methods=["POST"]),
        Route("/_sandbox/request-data", request_data, methods=["POST"]),
        Route("/_sandbox/personal-tokens", personal_token, methods=["POST"]),
        Route("/_sandbox/revoke-all", revoke_all, methods=["POST"]),
        Route("/_sandbox/token-ttl", token_ttl, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]
