"""A small evaluator for the subset of KQL that infra/queries/*.kql use, over Python rows.

Azure Monitor runs those files as the alert rules' queries; the tests run the very same text here over
rows built from the envelopes a real run sent through the Azure Monitor exporter
(tests/ops/ingestion.py), so "this rule fires on a run with dead-letters and stays quiet on a clean
one" is checked against the query that is deployed, not against a Python paraphrase of it.

Supported (anything else raises ``KqlError``, so a query that grows beyond the subset fails loudly):
a table name (``traces``, ``AppTraces``: whichever the caller passes rows for); ``where``,
``summarize ... [by name = expr]``, ``extend name = expr``, ``top N by col [desc|asc]``,
``project a, b``; expressions with ``or``, ``and``, ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
``has``, ``startswith``, ``+ - * /``, numbers, ``"strings"``, timespans (``15m``), a dotted name that reads a bag
column (``customDimensions.td_code`` in ``traces``, ``Properties.td_code`` in ``AppTraces``), and the
functions ``tostring``, ``toint``, ``todouble``, ``isnotempty``, ``isempty``, ``ago``, ``count``,
``countif``, ``sum``, ``sumif``.  Semantics follow KQL where it matters here: a missing custom
dimension is null, ``tostring(null)`` is ``""``, ``toint`` of a non-number is null, comparisons with
null are false, ``sum`` skips nulls, ``has`` matches a whole term and ``startswith`` a prefix, both
case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Row = dict[str, Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<timespan>\d+(?:\.\d+)?(?:d|h|m|s|ms)\b)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>==|!=|<=|>=|[<>()+\-*/,=|])
    )""",
    re.VERBOSE,
)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}


class KqlError(ValueError):
    pass


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    text = "\n".join(line.split("//", 1)[0] if not line.lstrip().startswith("//") else "" for line in text.splitlines())
    out: list[_Tok] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise KqlError(f"cannot read {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        out.append(_Tok(kind, match.group(kind)))
        position = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[_Tok], now: datetime) -> None:
        self.t = tokens
        self.i = 0
        self.now = now

    def peek(self, text: str | None = None) -> bool:
        return self.i < len(self.t) and (text is None or self.t[self.i].text == text)

    def take(self, text: str | None = None) -> _Tok:
        if not self.peek(text):
            found = self.t[self.i].text if self.i < len(self.t) else "end of query"
            raise KqlError(f"expected {text or 'a token'}, found {found!r}")
        token = self.t[self.i]
        self.i += 1
        return token

    # -- expressions: each returns a function of a row -----------------------------------------------

    def expr(self) -> Callable[[Row], Any]:
        left = self.conj()
        while self.peek("or"):
            self.take()
            a, b = left, self.conj()
            left = lambda r, a=a, b=b: bool(a(r)) or bool(b(r))  # noqa: E731
        return left

    def conj(self) -> Callable[[Row], Any]:
        left = self.comparison()
        while self.peek("and"):
            self.take()
            a, b = left, self.comparison()
            left = lambda r, a=a, b=b: bool(a(r)) and bool(b(r))  # noqa: E731
        return left

    def comparison(self) -> Callable[[Row], Any]:
        left = self.sum()
        for op in ("==", "!=", "<=", ">=", "<", ">", "has", "startswith"):
            if self.peek(op):
                self.take()
                right = self.sum()
                return lambda r, a=left, b=right, op=op: _compare(op, a(r), b(r))
        return left

    def sum(self) -> Callable[[Row], Any]:
        left = self.product()
        while self.peek("+") or self.peek("-"):
            op = self.take().text
            a, b = left, self.product()
            left = lambda r, a=a, b=b, op=op: _arith(op, a(r), b(r))  # noqa: E731
        return left

    def product(self) -> Callable[[Row], Any]:
        left = self.atom()
        while self.peek("*") or self.peek("/"):
            op = self.take().text
            a, b = left, self.atom()
            left = lambda r, a=a, b=b, op=op: _arith(op, a(r), b(r))  # noqa: E731
        return left

    def atom(self) -> Callable[[Row], Any]:
        token = self.take()
        if token.text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if token.kind == "string":
            value = bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
            return lambda r: value
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return lambda r: number
        if token.kind == "timespan":
            amount, unit = re.match(r"([\d.]+)(\w+)", token.text).groups()  # type: ignore[union-attr]
            span = float(amount) * (timedelta(milliseconds=1) if unit == "ms" else _UNITS[unit])
            return lambda r: span
        if token.kind == "name":
            if self.peek("("):
                return self.call(token.text)
            name = token.text
            if "." in name:  # customDimensions.td_x (traces), Properties.td_x (AppTraces)
                bag, key = name.split(".", 1)
                return lambda r: (r.get(bag) or {}).get(key)
            return lambda r: r.get(name)
        raise KqlError(f"unexpected {token.text!r}")

    def call(self, function: str) -> Callable[[Row], Any]:
        self.take("(")
        args: list[Callable[[Row], Any]] = []
        while not self.peek(")"):
            args.append(self.expr())
            if self.peek(","):
                self.take()
        self.take(")")
        now = self.now
        scalar: dict[str, Callable[[list[Any]], Any]] = {
            "tostring": lambda v: "" if v[0] is None else str(v[0]),
            "toint": lambda v: _to_number(v[0], int),
            "todouble": lambda v: _to_number(v[0], float),
            "isnotempty": lambda v: v[0] not in (None, ""),
            "isempty": lambda v: v[0] in (None, ""),
            "ago": lambda v: now - v[0],
        }
        if function in scalar:
            fn = scalar[function]
            return lambda r: fn([a(r) for a in args])
        if function in ("count", "countif", "sum", "sumif"):
            if len(args) != {"count": 0, "countif": 1, "sum": 1, "sumif": 2}[function]:
                raise KqlError(f"{function}() takes a different number of arguments")
            return _Aggregate(function, args)  # type: ignore[return-value]
        raise KqlError(f"function {function}() is outside the supported subset")


