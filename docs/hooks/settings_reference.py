"""A mkdocs hook: the settings reference, generated from the settings classes at build time.

A page asks for a table with a marker line, ``<!-- settings: VaultSettings -->``; the hook
replaces it with one row per field of that class in :mod:`processmaker_prefect.settings`
(environment variable, field, type, default, bounds, description), so the reference can never
drift from the code. ``<!-- block: ProcessMakerConnection -->`` does the same for a block of
:mod:`processmaker_prefect.prefect_layer.blocks` (field, title in the UI, default,
description). An unknown class name fails the build.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import types
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from mkdocs.exceptions import PluginError
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from processmaker_prefect import settings as settings_module

# Only the marker line: the blank line after it must stay, or the table swallows what follows.
MARKER = re.compile(r"^<!--[ \t]*(settings|block):[ \t]*(\w+)[ \t]*-->[ \t]*$", re.MULTILINE)

# Bounds as pydantic keeps them (annotated_types), in the words the table uses.
BOUNDS: tuple[tuple[type[Any], str, str], ...] = (
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Lt, "lt", "< {}"),
    (annotated_types.Le, "le", "≤ {}"),
    (annotated_types.MinLen, "min_length", "length ≥ {}"),
    (annotated_types.MaxLen, "max_length", "length ≤ {}"),
)


def settings_class(name: str, kind: str = "settings") -> type[BaseModel]:
    """The settings class ``name`` of :mod:`processmaker_prefect.settings`, or the block
    class of :mod:`processmaker_prefect.prefect_layer.blocks` when ``kind`` is ``block``.

    Raises:
        PluginError: when the module has no such class.
    """
    base: type[BaseModel]
    if kind == "block":
        # Imported only when a page asks: they load Prefect, which makes its home on import.
        _keep_prefect_out_of_home()
        from prefect.blocks.core import Block

        from processmaker_prefect.prefect_layer import blocks

        module, where, base = blocks, "prefect_layer/blocks.py", Block
    else:
        module, where, base = settings_module, "settings.py", BaseSettings
    found = getattr(module, name, None)
    if not (isinstance(found, type) and issubclass(found, base)):
        raise PluginError(f"<!-- {kind}: {name} -->: no {kind} class {name} in {where}")
    return found


def _keep_prefect_out_of_home() -> None:
    """Give Prefect a home of its own for this build, unless one was chosen: importing it
    creates ``~/.prefect``, and building the docs must not write into the user's home."""
    if "PREFECT_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="docs-prefect-home-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["PREFECT_HOME"] = home


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
    """The Markdown table of every field of ``cls``, in the order the class declares them.

    Three columns, so that it reads on a laptop: the variable (with the field's name under it),
    the default, and the description (with the type and bounds under it).
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    lines = ["| Variable | Default | Description |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        lines.append(
            f"| `{prefix}{name.upper()}`<br><small>field `{name}`</small> | {default_text(field)} "
            f"| {cell(field.description or '')}<br><small>{_about(field)}</small> |"
        )
    return "\n".join(lines)


def block_table(cls: type[BaseModel]) -> str:
    """The Markdown table of a block's fields: name (title in the UI under it), default,
    description (type and bounds under it)."""
    lines = ["| Field | Default | Description |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        lines.append(
            f"| `{name}`<br><small>{cell(field.title or '')}</small> | {default_text(field)} "
            f"| {cell(field.description or '')}<br><small>{_about(field)}</small> |"
        )
    return "\n".join(lines)


def _about(field: FieldInfo) -> str:
    kind, bounds = type_text(field.annotation), bounds_text(field)
    return kind if bounds == "-" else f"{kind}; {bounds}"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs event: replace each marker on a page with its generated table."""

    def table(match: re.Match[str]) -> str:
        kind, name = match.groups()
        cls = settings_class(name, kind)
        return block_table(cls) if kind == "block" else settings_table(cls)

    return MARKER.sub(table, markdown)
