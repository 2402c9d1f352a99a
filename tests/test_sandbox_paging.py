"""Paging through 100,000 seeded requests: every page's envelope, the order and the count."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 100_000
PER_PAGE = 1000  # PM caps nothing; a sync would choose a page this size


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0, records=RECORDS, seed=7)) as server:
        yield server


def test_pages_through_100k_requests_in_total_order(big_sandbox: SandboxServer) -> None:
    # Closed at the end: an open keep-alive connection holds up the sandbox's shutdown.
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {big_sandbox.config.pat}"
        url = f"{big_sandbox.url}/api/1.0/requests"
        last_page = RECORDS // PER_PAGE
        keys: list[tuple[str, int]] = []
        for page in range(1, last_page + 2):
            params = {"order_by": "updated_at", "per_page": PER_PAGE, "page": page}
            response = session.get(url, params=params, timeout=60)
            assert response.status_code == 200
            body = response.json()
            meta = body["meta"]
            count = PER_PAGE if page <= last_page else 0
            assert (meta["total"], meta["per_page"], meta["current_page"], meta["count"]) == (
                RECORDS, PER_PAGE, page, count,
            )  # fmt: skip
            assert meta["last_page"] == meta["total_pages"] == last_page
            assert (meta["from"], meta["to"]) == (
                ((page - 1) * PER_PAGE + 1, page * PER_PAGE) if count else (None, None)
            )
            assert [link["active"] for link in meta["links"]].count(True) == (1 if count else 0)
            keys.extend((row["updated_at"], row["id"]) for row in body["data"])
    assert keys == sorted(keys)
    assert len({key[1] for key in keys}) == RECORDS


def test_same_seed_gives_the_same_rows(big_sandbox: SandboxServer) -> None:
    with SandboxServer(SandboxConfig(port=0, records=RECORDS, seed=7)) as twin:
        pages = []
        for server in (big_sandbox, twin):
            response = requests.get(
                f"{server.url}/api/1.0/requests",
                params={"include": "data", "per_page": 50, "page": 777, "order_by": "id"},
                headers={"Authorization": f"Bearer {server.config.pat}"},
                timeout=60,
            )
            pages.append(response.json()["data"])
    assert pages[0] == pages[1]
