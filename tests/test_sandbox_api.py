"""The sandbox's /api/1.0 behaves like ProcessMaker 4 over real HTTP: auth, errors, PMQL, flows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.pmql import PmqlQueryError, compile_pmql
from processmaker_prefect.sandbox.resources import RESOURCES
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

pytestmark = pytest.mark.integration

META_KEYS = [
    "filter", "sort_by", "sort_order", "count", "total_pages", "current_page", "from",
    "last_page", "links", "path", "per_page", "to", "total",
]  # fmt: skip


def api(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.config.pat}"}
    return requests.request(
        method, f"{sandbox.url}/api/1.0{path}", headers=headers, timeout=30, **kwargs
    )


def get_json(sandbox: SandboxServer, path: str, **params: Any) -> Any:
    response = api(sandbox, "GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# -- auth and error bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic YWRtaW46YWRtaW4="])
def test_api_without_valid_bearer_is_401_unauthenticated(
    sandbox: SandboxServer, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(f"{sandbox.url}/api/1.0/requests", headers=headers, timeout=30)
    assert (response.status_code, response.json()) == (401, {"error": "Unauthenticated."})


@pytest.mark.parametrize(
    "path", ["/users/me", "/requests/999999", "/no_such_route", "/tasks/abc", "/collections/9", ""]
)
def test_unknown_route_or_model_is_404_not_found(sandbox: SandboxServer, path: str) -> None:
    response = api(sandbox, "GET", path)
    assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


def test_unsupported_method_on_known_path_is_the_fallback_404(sandbox: SandboxServer) -> None:
    response = api(sandbox, "POST", "/requests/1")
    assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


# -- envelope, ordering, include ---------------------------------------------------------------


def test_list_envelope_has_pm_meta_and_default_page_size(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/requests")
    meta = body["meta"]
    assert list(body) == ["data", "meta"]
    assert list(meta) == META_KEYS
    assert (meta["per_page"], meta["count"], meta["current_page"], meta["from"], meta["to"]) == (
        10, 10, 1, 1, 10,
    )  # fmt: skip
    assert meta["total_pages"] == meta["last_page"] == -(-meta["total"] // 10)
    assert meta["path"] == f"{sandbox.url}/api/1.0/requests"
    assert meta["links"][0] == {"url": None, "label": "&laquo; Previous", "active": False}
    assert meta["links"][-1]["url"] == f"{sandbox.url}/api/1.0/requests?page=2"


def test_page_past_the_end_is_empty_with_null_from_and_to(sandbox: SandboxServer) -> None:
    meta = get_json(sandbox, "/groups", page=99)["meta"]
    assert (meta["count"], meta["from"], meta["to"], meta["current_page"]) == (0, None, None, 99)


def test_order_by_desc_breaks_ties_by_id(sandbox: SandboxServer) -> None:
    rows = get_json(
        sandbox, "/requests", order_by="updated_at", order_direction="desc", per_page=200
    )["data"]
    keys = [(r["updated_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert len({r["updated_at"] for r in rows}) < len(rows)  # the seed has ties to break


@pytest.mark.parametrize(
    "params", [{"order_by": "password"}, {"order_by": "id", "order_direction": "sideways"}]
)
def test_bad_order_is_an_uncaught_server_error(
    sandbox: SandboxServer, params: dict[str, str]
) -> None:
    # PM lets MySQL's QueryException / Laravel's InvalidArgumentException escape: a 500.
    response = api(sandbox, "GET", "/requests", params=params)
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})


def test_tasks_ignore_unknown_order_by(sandbox: SandboxServer) -> None:
    # TaskController sorts the result collection in PHP; a missing key sorts nothing.
    assert api(sandbox, "GET", "/tasks", params={"order_by": "nonsense"}).status_code == 200


def test_total_true_returns_only_the_count(sandbox: SandboxServer) -> None:
    full = get_json(sandbox, "/requests", type="completed")["meta"]["total"]
    assert get_json(sandbox, "/requests", type="completed", total="true") == {
        "meta": {"total": full}
    }


def test_data_only_with_include_data(sandbox: SandboxServer) -> None:
    plain = get_json(sandbox, "/requests/4")
    included = get_json(sandbox, "/requests/4", include="data")
    assert "data" not in plain
    assert set(included["data"]) >= {"amount", "customer", "priority"}


def test_request_with_data_weighs_about_a_kilobyte_of_nested_form_answers(
    sandbox: SandboxServer,
) -> None:
    rows = get_json(sandbox, "/requests", include="data", per_page=200)["data"]
    sizes = [len(requests.models.complexjson.dumps(r, ensure_ascii=False)) for r in rows]
    assert 1000 <= sum(sizes) / len(sizes) <= 2500
    data = rows[0]["data"]
    assert isinstance(data["requester"]["manager"], dict)
    assert isinstance(data["line_items"], list)
    assert data["signature"] is None
    assert any(not r["data"]["comments"].isascii() for r in rows)  # São Paulo, em dashes


def test_request_includes_user_process_and_participants_only_when_asked(
    sandbox: SandboxServer,
) -> None:
    plain = get_json(sandbox, "/requests", per_page=5)["data"]
    assert not {"user", "process", "participants", "data"} & set(plain[0])
    rows = get_json(sandbox, "/requests", per_page=5, include="user,process,participants")
    for row in rows["data"]:
        assert row["user"]["id"] == row["user_id"]
        assert row["user"]["fullname"]
        assert (row["process"]["id"], row["process"]["name"]) == (row["process_id"], row["name"])
        assert [p["id"] for p in row["participants"]] == [row["user_id"]]
        assert "data" not in row
    one = get_json(sandbox, f"/requests/{plain[0]['id']}", include="user,bogus")
    assert one["user"]["id"] == plain[0]["user_id"]
    assert "bogus" not in one


def test_task_list_embeds_request_and_adds_in_overdue(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/tasks", per_page=3)
    task = body["data"][0]
    assert task["process_request"]["id"] == task["process_request_id"]
    assert body["meta"]["in_overdue"] == 0


# -- PMQL --------------------------------------------------------------------------------------


def test_pmql_filters_by_status_case_insensitively(sandbox: SandboxServer) -> None:
    body = get_json(sandbox, "/requests", pmql='status = "active" and id <= 300', per_page=300)
    assert body["data"]
    assert {r["status"] for r in body["data"]} == {"ACTIVE"}


def test_pmql_dates_compare_as_instants(sandbox: SandboxServer) -> None:
    space = get_json(sandbox, "/requests", pmql='created < "2024-03-01 00:00:00"')["meta"]
    offset = get_json(sandbox, "/requests", pmql='created_at < "2024-03-01T01:00:00+01:00"')["meta"]
    assert space["total"] == offset["total"] > 0


@pytest.mark.parametrize("pmql", ['status = "ACTIVE" AND', 'status == "x"', "(id > 1", "id 5"])
def test_invalid_pmql_is_400_invalid_syntax(sandbox: SandboxServer, pmql: str) -> None:
    response = api(sandbox, "GET", "/requests", params={"pmql": pmql})
    assert (response.status_code, response.json()) == (
        400, {"message": "Your PMQL contains invalid syntax."},
    )  # fmt: skip


@pytest.mark.parametrize("pmql", ['nosuchfield = "x"', 'id = "a"', 'modified > "yesterday-ish"'])
def test_pmql_the_database_cannot_run_is_400_search_failed(
    sandbox: SandboxServer, pmql: str
) -> None:
    # TaskController catches MySQL's QueryException (e.g. an unknown column) with this message;
    # ProcessRequestController rethrows it.
    response = api(sandbox, "GET", "/tasks", params={"pmql": pmql})
    assert (response.status_code, response.json()) == (
        400, {"message": "Your PMQL search could not be completed."},
    )  # fmt: skip
    response = api(sandbox, "GET", "/requests", params={"pmql": pmql})
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})


def test_pmql_keyset_pages_visit_every_row_once_in_order(sandbox: SandboxServer) -> None:
    upper = "2030-01-01 00:00:00"
    expected = get_json(sandbox, "/requests", pmql=f'modified <= "{upper}"')["meta"]["total"]
    seen: list[tuple[str, int]] = []
    cursor: tuple[str, int] | None = None
    while True:
        pmql = f'modified <= "{upper}"'
        if cursor is not None:
            t1, last_id = cursor
            pmql = f'(modified > "{t1}" OR (modified = "{t1}" AND id > {last_id})) AND {pmql}'
        rows = get_json(
            sandbox, "/requests", pmql=pmql, order_by="updated_at", order_direction="asc",
            per_page=97,
        )["data"]  # fmt: skip
        if not rows:
            break
        seen.extend((r["updated_at"], r["id"]) for r in rows)
        cursor = seen[-1]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == expected


def test_compile_pmql_binds_values_never_interpolates() -> None:
    sql, params = compile_pmql(
        "name = \"x' OR 1=1 --\" OR data.customer = \"c\"", RESOURCES["requests"].pmql,
        RESOURCES["requests"].data_sql,
    )  # fmt: skip
    assert "OR 1=1" not in sql
    assert params == ["x' OR 1=1 --", "$.customer", "c"]


def test_compile_pmql_rejects_unknown_field() -> None:
    with pytest.raises(PmqlQueryError, match="unknown field 'secret'"):
        compile_pmql('secret = "x"', RESOURCES["users"].pmql)


# -- start a request, complete its task --------------------------------------------------------


def test_start_request_then_complete_task_completes_request(sandbox: SandboxServer) -> None:
    started = api(sandbox, "POST", "/process_events/3", params={"event": "node_1"}, json={"n": 1})
    assert started.status_code == 201
    request = started.json()
    assert (request["status"], request["process_id"]) == ("ACTIVE", 3)
    tasks = get_json(sandbox, "/tasks", process_request_id=request["id"])["data"]
    assert [t["status"] for t in tasks] == ["ACTIVE"]
    done = api(
        sandbox, "PUT", f"/tasks/{tasks[0]['id']}", json={"status": "COMPLETED", "data": {"ok": 1}}
    )
    assert done.status_code == 200
    assert done.json()["status"] == "CLOSED"
    assert done.json()["completed_at"] is not None
    assert done.json()["process_request"]["status"] == "COMPLETED"
    final = get_json(sandbox, f"/requests/{request['id']}", include="data")
    assert (final["status"], final["data"]) == ("COMPLETED", {"n": 1, "ok": 1})
    again = api(sandbox, "PUT", f"/tasks/{tasks[0]['id']}", json={"status": "COMPLETED"})
    assert (again.status_code, again.json()["message"]) == (422, "Task already closed")


@pytest.mark.parametrize(("path", "event"), [("/process_events/999", "node_1"),
                                              ("/process_events/1", "node_99"),
                                              ("/process_events/1", None)])  # fmt: skip
def test_start_with_unknown_process_or_event_is_404(
    sandbox: SandboxServer, path: str, event: str | None
) -> None:
    params = {} if event is None else {"event": event}
    response = api(sandbox, "POST", path, params=params, json={})
    assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


def test_task_update_without_completed_status_is_422(sandbox: SandboxServer) -> None:
    # TaskController::update ends in a bare abort(422): no text, no errors (see test_sandbox_tasks)
    response = api(sandbox, "PUT", "/tasks/2", json={"status": "DONE"})
    assert (response.status_code, response.json()) == (422, {"message": ""})


# -- collections -------------------------------------------------------------------------------


def test_collection_record_crud(sandbox: SandboxServer) -> None:
    created = api(sandbox, "POST", "/collections/1/records", json={"data": {"name": "Zed"}})
    assert created.status_code == 201
    record_id = created.json()["id"]
    path = f"/collections/1/records/{record_id}"
    assert get_json(sandbox, path)["data"] == {"name": "Zed"}
    assert api(sandbox, "PUT", path, json={"data": {"name": "Zoe"}}).status_code == 204
    patched = api(sandbox, "PATCH", path, json={"data": {"vip": True}})
    assert (patched.status_code, patched.json()["data"]) == (200, {"name": "Zoe", "vip": True})
    found = get_json(sandbox, "/collections/1/records", pmql='data.name = "Zoe"')["data"]
    assert [r["id"] for r in found] == [record_id]
    assert api(sandbox, "DELETE", path).status_code == 204
    assert api(sandbox, "GET", path).status_code == 404


def test_record_without_data_is_422(sandbox: SandboxServer) -> None:
    response = api(sandbox, "POST", "/collections/1/records", json={"name": "x"})
    assert (response.status_code, response.json()["errors"]) == (
        422, {"data": ["The data field is required."]},
    )  # fmt: skip


# -- faults, churn, mutation, stats ------------------------------------------------------------


def test_fail_next_fails_exactly_that_many_requests(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=3, fail_status=503)
    statuses = [api(sandbox, "GET", "/groups").status_code for _ in range(4)]
    assert statuses == [503, 503, 503, 200]


def test_rate_limit_fault_is_429_with_retry_after(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(rate_limit_rate=1.0, retry_after=7)
    response = api(sandbox, "GET", "/groups")
    assert (response.status_code, response.json()) == (429, {"message": "Too Many Attempts."})
    assert (response.headers["Retry-After"], response.headers["X-RateLimit-Remaining"]) == (
        "7",
        "0",
    )


def test_error_rate_uses_the_listed_statuses(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(error_rate=1.0, error_statuses=[502])
    assert {api(sandbox, "GET", "/users").status_code for _ in range(3)} == {502}
    sandbox_reset.clear_faults()
    assert api(sandbox, "GET", "/users").status_code == 200


def test_drop_closes_the_connection_without_a_response(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(drop_next=1)
    # The abort reaches the client as EOF or, when the kernel still holds unread bytes of
    # the request, as a reset: both are a connection dropped without a response.
    with pytest.raises(
        requests.ConnectionError, match=r"Remote end closed connection|Connection reset by peer"
    ):
        api(sandbox, "GET", "/requests")
    assert api(sandbox, "GET", "/requests").status_code == 200


def test_token_fail_next_fails_the_token_endpoint_only(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(token_fail_next=1, fail_status=503)
    token = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "x"}, timeout=30)
    assert (token.status_code, token.json()) == (503, {"message": "Service Unavailable"})
    assert api(sandbox, "GET", "/groups").status_code == 200


def test_latency_setting_is_accepted_and_requests_still_succeed(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    # Timing itself is a wall-clock property and belongs in bench/, not here.
    assert sandbox_reset.set_faults(latency_ms=50)["latency_ms"] == 50
    assert api(sandbox, "GET", "/groups").status_code == 200


def test_unknown_fault_key_is_rejected(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"chaos": 1}, timeout=30)
    assert (response.status_code, response.json()) == (
        422, {"message": "unknown fault settings: chaos"},
    )  # fmt: skip


def test_mutate_moves_rows_after_every_seeded_timestamp(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    result = sandbox_reset.mutate(5, "requests")
    assert len(result["ids"]) == 5
    stamp = result["updated_at"]
    assert stamp > "2025-02-01"  # 1000 seeded requests end in mid-January 2025
    # Other tests may have moved many rows on this shared sandbox: ask about these five only.
    ids = " OR ".join(f"id = {i}" for i in result["ids"])
    pmql = f'modified >= "{stamp}" AND ({ids})'
    moved = get_json(sandbox, "/requests", pmql=pmql, per_page=100)["data"]
    assert {r["id"] for r in moved} == set(result["ids"])


def test_churn_updates_rows_while_a_client_pages(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    def stamps() -> dict[int, str]:
        rows = get_json(sandbox, "/users", per_page=1000)["data"]
        return {row["id"]: row["updated_at"] for row in rows}

    before = stamps()  # compared row by row: other tests move rows of this shared sandbox
    sandbox_reset.set_faults(churn=2)
    for page in (1, 2):
        get_json(sandbox, "/users", page=page, per_page=5)
    sandbox_reset.clear_faults()
    after = stamps()
    changed = [i for i in before if after[i] != before[i]]
    assert 1 <= len(changed) <= 4


def test_stats_count_api_requests_by_route_template(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    api(sandbox, "GET", "/requests")
    api(sandbox, "GET", "/requests/1")
    api(sandbox, "GET", "/requests/2")
    api(sandbox, "GET", "/nowhere")
    stats = sandbox_reset.stats()
    assert stats["requests"] == {
        "GET /api/1.0/requests": 1,
        "GET /api/1.0/requests/{id}": 2,
        "GET /api/1.0/*": 1,
    }
    assert stats["requests_total"] == 4


def test_concurrent_starts_get_distinct_requests(sandbox: SandboxServer) -> None:
    def start(_: int) -> int:
        response = api(sandbox, "POST", "/process_events/2", params={"event": "node_1"}, json={})
        assert response.status_code == 201
        return int(response.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(start, range(16)))
    assert len(set(ids)) == 16
    for request_id in ids[:3]:
        tasks = get_json(sandbox, "/tasks", process_request_id=request_id)["data"]
        assert [t["status"] for t in tasks] == ["ACTIVE"]


def test_password_grant_token_reads_the_api_and_revoke_all_ends_it() -> None:
    # Its own server: revoke-all also revokes the configured PAT, for the server's lifetime.
    with SandboxServer(SandboxConfig(port=0, records=10)) as sandbox:
        _password_grant_then_revoke(sandbox, SandboxControl(sandbox.url))


def _password_grant_then_revoke(sandbox: SandboxServer, control: SandboxControl) -> None:
    config = sandbox.config
    grant = requests.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "password", "client_id": config.client_id,
            "client_secret": config.client_secret, "username": config.username,
            "password": config.password,
        },
        timeout=30,
    )  # fmt: skip
    assert grant.status_code == 200
    headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    me = requests.get(f"{sandbox.url}/api/1.0/users/1", headers=headers, timeout=30)
    assert me.json()["username"] == config.username
    assert control.stats()["grants"] == {"password": 1}
    control.revoke_all()
    after = requests.get(f"{sandbox.url}/api/1.0/users/1", headers=headers, timeout=30)
    assert (after.status_code, after.json()) == (401, {"error": "Unauthenticated."})
