"""The resource catalogue: core resources, any list route of the spec by name, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processmaker_prefect.catalogue import REFUSED, RESOURCES, resource_for, spec_for
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.spec_routes import load_routes, routes_from_spec

SPEC = Path(__file__).parents[1] / "sandbox" / "openapi.json"


def test_shipped_routes_match_processmakers_spec() -> None:
    # Regenerate: python -m processmaker_prefect.spec_routes sandbox/openapi.json >tasks/routes.json
    assert load_routes() == routes_from_spec(json.loads(SPEC.read_text()))


def test_a_route_with_update_times_is_incremental_by_name() -> None:
    screens = resource_for("screens")
    assert (screens.path, screens.full_scan, screens.pmql_field) == ("/screens", False, None)
    assert {"id", "title", "updated_at", "raw", "_synced_at"} <= set(screens.spec.names)
    assert spec_for("screens") == screens.spec


def test_a_route_without_update_times_is_read_in_full() -> None:
    logs = resource_for("security-logs")
    assert (logs.name, logs.path, logs.full_scan, logs.takes_pmql) == (
        "security_logs", "/security-logs", True, False,
    )  # fmt: skip


def test_core_resources_keep_their_own_columns() -> None:
    assert resource_for("requests") is RESOURCES["requests"]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_routes_that_can_return_secrets_are_refused(name: str) -> None:
    assert name in load_routes()  # a real list route, refused on purpose
    with pytest.raises(ConfigurationError, match=rf"^Resource '{name}' is refused: .+"):
        resource_for(name)


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ConfigurationError, match=r"'proces_categories': did you mean "
                       r"process_categories, "):  # fmt: skip
        resource_for("proces_categories")
    with pytest.raises(ConfigurationError, match=r"'zzz': use a list route"):
        resource_for("zzz")


def test_spec_drift_keeps_bpmn_ids_as_text() -> None:
    kinds = dict(c.split(":") for c in load_routes()["task_assignments"]["columns"].split())
    assert kinds["process_task_id"] == "text"
    assert "signals" not in load_routes()  # signal ids are BPMN names, not integers


def test_a_filter_is_normalised_and_carried_in_the_query() -> None:
    filtered = resource_for("requests").with_filter("  process_id  = 5 ")
    assert filtered.filter == "process_id = 5"
    assert filtered.params == {"include": "data", "pmql": "process_id = 5"}
    assert resource_for("requests").with_filter(" ") is RESOURCES["requests"]
