"""Where ProcessMaker's code (which the sandbox follows) differs from its own OpenAPI spec.

The one list of documented drift: ``patched_spec()`` applies each entry to a copy of
``openapi.json`` so responses can be validated strictly against "the spec as PM really
behaves". Each entry says why. Nothing here changes what the sandbox serves.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

__all__ = ["DRIFT", "patched_spec"]

# (what, why) — human-readable; the code below applies them in the same order.
DRIFT: list[tuple[str, str]] = [
    (
        "every schema property is nullable",
        "l5-swagger never emits `nullable`; PM serialises unset columns (completed_at, "
        "deleted_at, manager_id, ...) as null",
    ),
    (
        "`format: id` properties are integers (except callable_id, element_id, element_type)",
        "the annotations type ids as strings, but they are integer primary/foreign keys and "
        "Laravel returns them as JSON numbers; element ids are BPMN node ids like 'node_2'",
    ),
    (
        "processRequestToken.element_index is an integer",
        "it is an integer column (process_request_tokens.element_index)",
    ),
    (
        "ProcessStartEvents.eventDefinitions/outgoing/incoming are arrays",
        "Process::getStartEvents builds PHP lists, which JSON-encode as arrays",
    ),
    (
        "metadata.sort_order has no enum",
        "ApiCollection echoes the order_direction input, '' when absent (API-NOTES §2)",
    ),
    (
        "POST /process_events/{process_id} answers 201",
        "ProcessController@triggerStartEvent returns 201; tests assert it (API-NOTES §4)",
    ),
    (
        "PATCH /collections/{id}/records/{record_id} 200 returns the record",
        "the spec documents no body and the collectionsEditable request schema",
    ),
]

_STRING_IDS = {"callable_id", "element_id", "element_type"}
# PM's storage/api-docs/api-docs.json at 495ac825 (API-NOTES §4), copied unchanged.
SPEC_PATH = Path(__file__).with_name("openapi.json")


def _walk_schemas(node: Any) -> None:
    """Apply the per-property drift to every schema below ``node``."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, prop in props.items():
                if not isinstance(prop, dict) or "$ref" in prop:
                    continue
                prop["nullable"] = True
                if prop.get("format") == "id" and name not in _STRING_IDS:
                    prop["type"] = "integer"
                    del prop["format"]
        for value in node.values():
            _walk_schemas(value)
    elif isinstance(node, list):
        for value in node:
            _walk_schemas(value)


def patched_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """``openapi.json`` with every ``DRIFT`` entry applied."""
    spec: dict[str, Any] = json.loads(path.read_text())
    schemas = spec["components"]["schemas"]
    _walk_schemas(spec)
    for schema in schemas["processRequestToken"]["allOf"][1:]:
        schema["properties"]["element_index"]["type"] = "integer"
    for name in ("eventDefinitions", "outgoing", "incoming"):
        schemas["ProcessStartEvents"]["properties"][name] = {"type": "array", "items": {}}
    schemas["metadata"]["properties"]["sort_order"].pop("enum")
    for schema in schemas["taskMetadata"]["allOf"][1:]:
        schema["properties"]["sort_order"].pop("enum")
    start = spec["paths"]["/process_events/{process_id}"]["post"]["responses"]
    start["201"] = copy.deepcopy(start.pop("200"))
    patch = spec["paths"]["/collections/{collection_id}/records/{record_id}"]["patch"]
    patch["responses"]["200"]["content"] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/records"}}
    }
    patch["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/recordsEditable"
    }
    return spec
