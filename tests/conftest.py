"""Shared pytest fixtures: each real server lives in its own module under tests/fixtures.

``make test`` runs the suite on two pytest-xdist workers (``-n 2``, ``--dist loadgroup``). Each
worker has its own session servers (OpenBao, sandbox, Prefect, PostgreSQL) on free ports and
its own ``PREFECT_HOME``; the hooks below keep every module on one worker (its module fixtures
start once), keep the modules that share the real ``prefect server start`` together, and hand
out the slow modules first so both workers finish at about the same time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before anything imports prefect, whose settings read PREFECT_HOME once: one home per worker,
# under the home the runner gave (two workers on one Prefect database lock each other out),
# or else under a temporary directory: the tests write nothing into the user's ~/.prefect.
if not os.environ.get("PREFECT_HOME"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="pm-tests-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    _home = Path(os.environ["PREFECT_HOME"]).expanduser() / _WORKER
    _home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(_home)

pytest_plugins = [
    "tests.fixtures.openbao",
    "tests.fixtures.sandbox",
    "tests.fixtures.prefect",
    "tests.fixtures.postgres",
    "tests.fixtures.stack",
    "tests.fixtures.vault_tls",
    "tests.fixtures.vault_agent",
    "tests.fixtures.prefect_server",
    "tests.fixtures.wheel",
]

# Fixtures that start one `prefect server start` per worker: their modules share a worker.
_PREFECT_SERVER_FIXTURES = {"prefect_api", "deployments"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests by module (or by the server they share) and put slow groups first."""
    groups: dict[pytest.Item, str] = {}
    modules_on_server = {
        item.path for item in items if _PREFECT_SERVER_FIXTURES & set(item.fixturenames)
    }
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            name = "prefect-server" if item.path in modules_on_server else item.path.stem
            item.add_marker(pytest.mark.xdist_group(name))
        marker = item.get_closest_marker("xdist_group")
        assert marker is not None
        groups[item] = str(marker.args[0] if marker.args else marker.kwargs.get("name"))
    slow = {groups[item] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: groups[item] not in slow)  # stable: module order kept
