"""start_requests with payloads from rows of a destination: each row starts one request, once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import State

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.flows.request_rows import RequestRows
from processmaker_prefect.flows.start_requests import StartRequestsFailed, start_requests
from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]

# What an analyst's table looks like: text keys with odd spacing, money as DECIMAL, a date,
# a vendor with quotes and accents, a NULL.
INVOICES = """
CREATE TABLE invoices_to_approve (invoice_no TEXT, amount DECIMAL(10, 2), due DATE,
                                  vendor TEXT, note TEXT);
INSERT INTO invoices_to_approve VALUES
  ('INV-0001', 1250.00, DATE '2026-01-15', 'Müller & Söhne GmbH', NULL),
  ('INV-0002', 99.95, DATE '2026-02-01', 'O''Brien "Supplies"', 'urgent'),
  ('  INV-0003 ', 0, DATE '2025-12-31', '株式会社テスト', '');
"""
QUERY = "SELECT invoice_no, amount, due, vendor, note FROM invoices_to_approve ORDER BY 1"


def pm_requests(stack: PmStack, **params: Any) -> list[dict[str, Any]]:
    response = requests.get(
        f"{stack.sandbox.url}/api/1.0/requests",
        params={"per_page": 500, "include": "data", **params},
        headers={"Authorization": f"Bearer {stack.sandbox.config.pat}"},
        timeout=30,
    )
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def ledger(path: Path) -> dict[str, tuple[str, int | None]]:
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "SELECT idempotency_key, status, request_id FROM _started_requests"
        ).fetchall()
    return {key: (status, request_id) for key, status, request_id in found}


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "analyst.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(INVOICES)
    return path


def run(path: Path, query: str = QUERY, event: str = "node_1") -> State[Any]:
    rows = RequestRows(destination=f"duckdb:///{path}", query=query, key_column="invoice_no")
    state: State[Any] = start_requests(3, event, rows=rows, return_state=True)
    return state


def test_rows_start_one_request_each_and_a_rerun_starts_only_new_rows(
    pm_stack: PmStack, table: Path
) -> None:
    first = run(table)
    assert first.is_completed(), first.message
    # The key is trimmed; the query's order is kept ("  INV-0003 " sorts first).
    assert [(r["payload"], r["error"], r["note"]) for r in first.result()] == [
        ("INV-0003", None, None), ("INV-0001", None, None), ("INV-0002", None, None),
    ]  # fmt: skip
    with duckdb.connect(str(table)) as con:
        con.execute("INSERT INTO invoices_to_approve VALUES ('INV-0004', 10, NULL, 'New', NULL)")
    second = run(table)
    assert second.is_completed(), second.message
    notes = {r["payload"]: r["note"] for r in second.result()}
    assert notes == {"INV-0001": "already started", "INV-0002": "already started",
                     "INV-0003": "already started", "INV-0004": None}  # fmt: skip

    # ProcessMaker holds each row's request once, with the row as its data.
    for key in ("INV-0001", "INV-0002", "INV-0003", "INV-0004"):
        raw = "  INV-0003 " if key == "INV-0003" else key  # the data keeps the row as it is
        held = pm_requests(pm_stack, pmql=f'data.invoice_no = "{raw}"')
        assert len(held) == 1, key
        assert ledger(table)[key] == ("started", held[0]["id"])
    (mueller,) = pm_requests(pm_stack, pmql='data.invoice_no = "INV-0001"')
    assert mueller["data"] == {"invoice_no": "INV-0001", "amount": 1250, "due": "2026-01-15",
                               "vendor": "Müller & Söhne GmbH", "note": None}  # fmt: skip


def test_a_claim_without_an_answer_is_never_started_again(pm_stack: PmStack, table: Path) -> None:
    # A run that died between claiming INV-0002 and hearing back from ProcessMaker.
    with duckdb.connect(str(table)) as con:
        con.execute(
            "CREATE TABLE _started_requests (process_id BIGINT NOT NULL, idempotency_key TEXT "
            "NOT NULL, status TEXT NOT NULL, request_id BIGINT, claimed_at TIMESTAMPTZ NOT NULL "
            "DEFAULT now(), started_at TIMESTAMPTZ, PRIMARY KEY (process_id, idempotency_key))"
        )
        con.execute("INSERT INTO _started_requests VALUES (3, 'INV-0002', 'starting', NULL, "
                    "now(), NULL)")  # fmt: skip
    state = run(table)
    assert state.is_failed()
    with pytest.raises(StartRequestsFailed, match=r"1 of 3 payloads .*INV-0002.*outcome unknown"):
        state.result()
    assert pm_requests(pm_stack, pmql='data.invoice_no = "INV-0002"') == []
    assert ledger(table)["INV-0002"] == ("starting", None)


def test_a_refused_start_is_released_for_a_later_run(pm_stack: PmStack, table: Path) -> None:
    state = run(table, event="no_such_event")
    assert state.is_failed()
    assert ledger(table) == {}
    assert run(table).is_completed()
    assert set(ledger(table)) == {"INV-0001", "INV-0002", "INV-0003"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM invoices_to_approve", "give a SELECT"),
        ("SELECT amount FROM invoices_to_approve", "no column 'invoice_no'"),
        ("SELECT 'INV-1' AS invoice_no UNION ALL SELECT 'INV-1'", "'INV-1' appears twice"),
        ("SELECT NULL AS invoice_no", "row 1 has no invoice_no"),
    ],
)
def test_bad_rows_are_refused_in_one_line_before_anything_starts(
    pm_stack: PmStack, table: Path, query: str, message: str
) -> None:
    before = len(pm_requests(pm_stack, pmql="process_id = 3"))
    state = run(table, query=query)
    assert state.is_failed()
    with pytest.raises(ConfigurationError, match=message):
        state.result()
    assert len(pm_requests(pm_stack, pmql="process_id = 3")) == before
    with duckdb.connect(str(table), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM invoices_to_approve").fetchone() == (3,)


def test_payloads_and_rows_together_are_refused(pm_stack: PmStack, table: Path) -> None:
    from processmaker_prefect.flows.start_requests import RequestPayload

    rows = RequestRows(destination=f"duckdb:///{table}", query=QUERY, key_column="invoice_no")
    state = start_requests(3, payloads=[RequestPayload()], rows=rows, return_state=True)
    with pytest.raises(ConfigurationError, match="payloads or rows, not both"):
        state.result()


@pytest.mark.parametrize("answer", [True, False])
def test_confirm_pauses_plain_payloads_until_the_operator_answers(
    pm_stack: PmStack, answer: bool
) -> None:
    from processmaker_prefect.flows.start_requests import RequestPayload

    label = f"confirm-{answer}-{time.time_ns()}"
    payloads = [RequestPayload(label=label, data={"batch": label})]
    outcome: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            state=start_requests(3, payloads=payloads, confirm=True, return_state=True)
        )
    )
    runner.start()
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while True:
            paused = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
            )  # fmt: skip
            if paused:
                break
            assert time.monotonic() < deadline, "the run never paused"
            time.sleep(0.5)
        client.resume_flow_run(paused[0].id, run_input={"start": answer})
    runner.join(timeout=120)
    state = outcome["state"]
    assert state.is_completed()
    assert len(pm_requests(pm_stack, pmql=f'data.batch = "{label}"')) == (1 if answer else 0)
