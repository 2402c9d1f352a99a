"""How our parameters and block fields look in Prefect's forms: optional without a None toggle.

Prefect's UI renders the JSON schema of a flow parameter or block field. An ``X | None`` field
becomes ``anyOf: [X, null]``, which the UI shows as an "X | None" switch and a "Property is
type None" box. For a field whose empty value simply means "the default", the plain ``X``
schema is what an operator should see: an empty input leaves the field unset.

Deployments enforce their parameter schema (Prefect checks a run's parameters against it before
the run exists), so what the form sends for an untouched field must pass: the flows give their
optional object and list parameters empty defaults (``{}``, ``()``) rather than ``None``, and
an empty block picker, which the form sends as ``null``, passes because the block's definition
in a flow's schema names no JSON type (its ``properties`` and ``required`` apply to an object
only). A block's name given through the API passes the same way; the flow then loads it, or
says which blocks exist.
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["HIDE_NONE", "NONE_IS_EMPTY", "HideNone"]


class HideNone:
    """``Annotated[X | None, HIDE_NONE]``: validates as ``X | None``, shows as plain ``X``."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = dict(handler(core_schema))
        options = schema.pop("anyOf", None)
        if options is None:
            return schema
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) != 1:  # a real union: leave it to the UI
            return {**schema, "anyOf": options}
        if "$ref" in kept[0]:
            # A block picker: null (nothing picked) or a name must pass Prefect's check.
            handler.resolve_ref_schema(kept[0]).pop("type", None)
        return {**schema, **kept[0]}

    def __repr__(self) -> str:
        return "HIDE_NONE"


HIDE_NONE = HideNone()


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


#: ``Annotated[dict[...], NONE_IS_EMPTY] = {}``: an object parameter whose default satisfies
#: the schema; ``None`` from Python code or an old schedule still means "empty".
NONE_IS_EMPTY = BeforeValidator(_none_is_empty)
