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
    (
        "DELETE /requests/{id} 204 has no body",
        "ProcessRequestController@destroy returns response([], 204); a 204 carries no content, "
        "though the annotation names the processRequest schema",
    ),
    (
        "task_assignments.process_task_id and media.model_type are strings",
        "format: id, but process_task_id is a BPMN node id (string(36) column, e.g. 'node_2') "
        "and model_type a morph class name ('ProcessMaker\\Models\\ProcessRequest')",
    ),
    (
        "screens.screen_category_id is an integer",
        "typed string in the annotation; it is an unsignedInteger foreign key",
    ),
    (
        "media.manipulations and media.responsive_images may be arrays",
        "array-cast JSON columns: an empty PHP array encodes as [] (spatie medialibrary)",
    ),
    (
        "GET /environment_variables/{id} answers 200",
        "the annotation says 201, but show() returns a resource, which Laravel sends as 200",
    ),
    (
        "GET /comments exists (list of `comments`, paginated, per_page 100, 422 without "
        "commentable_id/commentable_type)",
        "CommentController@index is routed in routes/api.php but has no annotation; the spec "
        "only defines the `comments` schema",
    ),
    (
        "comments.up and comments.down are arrays",
        "typed integer in the annotation; Comment casts both to 'array' (who voted)",
    ),
    (
        "GET /requests/{request_id}/files has no meta",
        "ProcessRequestFileController@index wraps a plain Collection in ResourceCollection, "
        "which renders only {data}; the annotation promises metadata (not required, so valid)",
    ),
]

_STRING_IDS = {"callable_id", "element_id", "element_type", "process_task_id", "model_type"}
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
    _patch_admin(spec)
    return spec


def _patch_admin(spec: dict[str, Any]) -> None:
    """The drift of the administrative routes (DRIFT entries from "DELETE /requests")."""
    schemas, paths = spec["components"]["schemas"], spec["paths"]
    paths["/requests/{process_request_id}"]["delete"]["responses"]["204"].pop("content")
    schemas["screensEditable"]["properties"]["screen_category_id"]["type"] = "integer"
    for name in ("manipulations", "responsive_images"):
        schemas["mediaEditable"]["properties"][name] = {"nullable": True}
    show = paths["/environment_variables/{environment_variable_id}"]["get"]["responses"]
    show["200"] = copy.deepcopy(show.pop("201"))
    for name in ("up", "down"):
        schemas["commentsEditable"]["properties"][name] = {"type": "array", "items": {}}
    page = {"type": "array", "items": {"$ref": "#/components/schemas/comments"}}
    paths["/comments"] = {
        "get": {
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("commentable_id", "commentable_type", "type")
            ],
            "responses": {
                "200": {"description": "list of comments", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "data": page, "meta": {"$ref": "#/components/schemas/metadata"}}}}}},
                "422": {"$ref": "#/components/responses/422"},
            },
        }
    }  # fmt: skip
