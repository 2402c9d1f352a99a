"""Records no one expected (issue 20): hostile data, 5,000 keys, rejected records, two
instances in one destination, page-level surprises and filters that try to break out.

The sandbox serves the hostile requests (``hostile_data=True``) over real HTTP; DuckDB files and
the session's PostgreSQL server (tests/fixtures/postgres.py) are real. The client here is the
real ProcessMakerClient with a personal access token, so no Vault is needed: what is under test
is what happens to the records, not how the token was obtained.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from processmaker_prefect.catalogue import DEFAULT_RESOURCES, resource_for
from processmaker_prefect.destinations import (
    DEFAULT_URL,
    Watermark,
    default_destination,
    open_destination,
)
from processmaker_prefect.destinations.batch import decode_raw, decode_text, encode_text
from processmaker_prefect.errors import ConfigurationError, DestinationError
from processmaker_prefect.events import reset_emitted, set_event_sink
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.hostile import HOSTILE_KEYS, hostile_data
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.sync import ResourceSync
from tests.fixtures.sandbox import SandboxControl, client_for
from tests.test_destinations import T0, fetch, url

__all__ = ["url"]  # the destination fixture, shared with tests/test_destinations.py

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hostile() -> Iterator[SandboxServer]:
    """A sandbox whose requests include every record of sandbox.hostile."""
    with SandboxServer(SandboxConfig(port=0, records=300, seed=3, hostile_data=True)) as server:
        yield server


@pytest.fixture
def control(hostile: SandboxServer) -> Iterator[SandboxControl]:
    control = SandboxControl(hostile.url)
    control.reset()
    yield control
    control.reset()


def sync(server: SandboxServer, destination: str, name: str = "requests", **options: Any) -> Any:
    pmql = options.pop("pmql", None)
    with client_for(server) as client, open_destination(destination) as dest:
        resource = resource_for(name).with_filter(pmql)
        return ResourceSync(client, dest, resource, lag=0, **options).run()


def api_requests(server: SandboxServer, **params: Any) -> dict[int, dict[str, Any]]:
    """Every request the API serves with its data: ``{id: record}``."""
    found: dict[int, dict[str, Any]] = {}
    page = 1
    while True:
        response = requests.get(
            f"{server.url}/api/1.0/requests",
            params={"include": "data", "per_page": 100, "page": page, "order_by": "id", **params},
            headers={"Authorization": f"Bearer {server.config.pat}"},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        found.update({row["id"]: row for row in body["data"]})
        if page >= body["meta"]["last_page"]:
            return found
        page += 1


def same_json(stored: Any, served: Any) -> bool:
    """Equal as JSON values. jsonb keeps a number's decimal value, not its notation: the
    float ProcessMaker sends for 2**70 (1.1805916207174113e+21) comes back as the integer
    1180591620717411300000, the same JSON number."""
    if isinstance(served, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == served.keys()
            and all(same_json(stored[k], v) for k, v in served.items())
        )
    if isinstance(served, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(served)
            and all(same_json(a, b) for a, b in zip(stored, served, strict=True))
        )
    if isinstance(served, float) and isinstance(stored, int) and not isinstance(stored, bool):
        return Decimal(repr(served)) == stored
    return type(stored) is type(served) and stored == served


def raw_of(url: str, table: str, ident: int) -> Any:
    (value,) = fetch(url, f'SELECT raw FROM "{table}" WHERE id = {ident}')[0]  # noqa: S608
    return decode_raw(json.loads(value) if isinstance(value, str) else value)


# -- 1, 2: every hostile record stored, every key findable ------------------------------------


def test_hostile_requests_are_all_stored_and_every_key_findable(
    hostile: SandboxServer, control: SandboxControl, url: str
) -> None:
    result = sync(hostile, url, per_page=100)
    served = api_requests(hostile)
    assert result.rejected == 0
    stored = {r[0] for r in fetch(url, "SELECT id FROM requests")}
    assert stored == set(served)
    first = max(served) - len(hostile_data()) + 1
    # raw holds each record as served, exactly (NUL, a 1 MB string, 200 levels) on both.
    for ident in range(first, max(served) + 1):
        assert same_json(raw_of(url, "requests", ident), served[ident]), ident
    # Each key is a column of its own, found through _variable_columns; "_" keys are
    # stripped by ProcessMaker itself (API-NOTES), so they are not served at all.
    mapped = {
        decode_text(key): column
        for key, column in fetch(
            url, "SELECT key, column_name FROM _variable_columns "
            "WHERE table_name = 'request_variables_1'",
        )
    }  # fmt: skip
    expected = {k for k in HOSTILE_KEYS if not k.startswith("_")}
    assert expected <= set(mapped)
    assert len({mapped[k] for k in expected}) == len(expected)  # distinct columns
    assert all(len(c.encode()) <= 63 for c in mapped.values())
    amount, upper = mapped["amount"], mapped["Amount"]
    values = fetch(url, f'SELECT "{amount}", "{upper}", "{mapped["nul_value"]}" '  # noqa: S608
                        f"FROM request_variables_1 WHERE request_id = {first}")  # fmt: skip
    assert values == [(11.0, 10.5, None)]  # NUL does not fit a text column: NULL, raw has it
    # A typed column takes what fits: the case title holding NUL is NULL there.
    assert fetch(url, f"SELECT case_title FROM requests WHERE id = {first}") == [(None,)]  # noqa: S608
    (state,) = fetch(url, "SELECT last_id, instance FROM _sync_state WHERE resource = 'requests'")
    assert state == (None, hostile.url)  # no id yet: NULL, never 2**62
    # A key whose JSON type changes from request to request: its column widened to text.
    shifty = mapped["shifty"]
    values = fetch(url, f'SELECT "{shifty}" FROM request_variables_1 '  # noqa: S608
                        f'WHERE "{shifty}" IS NOT NULL ORDER BY request_id')  # fmt: skip
    assert [v for (v,) in values] == ["7", "seven", '{"n":7}', '[7,"7"]']


def test_hostile_data_leaves_the_other_tables_intact(
    hostile: SandboxServer, control: SandboxControl, url: str
) -> None:
    """Every default resource synced in one run beside the hostile requests, on both backends."""
    with client_for(hostile) as client, open_destination(url) as dest:
        results = {
            name: ResourceSync(client, dest, resource_for(name), lag=0).run()
            for name in DEFAULT_RESOURCES
        }
    for name, result in results.items():
        assert result.rejected == 0, name
        listed = requests.get(
            f"{hostile.url}/api/1.0/{name}", params={"per_page": 1},
            headers={"Authorization": f"Bearer {hostile.config.pat}"}, timeout=30,
        ).json()["meta"]["total"]  # fmt: skip
        assert fetch(url, f'SELECT count(*) FROM "{name}"') == [(listed,)], name  # noqa: S608
    states = {r[0] for r in fetch(url, "SELECT resource FROM _sync_state")}
    assert states == set(DEFAULT_RESOURCES)


def test_a_second_run_moves_on_from_hostile_records(
    hostile: SandboxServer, control: SandboxControl, tmp_path: Path
) -> None:
    database = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    first = sync(hostile, database)
    again = sync(hostile, database)
    assert first.rows == len(api_requests(hostile))
    assert again.rows == 0
    assert again.watermark == first.watermark  # nothing new: the watermark stays where it was


def test_hostile_requests_sync_through_a_full_refresh(
    hostile: SandboxServer, control: SandboxControl, tmp_path: Path
) -> None:
    database = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    sync(hostile, database)
    with client_for(hostile) as client, open_destination(database) as dest:
        refreshed = ResourceSync(client, dest, resource_for("requests"), lag=0)
        assert refreshed.run(full_refresh=True).rows == len(api_requests(hostile))


def test_5000_distinct_keys_fit_in_the_default_memory_limit(url: str) -> None:
    """Each request of one process brings keys of its own: the table gets up to the cap of
    columns, the rest stay in raw and are reported; DuckDB at its default 1GB limit."""
    keys = [f"Field {i}" for i in range(5000)]
    with open_destination(url) as dest:
        dest.max_variable_columns = 300
        for start in range(0, 5000, 500):
            rows = [
                {"id": i + 1, "process_id": 9, "updated_at": "2025-08-14T00:50:02Z",
                 "data": {keys[i]: i, "common": "x" * 200}}
                for i in range(start, start + 500)
            ]  # fmt: skip
            dest.write_batch("requests", rows, Watermark("requests", T0, start + 500))
        assert sum(len(k) for k in dest.keys_in_raw.values()) == 5000 - 299
    columns = fetch(url, "SELECT count(*) FROM information_schema.columns "
                         "WHERE table_name = 'request_variables_9'")  # fmt: skip
    assert columns == [(300 + 3,)]
    assert fetch(url, "SELECT count(*) FROM requests") == [(5000,)]
    assert raw_of(url, "requests", 5000)["data"]["Field 4999"] == 4999


def test_nul_encoding_is_reversible() -> None:
    for text in ["plain", "a\x00b", "\u2400", "\u24000", "\x00\u2400\x00", "\u2400\u2400", ""]:
        assert decode_text(encode_text(text)) == text
    assert encode_text("plain") == "plain"
    assert "\x00" not in encode_text("a\x00b")


def test_integers_beyond_64_bits_stay_exact_in_raw(url: str) -> None:
    record = {"id": 1, "process_id": 2, "data": {"big": 2**70, "neg": -(2**80)}}
    with open_destination(url) as dest:
        dest.write_batch("requests", [record], None)
    assert raw_of(url, "requests", 1)["data"] == {"big": 2**70, "neg": -(2**80)}
    (big,) = fetch(url, "SELECT big FROM request_variables_2")[0]
    assert big == str(2**70)  # beyond BIGINT: a text column, exact


def test_an_id_beyond_bigint_is_rejected_and_the_batch_stored(url: str) -> None:
    """An id of 2**63 or more (MySQL's BIGINT UNSIGNED allows it) fits no id column: that
    record goes to _rejected, with its id exact in the record, and the rest is stored. It
    once reached the Arrow conversion and failed every run there."""
    records = [{"id": 2**63, "process_id": 2, "data": {"a": 1}}, {"id": 5, "process_id": 2}]
    with open_destination(url) as dest:
        assert dest.write_batch("requests", records, Watermark("requests", T0, 5)) == 1
        assert dest.get_watermark("requests") == Watermark("requests", T0, 5)
    assert fetch(url, "SELECT id FROM requests") == [(5,)]
    (row,) = fetch(url, "SELECT id, reason, record FROM _rejected")
    assert row[:2] == (None, f"an id beyond BIGINT (got {2**63})")
    assert json.loads(row[2])["id"] == 2**63


def test_client_reads_integers_beyond_64_bits_exactly() -> None:
    # A transport-level fake: the sandbox serves 2**70 as PHP does (a float), so the body of
    # a server that sends the integer is built here.
    from processmaker_prefect.api.bodies import json_body

    response = requests.Response()
    response.status_code = 200
    response._content = b'{"data":[{"id":1,"big":1180591620717411303424}],"meta":{}}'
    assert json_body(response, "GET", "/requests")["data"][0]["big"] == 2**70


# -- 3: nothing gets a resource stuck --------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def test_unstorable_record_goes_to_rejected_and_leaves_it_once_fixed(url: str) -> None:
    bad = {"id": 7, "process_id": 1, "status": "ACTIVE", "data": _nested(5000)}
    good = {"id": 8, "process_id": 1, "status": "ACTIVE", "data": {"a": 1}}
    with open_destination(url) as dest:
        assert dest.write_batch("requests", [bad, good], Watermark("requests", T0, 8)) == 1
        assert dest.rejected == {"requests": 1}
        assert dest.get_watermark("requests") == Watermark("requests", T0, 8)  # moved on
    (row,) = fetch(url, "SELECT resource, id, reason FROM _rejected")
    assert row == ("requests", 7, "cannot be written as JSON (RecursionError)")
    with open_destination(url) as dest:  # fixed in ProcessMaker, read on its next change
        dest.write_batch("requests", [{**bad, "data": {"a": 2}}], None)
    assert fetch(url, "SELECT count(*) FROM _rejected") == [(0,)]
    assert fetch(url, "SELECT id FROM requests ORDER BY id") == [(7,), (8,)]


def test_a_record_the_backend_refuses_is_rejected_and_the_run_completes(
    hostile: SandboxServer, control: SandboxControl, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: no record reaches a backend that refuses it any more (every such
    case is caught before), so one record is made to fail in the driver: the batch is
    written without it, it lands in _rejected, the event is sent and the next run moves on."""
    victim = min(api_requests(hostile))
    with open_destination(url) as probe:
        kind = type(probe)
    real_merge = kind._merge  # type: ignore[attr-defined]
    error = kind.row_errors[0]

    def merge(self: Any, con: Any, table: str, batch: Any, key: str) -> None:
        if table == "requests" and victim in batch.columns["id"]:
            raise error("value out of range (injected)")
        real_merge(self, con, table, batch, key)

    monkeypatch.setattr(kind, "_merge", merge)
    events: list[tuple[str, dict[str, Any]]] = []

    class Sink:
        def listening(self) -> bool:
            return True

        def send(self, event: str, resource: Any, related: Any, payload: Any) -> bool:
            events.append((event, payload))
            return True

    reset_emitted()
    previous = set_event_sink(Sink())
    try:
        first = sync(hostile, url, per_page=100)
    finally:
        set_event_sink(previous)
    assert first.rejected == 1
    assert first.rows == len(api_requests(hostile)) - 1
    assert ("processmaker.sync.rejected", {"resource": "requests", "rejected": 1,
                                           "table": "_rejected"}) in events  # fmt: skip
    (row,) = fetch(url, "SELECT id, reason FROM _rejected")
    assert row[0] == victim
    assert "injected" in row[1]
    monkeypatch.undo()
    assert sync(hostile, url).rows == 0  # nothing changed since: the next run is not stuck


# -- 4: many instances, one destination ------------------------------------------------------


@pytest.fixture(scope="module")
def second() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0, records=40, seed=9)) as server:
        yield server


