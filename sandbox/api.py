"""The /api/1.0 routes: users, groups, processes, requests, tasks (collections live beside).

Every handler names its route; shapes follow API-NOTES §6 and PM's resources. Unknown routes
and missing models answer PM's ``api.fallback`` body, 404 ``{"error": "Not Found"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from processmaker_prefect.sandbox.admin_api import admin_routes
from processmaker_prefect.sandbox.collections_api import collection_routes
from processmaker_prefect.sandbox.envelope import envelope
from processmaker_prefect.sandbox.listing import (
    ApiError,
    ListQuery,
    ListResponse,
    api_endpoint,
    json_body,
    list_page,
    not_found,
    server_error,
)
from processmaker_prefect.sandbox.serializers import (
    group_json,
    process_json,
    request_json,
    requests_json,
    start_events,
    tasks_json,
    user_json,
)
from processmaker_prefect.sandbox.store import Row, Store

__all__ = ["PREFIX", "api_routes"]

PREFIX = "/api/1.0"


def _store(request: Request) -> Store:
    store: Store = request.app.state.sandbox.store
    return store


def _row(store: Store, table: str, row_id: int) -> Row:
    row = store.get(table, row_id)
    if row is None:
        raise not_found()
    return row


@api_endpoint
def list_users(request: Request, user_id: int) -> Response:
    """GET /api/1.0/users"""
    query = ListQuery.parse(request, "users")
    where: list[str] = []
    params: list[object] = []
    if status := request.query_params.get("status"):
        where.append("users.status = ?")
        params.append(status.upper())
    excluded = [i for i in request.query_params.get("exclude_ids", "").split(",") if i.isdigit()]
    if excluded:
        where.append(f"users.id NOT IN ({','.join('?' * len(excluded))})")
        params.extend(int(i) for i in excluded)
    rows, wrap = list_page(request, _store(request), query, where, params)
    return ListResponse(wrap([user_json(r) for r in rows]))


@api_endpoint
def show_user(request: Request, user_id: int) -> Response:
    """GET /api/1.0/users/{id}"""
    return JSONResponse(user_json(_row(_store(request), "users", request.path_params["id"])))


@api_endpoint
def list_groups(request: Request, user_id: int) -> Response:
    """GET /api/1.0/groups"""
    rows, wrap = list_page(request, _store(request), ListQuery.parse(request, "groups"))
    return ListResponse(wrap([group_json(r) for r in rows]))


@api_endpoint
def show_group(request: Request, user_id: int) -> Response:
    """GET /api/1.0/groups/{id}"""
    return JSONResponse(group_json(_row(_store(request), "groups", request.path_params["id"])))


@api_endpoint
def list_processes(request: Request, user_id: int) -> Response:
    """GET /api/1.0/processes"""
    query = ListQuery.parse(request, "processes")
    rows, wrap = list_page(request, _store(request), query)
    events = "events" in query.include
    return ListResponse(wrap([process_json(r, include_events=events) for r in rows]))


@api_endpoint
def show_process(request: Request, user_id: int) -> Response:
    """GET /api/1.0/processes/{id}"""
    row = _row(_store(request), "processes", request.path_params["id"])
    include = request.query_params.get("include", "").split(",")
    return JSONResponse(process_json(row, include_events="events" in include))


@api_endpoint
def process_start_events(request: Request, user_id: int) -> Response:
    """GET /api/1.0/processes/{id}/start_events"""
    row = _row(_store(request), "processes", request.path_params["id"])
    events = start_events(row)
    path = str(request.url.replace(query="", fragment=""))
    return JSONResponse(envelope(events, total=len(events), page=1, per_page=10, path=path))


@api_endpoint
def start_request(request: Request, user_id: int) -> Response:
    """POST /api/1.0/process_events/{process_id}?event=<start event id>"""
    store = _store(request)
    process = _row(store, "processes", request.path_params["process_id"])
    if request.query_params.get("event") != process["start_event"]:
        raise not_found()  # PM: unknown or missing start event -> 404
    request_id = store.start_request(process, user_id, json_body(request.state.body))
    return JSONResponse(request_json(_row(store, "requests", request_id)), status_code=201)


@api_endpoint
def list_requests(request: Request, user_id: int) -> Response:
    """GET /api/1.0/requests"""
    query = ListQuery.parse(request, "requests")
    where, params = _request_type_filter(request.query_params.get("type", "all"), user_id)
    store = _store(request)
    if request.query_params.get("total") == "true":
        _, wrap = list_page(request, store, query, where, params)
        return JSONResponse({"meta": {"total": wrap([])["meta"]["total"]}})
    rows, wrap = list_page(request, store, query, where, params)
    return ListResponse(wrap(requests_json(store, rows, query.include)))


def _request_type_filter(kind: str, user_id: int) -> tuple[list[str], list[object]]:
    if kind == "in_progress":
        return ["requests.status = 'ACTIVE'"], []
    if kind == "completed":
        return ["requests.status = 'COMPLETED'"], []
    if kind == "started_me":  # PM: startedMe() + notCompleted()
        return ["requests.user_id = ?", "requests.status != 'COMPLETED'"], [user_id]
    return [], []


@api_endpoint
def show_request(request: Request, user_id: int) -> Response:
    """GET /api/1.0/requests/{id}"""
    store = _store(request)
    row = _row(store, "requests", request.path_params["id"])
    include = set(request.query_params.get("include", "").split(","))
    return JSONResponse(requests_json(store, [row], include)[0])


@api_endpoint
def delete_request(request: Request, user_id: int) -> Response:
    """DELETE /api/1.0/requests/{id}: the request and its tasks are gone; 204."""
    store = _store(request)
    row = _row(store, "requests", request.path_params["id"])
    store.delete_request(row["id"])
    return Response(status_code=204)


_TASK_FILTERS = {
    "process_request_id": "tasks.process_request_id = ?",
    "process_id": "tasks.process_id = ?",
    "user_id": "tasks.user_id = ?",
    "status": "tasks.status = ?",
    "element_id": "tasks.element_id = ?",
    "element_name": "tasks.element_name = ?",
}


@api_endpoint
def list_tasks(request: Request, user_id: int) -> Response:
    """GET /api/1.0/tasks"""
    query = ListQuery.parse(request, "tasks")
    where: list[str] = []
    params: list[object] = []
    for name, sql in _TASK_FILTERS.items():
        if (value := request.query_params.get(name)) is not None:
            where.append(sql)
            params.append(value)
    if statuses := request.query_params.get("statusfilter"):
        wanted = [s.strip().upper() for s in statuses.split(",") if s.strip()]
        where.append(f"tasks.status IN ({','.join('?' * len(wanted))})")
        params.extend(wanted)
    store = _store(request)
    rows, wrap = list_page(request, store, query, where, params)
    body = wrap(tasks_json(store, rows, include_data="data" in query.include))
    body["meta"]["in_overdue"] = 0  # TaskCollection adds it
    return ListResponse(body)


@api_endpoint
def show_task(request: Request, user_id: int) -> Response:
    """GET /api/1.0/tasks/{id}"""
    store = _store(request)
    row = _row(store, "tasks", request.path_params["id"])
    include = request.query_params.get("include", "").split(",")
    return JSONResponse(tasks_json(store, [row], include_data="data" in include)[0])


@api_endpoint
def update_task(request: Request, user_id: int) -> Response:
    """PUT /api/1.0/tasks/{id}: ``{"status": "COMPLETED", "data": {...}}`` or ``{"user_id": N}``.

    As ProcessMaker's ``TaskController::update`` (ProcessMaker/processmaker,
    ProcessMaker/Http/Controllers/Api/TaskController.php): a completion is checked first and
    refused with ``abort(422, 'Task already closed')`` on a CLOSED task; it reads
    ``$data['data']`` without a check, so a completion without ``data`` is PHP's undefined
    index, a 500. Otherwise a non-empty ``user_id`` reassigns the task, with no check of its
    status (a CLOSED task is reassigned too) and ``persistUserData`` calling a method on
    ``User::find(...)``: an unknown user is a 500. Anything else is a bare ``abort(422)``.
    ``abort()`` renders as ``{"message": ...}`` only (ProcessMaker/Exception/Handler.php),
    without Laravel's ``errors`` of a failed validation rule.
    """
    store = _store(request)
    task = _row(store, "tasks", request.path_params["id"])
    body: dict[str, Any] = json_body(request.state.body)
    if body.get("status") == "COMPLETED":
        if task["status"] == "CLOSED":
            raise ApiError(422, {"message": "Task already closed"})
        if "data" not in body:
            raise server_error()
        data = body["data"]
        store.complete_task(task, data if isinstance(data, dict) else {})
    elif body.get("user_id") not in (None, "", 0, "0", False, [], {}):
        assignee = _assignee(store, body["user_id"])
        if assignee is None:
            raise server_error()
        store.reassign_task(task, assignee)
    else:
        raise ApiError(422, {"message": ""})
    return JSONResponse(
        tasks_json(store, [_row(store, "tasks", task["id"])], include_data=False)[0]
    )


def _assignee(store: Store, value: object) -> Row | None:
    """The user ``User::find($value)`` finds: an id, as a number or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value).strip()
    return store.get("users", int(text)) if text.isdigit() else None


