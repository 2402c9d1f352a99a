"""A mkdocs hook: the settings reference, generated from the settings classes at build time.

A page asks for a table with a marker line, ``<!-- settings: VaultSettings -->``; the hook
replaces it with one row per field of that class in :mod:`processmaker_prefect.settings`
(environment variable, field, type, default, bounds, description), so the reference can never
drift from the code. An unknown class name fails the build.
"""

from __future__ import annotations

import re
import types
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from mkdocs.exceptions import PluginError
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from processmaker_prefect import settings as settings_module

MARKER = re.compile(r"^<!--\s*settings:\s*(\w+)\s*-->\s*$", re.MULTILINE)

# Bounds as pydantic keeps them (annotated_types), in the words the table uses.
BOUNDS: tuple[tuple[type[Any], str, str], ...] = (
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Lt, "lt", "< {}"),
    (annotated_types.Le, "le", "≤ {}"),
    (annotated_types.MinLen, "min_length", "length ≥ {}"),
    (annotated_types.MaxLen, "max_length", "length ≤ {}"),
)


def settings_class(name: str) -> type[BaseModel]:
    """The settings class ``name`` of :mod:`processmaker_prefect.settings`.

    Raises:
        PluginError: when the module has no settings class of that name.
    """
    found = getattr(settings_module, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise PluginError(f"<!-- settings: {name} -->: no settings class {name} in settings.py")
    return found


def type_text(annotation: Any) -> str:
    """A field's type as a reader of the environment sees it (``Literal`` as its choices)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        parts = [arg for arg in get_args(annotation) if arg is not type(None)]
        text = " \\| ".join(type_text(arg) for arg in parts)
        return text if len(parts) == len(get_args(annotation)) else f"{text} (optional)"
    if annotation is SecretStr:
        return "secret"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in the environment; *required* when there is none."""
    if field.is_required() or field.default is PydanticUndefined:
        return "**required**"
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def bounds_text(field: FieldInfo) -> str:
    """The field's bounds (``> 0, ≤ 300``), or a dash when it has none."""
    found = []
    for constraint in field.metadata:
        for kind, attribute, template in BOUNDS:
            if isinstance(constraint, kind):
                value = getattr(constraint, attribute)
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                found.append(template.format(value))
    return ", ".join(found) or "-"


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def settings_table(cls: type[BaseModel]) -> str:
    """The Markdown table of every field of ``cls``, in the order the class declares them."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    lines = [
        "| Environment variable | Field | Type | Default | Bounds | Description |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in cls.model_fields.items():
        lines.append(
            f"| `{prefix}{name.upper()}` | `{name}` | {type_text(field.annotation)} "
            f"| {default_text(field)} | {bounds_text(field)} | {cell(field.description or '')} |"
        )
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs event: replace each settings marker on a page with its generated table."""
    return MARKER.sub(lambda match: settings_table(settings_class(match.group(1))), markdown)
