"""A user's PMQL filter, checked to be one whole expression before it is AND-ed into a read.

A sync reads ``(<filter>) AND <window> AND <id range>``. A filter that closes a parenthesis it
did not open (``status = "ACTIVE") OR (id > 0``) would turn that into ``... OR (id > 0) AND
...`` and read rows outside it, so the filter is scanned as PMQL's lexer would (strings in
either quote with backslash escapes, parentheses, words, operators) and refused, in one line
naming the fault, unless its parentheses and quotes balance and it neither starts nor ends
with an operator. The server parses it for real; this only guarantees that whatever it
means stays inside its own parentheses.
"""

from __future__ import annotations

import re

from processmaker_prefect.errors import ConfigurationError

__all__ = ["hold_filter"]

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<open>\()|(?P<close>\))
    |(?P<quote>["'])|(?P<other>[^\s()"']+))""",
    re.VERBOSE | re.DOTALL,
)
_JOINERS = {"AND", "OR", "NOT"}


def hold_filter(pmql: str, resource: str) -> str:
    """``pmql`` (whitespace collapsed), once it is known to be one expression.

    Raises:
        ConfigurationError: unbalanced parentheses or quotes, an empty ``()``, or an
            ``AND``/``OR``/``NOT`` with nothing on one side.
    """
    text = " ".join(pmql.split())
    depth, position, words = 0, 0, []
    previous = ""
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        kind = match.lastgroup
        if kind == "quote":
            _refuse(resource, text, f"a {match.group(kind)} quote is never closed")
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                _refuse(resource, text, "a ) closes a parenthesis the filter did not open")
            if previous == "(":
                _refuse(resource, text, "() holds nothing")
        words.append(match.group(kind or "other").upper())
        previous = match.group(kind or "other")
    if depth > 0:
        _refuse(resource, text, "a ( is never closed")
    if words and (words[-1] in _JOINERS or words[0] in _JOINERS - {"NOT"}):
        _refuse(resource, text, f"{words[-1] if words[-1] in _JOINERS else words[0]} has "
                "nothing on one side")  # fmt: skip
    return text


def _refuse(resource: str, text: str, fault: str) -> None:
    shown = text if len(text) <= 80 else text[:77] + "..."
    raise ConfigurationError(
        f"Filter for {resource} is not one PMQL expression ({fault}): {shown!r}; fix it so "
        'that it reads on its own, e.g. status = "ACTIVE" AND process_id = 5'
    )