def test_a_second_instance_is_refused_before_anything_is_written(
    hostile: SandboxServer, second: SandboxServer, control: SandboxControl, url: str
) -> None:
    sync(hostile, url, name="users")
    before = fetch(url, "SELECT count(*), max(_synced_at) FROM users")
    with pytest.raises(ConfigurationError) as refused:
        sync(second, url, name="users")
    message = str(refused.value)
    assert hostile.url in message
    assert second.url in message
    assert "?schema=" in message
    assert "\n" not in message
    assert fetch(url, "SELECT count(*), max(_synced_at) FROM users") == before
    # The option it names keeps them apart: the second instance in a schema of its own.
    apart = f"{url}?schema=second_pm"
    assert sync(second, apart, name="users").rows == len(
        requests.get(f"{second.url}/api/1.0/users", params={"per_page": 1000},
                     headers={"Authorization": f"Bearer {second.config.pat}"}, timeout=30,
                     ).json()["data"]
    )  # fmt: skip
    assert fetch(url, "SELECT count(*) FROM second_pm.users")[0][0] > 0
    assert fetch(url, "SELECT DISTINCT _instance FROM second_pm.users") == [(second.url,)]
    assert fetch(url, "SELECT DISTINCT _instance FROM users") == [(hostile.url,)]


