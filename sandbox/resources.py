"""What each listed resource exposes to queries: table, sortable columns, PMQL and filter fields.

These allow-lists are the only way a client's ``order_by``, ``pmql`` and ``filter`` reach SQL,
so column names are never interpolated from the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from processmaker_prefect.sandbox.pmql import Field

__all__ = ["RESOURCES", "Resource"]


@dataclass(frozen=True)
class Resource:
    """Query metadata of one table served as a list."""

    table: str
    sortable: frozenset[str]
    default_order: str
    pmql: dict[str, Field]
    filter_columns: tuple[str, ...]
    data_sql: str | None = None
    # TaskController sorts its result collection in PHP, so an unknown order_by is ignored there;
    # elsewhere MySQL rejects it and the QueryException is not caught (500 "Server Error").
    sorts_in_php: bool = False
    # TaskController catches MySQL's QueryException from PMQL (400); ProcessRequestController
    # rethrows it (500), as do index methods without a handler.
    pmql_query_error: tuple[int, str] = (500, "Server Error")
    # Index methods that never read ``pmql`` ignore it (group members, categories, ...).
    reads_pmql: bool = True
    default_per_page: int = 10
    default_direction: str = "asc"


def _common(table: str) -> dict[str, Field]:
    return {
        "id": Field(f"{table}.id", "int"),
        "created": Field(f"{table}.created_at", "date"),
        "created_at": Field(f"{table}.created_at", "date"),
        "modified": Field(f"{table}.updated_at", "date"),
        "updated": Field(f"{table}.updated_at", "date"),
        "updated_at": Field(f"{table}.updated_at", "date"),
    }


def _columns(*names: str) -> frozenset[str]:
    # MySQL orders by any column of the table; those are the ones PM's orderBy() can reach.
    return frozenset({"id", "created_at", "updated_at", *names})


def _text(sql: str) -> Field:
    # MySQL's default collation compares case-insensitively; PM inherits that.
    return Field(f"{sql} COLLATE NOCASE", "str")


RESOURCES: dict[str, Resource] = {
    "requests": Resource(
        table="requests",
        sortable=frozenset(
            {
                "id",
                "name",
                "status",
                "process_id",
                "user_id",
                "case_title",
                "initiated_at",
                "completed_at",
                "created_at",
                "updated_at",
            }
        ),
        default_order="name",
        pmql={
            **_common("requests"),
            "completed": Field("requests.completed_at", "date"),
            "completed_at": Field("requests.completed_at", "date"),
            "initiated_at": Field("requests.initiated_at", "date"),
            "status": _text("requests.status"),
            "name": _text("requests.name"),
            "request": _text("requests.name"),
            "case_title": _text("requests.case_title"),
            "process_id": Field("requests.process_id", "int"),
            "user_id": Field("requests.user_id", "int"),
            # PM's "requester" alias matches the requester's username.
            "requester": Field(
                "(SELECT u.username FROM users u WHERE u.id = requests.user_id) COLLATE NOCASE",
                "str",
            ),
        },
        filter_columns=("requests.name", "requests.case_title", "requests.status"),
        data_sql="json_extract(requests.data, ?)",
    ),
    "tasks": Resource(
        table="tasks",
        sortable=frozenset(
            {
                "id",
                "element_name",
                "element_id",
                "status",
                "process_id",
                "process_request_id",
                "user_id",
                "due_at",
                "completed_at",
                "created_at",
                "updated_at",
            }
        ),
        default_order="updated_at",
        pmql={
            **_common("tasks"),
            "completed": Field("tasks.completed_at", "date"),
            "completed_at": Field("tasks.completed_at", "date"),
            "due": Field("tasks.due_at", "date"),
            "due_at": Field("tasks.due_at", "date"),
            "status": _text("tasks.status"),
            "name": _text("tasks.element_name"),
            "task": _text("tasks.element_name"),
            "element_name": _text("tasks.element_name"),
            "element_id": _text("tasks.element_id"),
            "process_id": Field("tasks.process_id", "int"),
            "process_request_id": Field("tasks.process_request_id", "int"),
            "request": Field("tasks.process_request_id", "int"),
            "user_id": Field("tasks.user_id", "int"),
        },
        filter_columns=("tasks.element_name", "tasks.status"),
        sorts_in_php=True,
        pmql_query_error=(400, "Your PMQL search could not be completed."),
        data_sql="(SELECT json_extract(r.data, ?) FROM requests r "
        "WHERE r.id = tasks.process_request_id)",
    ),
    "users": Resource(
        table="users",
        sortable=frozenset(
            {
                "id",
                "username",
                "email",
                "firstname",
                "lastname",
                "status",
                "created_at",
                "updated_at",
            }
        ),
        default_order="username",
        pmql={
            **_common("users"),
            "username": _text("users.username"),
            "email": _text("users.email"),
            "firstname": _text("users.firstname"),
            "lastname": _text("users.lastname"),
            "status": _text("users.status"),
        },
        filter_columns=("users.username", "users.firstname", "users.lastname", "users.email"),
    ),
    "groups": Resource(
        table="groups",
        sortable=frozenset({"id", "name", "status", "created_at", "updated_at"}),
        default_order="name",
        pmql={**_common("groups"), "name": _text("groups.name"), "status": _text("groups.status")},
        filter_columns=("groups.name", "groups.description", "groups.status"),
    ),
    "processes": Resource(
        table="processes",
        sortable=frozenset({"id", "name", "status", "user_id", "created_at", "updated_at"}),
        default_order="name",
        pmql={
            **_common("processes"),
            "name": _text("processes.name"),
            "status": _text("processes.status"),
            "process_category_id": Field("processes.process_category_id", "int"),
            "user_id": Field("processes.user_id", "int"),
        },
        filter_columns=("processes.name", "processes.description", "processes.status"),
    ),
    "collections": Resource(
        table="collections",
        sortable=frozenset({"id", "name", "created_at", "updated_at"}),
        default_order="name",
        pmql={**_common("collections"), "name": _text("collections.name")},
        filter_columns=("collections.name", "collections.description"),
    ),
    "records": Resource(
        table="records",
        sortable=frozenset({"id", "created_at", "updated_at"}),
        default_order="id",
        pmql=_common("records"),
        filter_columns=("records.data",),
        data_sql="json_extract(records.data, ?)",
    ),
    # -- administrative lists (sandbox.admin_api) -------------------------------------------
    "process_categories": Resource(
        table="process_categories",
        sortable=_columns("name", "status", "is_system"),
        default_order="name",
        pmql={},
        filter_columns=("process_categories.name", "process_categories.status"),
        reads_pmql=False,
    ),
    "screens": Resource(
        table="screens",
        sortable=_columns("title", "description", "type", "status", "screen_category_id"),
        default_order="title",
        pmql={
            **_common("screens"),
            "title": _text("screens.title"),
            "type": _text("screens.type"),
            "status": _text("screens.status"),
        },
        filter_columns=("screens.title", "screens.description"),
    ),
    "scripts": Resource(
        table="scripts",
        sortable=_columns("title", "description", "language", "status", "script_category_id"),
        default_order="title",
        pmql={
            **_common("scripts"),
            "title": _text("scripts.title"),
            "language": _text("scripts.language"),
            "status": _text("scripts.status"),
        },
        filter_columns=("scripts.title", "scripts.description", "scripts.language"),
    ),
    "environment_variables": Resource(
        table="environment_variables",
        sortable=_columns("name", "description"),
        default_order="name",
        pmql={},
        filter_columns=("environment_variables.name", "environment_variables.description"),
        reads_pmql=False,
    ),
    "group_members": Resource(
        table="group_members",
        sortable=_columns("group_id", "member_id", "member_type"),
        default_order="created_at",
        pmql={},
        filter_columns=(),
        reads_pmql=False,
    ),
    "task_assignments": Resource(
        table="task_assignments",
        sortable=_columns("process_id", "process_task_id", "assignment_id", "assignment_type"),
        default_order="updated_at",
        pmql={},
        filter_columns=(),
        reads_pmql=False,
    ),
    "comments": Resource(
        table="comments",
        sortable=_columns("user_id", "commentable_id", "type", "subject", "case_number"),
        default_order="created_at",
        pmql={},
        filter_columns=(),
        reads_pmql=False,
        default_per_page=100,
    ),
    "media": Resource(
        table="media",
        sortable=_columns("model_id", "model_type", "name", "file_name", "mime_type", "size"),
        default_order="updated_at",  # FileController@index
        pmql={},
        filter_columns=("media.file_name", "media.mime_type"),
        reads_pmql=False,
    ),
}
