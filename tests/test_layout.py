"""The code's layout holds: no import circle in the package (the layer rules themselves are
import-linter's contracts in .importlinter, run by `make lint`).

grimp reads files, so it reads the package as installed: a copy laid out by
.ci/lint_tree.py (the repository's tasks/, flows/ and sandbox/ under one name).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "processmaker_prefect"


def _lint_tree() -> object:
    spec = importlib.util.spec_from_file_location("lint_tree", ROOT / ".ci" / "lint_tree.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> grimp.ImportGraph:
    tree = _lint_tree().build(tmp_path_factory.mktemp("installed"))  # type: ignore[attr-defined]
    # grimp finds a package through the import system: see the copy, not the editable install.
    saved = {name: module for name, module in sys.modules.items() if name.startswith(PACKAGE)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(tree))
    try:
        return grimp.build_graph(PACKAGE, cache_dir=None)
    finally:
        sys.path.remove(str(tree))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]
        sys.modules.update(saved)


def circles(graph: grimp.ImportGraph, under: str) -> list[str]:
    found = []
    for module in sorted(m for m in graph.modules if m == under or m.startswith(under + ".")):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported == module or not imported.startswith(under):
                continue
            # A package's __init__ re-exporting its own modules is not a circle of design.
            if imported.startswith(module + ".") or module.startswith(imported + "."):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                found.append(" -> ".join([module, *back]))
    return found


def test_the_copy_holds_every_folder(graph: grimp.ImportGraph) -> None:
    for module in ("processmaker_prefect.flows.sync", "processmaker_prefect.sandbox.server"):
        assert module in graph.modules
    assert "processmaker_prefect.prefect_layer.blocks" in graph.modules


def test_no_import_circles(graph: grimp.ImportGraph) -> None:
    assert circles(graph, PACKAGE) == []


def test_sandbox_has_no_import_circle(graph: grimp.ImportGraph) -> None:
    assert circles(graph, f"{PACKAGE}.sandbox") == []


def test_free_port_lives_in_net_and_devvault_stays_in_openbao(graph: grimp.ImportGraph) -> None:
    sandbox = f"{PACKAGE}.sandbox"
    assert graph.direct_import_exists(importer=f"{sandbox}.openbao", imported=f"{sandbox}.net")
    assert graph.direct_import_exists(importer=f"{sandbox}.postgres", imported=f"{sandbox}.net")
    assert not graph.direct_import_exists(
        importer=f"{sandbox}.postgres", imported=f"{sandbox}.openbao"
    )


def test_a_circle_would_be_found() -> None:
    """The check above can fail: a graph with a planted circle reports it."""
    planted = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b"):
        planted.add_module(name)
    planted.add_import(importer="pkg.a", imported="pkg.b")
    planted.add_import(importer="pkg.b", imported="pkg.a")
    assert circles(planted, "pkg") == ["pkg.a -> pkg.b -> pkg.a", "pkg.b -> pkg.a -> pkg.b"]
