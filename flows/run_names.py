"""Names of flow runs and task runs that say what they do, e.g. ``sync pm-prod -> warehouse``.

A name the operator typed in the run form (a ticket number, who ran it) is kept, with ours
appended: ``INC-4711 alice · sync pm-prod -> warehouse``. Names nobody typed are replaced:
the random one Prefect's run form proposes (``nu73-margulis-vector``) and the one the server
gives a run created without a name (``proud-sawfish``).
"""

from __future__ import annotations

import re
from typing import Any

from prefect.runtime import flow_run

__all__ = ["connection_label", "is_generated_name", "parameter", "run_name"]

SEPARATOR = " · "
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi|rho|"
    "sigma|tau|upsilon|phi|chi|psi|omega"
)
# The run form's proposal: a Greek letter, maybe a number, then one or two words.
_UI_NAME = re.compile(rf"^(?:{_GREEK})\d*(?:-[a-z]+){{1,2}}$")
# The server's name for a run created without one: coolname's adjective-animal slug.
_SERVER_NAME = re.compile(r"^[a-z]+-[a-z]+$")


def parameter(name: str) -> Any:
    """A parameter of the current flow run (validated: a block is a block), or None."""
    return flow_run.parameters.get(name)


def connection_label() -> str:
    """The run's ``connection``: the block's name, or "environment" when none is given."""
    value = parameter("connection")
    if value is None or value == "":
        return "environment"
    if isinstance(value, str):
        return value
    return str(getattr(value, "_block_document_name", None) or "unsaved block")


def is_generated_name(name: str) -> bool:
    """Whether ``name`` was made up by Prefect (form or server) rather than typed by a person."""
    return bool(_UI_NAME.match(name) or _SERVER_NAME.match(name))


def run_name(generated: str) -> str:
    """The run's name: ``generated``, after the name the operator gave the run if any."""
    current = (flow_run.name or "").strip()
    if not current or is_generated_name(current) or current == generated:
        return generated
    if current.endswith(SEPARATOR + generated):  # a retry of a run already renamed
        return current
    return f"{current}{SEPARATOR}{generated}"
