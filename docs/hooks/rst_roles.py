"""A griffe extension: Sphinx cross-reference roles in docstrings read as code on the site.

The package's docstrings name other objects the Sphinx way (``:class:`TokenProvider```,
``:func:`~tasks.vault.session.translate```); mkdocstrings renders Markdown, where the role
would show as written. Each becomes a code span of the name it points at (its last part, for a
``~`` name), so the docstrings stay as they are in the code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:mod|class|meth|func|attr|exc|data|obj):`(~?)([^`]+)`")


def plain(text: str) -> str:
    """``text`` with each role replaced by a code span of its target."""
    return ROLE.sub(
        lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text
    )


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """griffe event: an object was loaded."""
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
