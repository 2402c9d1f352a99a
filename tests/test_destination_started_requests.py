"""StartedRequests on DuckDB and PostgreSQL: the operator's rows, and the claim ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from processmaker_prefect.destinations import Destination, StartedRequests, open_destination
from processmaker_prefect.errors import ConfigurationError, DestinationError


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.integration)])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Destination]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'rows.duckdb'}"
    else:
        base: str = request.getfixturevalue("postgres_url")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        url = f"{base.rsplit('/', 1)[0]}/{name}"
    with open_destination(url) as opened:
        opened._con.execute(  # type: ignore[attr-defined]
            "CREATE TABLE claims (claim_no TEXT, amount DECIMAL(10, 2), filed DATE, "
            "filed_at TIMESTAMP, ok BOOLEAN, note TEXT)"
        )
        opened._con.execute(  # type: ignore[attr-defined]
            "INSERT INTO claims VALUES ('C-1', 12.50, DATE '2026-03-01', "
            "TIMESTAMP '2026-03-01 09:30:00', TRUE, 'Zoë''s claim'), "
            "('C-2', 7, NULL, NULL, FALSE, NULL)"
        )
        yield opened


def test_rows_become_json_request_data_keyed_by_the_column(dest: Destination) -> None:
    ledger = StartedRequests(dest, process_id=3)
    rows = ledger.read_rows("SELECT * FROM claims ORDER BY claim_no", "claim_no")
    assert [row.key for row in rows] == ["C-1", "C-2"]
    assert rows[0].data == {"claim_no": "C-1", "amount": 12.5, "filed": "2026-03-01",
                            "filed_at": "2026-03-01T09:30:00", "ok": True,
                            "note": "Zoë's claim"}  # fmt: skip
    assert rows[1].data["amount"] == 7


def test_a_key_is_claimed_once_recorded_and_released_only_while_starting(
    dest: Destination,
) -> None:
    ledger = StartedRequests(dest, process_id=3)
    assert ledger.claim("C-1") is True
    assert ledger.claim("C-1") is False
    assert StartedRequests(dest, process_id=4).claim("C-1") is True  # per process
    ledger.record("C-1", 1017)
    ledger.release("C-1")  # a started key is never released
    assert ledger.claim("C-2") is True
    ledger.release("C-2")
    assert ledger.known() == {"C-1": ("started", 1017)}


def test_a_query_the_database_refuses_names_the_destination(dest: Destination) -> None:
    ledger = StartedRequests(dest, process_id=3)
    with pytest.raises(DestinationError, match="rows query"):
        ledger.read_rows("SELECT nope FROM claims", "nope")


def test_a_statement_other_than_a_select_is_refused_before_it_runs(dest: Destination) -> None:
    ledger = StartedRequests(dest, process_id=3)
    with pytest.raises(ConfigurationError, match="give a SELECT"):
        ledger.read_rows("DROP TABLE claims", "claim_no")
    assert len(ledger.read_rows("SELECT * FROM claims", "claim_no")) == 2
