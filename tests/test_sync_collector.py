"""The garbage collector's thresholds while syncs run (tasks/sync/collector.py): raised for
as long as any sync runs in the process, and given back exactly afterwards."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processmaker_prefect.catalogue import resource_for
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.destinations.duckdb import DuckDBDestination
from processmaker_prefect.sandbox.server import SandboxServer
from processmaker_prefect.sync import ResourceSync
from processmaker_prefect.sync.collector import SYNC_THRESHOLDS, bulk_collection
from tests.fixtures.sandbox import client_for

OWN = (1234, 5, 6)  # what the process had set before: it must get exactly this back


@pytest.fixture(autouse=True)
def own_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*OWN)
    yield
    gc.set_threshold(*before)


def test_a_sync_writes_with_the_raised_thresholds_and_gives_them_back(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []
    real = DuckDBDestination.write_batch

    def write_batch(self: DuckDBDestination, *args: Any, **kwargs: Any) -> int:
        seen.append(gc.get_threshold())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBDestination, "write_batch", write_batch)
    with (
        client_for(sandbox) as client,
        open_destination(f"duckdb:///{tmp_path / 'gc.duckdb'}") as dest,
    ):
        result = ResourceSync(client, dest, resource_for("users"), per_page=50, lag=0).run()
    assert result.rows > 0
    assert seen
    assert set(seen) == {SYNC_THRESHOLDS}
    assert gc.get_threshold() == OWN


def test_syncs_side_by_side_share_the_setting_until_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with bulk_collection():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with bulk_collection():
            second_in.set()
            first_out.wait(5)
            during["after the first ended"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert during == {"after the first ended": SYNC_THRESHOLDS}
    assert gc.get_threshold() == OWN


def _failing_sync() -> None:
    with bulk_collection():
        assert gc.get_threshold() == SYNC_THRESHOLDS
        raise RuntimeError("the sync failed")


def test_a_sync_that_fails_gives_the_thresholds_back() -> None:
    with pytest.raises(RuntimeError, match="the sync failed"):
        _failing_sync()
    assert gc.get_threshold() == OWN
    with bulk_collection():  # and the next one raises them again
        assert gc.get_threshold() == SYNC_THRESHOLDS
    assert gc.get_threshold() == OWN
