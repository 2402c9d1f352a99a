"""Rows of the administrative tables to ProcessMaker's JSON: each model's ``toArray()``.

Field sets are the tables' columns after PM's migrations (uuids where ``add_uuids_to_core``
added them), minus ``$hidden`` (an environment variable's ``value``), plus ``$appends`` and the
relations the index methods eager-load (a comment's ``user`` and ``replied_message``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from processmaker_prefect.sandbox.serializers import iso, user_json, uuid_for
from processmaker_prefect.sandbox.store import Row, Store

__all__ = ["SERIALIZERS"]


def _stamps(row: Row) -> dict[str, Any]:
    return {"created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def process_category_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "uuid": uuid_for("process_category", row["id"]), "name": row["name"],
        "status": row["status"], "is_system": row["is_system"], **_stamps(row),
    }  # fmt: skip


def screen_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "uuid": uuid_for("screen", row["id"]),
        "screen_category_id": row["screen_category_id"], "title": row["title"],
        "description": row["description"], "type": row["type"],
        "config": json.loads(row["config"]), "computed": [], "custom_css": None,
        "status": row["status"], "key": None, "watchers": [], "translations": None,
        "asset_type": None, "is_default": 0, **_stamps(row), "projects": [],
    }  # fmt: skip


def script_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "uuid": uuid_for("script", row["id"]), "key": None,
        "title": row["title"], "description": row["description"], "language": row["language"],
        "code": row["code"], "timeout": row["timeout"], "run_as_user_id": row["run_as_user_id"],
        "status": row["status"], "script_category_id": row["script_category_id"],
        "script_executor_id": 1, "retry_attempts": 0, "retry_wait_time": 5,
        "asset_type": None, **_stamps(row), "projects": [],
    }  # fmt: skip


def environment_variable_json(row: Row) -> dict[str, Any]:
    # EnvironmentVariable::$hidden = ['value']: never in API output.
    return {
        "id": row["id"], "uuid": uuid_for("environment_variable", row["id"]),
        "name": row["name"], "description": row["description"], **_stamps(row),
    }  # fmt: skip


def group_members_json(store: Store, rows: list[Row]) -> list[dict[str, Any]]:
    # GroupMemberController joins groups: each group's name and description ride along.
    groups = store.by_ids("groups", {row["group_id"] for row in rows})
    return [
        {
            "id": row["id"], "group_id": row["group_id"], "member_id": row["member_id"],
            "member_type": row["member_type"], **_stamps(row),
            "name": groups[row["group_id"]]["name"],
            "description": groups[row["group_id"]]["description"],
        }
        for row in rows
    ]  # fmt: skip


def task_assignment_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "process_id": row["process_id"],
        "process_task_id": row["process_task_id"], "assignment_id": row["assignment_id"],
        "assignment_type": row["assignment_type"], **_stamps(row),
    }  # fmt: skip


def comments_json(store: Store, rows: list[Row]) -> list[dict[str, Any]]:
    # CommentController eager-loads user and repliedMessage (no replies are seeded).
    users = store.by_ids("users", {row["user_id"] for row in rows if row["user_id"] is not None})
    return [
        {
            "id": row["id"], "user_id": row["user_id"], "commentable_id": row["commentable_id"],
            "commentable_type": row["commentable_type"], "up": [], "down": [],
            "subject": row["subject"], "body": row["body"], "hidden": bool(row["hidden"]),
            "type": row["type"], **_stamps(row), "deleted_at": None, "parent_id": None,
            "group_id": None, "group_name": None, "case_number": row["case_number"],
            "user": user_json(users[row["user_id"]]) if row["user_id"] in users else None,
            "replied_message": None,
        }
        for row in rows
    ]  # fmt: skip


def media_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "model_type": row["model_type"], "model_id": row["model_id"],
        "uuid": uuid_for("media", row["id"]), "collection_name": "default",
        "name": row["name"], "file_name": row["file_name"], "mime_type": row["mime_type"],
        "disk": "public", "conversions_disk": "public", "size": row["size"],
        "manipulations": [], "custom_properties": json.loads(row["custom_properties"]),
        "generated_conversions": [], "responsive_images": [], "order_column": row["id"],
        **_stamps(row),
    }  # fmt: skip


PageSerializer = Callable[[Store, list[Row]], list[dict[str, Any]]]


def _each(serialize: Callable[[Row], dict[str, Any]]) -> PageSerializer:
    return lambda _store, rows: [serialize(row) for row in rows]


# resource -> how a page of its rows is serialised (with related rows loaded per page).
SERIALIZERS: dict[str, PageSerializer] = {
    "process_categories": _each(process_category_json),
    "screens": _each(screen_json),
    "scripts": _each(script_json),
    "environment_variables": _each(environment_variable_json),
    "group_members": group_members_json,
    "task_assignments": _each(task_assignment_json),
    "comments": comments_json,
    "media": _each(media_json),
}