@api_endpoint
def fallback(request: Request, user_id: int) -> Response:
    """Any other /api/1.0 path or method: PM's ``api.fallback``."""
    raise ApiError(404, {"error": "Not Found"})


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def api_routes() -> list[Route]:
    """The /api/1.0 routes, catch-all last (mount OAuth's PAT routes before these)."""
    return [
        Route(f"{PREFIX}/users", list_users, methods=["GET"]),
        Route(f"{PREFIX}/users/{{id:int}}", show_user, methods=["GET"]),
        Route(f"{PREFIX}/groups", list_groups, methods=["GET"]),
        Route(f"{PREFIX}/groups/{{id:int}}", show_group, methods=["GET"]),
        Route(f"{PREFIX}/processes", list_processes, methods=["GET"]),
        Route(f"{PREFIX}/processes/{{id:int}}", show_process, methods=["GET"]),
        Route(f"{PREFIX}/processes/{{id:int}}/start_events", process_start_events, methods=["GET"]),
        Route(f"{PREFIX}/process_events/{{process_id:int}}", start_request, methods=["POST"]),
        Route(f"{PREFIX}/requests", list_requests, methods=["GET"]),
        Route(f"{PREFIX}/requests/{{id:int}}", show_request, methods=["GET"]),
        Route(f"{PREFIX}/requests/{{id:int}}", delete_request, methods=["DELETE"]),
        Route(f"{PREFIX}/tasks", list_tasks, methods=["GET"]),
        Route(f"{PREFIX}/tasks/{{id:int}}", show_task, methods=["GET"]),
        Route(f"{PREFIX}/tasks/{{id:int}}", update_task, methods=["PUT"]),
        *collection_routes(PREFIX),
        *admin_routes(PREFIX),
        Route(PREFIX, fallback, methods=_ALL_METHODS),
        Route(f"{PREFIX}/{{path:path}}", fallback, methods=_ALL_METHODS),
    ]
