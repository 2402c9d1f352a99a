"""The wheel: one top-level package with its data, and it lives beside a user's own code.

The wheel (tests/fixtures/wheel.py) is installed with ``pip install --no-deps --target``; the
user's code runs with the venv's Python from a temporary directory, the wheel on PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

pytestmark = pytest.mark.slow


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    version = wheel.name.split("-")[1]
    assert tops == {"processmaker_prefect", f"processmaker_prefect-{version}.dist-info"}


@pytest.mark.parametrize(
    "path",
    [
        "processmaker_prefect/py.typed",
        "processmaker_prefect/routes.json",
        "processmaker_prefect/flows/sync.py",
        "processmaker_prefect/flows/automations.yaml",
        "processmaker_prefect/flows/prefect.yaml",
        "processmaker_prefect/sandbox/openapi.json",
        "processmaker_prefect/sandbox/server.py",
        "processmaker_prefect/prefect_layer/blocks.py",
    ],
)
def test_the_wheel_carries(wheel: Path, path: str) -> None:
    assert path in zipfile.ZipFile(wheel).namelist()


def test_the_packaged_prefect_yaml_is_the_repositorys(wheel: Path) -> None:
    """One source: the wheel's copy is the file at the repository's top, not a second one."""
    packaged = zipfile.ZipFile(wheel).read("processmaker_prefect/flows/prefect.yaml")
    assert packaged == (ROOT / "prefect.yaml").read_bytes()


def test_the_wheel_declares_the_entry_points_and_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = next(n.split("/")[0] for n in archive.namelist() if ".dist-info/" in n)
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
        assert f"{info}/licenses/LICENSE" in archive.namelist()
    assert "[prefect.collections]" in entry_points
    assert "processmaker_prefect = processmaker_prefect.prefect_layer.blocks" in entry_points
    assert "pm-prefect = processmaker_prefect.flows.cli:main" in entry_points
    assert "Provides-Extra: sandbox" in metadata
    # A worker's install carries no web server: the sandbox's stack is in its extra only.
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "starlette" in r and "extra ==" not in r]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([package, *relative]))
    assert found - listed == set(), "add these to [tool.setuptools] packages"


# The three layouts of issue 19 that broke when the wheel installed `tasks` and `flows`.
LAYOUTS = {
    "a tasks.py beside the flow": {
        "tasks.py": "def clean(name):\n    return name.strip().lower()\n",
        "my_flow.py": "import tasks\n",
        "check": "tasks.clean(' Users ') == 'users'",
    },
    "an own flows/ package": {
        "flows/__init__.py": "",
        "flows/nightly.py": "NAME = 'nightly'\n",
        "my_flow.py": "from flows.nightly import NAME\n",
        "check": "NAME == 'nightly'",
    },
    "a tasks/ folder without __init__.py": {
        "tasks/extract.py": "def rows():\n    return [1, 2, 3]\n",
        "my_flow.py": "from tasks.extract import rows\n",
        "check": "rows() == [1, 2, 3]",
    },
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_user_layout_works_beside_the_package(
    installed_wheel: Path, tmp_path: Path, layout: str
) -> None:
    files = dict(LAYOUTS[layout])
    check = files.pop("check")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with (tmp_path / "my_flow.py").open("a") as script:
        script.write(
            "import processmaker_prefect\n"
            "from processmaker_prefect.flows.sync import sync\n"
            "from processmaker_prefect.flows.healthcheck import healthcheck\n"
            f"assert {check}\n"
            "assert sync.name == 'processmaker-sync', sync.name\n"
            "print(processmaker_prefect.__file__)\n"
        )
    env = {
        **os.environ,
        "PYTHONPATH": str(installed_wheel),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    }
    done = subprocess.run(
        [PYTHON, "my_flow.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Ours came from the wheel, not from the checkout's editable install.
    assert done.stdout.strip().startswith(str(installed_wheel))


def test_the_version_has_one_source_and_costs_no_prefect_import() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run(
        [PYTHON, "-c", "import sys, processmaker_prefect as p; "
         "print(p.__version__, 'prefect' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == [version, "False"]


def test_the_lowest_versions_ci_tests_are_the_declared_lower_bounds() -> None:
    """.ci/run tests the lowest versions of .ci/lowest.txt: they must be pyproject's bounds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    lower = {}
    for requirement in declared:
        name, _, rest = requirement.partition(">=")
        lower[name.split("[")[0].strip()] = rest.split(",")[0].strip()
    pins = dict(
        line.split("==")
        for line in (ROOT / ".ci" / "lowest.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in ("prefect", "hvac", "duckdb", "psycopg"):
        assert pins[name] == lower[name], name
    for line in (ROOT / ".ci" / "unit-tests.txt").read_text().splitlines():
        assert line.startswith("#") or (ROOT / line).is_file(), line