def test_destination_of_an_older_version_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    url = f"duckdb:///{path}"
    with open_destination(url) as dest:
        dest.write_batch("users", [{"id": 1}], None)
    with duckdb.connect(str(path)) as con:  # back to the tables the previous version left
        con.execute("ALTER TABLE users DROP COLUMN _instance")
        con.execute("ALTER TABLE users DROP COLUMN _filter")
        con.execute("DROP TABLE _sync_instance")
        con.execute("DROP TABLE _rejected")
        con.execute("ALTER TABLE _variable_columns RENAME TO _sync_columns")
        con.execute("INSERT INTO _sync_columns VALUES ('request_variables_1', 'a', 'a', 'text')")
        con.execute("DROP TABLE _sync_state")
        con.execute("CREATE TABLE _sync_state (resource VARCHAR PRIMARY KEY, updated_at "
                    "TIMESTAMPTZ NOT NULL, last_id BIGINT NOT NULL, extra JSON, synced_at "
                    "TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)")  # fmt: skip
        con.execute("INSERT INTO _sync_state VALUES ('requests', '2025-01-01', "
                    "4611686018427387904, NULL, '2025-01-01')")  # fmt: skip
    with open_destination(url) as dest:
        dest.bind_instance("https://PM.example.com/")
        assert dest.get_watermark("requests") is not None
        dest.write_batch("users", [{"id": 2}], None)
    assert fetch(url, "SELECT last_id, instance FROM _sync_state") == [
        (None, "https://pm.example.com")
    ]
    assert fetch(url, "SELECT key FROM _variable_columns") == [("a",)]
    assert fetch(url, "SELECT id, _instance FROM users ORDER BY id") == [
        (1, "https://pm.example.com"), (2, "https://pm.example.com")
    ]  # fmt: skip


