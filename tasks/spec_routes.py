"""ProcessMaker's list routes, derived from its OpenAPI spec and shipped as ``routes.json``.

``tasks`` may not read ``sandbox/openapi.json`` at run time, so the routes a sync can read
are extracted once into ``tasks/routes.json``; ``tests/test_catalogue.py`` checks that the
file still matches the spec. To regenerate after updating the spec::

    python -m processmaker_prefect.spec_routes sandbox/openapi.json > tasks/routes.json
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["ROUTES_FILE", "RouteInfo", "load_routes", "routes_from_spec"]

ROUTES_FILE = Path(__file__).with_name("routes.json")
RouteInfo = dict[str, Any]
# Keys never worth a typed column (they stay in raw, or are dropped by the catalogue).
_SKIP = {"password", "remember_token", "value"}
# Typed "format: id" in the spec but strings in PM: BPMN node ids and morph class names
# (sandbox/drift.py lists the same drift).
_TEXT_IDS = {"callable_id", "element_id", "element_type", "process_task_id", "model_type"}
# Lists whose "id" is not an integer although the spec says "format: id": signal ids are
# BPMN names (SignalController builds its rows from the definitions, not a table).
_NOT_INTEGER_IDS = {"/signals"}


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _properties(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    node = _resolve(spec, node)
    found: dict[str, dict[str, Any]] = {}
    for part in node.get("allOf", []):
        found.update(_properties(spec, part))
    found.update(node.get("properties", {}))
    return found


def _kind(name: str, prop: dict[str, Any]) -> str | None:
    # The spec types ids as strings with format "id"; PM returns integers (sandbox/drift.py).
    if name in _TEXT_IDS:
        return "text"
    if prop.get("type") == "integer" or prop.get("format") == "id":
        return "bigint"
    if prop.get("type") == "string":
        return "timestamp" if prop.get("format") in {"date-time", "date"} else "text"
    return None


def routes_from_spec(spec: dict[str, Any]) -> dict[str, RouteInfo]:
    """Every parameterless GET list under /api/1.0 whose rows have an integer ``id``.

    Returns:
        route name (the path without its slash) -> ``path``, ``columns`` (``"id:bigint
        name:text ..."``), ``incremental`` (rows carry ``updated_at`` and the route takes
        ``order_by``) and ``show`` (``GET <path>/{id}`` exists).
    """
    paths: dict[str, Any] = spec["paths"]
    routes: dict[str, RouteInfo] = {}
    for path, operations in sorted(paths.items()):
        get = operations.get("get")
        if get is None or "{" in path or path in _NOT_INTEGER_IDS:
            continue
        body = get.get("responses", {}).get("200", {}).get("content", {})
        schema = _resolve(spec, body.get("application/json", {}).get("schema", {}))
        data = schema.get("properties", {}).get("data", {})
        if data.get("type") != "array":
            continue
        props = _properties(spec, data.get("items", {}))
        if "id" not in props or _kind("id", props["id"]) != "bigint":
            continue
        params = {_resolve(spec, p).get("name") for p in get.get("parameters", [])}
        kinds = {name: _kind(name, prop) for name, prop in props.items() if name not in _SKIP}
        columns = ["id:bigint"] + [
            f"{name}:{kind}" for name, kind in sorted(kinds.items()) if kind and name != "id"
        ]
        shows = [p for p in paths if p.startswith(f"{path}/{{") and p.count("/") == 2]
        routes[path.strip("/")] = {
            "path": path,
            "columns": " ".join(columns),
            "incremental": "updated_at" in props and "order_by" in params,
            "show": any("get" in paths[p] for p in shows),
        }
    return routes


@cache
def load_routes() -> dict[str, RouteInfo]:
    """The shipped route list (``tasks/routes.json``)."""
    routes: dict[str, RouteInfo] = json.loads(ROUTES_FILE.read_text())["routes"]
    return routes


if __name__ == "__main__":
    source = json.loads(Path(sys.argv[1]).read_text())
    generated = {"source": "ProcessMaker storage/api-docs/api-docs.json (see API-NOTES §4)",
                 "routes": routes_from_spec(source)}  # fmt: skip
    print(json.dumps(generated, indent=1, sort_keys=True))