@dataclass
class _Aggregate:
    kind: str
    args: list[Callable[[Row], Any]]

    def __call__(self, row: Row) -> Any:
        raise KqlError(f"{self.kind}() outside summarize")

    def over(self, rows: list[Row]) -> Any:
        if self.kind == "count":
            return len(rows)
        if self.kind == "countif":
            return sum(1 for row in rows if self.args[0](row))
        if self.kind == "sumif":
            rows = [row for row in rows if self.args[1](row)]
        # KQL's sum() skips nulls; the sum of no values is 0 here as in an empty summarize.
        return sum(value for value in (self.args[0](row) for row in rows) if value is not None)


def _to_number(value: Any, kind: type) -> Any:
    try:
        return kind(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "startswith":  # case-insensitive, as in KQL
        return a is not None and b is not None and str(a).lower().startswith(str(b).lower())
    if op == "has":
        return (
            a is not None
            and b is not None
            and re.search(rf"(?<![A-Za-z0-9]){re.escape(str(b))}(?![A-Za-z0-9])", str(a), re.I) is not None
        )
    if a is None or b is None:
        return False
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _arith(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if isinstance(a, float) or isinstance(b, float):
        return a / b if b else float("nan")  # KQL: a real division by zero is NaN, and NaN compares false
    return a // b if b else None


def run(query: str, tables: dict[str, Iterable[Row]], *, now: datetime) -> list[Row]:
    """Rows the query returns."""
    parser = _Parser(_tokens(query), now)
    table = parser.take().text
    if table not in tables:
        raise KqlError(f"unknown table {table}")
    rows = [dict(row) for row in tables[table]]
    while parser.peek("|"):
        parser.take("|")
        operator = parser.take().text
        if operator == "where":
            predicate = parser.expr()
            rows = [row for row in rows if predicate(row)]
        elif operator == "extend":
            name = parser.take().text
            parser.take("=")
            value = parser.expr()
            rows = [{**row, name: value(row)} for row in rows]
        elif operator == "summarize":
            rows = _summarize(parser, rows)
        elif operator == "top":
            count = int(parser.take().text)
            parser.take("by")
            column = parser.take().text
            descending = True
            if parser.peek("desc") or parser.peek("asc"):
                descending = parser.take().text == "desc"
            rows = sorted(rows, key=lambda r: r[column], reverse=descending)[:count]
        elif operator == "project":
            columns = [parser.take().text]
            while parser.peek(","):
                parser.take()
                columns.append(parser.take().text)
            rows = [{c: row.get(c) for c in columns} for row in rows]
        else:
            raise KqlError(f"operator {operator} is outside the supported subset")
    if parser.peek():
        raise KqlError(f"unexpected {parser.t[parser.i].text!r}")
    return rows


def _summarize(parser: _Parser, rows: list[Row]) -> list[Row]:
    aggregates: list[tuple[str, _Aggregate]] = []
    while True:
        name = parser.take().text
        parser.take("=")
        aggregate = parser.expr()
        if not isinstance(aggregate, _Aggregate):
            raise KqlError("summarize takes count(), countif(), sum() or sumif() here")
        aggregates.append((name, aggregate))
        if not parser.peek(","):
            break
        parser.take()
    keys: list[tuple[str, Callable[[Row], Any]]] = []
    if parser.peek("by"):
        parser.take()
        while True:
            name = parser.take().text
            parser.take("=")
            keys.append((name, parser.expr()))
            if not parser.peek(","):
                break
            parser.take()
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(key(row) for _, key in keys), []).append(row)
    if not keys and not groups:
        groups[()] = []  # summarize without by always returns one row
    return [
        {
            **{name: value for (name, _), value in zip(keys, group, strict=True)},
            **{n: a.over(members) for n, a in aggregates},
        }
        for group, members in groups.items()
    ]
