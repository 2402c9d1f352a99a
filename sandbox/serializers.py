"""Rows to ProcessMaker's JSON: field sets of its API resources, ISO-8601 dates with +00:00."""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from typing import Any

import orjson

from processmaker_prefect.sandbox.store import Row, Store

__all__ = [
    "collection_json",
    "group_json",
    "iso",
    "process_json",
    "record_json",
    "request_json",
    "requests_json",
    "start_events",
    "task_json",
    "tasks_json",
    "user_json",
    "uuid_for",
]

_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8").bytes
_ADVANCE = {"ACTIVE": "open", "CLOSED": "completed", "COMPLETED": "completed"}


# A page of 500 requests calls these thousands of times: the serialisers, not SQLite, were
# most of the sandbox's CPU per page, which a benchmark of the client must not measure.
@functools.lru_cache(maxsize=1 << 16)  # timestamps repeat: many rows share one updated_at
def iso(ts: int | None) -> str | None:
    """PHP ``format('c')``: ``2025-08-14T00:50:02+00:00``."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def uuid_for(kind: str, row_id: int) -> str:
    """A stable uuid for row ``row_id`` of ``kind``: ``uuid.uuid5`` computed without its
    UUID object, twice as fast (``tests/test_sandbox_data.py`` checks they agree)."""
    digest = bytearray(hashlib.sha1(_NS + f"{kind}:{row_id}".encode()).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _data(raw: str) -> dict[str, Any]:
    # PM strips keys starting with "_" from request data in API output.
    return {k: v for k, v in orjson.loads(raw).items() if not k.startswith("_")}


def user_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "uuid": uuid_for("user", row["id"]), "email": row["email"],
        "firstname": row["firstname"], "lastname": row["lastname"], "username": row["username"],
        "status": row["status"], "address": "", "city": "", "state": "", "postal": "",
        "country": "US", "phone": "", "fax": "", "cell": "", "title": row["title"],
        "birthdate": None, "timezone": "UTC", "datetime_format": "m/d/Y H:i", "language": "en",
        "meta": None, "is_administrator": bool(row["is_administrator"]), "expires_at": None,
        "loggedin_at": None, "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]), "deleted_at": None, "delegation_user_id": None,
        "manager_id": None, "schedule": None, "force_change_password": False,
        "email_task_notification": 1,
        "fullname": f"{row['firstname']} {row['lastname']}", "avatar": "", "media": [],
    }  # fmt: skip


def group_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "uuid": uuid_for("group", row["id"]), "name": row["name"],
        "description": row["description"], "manager_id": None, "status": row["status"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
    }  # fmt: skip


def start_events(row: Row) -> list[dict[str, Any]]:
    """The process's start events as ``Process::getStartEvents`` lists them."""
    return [
        {
            "id": row["start_event"], "name": "Start Event", "eventDefinitions": [],
            "parallelMultiple": False, "outgoing": [f"node_{row['id'] + 100}"], "incoming": [],
            "ownerProcessId": "ProcessId", "ownerProcessName": "ProcessName",
            "allowInterstitial": True, "interstitialScreenRef": None,
        }
    ]  # fmt: skip


def process_json(row: Row, *, include_events: bool = False) -> dict[str, Any]:
    body = {
        "id": row["id"], "uuid": uuid_for("process", row["id"]),
        "process_category_id": row["process_category_id"], "user_id": row["user_id"],
        "description": row["description"], "name": row["name"], "cancel_screen_id": None,
        "request_detail_screen_id": None, "status": row["status"], "is_valid": 1,
        "package_key": None, "pause_timer_start": 0, "deleted_at": None,
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "updated_by": None, "start_events": start_events(row), "warnings": None,
        "self_service_tasks": {}, "signal_events": [], "manager_id": None, "case_title": None,
        "is_template": 0,
    }  # fmt: skip
    if include_events:
        body["events"] = start_events(row)
    return body


def request_json(row: Row, *, include_data: bool = False) -> dict[str, Any]:
    body = {
        "id": row["id"], "uuid": uuid_for("request", row["id"]), "process_id": row["process_id"],
        "process_collaboration_id": None, "collaboration_uuid": None, "user_id": row["user_id"],
        "parent_request_id": None, "participant_id": None, "callable_id": "ProcessId",
        "status": row["status"], "name": row["name"],
        "errors": [] if row["status"] == "ERROR" else None, "do_not_sanitize": [],
        "signal_events": [], "process_version_id": row["process_id"],
        "case_number": row["id"], "case_title": row["case_title"],
        "case_title_formatted": row["case_title"], "last_stage_id": None,
        "last_stage_name": None, "progress": None, "initiated_at": iso(row["initiated_at"]),
        "completed_at": iso(row["completed_at"]), "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]), "user_viewed_at": None,
        "process_version_alternative": None,
    }  # fmt: skip
    if include_data:
        body["data"] = _data(row["data"])
    return body


