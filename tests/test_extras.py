"""Extras that fit the use: a command whose extra is missing says which, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PM_PREFECT = Path(sys.executable).parent / "pm-prefect"

# Loaded by Python at start (site), before the CLI: it makes the named modules uninstalled, as
# in a plain `pip install processmaker-prefect` without the extra.
BLOCKER = """
import sys

class _Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {MISSING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _Uninstalled())
"""


def run_without(tmp_path: Path, missing: set[str], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(MISSING=missing))
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PATH": "/usr/bin:/bin",  # no `bao` from the venv's bin on PATH either
    }
    return subprocess.run(
        [str(PM_PREFECT), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_a_command_without_the_sandbox_extra_names_it(tmp_path: Path, command: str) -> None:
    done = run_without(tmp_path, {"starlette", "uvicorn"}, command)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error pm-prefect {command} needs the sandbox extra: "
        "pip install 'processmaker-prefect[sandbox]'"
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The check above can fail: with the blocker, the sandbox's web stack does not import."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(MISSING={"starlette"}))
    done = subprocess.run(
        [sys.executable, "-c", "import starlette"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'starlette'" in done.stderr


def test_an_error_that_is_no_missing_extra_is_not_dressed_as_one(tmp_path: Path) -> None:
    """A missing module no extra brings stays a traceback (a bug to report, not to install)."""
    done = run_without(tmp_path, {"rich"}, "doctor")
    assert done.returncode == 1
    assert "No module named 'rich'" in done.stderr
    assert "extra" not in done.stderr
