"""PMQL, ProcessMaker's query language, compiled to a SQLite WHERE clause with bound parameters.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | "(" expr ")" | comparison
    comparison := field op literal
                | field ["NOT"] "LIKE" string
                | field ["NOT"] "IN" "(" literal ("," literal)* ")"
    op         := "=" | "!=" | "<>" | "<" | ">" | "<=" | ">="

Fields come from a per-resource allow-list; ``data.a.b`` reads JSON data. A syntax error raises
``PmqlError`` (PM: 400 "Your PMQL contains invalid syntax."); an unknown field or a value the
database could not compare raises ``PmqlQueryError`` (PM catches MySQL's QueryException: 400
"Your PMQL search could not be completed.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = ["Field", "PmqlError", "PmqlQueryError", "compile_pmql", "parse_instant"]

Kind = Literal["int", "str", "date", "json"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_DATA_PATH = re.compile(r"^data(\.[A-Za-z_][A-Za-z0-9_]*)+$", re.IGNORECASE)
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN"}


class PmqlError(ValueError):
    """The PMQL text is not valid PMQL."""


class PmqlQueryError(PmqlError):
    """Valid PMQL the database cannot run: an unknown field or an uncomparable value."""


@dataclass(frozen=True)
class Field:
    """A PMQL field: the SQL expression it reads and how literals are coerced for it."""

    sql: str
    kind: Kind


def parse_instant(text: str) -> int:
    """Parse a PMQL date literal ("2025-01-01 00:00:00", ISO 8601 with T/offset) to epoch seconds.

    Naive values are taken as UTC, the zone the sandbox stores and serves.
    """
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PmqlQueryError(f"not a date: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def compile_pmql(
    text: str, fields: dict[str, Field], data_sql: str | None = None
) -> tuple[str, list[object]]:
    """Compile PMQL to ``(where_sql, params)``.

    Args:
        text: the PMQL expression.
        fields: allowed field names (lower case) and their SQL.
        data_sql: SQL reading a JSON path bound as ``?`` (e.g. ``json_extract(data, ?)``), or
            None when the resource has no ``data.*`` fields.

    Raises:
        PmqlError: on a syntax error.
        PmqlQueryError: on an unknown field or a literal of the wrong type.
    """
    tokens = _tokenize(text)
    parser = _Parser(tokens, fields, data_sql)
    sql = parser.expr()
    if parser.pos != len(tokens):
        raise PmqlError(f"unexpected {tokens[parser.pos][1]!r}")
    return sql, parser.params


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos, text = 0, text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise PmqlError(f"unexpected character at {pos}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        elif kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    if not tokens:
        raise PmqlError("empty expression")
    return tokens


class _Parser:
    def __init__(
        self, tokens: list[tuple[str, str]], fields: dict[str, Field], data_sql: str | None
    ) -> None:
        self.tokens, self.fields, self.data_sql = tokens, fields, data_sql
        self.pos = 0
        self.params: list[object] = []

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def _take(self, kind: str, value: str | None = None) -> str:
        tok_kind, tok_value = self._peek()
        if tok_kind != kind or (value is not None and tok_value != value):
            raise PmqlError(f"expected {value or kind}, got {tok_value or 'end'!r}")
        self.pos += 1
        return tok_value

    def expr(self) -> str:
        parts = [self.and_expr()]
        while self._peek() == ("kw", "OR"):
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self._peek() == ("kw", "AND"):
            self.pos += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def unary(self) -> str:
        if self._peek() == ("kw", "NOT"):
            self.pos += 1
            return f"NOT {self.unary()}"
        if self._peek() == ("paren", "("):
            self.pos += 1
            inner = self.expr()
            self._take("paren", ")")
            return f"({inner})"
        return self.comparison()

    def comparison(self) -> str:
        field = self._field(self._take("word"))
        kind, value = self._peek()
        negate = ""
        if (kind, value) == ("kw", "NOT"):
            self.pos += 1
            negate = "NOT "
            kind, value = self._peek()
        if (kind, value) == ("kw", "LIKE"):
            self.pos += 1
            self.params.append(self._take("string"))
            return f"{field.sql} {negate}LIKE ?"
        if (kind, value) == ("kw", "IN"):
            self.pos += 1
            self._take("paren", "(")
            holders = [self._literal(field)]
            while self._peek() == ("paren", ","):
                self.pos += 1
                holders.append(self._literal(field))
            self._take("paren", ")")
            return f"{field.sql} {negate}IN ({', '.join(holders)})"
        if negate:
            raise PmqlError("NOT must precede LIKE or IN here")
        op = self._take("op")
        op = "!=" if op == "<>" else op
        return f"{field.sql} {op} {self._literal(field)}"

    def _field(self, name: str) -> Field:
        known = self.fields.get(name.lower())
        if known is not None:
            return known
        if self.data_sql is not None and _DATA_PATH.match(name):
            self.params.append("$" + name[4:])
            return Field(self.data_sql, "json")
        raise PmqlQueryError(f"unknown field {name!r}")

    def _literal(self, field: Field) -> str:
        kind, value = self._peek()
        if kind not in ("string", "number"):
            raise PmqlError(f"expected a value, got {value or 'end'!r}")
        self.pos += 1
        self.params.append(_coerce(field, kind, value))
        return "?"


def _coerce(field: Field, kind: str, value: str) -> object:
    if field.kind == "int":
        try:
            return int(value)
        except ValueError as exc:
            raise PmqlQueryError(f"not an integer: {value!r}") from exc
    if field.kind == "date":
        return parse_instant(value)
    if field.kind == "json" and kind == "number":
        return float(value) if "." in value else int(value)
    return value