def requests_json(store: Store, rows: list[Row], include: set[str]) -> list[dict[str, Any]]:
    """A page of requests with what ``include`` asks for, loading the related rows at once.

    As ``ProcessRequestController@index``: ``process`` and ``participants`` are eager-loaded
    relations (``ProcessRequest::$allowedIncludes``), ``user`` is added by the
    ``ProcessRequests`` resource, ``data`` is unhidden; other names are ignored. The
    participants are the users holding the request's tokens (here its one task's user).
    """
    bodies = [request_json(r, include_data="data" in include) for r in rows]
    users: dict[int, Row] = {}
    if include & {"user", "participants"}:
        users = store.by_ids("users", {r["user_id"] for r in rows})
    if "process" in include:
        processes = store.by_ids("processes", {r["process_id"] for r in rows})
        for body, row in zip(bodies, rows, strict=True):
            found = processes.get(row["process_id"])
            body["process"] = None if found is None else process_json(found)
    if "participants" in include:
        for body, row in zip(bodies, rows, strict=True):
            body["participants"] = (
                [user_json(users[row["user_id"]])] if row["user_id"] in users else []
            )
    if "user" in include:
        for body, row in zip(bodies, rows, strict=True):
            found = users.get(row["user_id"])
            body["user"] = None if found is None else user_json(found)
    return bodies


def task_json(
    row: Row, related: dict[str, dict[int, Row]], *, include_data: bool = False
) -> dict[str, Any]:
    """A task (``ProcessRequestToken``) with the embedded objects the list eager-loads."""
    request = related["requests"].get(row["process_request_id"])
    process = related["processes"].get(row["process_id"])
    user = related["users"].get(row["user_id"]) if row["user_id"] is not None else None
    body: dict[str, Any] = {
        "id": row["id"], "uuid": uuid_for("task", row["id"]), "user_id": row["user_id"],
        "process_id": row["process_id"], "process_request_id": row["process_request_id"],
        "subprocess_request_id": None, "element_id": row["element_id"], "element_type": "task",
        "element_name": row["element_name"], "element_index": 0, "status": row["status"],
        "subprocess_start_event_id": None, "completed_at": iso(row["completed_at"]),
        "due_at": iso(row["due_at"]), "due_notified": 0, "initiated_at": iso(row["created_at"]),
        "riskchanges_at": None, "is_self_service": 0, "self_service_groups": [],
        "is_priority": False, "is_actionbyemail": False, "is_emailsent": False,
        "created_at_ms": None, "completed_at_ms": None, "stage_id": None, "stage_name": None,
        "progress": None, "amount": None, "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "advanceStatus": _ADVANCE.get(row["status"], "open"), "can_view_parent_request": True,
        "process_request": None if request is None else request_json(request),
        "process": None if process is None else process_json(process),
        "user": None if user is None else user_json(user), "draft": None,
    }  # fmt: skip
    if include_data and request is not None:
        body["data"] = _data(request["data"])
    return body


def tasks_json(store: Store, rows: list[Row], *, include_data: bool) -> list[dict[str, Any]]:
    """Serialise a page of tasks, loading their requests, processes and users in three queries."""
    related = {
        "requests": store.by_ids("requests", {r["process_request_id"] for r in rows}),
        "processes": store.by_ids("processes", {r["process_id"] for r in rows}),
        "users": store.by_ids("users", {r["user_id"] for r in rows if r["user_id"] is not None}),
    }
    return [task_json(r, related, include_data=include_data) for r in rows]


def collection_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "custom_title": None, "create_screen_id": None, "read_screen_id": None,
        "update_screen_id": None, "signal_create": False, "signal_update": False,
        "signal_delete": False, "created_by_id": 1, "updated_by_id": 1,
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "columns": [],
    }  # fmt: skip


def record_json(row: Row) -> dict[str, Any]:
    data = orjson.loads(row["data"])
    return {"id": row["id"], "collection_id": row["collection_id"], "data": data}
