"""The administrative /api/1.0 lists: categories, screens, scripts, environment variables, group
members, task assignments, comments, files (all media) and a request's files.

Each list follows its PM controller's ``index`` (defaults, filters, paging); each handler names
its route. Shapes are in ``sandbox.admin_serializers``; spec differences in ``sandbox.drift``.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from processmaker_prefect.sandbox.admin_serializers import SERIALIZERS
from processmaker_prefect.sandbox.listing import (
    ApiError,
    ListQuery,
    ListResponse,
    api_endpoint,
    list_page,
    not_found,
)
from processmaker_prefect.sandbox.seed_admin import REQUEST, TASK
from processmaker_prefect.sandbox.store import Store

__all__ = ["admin_routes"]

# Query parameters each index method filters on, as SQL over the resource's table.
_FILTERS: dict[str, dict[str, str]] = {
    "process_categories": {"status": "process_categories.status LIKE ?"},
    "screens": {"type": "screens.type = ?"},
    "group_members": {"member_id": "group_members.member_id = ?"},
    # TaskAssignmentController: where($column, 'like', $value) for these four.
    "task_assignments": {
        name: f"task_assignments.{name} LIKE ?"
        for name in ("process_id", "process_task_id", "assignment_id", "assignment_type")
    },
}


def _store(request: Request) -> Store:
    store: Store = request.app.state.sandbox.store
    return store


def _lister(resource: str, route: str) -> Route:
    """GET /api/1.0/<route>: one page of ``resource`` as its controller's index lists it."""

    @api_endpoint
    def index(request: Request, user_id: int) -> Response:
        query = ListQuery.parse(request, resource)
        where: list[str] = []
        params: list[object] = []
        for name, sql in _FILTERS.get(resource, {}).items():
            if (value := request.query_params.get(name)) is not None:
                where.append(sql)
                params.append(value)
        store = _store(request)
        rows, wrap = list_page(request, store, query, where, params)
        return ListResponse(wrap(SERIALIZERS[resource](store, rows)))

    index.__doc__ = f"GET /api/1.0/{route}"
    return Route(f"/api/1.0/{route}", index, methods=["GET"])


def _shower(resource: str, route: str) -> Route:
    """GET /api/1.0/<route>/{id}: one row of ``resource``; 404 ``api.fallback`` if unknown."""

    @api_endpoint
    def show(request: Request, user_id: int) -> Response:
        store = _store(request)
        row = store.get(resource, request.path_params["id"])
        if row is None:
            raise not_found()
        return JSONResponse(SERIALIZERS[resource](store, [row])[0])

    show.__doc__ = f"GET /api/1.0/{route}/{{id}}"
    return Route(f"/api/1.0/{route}/{{id:int}}", show, methods=["GET"])


def _required(*names: str) -> ApiError:
    # Laravel's validate(): "The commentable id field is required. (and 1 more error)".
    messages = {name: f"The {name.replace('_', ' ')} field is required." for name in names}
    first = next(iter(messages.values()))
    more = f" (and {len(names) - 1} more error{'s' if len(names) > 2 else ''})"
    return ApiError(
        422,
        {"message": first + (more if len(names) > 1 else ""),
         "errors": {name: [text] for name, text in messages.items()}},
    )  # fmt: skip


@api_endpoint
def list_comments(request: Request, user_id: int) -> Response:
    """GET /api/1.0/comments?commentable_type=...&commentable_id=..."""
    q = request.query_params
    kind, target = q.get("commentable_type"), q.get("commentable_id")
    if not kind or not target:
        missing = [n for n, v in (("commentable_id", target), ("commentable_type", kind)) if not v]
        raise _required(*missing)
    table = {REQUEST: "requests", TASK: "tasks"}.get(kind)
    if table is None:
        raise ApiError(500, {"message": "Server Error"})  # $commentable_type::findOrFail
    store = _store(request)
    if not target.isdigit() or store.get(table, int(target)) is None:
        raise not_found()
    if kind == REQUEST:
        # A request's comments include those on its tasks.
        where = ["((comments.commentable_type = ? AND comments.commentable_id = ?) OR "
                 "(comments.commentable_type = ? AND comments.commentable_id IN "
                 "(SELECT id FROM tasks WHERE process_request_id = ?)))"]  # fmt: skip
        params: list[object] = [REQUEST, int(target), TASK, int(target)]
    else:
        where, params = ["comments.commentable_type = ? AND comments.commentable_id = ?"], [
            TASK, int(target),
        ]  # fmt: skip
    if types := q.get("type"):
        kinds = types.split(",")
        where.append(f"comments.type IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    rows, wrap = list_page(request, store, ListQuery.parse(request, "comments"), where, params)
    return ListResponse(wrap(SERIALIZERS["comments"](store, rows)))


@api_endpoint
def list_request_files(request: Request, user_id: int) -> Response:
    """GET /api/1.0/requests/{request_id}/files: a plain ResourceCollection, not paginated."""
    store = _store(request)
    request_id = request.path_params["request_id"]
    if store.get("requests", request_id) is None:
        raise not_found()
    rows = store.db.execute(
        "SELECT * FROM media WHERE model_type = ? AND model_id = ? ORDER BY id",
        (REQUEST, request_id),
    ).fetchall()
    name, file_id = request.query_params.get("name"), request.query_params.get("id")
    if file_id is not None:
        rows = [r for r in rows if str(r["id"]) == file_id]
    elif name is not None:
        rows = [r for r in rows if json.loads(r["custom_properties"]).get("data_name") == name]
    return JSONResponse({"data": SERIALIZERS["media"](store, rows)})


def admin_routes(prefix: str = "/api/1.0") -> list[Route]:
    """The routes, to mount before the API's catch-all."""
    assert prefix == "/api/1.0"  # noqa: S101 - the route docstrings name it
    listed = ["process_categories", "screens", "scripts", "environment_variables",
              "group_members", "task_assignments"]  # fmt: skip
    return [
        *(_lister(name, name) for name in listed),
        *(_shower(name, name) for name in listed if name != "task_assignments"),
        _lister("media", "files"),
        _shower("media", "files"),
        Route(f"{prefix}/comments", list_comments, methods=["GET"]),
        Route(f"{prefix}/requests/{{request_id:int}}/files", list_request_files, methods=["GET"]),
    ]
