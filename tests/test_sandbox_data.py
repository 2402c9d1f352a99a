"""The sandbox's data over real HTTP: seed shapes, reset, churn, deletes, request-data changes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from processmaker_prefect.sandbox.__main__ import parse_config
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.serializers import iso, uuid_for
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

pytestmark = pytest.mark.integration


def get_json(sandbox: SandboxServer, path: str, **params: Any) -> Any:
    response = requests.get(
        f"{sandbox.url}/api/1.0{path}",
        params=params,
        headers={"Authorization": f"Bearer {sandbox.config.pat}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def all_requests(sandbox: SandboxServer, **params: Any) -> list[dict[str, Any]]:
    body = get_json(sandbox, "/requests", per_page=5000, order_by="id", **params)
    assert body["meta"]["last_page"] == 1
    rows: list[dict[str, Any]] = body["data"]
    return rows


# -- seed shapes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lumpy() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0, records=600, ties=25)) as server:
        yield server


def test_ties_gives_that_many_requests_per_updated_at(lumpy: SandboxServer) -> None:
    rows = all_requests(lumpy)
    per_stamp = Counter(row["updated_at"] for row in rows)
    assert len(rows) == 600
    assert set(per_stamp.values()) == {25}
    # Shuffled in time: a run of equal timestamps is not a run of consecutive ids.
    assert [row["id"] for row in sorted(rows, key=lambda r: (r["updated_at"], r["id"]))] != [
        row["id"] for row in rows
    ]
    assert all(row["updated_at"] >= row["created_at"] for row in rows)


def test_distinct_updated_at_spreads_requests_over_k_values() -> None:
    config = SandboxConfig(port=0, records=3000, distinct_updated_at=3)
    with SandboxServer(config) as server:
        rows = all_requests(server)
        window = get_json(
            server, "/requests", per_page=1, pmql=f'modified = "{rows[0]["updated_at"]}"'
        )
    per_stamp = Counter(row["updated_at"] for row in rows)
    assert len(per_stamp) == 3
    assert min(per_stamp.values()) > 800  # spread by hash, not piled on one value
    assert window["meta"]["total"] == per_stamp[rows[0]["updated_at"]]


def test_request_data_keys_differ_by_process(lumpy: SandboxServer) -> None:
    keys: dict[int, set[str]] = {}
    for row in all_requests(lumpy, include="data"):
        keys.setdefault(row["process_id"], set()).update(row["data"])
    common = {"amount", "customer", "priority", "approved"}
    assert all(common < found for found in keys.values())
    assert len({frozenset(found - common) for found in keys.values()}) == len(keys) > 4


def test_command_line_names_the_data_shape_lifetimes_and_tls() -> None:
    config = parse_config(
        ["--records", "20000", "--distinct-updated-at", "3", "--ties", "7", "--token-ttl", "60",
         "--refresh-token-ttl", "120", "--personal-token-ttl", "259200", "--certfile", "c.pem",
         "--keyfile", "k.pem"]
    )  # fmt: skip
    assert (config.records, config.distinct_updated_at, config.ties) == (20000, 3, 7)
    assert (config.token_ttl, config.refresh_token_ttl, config.personal_token_ttl) == (
        60, 120, 259200,
    )  # fmt: skip
    assert config.base_url.startswith("https://")
    with pytest.raises(SystemExit):
        parse_config(["--certfile", "c.pem"])


# -- reset restores the seeded rows --------------------------------------------------------------


def test_reset_restores_every_seeded_row(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    before = all_requests(sandbox, include="data")
    headers = {"Authorization": f"Bearer {sandbox.config.pat}"}
    moved = sandbox_reset.mutate(20, "requests", new=3)
    requests.delete(
        f"{sandbox.url}/api/1.0/requests/{before[0]['id']}", headers=headers, timeout=30
    )
    sandbox_reset.change_request_data(1, values={"region": "EMEA"})
    assert all_requests(sandbox, include="data") != before
    sandbox_reset.reset()
    assert all_requests(sandbox, include="data") == before
    gone = requests.get(
        f"{sandbox.url}/api/1.0/requests/{moved['new_ids'][0]}", headers=headers, timeout=30
    )
    assert gone.status_code == 404


def test_reset_makes_mutate_pick_the_same_rows_again(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    first = sandbox_reset.mutate(5)["ids"]
    sandbox_reset.reset()
    assert sandbox_reset.mutate(5)["ids"] == first


def test_writes_after_reset_still_sort_after_earlier_writes(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    first = sandbox_reset.mutate(1)["updated_at"]
    sandbox_reset.reset()
    assert sandbox_reset.mutate(1)["updated_at"] >= first


# -- live changes --------------------------------------------------------------------------------


def test_meta_total_is_recounted_on_every_page(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    pmql = 'status = "ACTIVE"'
    first = get_json(sandbox, "/requests", pmql=pmql, per_page=5, page=1)["meta"]["total"]
    sandbox_reset.mutate(0, "requests", new=4)  # new requests start ACTIVE
    second = get_json(sandbox, "/requests", pmql=pmql, per_page=5, page=2)["meta"]
    assert second["total"] == first + 4
    assert second["last_page"] == -(-second["total"] // 5)


def test_churn_new_inserts_rows_on_each_list_call(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    total = get_json(sandbox, "/requests")["meta"]["total"]
    sandbox_reset.set_faults(churn_new=2)
    seen = [get_json(sandbox, "/requests", per_page=1)["meta"]["total"] for _ in range(3)]
    assert seen == [total + 2, total + 4, total + 6]


def test_churn_moves_existing_rows_to_now(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    before = {r["id"]: r["updated_at"] for r in all_requests(sandbox)}
    sandbox_reset.set_faults(churn=5)
    get_json(sandbox, "/requests")
    sandbox_reset.clear_faults()
    after = {r["id"]: r["updated_at"] for r in all_requests(sandbox)}
    changed = [i for i in before if after[i] != before[i]]
    assert 1 <= len(changed) <= 5
    assert all(after[i] > max(before.values()) for i in changed)


def test_delete_request_removes_it_and_its_tasks(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    headers = {"Authorization": f"Bearer {sandbox.config.pat}"}
    url = f"{sandbox.url}/api/1.0/requests/42"
    assert get_json(sandbox, "/tasks", process_request_id=42)["meta"]["total"] == 1
    deleted = requests.delete(url, headers=headers, timeout=30)
    assert (deleted.status_code, deleted.content) == (204, b"")
    again = requests.get(url, headers=headers, timeout=30)
    assert (again.status_code, again.json()) == (404, {"error": "Not Found"})
    assert get_json(sandbox, "/tasks", process_request_id=42)["meta"]["total"] == 0
    assert requests.delete(url, headers=headers, timeout=30).status_code == 404


def test_request_data_gains_a_key_on_one_process_only(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    result = sandbox_reset.change_request_data(3, values={"region": "EMEA"})
    rows = all_requests(sandbox, include="data")
    mine = [r for r in rows if r["process_id"] == 3]
    assert result["changed"] == len(mine) > 0
    assert all(r["data"]["region"] == "EMEA" for r in mine)
    assert all(r["updated_at"] == result["updated_at"] for r in mine)
    assert not any("region" in r["data"] for r in rows if r["process_id"] != 3)


def test_request_data_key_changes_type(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    before = {r["id"]: r for r in all_requests(sandbox, include="data")}
    sandbox_reset.change_request_data(2, cast={"amount": "string", "days": "array"}, touch=False)
    for row in all_requests(sandbox, include="data"):
        old = before[row["id"]]
        assert row["updated_at"] == old["updated_at"]  # touch=False: invisible to a watermark
        if row["process_id"] == 2:
            assert row["data"]["amount"] == str(old["data"]["amount"])
            assert row["data"]["days"] == [old["data"]["days"]]
        else:
            assert row["data"] == old["data"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"set": {"x": 1}}, "process_id must be an integer"),
        ({"process_id": 1}, "give set"),
        ({"process_id": 1, "set": {"a.b": 1}}, "keys must be identifiers"),
        ({"process_id": 1, "cast": {"amount": "date"}}, "cast types must be one of"),
    ],
)
def test_bad_request_data_call_is_422(
    sandbox: SandboxServer, body: dict[str, Any], message: str
) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/request-data", json=body, timeout=30)
    assert response.status_code == 422
    assert message in response.json()["message"]


# The namespace the sandbox has always used: changing it would change every seeded uuid.
NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


@pytest.mark.parametrize(("kind", "row_id"), [("request", 1), ("task", 48_213), ("user", 10**12)])
def test_uuids_are_uuid5_of_kind_and_id(kind: str, row_id: int) -> None:
    assert uuid_for(kind, row_id) == str(uuid.uuid5(NAMESPACE, f"{kind}:{row_id}"))


@pytest.mark.parametrize("ts", [0, 1_700_000_000, 2_000_000_000, 951_782_400])  # a leap day
def test_times_are_php_format_c(ts: int) -> None:
    assert iso(ts) == datetime.fromtimestamp(ts, UTC).isoformat()
