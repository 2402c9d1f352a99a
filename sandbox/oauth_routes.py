"""Starlette routes of the OAuth half: /oauth/token, /oauth/authorize and the PAT routes."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from processmaker_prefect.sandbox.oauth import OAuthServer
from processmaker_prefect.sandbox.oauth_errors import LeagueError
from processmaker_prefect.sandbox.tokens import AccessToken

__all__ = ["oauth_routes", "token_json"]

UNAUTHENTICATED = {"error": "Unauthenticated."}
NOT_AUTHORIZED = {"message": "Not authorized to update this user."}


def _stamp(epoch: float) -> str:
    # Laravel 11 serializes dates as ISO-8601 UTC with microseconds.
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_json(row: AccessToken) -> dict[str, Any]:
    client_id: int | str = int(row.client_id) if row.client_id.isdigit() else row.client_id
    return {
        "id": row.id,
        "user_id": row.user_id,
        "client_id": client_id,
        "name": row.name,
        "scopes": row.scopes,
        "revoked": row.revoked,
        "created_at": _stamp(row.created_at),
        "updated_at": _stamp(row.created_at),
        "expires_at": _stamp(row.expires_at),
    }


async def _form(request: Request) -> dict[str, str]:
    """The body as flat string parameters: form-encoded, or JSON as Laravel also accepts."""
    raw = (await request.body()).decode("utf-8", "replace")
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(raw, keep_blank_values=True))


def oauth_routes(server: OAuthServer) -> list[BaseRoute]:
    """Build the routes over one :class:`OAuthServer`."""

    async def token(request: Request) -> Response:
        """POST /oauth/token, behind Laravel's ``throttle`` middleware."""
        decision = server.throttle.hit(request.client.host if request.client else "")
        if not decision.allowed:
            return JSONResponse(
                {"message": "Too Many Attempts."}, status_code=429, headers=decision.headers
            )
        body = urlencode(await _form(request))
        # The URI carries no query: league reads token parameters from the body only.
        uri = str(request.url.replace(query=""))
        result = await run_in_threadpool(server.issue_token, uri, body, dict(request.headers))
        if result.error is not None:
            response = result.error.response()
        else:
            response = Response(
                json.dumps(result.body, separators=(",", ":")),
                headers={
                    "pragma": "no-cache",
                    "cache-control": "no-store",
                    "content-type": "application/json; charset=UTF-8",
                },
            )
        response.headers.update(decision.headers)
        return response

    async def authorize(request: Request) -> Response:
        """GET /oauth/authorize: validate, then show the consent page."""
        try:
            auth_token, pending = await run_in_threadpool(
                server.start_authorization, str(request.url)
            )
        except LeagueError as exc:
            return exc.response()
        return HTMLResponse(_consent_page(auth_token, pending.credentials, pending.scopes))

    async def decide(request: Request) -> Response:
        """POST /oauth/authorize approves; DELETE (or POST with _method=DELETE) denies."""
        params = {**dict(request.query_params), **await _form(request)}
        deny = request.method == "DELETE" or params.get("_method", "").upper() == "DELETE"
        location = await run_in_threadpool(
            server.finish_authorization, params.get("auth_token", ""), not deny
        )
        if location is None:
            message = (
                "The provided auth token for the request is different from the session auth token."
            )
            return JSONResponse({"message": message}, status_code=403)
        return RedirectResponse(location, status_code=302)

    def _guard(request: Request) -> Response | int:
        user = server.authenticate(request.headers.get("authorization"))
        if user is None:
            return JSONResponse(UNAUTHENTICATED, status_code=401)
        # Sandbox rule: a user manages only their own tokens (PM also lets admins in).
        if user != request.path_params["user_id"]:
            return JSONResponse(NOT_AUTHORIZED, status_code=403)
        return user

    async def list_tokens(request: Request) -> Response:
        """GET /api/1.0/users/{user_id}/tokens: unrevoked PATs, paginated by per_page/page."""
        user = _guard(request)
        if isinstance(user, Response):
            return user
        rows = server.registry.personal_tokens(user)
        try:
            per_page = max(1, int(request.query_params.get("per_page", 10)))
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            per_page, page = 10, 1
        chunk = rows[(page - 1) * per_page : page * per_page]
        last_page = max(1, math.ceil(len(rows) / per_page))
        meta = {
            "filter": "",
            "sort_by": "",
            "sort_order": "",
            "count": len(chunk),
            "total_pages": math.ceil(len(rows) / per_page),
            "current_page": page,
            "from": (page - 1) * per_page + 1 if chunk else None,
            "last_page": last_page,
            "links": [],
            "path": "/",
            "per_page": per_page,
            "to": (page - 1) * per_page + len(chunk) if chunk else None,
            "total": len(rows),
        }
        return JSONResponse({"data": [token_json(r) for r in chunk], "meta": meta})

    async def create_token(request: Request) -> Response:
        """POST /api/1.0/users/{user_id}/tokens {"name": ...}: 200 {accessToken, token}."""
        user = _guard(request)
        if isinstance(user, Response):
            return user
        name = (await _form(request)).get("name", "")
        if not name:
            message = "The Name field is required."
        elif len(name) > 255:
            message = "The Name field must not be greater than 255 characters."
        else:
            jwt, row = server.create_personal_token(user, name)
            return JSONResponse({"accessToken": jwt, "token": token_json(row)})
        return JSONResponse({"message": message, "errors": {"name": [message]}}, status_code=422)

    def _find(request: Request, user: int) -> AccessToken | None:
        row = server.registry.access.get(request.path_params["token_id"])
        return row if row is not None and row.personal and row.user_id == user else None

    async def show_token(request: Request) -> Response:
        """GET /api/1.0/users/{user_id}/tokens/{token_id}; 404 with body [] if unknown."""
        user = _guard(request)
        if isinstance(user, Response):
            return user
        row = _find(request, user)
        if row is None:
            return JSONResponse([], status_code=404)
        return JSONResponse(token_json(row))

    async def revoke_token(request: Request) -> Response:
        """DELETE /api/1.0/users/{user_id}/tokens/{token_id}: revoke, 204."""
        user = _guard(request)
        if isinstance(user, Response):
            return user
        row = _find(request, user)
        if row is None:
            return JSONResponse({"error": "Not Found"}, status_code=404)
        server.registry.revoke_access(row.id)
        return Response(status_code=204)

    tokens = "/api/1.0/users/{user_id:int}/tokens"
    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/authorize", authorize, methods=["GET"]),
        Route("/oauth/authorize", decide, methods=["POST", "DELETE"]),
        Route(tokens, list_tokens, methods=["GET"]),
        Route(tokens, create_token, methods=["POST"]),
        Route(tokens + "/{token_id}", show_token, methods=["GET"]),
        Route(tokens + "/{token_id}", revoke_token, methods=["DELETE"]),
    ]


def _consent_page(auth_token: str, credentials: dict[str, Any], scopes: list[str]) -> str:
    """A minimal stand-in for PM's ``auth.oauth2.authorize`` view."""
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(str(value or ""))}">'
        for name, value in (
            ("state", credentials.get("state")),
            ("client_id", credentials.get("client_id")),
            ("auth_token", auth_token),
        )
    )
    scope_text = html.escape(" ".join(scopes)) or "(none)"
    return (
        "<!doctype html><html><head><title>Authorization Request</title></head><body>"
        f"<h1>Authorization Request</h1><p>Client {html.escape(str(credentials.get('client_id')))}"
        f" is requesting permission to access your account. Scopes: {scope_text}</p>"
        f'<form method="post" action="/oauth/authorize">{fields}'
        '<button type="submit" name="approve">Authorize</button></form>'
        f'<form method="post" action="/oauth/authorize">{fields}'
        '<input type="hidden" name="_method" value="DELETE">'
        '<button type="submit" name="deny">Cancel</button></form>'
        "</body></html>"
    )
