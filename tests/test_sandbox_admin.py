"""The administrative lists behave like their PM controllers: defaults, filters, hidden fields."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

pytestmark = pytest.mark.integration

REQUEST = "ProcessMaker\\Models\\ProcessRequest"


def api(sandbox: SandboxServer, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/api/1.0{path}",
        params=params,
        headers={"Authorization": f"Bearer {sandbox.config.pat}"},
        timeout=30,
    )


def get_json(sandbox: SandboxServer, path: str, **params: Any) -> Any:
    response = api(sandbox, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_environment_variables_never_show_their_value(sandbox: SandboxServer) -> None:
    listed = get_json(sandbox, "/environment_variables")["data"]
    shown = get_json(sandbox, f"/environment_variables/{listed[0]['id']}")
    assert listed
    assert all("value" not in row for row in [*listed, shown])
    assert [row["name"] for row in listed] == sorted(row["name"] for row in listed)


def test_group_members_filter_by_member_and_carry_the_group(sandbox: SandboxServer) -> None:
    rows = get_json(sandbox, "/group_members", member_id=1)["data"]
    assert [(r["member_id"], r["group_id"], r["name"]) for r in rows] == [(1, 1, "Administrators")]
    assert rows[0]["member_type"] == "ProcessMaker\\Models\\User"


def test_task_assignments_filter_like_pm(sandbox: SandboxServer) -> None:
    users = get_json(sandbox, "/task_assignments", assignment_type="%User")["data"]
    everyone = get_json(sandbox, "/task_assignments", per_page=100)["data"]
    assert users
    assert {r["assignment_type"] for r in users} == {"ProcessMaker\\Models\\User"}
    assert len(users) < len(everyone)
    assert [r["updated_at"] for r in everyone] == sorted(r["updated_at"] for r in everyone)


def test_process_categories_ordered_by_name_ignore_pmql(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/process_categories", pmql='status = "ACTIVE" AND')
    names = [row["name"] for row in body["data"]]
    assert names == sorted(names)
    assert body["meta"]["total"] == 3


def test_screens_read_pmql(sandbox: SandboxServer) -> None:
    invalid = api(sandbox, "/screens", pmql='type = "FORM" AND')
    assert (invalid.status_code, invalid.json()) == (
        400, {"message": "Your PMQL contains invalid syntax."},
    )  # fmt: skip
    displays = get_json(sandbox, "/screens", pmql='type = "DISPLAY"')["data"]
    assert displays
    assert {row["type"] for row in displays} == {"DISPLAY"}


def test_comments_need_a_commentable(sandbox: SandboxServer) -> None:
    response = api(sandbox, "/comments", commentable_type=REQUEST)
    assert (response.status_code, response.json()) == (
        422,
        {"message": "The commentable id field is required.",
         "errors": {"commentable_id": ["The commentable id field is required."]}},
    )  # fmt: skip
    missing = api(sandbox, "/comments", commentable_type=REQUEST, commentable_id=999999)
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})


def test_comments_of_a_request_page_by_100_and_filter_by_type(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/comments", commentable_type=REQUEST, commentable_id=21)
    assert body["meta"]["per_page"] == 100
    assert [(c["commentable_id"], c["type"]) for c in body["data"]] == [(21, "MESSAGE")]
    assert body["data"][0]["user"]["id"] == body["data"][0]["user_id"]
    logs = get_json(sandbox, "/comments", commentable_type=REQUEST, commentable_id=21, type="LOG")
    assert logs["data"] == []


def test_a_requests_comments_include_its_tasks(sandbox: SandboxServer) -> None:
    task = "ProcessMaker\\Models\\ProcessRequestToken"
    # Seeded: request 91 (a multiple of 7) and its task 91 (a multiple of 13) both have one.
    body = get_json(sandbox, "/comments", commentable_type=REQUEST, commentable_id=91)
    kinds = [(c["commentable_type"], c["commentable_id"]) for c in body["data"]]
    assert kinds == [(REQUEST, 91), (task, 91)]
    only_task = get_json(sandbox, "/comments", commentable_type=task, commentable_id=91)
    assert [c["commentable_type"] for c in only_task["data"]] == [task]


def test_request_files_are_a_plain_collection(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/requests/33/files")
    assert list(body) == ["data"]
    assert [f["file_name"] for f in body["data"]] == ["receipt-33.pdf"]
    assert get_json(sandbox, "/requests/33/files", name="other")["data"] == []
    assert get_json(sandbox, "/requests/34/files")["data"] == []


def test_files_list_every_request_file_by_updated_at(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/files", per_page=200)
    stamps = [f["updated_at"] for f in body["data"]]
    assert body["meta"]["total"] == len(stamps) > 50
    assert stamps == sorted(stamps)
    assert get_json(sandbox, "/files", filter="receipt-33.")["meta"]["total"] == 1


def test_deleting_a_request_deletes_its_files(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    headers = {"Authorization": f"Bearer {sandbox.config.pat}"}
    requests.delete(f"{sandbox.url}/api/1.0/requests/44", headers=headers, timeout=30)
    assert api(sandbox, "/requests/44/files").status_code == 404
    sandbox_reset.reset()
    assert len(get_json(sandbox, "/requests/44/files")["data"]) == 1


@pytest.mark.parametrize(
    "resource",
    ["screens", "scripts", "environment_variables", "group_members", "task_assignments"],
)
def test_admin_rows_change_through_mutate(
    sandbox: SandboxServer, sandbox_reset: SandboxControl, resource: str
) -> None:
    result = sandbox_reset.mutate(1, resource)
    rows = get_json(sandbox, f"/{resource}", per_page=100)["data"]
    changed = [row for row in rows if row["id"] in result["ids"]]
    assert [row["updated_at"] for row in changed] == [result["updated_at"]]
