"""The /_sandbox control routes: stats, faults, mutation, token revocation and reset.

They are test and demo controls, never part of ProcessMaker's API, so they need no token.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultSettings
from sandbox.resources import RESOURCES
from sandbox.serializers import iso

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
    """GET /_sandbox/stats: grants by type, API requests by route template."""
    sandbox = request.app.state.sandbox
    return JSONResponse({**sandbox.stats.snapshot(), "faults": sandbox.faults.snapshot()})


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


async def mutate(request: Request) -> Response:
    """POST /_sandbox/mutate {"count": n, "resource": "requests"}: update n rows now."""
    body = await _json(request)
    resource, count = body.get("resource", "requests"), body.get("count", 1)
    if resource not in RESOURCES:
        return _bad(f"resource must be one of {', '.join(sorted(RESOURCES))}")
    if not isinstance(count, int) or count < 1:
        return _bad("count must be a positive integer")
    store = request.app.state.sandbox.store
    ids = await run_in_threadpool(store.mutate, resource, count)
    return JSONResponse({"resource": resource, "ids": ids, "updated_at": iso(store.last_write)})


async def revoke_all(request: Request) -> Response:
    """POST /_sandbox/revoke-all: revoke every issued access and refresh token."""
    request.app.state.sandbox.oauth.revoke_all()
    return Response(status_code=204)


async def token_ttl(request: Request) -> Response:
    """POST /_sandbox/token-ttl {"seconds": n}: lifetime of tokens issued from now on."""
    seconds = (await _json(request)).get("seconds")
    if not isinstance(seconds, int) or seconds < 1:
        return _bad("seconds must be a positive integer")
    request.app.state.sandbox.oauth.set_token_ttl(seconds)
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    """POST /_sandbox/reset: clear faults, stats and the token-endpoint throttle; restore the
    token lifetime and the configured PAT."""
    sandbox = request.app.state.sandbox
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
        Route("/_sandbox/revoke-all", revoke_all, methods=["POST"]),
        Route("/_sandbox/token-ttl", token_ttl, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]
