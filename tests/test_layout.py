"""The code's layout holds: no import circle in tasks/ or flows/ (the layer rules themselves
are import-linter's contracts in .importlinter, run by `make lint`)."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("tasks", "flows")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_no_import_circles(graph: grimp.ImportGraph) -> None:
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported == module or imported.split(".")[0] not in PACKAGES:
                continue
            # A package's __init__ re-exporting its own modules is not a circle of design.
            if imported.startswith(module + ".") or module.startswith(imported + "."):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.append(" -> ".join([module, *back]))
    assert circles == []


def test_a_circle_would_be_found() -> None:
    """The check above can fail: a graph with a planted circle reports it."""
    planted = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b"):
        planted.add_module(name)
    planted.add_import(importer="pkg.a", imported="pkg.b")
    planted.add_import(importer="pkg.b", imported="pkg.a")
    assert planted.find_shortest_chain(importer="pkg.b", imported="pkg.a") == ("pkg.b", "pkg.a")