def test_default_destination_is_per_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    one = default_destination("https://pm.example.com")
    two = default_destination("https://pm.example.com:8443/")
    assert one == "duckdb:///~/processmaker-prefect/pm.example.com.duckdb"
    assert two == "duckdb:///~/processmaker-prefect/pm.example.com_8443.duckdb"
    assert default_destination("https://x", "postgresql://db/pm") == "postgresql://db/pm"
    # The file every instance shared before keeps its data where it is.
    legacy = tmp_path / "processmaker-prefect" / "processmaker.duckdb"
    legacy.parent.mkdir()
    legacy.touch()
    assert default_destination("https://pm.example.com") == DEFAULT_URL


def test_bad_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^Destination schema 'a;drop' is not"):
        open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}?schema=a;drop")


# -- 5: page-level surprises -----------------------------------------------------------------


@pytest.mark.parametrize(("fault", "concurrency"), [
    ({"total_low": 250}, 1), ({"total_low": 250}, 4),
    ({"total_high": 250}, 1), ({"total_high": 250}, 4),
])  # fmt: skip
def test_meta_total_wrong_either_way_stores_every_row(
    hostile: SandboxServer, control: SandboxControl, tmp_path: Path,
    fault: dict[str, int], concurrency: int,
) -> None:  # fmt: skip
    control.set_faults(**fault)
    database = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    sync(hostile, database, per_page=40, max_concurrency=concurrency)  # id ranges
    sync(hostile, database, name="users", per_page=4, max_concurrency=concurrency)  # pages
    control.clear_faults()
    assert {r[0] for r in fetch(database, "SELECT id FROM requests")} == set(api_requests(hostile))
    assert control.stats()["injected"].get("total_skew", 0) > 0
    users = fetch(database, "SELECT count(*) FROM users")[0][0]
    assert users == len(requests.get(
        f"{hostile.url}/api/1.0/users", params={"per_page": 1000},
        headers={"Authorization": f"Bearer {hostile.config.pat}"}, timeout=30,
    ).json()["data"])  # fmt: skip


