"""What Prefect's UI renders: the flows' parameter schemas and the block's form, checked as data.

The same schemas are read back from a real server in tests/test_deployments.py; here they are
built in-process, so a regression names the parameter without starting anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prefect import Flow
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate
from prefect.utilities.schema_tools.validation import validate

from processmaker_prefect import OFFERED_RESOURCES, RESOURCES, ProcessMakerConnection
from processmaker_prefect.flows.call_endpoint import call_endpoint
from processmaker_prefect.flows.healthcheck import healthcheck
from processmaker_prefect.flows.start_requests import start_requests
from processmaker_prefect.flows.sync import sync

FLOWS: list[Flow[Any, Any]] = [sync, start_requests, call_endpoint, healthcheck]


def null_toggles(schema: Any, where: str = "") -> list[str]:
    """Every place in a JSON schema that offers ``null`` next to another type."""
    found: list[str] = []
    if isinstance(schema, dict):
        options = schema.get("anyOf") or schema.get("oneOf") or []
        if any(isinstance(o, dict) and o.get("type") == "null" for o in options):
            found.append(where or "/")
        if isinstance(schema.get("type"), list) and "null" in schema["type"]:
            found.append(where or "/")
        for key, value in schema.items():
            found += null_toggles(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += null_toggles(value, f"{where}/{index}")
    return found


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_no_parameter_offers_a_none_toggle(flow: Flow[Any, Any]) -> None:
    assert null_toggles(parameter_schema(flow).model_dump()) == []


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_connection_is_a_block_picker_with_a_description(flow: Flow[Any, Any]) -> None:
    schema = parameter_schema(flow).model_dump()
    connection = schema["properties"]["connection"]
    assert connection["$ref"] == "#/definitions/ProcessMakerConnection"
    assert "environment" in connection["description"]
    block = schema["definitions"]["ProcessMakerConnection"]
    assert block["block_type_slug"] == "processmaker-connection"
    assert "url" in block["required"]  # what makes Prefect's picker validate


def test_resources_is_a_multi_select_of_the_catalogue() -> None:
    resources = parameter_schema(sync).model_dump()["properties"]["resources"]
    assert resources["type"] == "array"
    # Every resource a sync takes by name: the core ones (the default), then every other list
    # route of ProcessMaker's API.
    assert resources["items"]["enum"] == list(OFFERED_RESOURCES)
    assert resources["default"] == list(RESOURCES)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_parameter_is_described(flow: Flow[Any, Any]) -> None:
    properties = parameter_schema(flow).model_dump()["properties"]
    assert [name for name, p in properties.items() if not p.get("description")] == []


def test_the_pmql_example_is_valid_json_once_rendered_as_markdown() -> None:
    # The UI renders descriptions as Markdown, where \" outside a code span becomes a bare ".
    query = parameter_schema(call_endpoint).model_dump()["properties"]["query"]
    spans = re.findall(r"`([^`]+)`", query["description"])
    examples = [json.loads(span) for span in spans if span.startswith("{")]
    assert examples == [{"pmql": 'status = "ACTIVE"', "per_page": 5}]


# What Prefect's run form sends for a form nobody touched (captured from the UI in Chromium):
# each default as is, an object field as a JSON editor's value, an empty block picker as null.
def form_values(schema: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if "$ref" in prop:
            values[name] = None
        elif prop.get("type") == "object" and "default" in prop:
            values[name] = {"__prefect_kind": "json", "value": json.dumps(prop["default"])}
        elif "default" in prop:
            values[name] = prop["default"]
    return values


def server_check(values: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """What ``create_flow_run`` of a deployment enforcing its schema does: hydrate, validate."""
    hydrated = hydrate(values, HydrationContext(render_jinja=True))
    return [error.message for error in validate(hydrated, schema)]


@pytest.mark.parametrize("flow", [sync, healthcheck], ids=lambda f: f.name)
def test_an_untouched_form_passes_the_enforced_schema(flow: Flow[Any, Any]) -> None:
    schema = parameter_schema(flow).model_dump()
    assert server_check(form_values(schema), schema) == []


@pytest.mark.parametrize(
    ("flow", "required"), [(start_requests, "process_id"), (call_endpoint, "path")]
)
def test_an_untouched_form_is_refused_for_its_required_parameter(
    flow: Flow[Any, Any], required: str
) -> None:
    schema = parameter_schema(flow).model_dump()
    values = form_values(schema)
    assert server_check(values, schema) == [f"'{required}' is a required property"]
    values[required] = 3 if required == "process_id" else "/users"
    assert server_check(values, schema) == []


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_default_satisfies_the_schema(flow: Flow[Any, Any]) -> None:
    schema = parameter_schema(flow).model_dump()
    defaults = {k: p["default"] for k, p in schema["properties"].items() if "default" in p}
    assert [e.message for e in validate(defaults, schema, ignore_required=True)] == []


@pytest.mark.parametrize(
    "connection",
    [
        None,
        "pm-prod",  # a block's name, from the API or a schedule's parameters
        {"$ref": {"block_document_id": "0b7f3c1e-5d2a-4f6b-9c8d-1e2f3a4b5c6d"}},  # the picker
        {"$ref": {"block_document_slug": "processmaker-connection/pm-prod"}},  # automations
    ],
)
def test_the_connection_takes_an_empty_picker_a_name_or_a_block_reference(
    connection: Any,
) -> None:
    schema = parameter_schema(healthcheck).model_dump()
    assert server_check({"connection": connection}, schema) == []


def test_a_wrong_type_is_still_refused() -> None:
    schema = parameter_schema(sync).model_dump()
    errors = server_check({"filters": {"requests": 5}, "full_refresh": "yes"}, schema)
    assert sorted(errors) == ["'yes' is not of type 'boolean'", "5 is not of type 'string'"]


def test_the_block_form_describes_every_field_and_masks_secrets() -> None:
    schema = ProcessMakerConnection.model_json_schema()
    properties = schema["properties"]
    assert schema["required"] == ["url"]
    assert null_toggles(schema) == []
    assert [name for name, p in properties.items() if not p.get("description")] == []
    assert "Empty: the worker's VAULT_ADDR" in properties["vault_addr"]["description"]
    assert properties["verify_tls"]["default"] is True  # ON, as verification is
    for secret in ("vault_token", "vault_secret_id"):
        assert properties[secret]["format"] == "password"
    titles = [p["title"] for p in properties.values()]
    assert "Verify Tls" not in titles
    assert "Verify TLS certificate" in titles


def test_the_block_page_shows_how_to_use_a_block() -> None:
    example = ProcessMakerConnection.get_code_example() or ""
    assert 'ProcessMakerConnection.load("BLOCK_NAME")' in example
    assert ".save(" not in example


def test_the_picker_refuses_a_lookup_that_is_no_table() -> None:
    schema = parameter_schema(sync).model_dump()
    assert "users_task_count" not in schema["properties"]["resources"]["items"]["enum"]
    errors = server_check({"resources": ["users", "users_task_count"]}, schema)
    assert errors == ["'users_task_count' is not one of " + repr(list(OFFERED_RESOURCES))]


def test_the_picker_says_what_is_synced_when_untouched_and_where_records_are() -> None:
    properties = parameter_schema(sync).model_dump()["properties"]
    described = " ".join(properties["resources"]["description"].split())
    assert "requests, tasks, users, processes and groups (the default)" in described
    assert "`collection_records`" in described
    assert "collections" not in properties  # the ids of collections whose records to sync
    assert properties["collection_records"]["items"] == {"type": "integer"}
