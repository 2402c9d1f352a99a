"""What a 2xx body must be, and one line for each way it is not what ProcessMaker sends.

Three bad bodies reach API clients in practice: an HTML page with status 200 (an SSO proxy's
login page, a captive portal), a JSON document cut off in transit (a proxy's buffer limit, a
worker killed mid-answer), and JSON that is not the list envelope (a wrong route, or not
ProcessMaker at all). Only the cut-off body is worth reading again, so only it raises a
retriable error; the others say what came back and what to fix.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import requests

from processmaker_prefect.errors import IncompleteResponseError, MalformedResponseError

__all__ = ["json_body", "list_envelope"]

# 20 digits in a row: maybe an integer of 2**64 or more, which orjson reads as a float.
_HUGE_INT = re.compile(rb"\d{20}")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# What may be left where a cut-off document stops parsing: part of a literal or a number.
_PARTIAL_TOKEN = re.compile(r"t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?|[-+\d.eE]*")


def json_body(response: requests.Response, method: str, path: str) -> Any:
    """The parsed JSON of a 2xx ``response`` (``None`` if empty), or the error for its body.

    Raises:
        IncompleteResponseError: JSON that breaks off (retriable).
        MalformedResponseError: HTML or anything else that is not JSON.
    """
    if not response.content:
        return None
    try:
        # orjson: a page of 500 requests parses several times faster than with json. It
        # reads an integer of 2**64 or more as a float: the standard parser keeps it exact.
        if not _HUGE_INT.search(response.content):
            return orjson.loads(response.content)
    except ValueError:
        pass  # the standard parser decides what orjson refuses (NaN, other encodings...)
    try:
        return response.json()
    except ValueError as exc:
        error = exc
    where = f"{method} {path} -> {response.status_code}"
    kwargs: dict[str, Any] = {"status_code": response.status_code, "method": method, "path": path}
    content = response.content
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if _breaks_off(error):
        raise IncompleteResponseError(
            f"{where}: the JSON body ({kind}) breaks off after {len(content)} bytes; "
            "a proxy or the connection cut it, try again later",
            **kwargs,
        )
    if "html" in kind or content.lstrip()[:1] == b"<":
        raise MalformedResponseError(
            f"{where}: an HTML page{_title(content)} where JSON belongs; a proxy or single "
            "sign-on answers for ProcessMaker: set PROCESSMAKER_URL to an address that "
            "reaches its API directly",
            **kwargs,
        )
    raise MalformedResponseError(
        f"{where}: the body is not JSON ({kind}, {len(content)} bytes); check that "
        "PROCESSMAKER_URL is ProcessMaker",
        **kwargs,
    )


def _breaks_off(error: ValueError) -> bool:
    """Whether the parser ran out of input (a cut-off document), not into a wrong character."""
    if not isinstance(error, json.JSONDecodeError):
        return False
    rest = error.doc[error.pos :].strip()
    return error.msg.startswith("Unterminated string") or bool(_PARTIAL_TOKEN.fullmatch(rest))


def _title(content: bytes) -> str:
    """`` ("Sign in")``: the page's title, one line, short; empty without one."""
    found = _TITLE.search(content[:8192])
    if not found:
        return ""
    title = " ".join(found.group(1).decode("utf-8", "replace").split())
    return f' ("{title[:57]}...")' if len(title) > 60 else f' ("{title}")' if title else ""


def list_envelope(body: Any, method: str, path: str) -> dict[str, Any]:
    """``body`` if it is ProcessMaker's list envelope ``{"data": [{...}], "meta": {...}}``.

    Raises:
        MalformedResponseError: naming what is missing and which keys came instead.
    """
    problem = _envelope_problem(body)
    if problem is None:
        return body  # type: ignore[no-any-return]
    raise MalformedResponseError(
        f"{method} {path} -> 200: not ProcessMaker's list envelope: {problem}; check that "
        "the path names a list route and PROCESSMAKER_URL is ProcessMaker",
        status_code=200,
        method=method,
        path=path,
    )


def _envelope_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return f"a JSON {_json_type(body)} instead of an object"
    keys = sorted(str(key) for key in body)
    shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") or "none"
    data = body.get("data")
    if not isinstance(data, list):
        got = "missing" if "data" not in body else f"a {_json_type(data)}"
        return f'"data" is {got}, not a list (keys: {shown})'
    if not isinstance(body.get("meta"), dict):
        got = "missing" if "meta" not in body else f"a {_json_type(body['meta'])}"
        return f'"meta" is {got}, not an object (keys: {shown})'
    if not all(isinstance(row, dict) for row in data):
        return '"data" holds rows that are not objects'
    return None


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
