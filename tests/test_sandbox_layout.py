"""sandbox/ has no import circle (issue 8: oauth <-> oauth_routes was one)."""

from __future__ import annotations

import grimp


def test_sandbox_has_no_import_circle() -> None:
    graph = grimp.build_graph("sandbox", cache_dir=None)
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported == module or imported.startswith(module + "."):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.append(" -> ".join([module, *back]))
    assert circles == []


def test_free_port_lives_in_net_and_devvault_stays_in_openbao() -> None:
    graph = grimp.build_graph("sandbox", cache_dir=None)
    assert graph.direct_import_exists(importer="sandbox.openbao", imported="sandbox.net")
    assert graph.direct_import_exists(importer="sandbox.postgres", imported="sandbox.net")
    assert not graph.direct_import_exists(importer="sandbox.postgres", imported="sandbox.openbao")