class _Pages:
    """A transport-level fake of one list route: no ProcessMaker sends string ids or the
    same row twice in a page, but proxies and PHP versions have."""

    pool_size = 4

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.calls = rows, 0

    def get_page(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        # The count takes the duplicate too: the page looks short of it and is read again
        # past its last id, where nothing more is.
        self.calls += 1
        return {"data": self.rows if self.calls == 1 else [], "meta": {"total": len(self.rows)}}


def test_string_and_duplicate_ids_in_a_page_are_read_once() -> None:
    from processmaker_prefect.sync.idranges import IdRangePlan
    from processmaker_prefect.sync.scan import scan_ids

    rows = [{"id": "3", "v": 1}, {"id": 5, "v": 1}, {"id": 5, "v": 2}, {"id": 9}]
    plan = IdRangePlan(per_page=10, concurrency=1)
    served = _Pages(rows)
    pages = list(scan_ids(served, "/requests", {}, "", plan))  # type: ignore[arg-type]
    assert [(r["id"], r.get("v")) for page in pages for r in page] == [
        (3, 1), (5, 2), (9, None)
    ]  # fmt: skip
    assert plan.finished
    assert served.calls == 2


def test_an_empty_page_where_total_promised_rows_is_read_again() -> None:
    from processmaker_prefect.sync.idranges import TOP, IdRangePlan

    plan = IdRangePlan(per_page=10, concurrency=1)
    (ask,) = plan.asks()
    assert plan.answer(ask, [], 25) == 0  # total says 25, page holds none: not done yet
    assert not plan.finished
    (again,) = plan.asks()
    assert again.bounds == ((-1, TOP),)
    plan.answer(again, [], 25)  # empty twice: the range is read
    assert plan.finished


def test_a_full_page_is_followed_even_when_total_says_it_was_all() -> None:
    from processmaker_prefect.sync.idranges import IdRangePlan

    plan = IdRangePlan(per_page=10, concurrency=1)
    (ask,) = plan.asks()
    plan.answer(ask, list(range(1, 11)), 3)  # total too low: 3
    (more,) = plan.asks()
    assert more.bounds[0][0] == 10


def test_a_repeated_page_ends_in_one_line() -> None:
    from processmaker_prefect.api.pagination import PageNumberPaginator
    from processmaker_prefect.errors import MalformedResponseError

    page = {"data": [{"id": 1}, {"id": 2}], "meta": {"current_page": 1, "last_page": 3}}
    pages = PageNumberPaginator(2, where="GET /api/1.0/users")
    with pytest.raises(MalformedResponseError, match=r"page 2 repeats the rows of the page"):
        list(pages.pages(lambda p: {**page, "meta": {**page["meta"], "current_page": p["page"]}}))


# -- 6: a filter stays a filter --------------------------------------------------------------


@pytest.mark.parametrize("pmql", [
    'status = "ACTIVE") OR (id > 0', '(status = "ACTIVE"', 'name = "unclosed', "id > 0 OR",
    "()",
])  # fmt: skip
def test_a_filter_that_is_not_one_expression_is_refused_before_any_call(
    hostile: SandboxServer, control: SandboxControl, pmql: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"^Filter for requests is not one PMQL"):
        sync(hostile, "duckdb:///:memory:", pmql=pmql)
    assert control.stats()["requests"] == {}


def test_a_filter_with_or_stores_nothing_outside_it(
    hostile: SandboxServer, control: SandboxControl, tmp_path: Path
) -> None:
    database = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    pmql = 'status = "ERROR" OR status = "CANCELED"'
    sync(hostile, database, pmql=pmql, per_page=25, max_concurrency=3)
    statuses = {r[0] for r in fetch(database, "SELECT DISTINCT status FROM requests")}
    assert statuses == {"ERROR", "CANCELED"}
    wanted = {i for i, r in api_requests(hostile).items() if r["status"] in statuses}
    assert {r[0] for r in fetch(database, "SELECT id FROM requests")} == wanted
    assert fetch(database, "SELECT DISTINCT _filter FROM requests") == [(pmql,)]


def test_destination_error_of_a_batch_that_is_not_a_records_fault_is_raised(url: str) -> None:
    """Isolating records must not hide a failure of the whole write: a watermark the backend
    refuses fails the batch (rolled back), no record is rejected."""
    with open_destination(url) as dest, pytest.raises(DestinationError):
        dest.write_batch("requests", [{"id": 1}], Watermark("requests", T0, -(2**70)))
    assert fetch(url, "SELECT count(*) FROM _rejected") == [(0,)]
