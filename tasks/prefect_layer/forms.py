"""How our parameters and block fields look in Prefect's forms: optional without a None toggle.

Prefect's UI renders the JSON schema of a flow parameter or block field. An ``X | None`` field
becomes ``anyOf: [X, null]``, which the UI shows as an "X | None" switch and a "Property is
type None" box. For a field whose empty value simply means "the default", the plain ``X``
schema is what an operator should see: an empty input leaves the field unset.
"""

from __future__ import annotations

from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["HIDE_NONE", "HideNone"]


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
        return {**schema, **kept[0]}

    def __repr__(self) -> str:
        return "HIDE_NONE"


HIDE_NONE = HideNone()
