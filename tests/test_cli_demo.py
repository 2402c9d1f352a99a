"""``pm-prefect demo`` as a new user runs it: the home untouched, what it says, how to look inside.

The user's HOME holds a ``~/.vault-token`` of their own (the README recommends the file):
OpenBao's dev server would overwrite it with its root token unless told not to, and Prefect
would make ``~/.prefect``. After the demo the home holds exactly what it held before.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from processmaker_prefect.sandbox.config import SandboxConfig
from tests.fixtures.cli import cli_command, cli_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder under ``root``: size, mtime and content (folders: empty)."""
    found: dict[str, tuple[int, int, bytes]] = {}
    for path in root.rglob("*"):
        name = str(path.relative_to(root))
        if path.is_dir():
            found[name + "/"] = (0, 0, b"")
        else:
            found[name] = (path.stat().st_size, path.stat().st_mtime_ns, path.read_bytes())
    return found


def test_demo_leaves_the_home_untouched_and_ends_with_a_command_that_opens_the_file(
    tmp_path: Path,
) -> None:
    home, scratch, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    home.mkdir()
    scratch.mkdir()
    (home / ".vault-token").write_text("hvs.the-users-own-token-from-vault-login\n")
    before = snapshot(home)
    env = cli_env({"TMPDIR": str(scratch), "COLUMNS": "200"}, home)
    env.pop("PREFECT_HOME", None)
    done = subprocess.run(
        cli_command("demo", "--records", "300", "--workdir", str(work)),
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert snapshot(home) == before, "the demo wrote into HOME"
    assert not list(scratch.glob("pm-prefect-home-*")), "a private Prefect home was left"

    out = done.stdout
    config = SandboxConfig()
    for secret in (config.client_secret, config.password, config.pat):
        assert secret not in out + done.stderr
    assert re.search(r"ok Prefect temporary server started in \d+\.\ds", out), out
    assert re.search(r"ok first sync: [\d,]+ rows in \d+\.\ds", out)
    assert re.search(r"Prefect's start-up took \d+\.\ds; the syncs \d+\.\ds and \d+\.\ds", out)
    tables = set(re.findall(r"^│ (\w+)\s", out, flags=re.MULTILINE))
    assert {"requests", "tasks", "users", "processes", "groups", "_sync_state"} <= tables
    assert any(name.startswith("request_variables_") for name in tables), tables

    # The last line is the command that opens the file: it works as printed.
    last = out.strip().splitlines()[-1].strip()
    assert last.startswith("pm-prefect sql --destination ")
    args = shlex.split(last)[1:]
    query = subprocess.run(
        cli_command(*args), env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert re.search(r"COMPLETED\s+│\s+\d+", query.stdout), query.stdout
    assert os.path.exists(work / "processmaker.duckdb")
