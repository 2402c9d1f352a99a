"""Lay the installed package out as files, for the tools that read files instead of importing.

The repository keeps ``tasks/``, ``flows/`` and ``sandbox/`` at its top; the wheel (and the
editable install) maps them to ``processmaker_prefect``, ``processmaker_prefect.flows`` and
``processmaker_prefect.sandbox`` (``[tool.setuptools] package-dir`` in pyproject.toml, the one
source of that mapping). mypy, import-linter and grimp find modules by walking folders, so
they are pointed at a copy laid out as installed: ``python .ci/lint_tree.py build/lint``.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dirs() -> dict[str, str]:
    """The package -> folder mapping of pyproject.toml, parents first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return dict(sorted(mapping.items(), key=lambda item: item[0].count(".")))


def build(out: Path) -> Path:
    """Copy each mapped folder to where its package sits when installed; return ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in package_dirs().items():
        target = out.joinpath(*package.split("."))
        shutil.copytree(ROOT / folder, target, ignore=ignore, dirs_exist_ok=True)
    return out


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "lint"))
