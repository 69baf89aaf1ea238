"""A small evaluator for the subset of KQL that infra/queries/*.kql use, over Python rows.

Azure Monitor runs those files as the alert rules' queries; the tests run the very same text here over
rows built from the envelopes a real run sent through the Azure Monitor exporter
(tests/ops/ingestion.py), so "this rule fires on a run with dead-letters and stays quiet on a clean
one" is checked against the query that is deployed, not against a Python paraphrase of it.

Supported (anything else raises ``KqlError``, so a query that grows beyond the subset fails loudly):
``let T = datatable(col: type, ...) [values];`` before the query; a table name (``traces``,
``AppTraces``, a ``let`` table: whichever the caller passes rows for); ``where``, ``extend a = e,
...``, ``project a, b = e``, ``summarize ... [by name = e | column | bin(column, span)]``,
``top N by col [desc|asc]``, ``order by col [desc|asc]``, ``mv-expand name = e [to typeof(t)]``,
``join [kind=leftouter|inner] T on col``, ``render ...`` (ignored); expressions with ``or``, ``and``,
``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``has``, ``startswith``, ``in (...)``, ``+ - * /``,
numbers, ``"strings"``, timespans (``15m``), ``value[key]``, a dotted name that reads a bag column
(``customDimensions.td_code`` in ``traces``, ``Properties.td_code`` in ``AppTraces``), the functions
``tostring``, ``toint``, ``todouble``, ``isnotempty``, ``isempty``, ``ago``, ``iff``, ``strcat``,
``parse_json``, ``bag_keys``, ``bin``, and the aggregates ``count``, ``countif``, ``sum``, ``sumif``,
``make_set``, ``max``, ``percentilew`` (nearest rank).  Semantics follow KQL where it matters here: a
missing custom dimension is null, ``tostring(null)`` is ``""``, ``toint`` of a non-number is null,
comparisons with null are false, ``sum`` skips nulls, ``parse_json`` of text that is not JSON is that
text (so ``bag_keys`` of it is null and ``mv-expand`` yields no row), ``has`` matches a whole term and
``startswith`` a prefix, both case-insensitively; a joined right column whose name the left side has
gets the suffix 1.
"""

from __future__ import annotations

import json
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
      | (?P<op>==|!=|<=|>=|[<>()+\-*/,=|\[\];:])
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
        if self.peek("in"):
            self.take()
            self.take("(")
            options = [self.sum()]
            while self.peek(","):
                self.take()
                options.append(self.sum())
            self.take(")")
            return lambda r, a=left, bs=options: (value := a(r)) is not None and any(value == b(r) for b in bs)
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
                return self._indexed(self.call(token.text))
            name = token.text
            if "." in name:  # customDimensions.td_x (traces), Properties.td_x (AppTraces)
                bag, key = name.split(".", 1)
                return lambda r: (r.get(bag) or {}).get(key)
            return self._indexed(lambda r: r.get(name))
        raise KqlError(f"unexpected {token.text!r}")

    def _indexed(self, base: Callable[[Row], Any]) -> Callable[[Row], Any]:
        """``value[key]`` on a dynamic value: a bag's key or an array's index, null when absent."""
        while self.peek("["):
            self.take()
            key = self.expr()
            self.take("]")
            base = lambda r, b=base, k=key: _index(b(r), k(r))  # noqa: E731
        return base

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
            "iff": lambda v: v[1] if v[0] else v[2],
            "strcat": lambda v: "".join("" if x is None else str(x) for x in v),
            "parse_json": lambda v: _parse_json(v[0]),
            "bag_keys": lambda v: list(v[0]) if isinstance(v[0], dict) else None,
            "bin": lambda v: _bin(v[0], v[1]),
        }
        if function in scalar:
            fn = scalar[function]
            return lambda r: fn([a(r) for a in args])
        if function in _AGGREGATE_ARGS:
            if len(args) != _AGGREGATE_ARGS[function]:
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
        if self.kind == "make_set":
            found: list[Any] = []
            for value in (self.args[0](row) for row in rows):
                if value is not None and value not in found:
                    found.append(value)
            return found
        if self.kind == "max":
            values = [v for v in (self.args[0](row) for row in rows) if v is not None]
            return max(values) if values else None
        if self.kind == "percentilew":
            return _weighted_percentile(rows, self.args[0], self.args[1], self.args[2])
        if self.kind == "countif":
            return sum(1 for row in rows if self.args[0](row))
        if self.kind == "sumif":
            rows = [row for row in rows if self.args[1](row)]
        # KQL's sum() skips nulls; the sum of no values is 0 here as in an empty summarize.
        return sum(value for value in (self.args[0](row) for row in rows) if value is not None)


_AGGREGATE_ARGS = {"count": 0, "countif": 1, "sum": 1, "sumif": 2, "make_set": 1, "max": 1, "percentilew": 3}


def _weighted_percentile(
    rows: list[Row], value: Callable[[Row], Any], weight: Callable[[Row], Any], percent: Callable[[Row], Any]
) -> Any:
    """Nearest rank over weighted values: the smallest value whose cumulative weight reaches the
    percentile of the total weight (KQL's percentilew; nulls are skipped)."""
    pairs = sorted((v, w) for v, w in ((value(r), weight(r)) for r in rows) if v is not None and w)
    if not pairs:
        return None
    target = percent(rows[0]) / 100.0 * sum(w for _, w in pairs)
    running = 0
    for v, w in pairs:
        running += w
        if running >= target:
            return v
    return pairs[-1][0]


def _parse_json(value: Any) -> Any:
    """KQL parse_json: JSON text becomes a dynamic value; text that is not JSON stays a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return None


def _bin(value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    if isinstance(value, datetime):
        epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
        return epoch + ((value - epoch) // size) * size
    return (value // size) * size


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
    tables = dict(tables)
    while parser.peek("let"):
        parser.take()
        name = parser.take().text
        parser.take("=")
        tables[name] = _datatable(parser)
        parser.take(";")
    table = parser.take().text
    if table not in tables:
        raise KqlError(f"unknown table {table}")
    rows = [dict(row) for row in tables[table]]
    while parser.peek("|"):
        parser.take("|")
        operator = parser.take().text
        if operator == "mv" and parser.peek("-"):
            parser.take()
            operator += "-" + parser.take("expand").text
        if operator == "where":
            predicate = parser.expr()
            rows = [row for row in rows if predicate(row)]
        elif operator in ("extend", "project"):
            columns = _assignments(parser)
            if operator == "extend":
                rows = [{**row, **{name: value(row) for name, value in columns}} for row in rows]
            else:
                rows = [{name: value(row) for name, value in columns} for row in rows]
        elif operator == "summarize":
            rows = _summarize(parser, rows)
        elif operator in ("top", "order"):
            count = int(parser.take().text) if operator == "top" else len(rows)
            parser.take("by")
            column = parser.take().text
            descending = True  # the default of both
            if parser.peek("desc") or parser.peek("asc"):
                descending = parser.take().text == "desc"
            present = [r for r in rows if r.get(column) is not None]
            ordered = sorted(present, key=lambda r: r[column], reverse=descending)
            nulls = [r for r in rows if r.get(column) is None]  # KQL puts nulls last either way
            rows = (ordered + nulls)[:count]
        elif operator == "mv-expand":
            name = parser.take().text
            parser.take("=")
            values = parser.expr()
            if parser.peek("to"):
                for word in ("to", "typeof", "("):
                    parser.take(word)
                parser.take()
                parser.take(")")
            rows = [{**row, name: item} for row in rows for item in (values(row) or [])]
        elif operator == "join":
            rows = _join(parser, rows, tables)
        elif operator == "render":
            while parser.peek() and not parser.peek("|"):
                parser.take()  # a visualization hint: no effect on the rows
        else:
            raise KqlError(f"operator {operator} is outside the supported subset")
    if parser.peek():
        raise KqlError(f"unexpected {parser.t[parser.i].text!r}")
    return rows


def _assignments(parser: _Parser) -> list[tuple[str, Callable[[Row], Any]]]:
    """``a = expr, b, c = expr``: a bare name keeps that column."""
    columns: list[tuple[str, Callable[[Row], Any]]] = []
    while True:
        name = parser.take().text
        if parser.peek("="):
            parser.take()
            columns.append((name, parser.expr()))
        else:
            columns.append((name, lambda r, n=name: r.get(n)))
        if not parser.peek(","):
            return columns
        parser.take()


def _datatable(parser: _Parser) -> list[Row]:
    parser.take("datatable")
    parser.take("(")
    columns = []
    while not parser.peek(")"):
        columns.append(parser.take().text)
        parser.take(":")
        parser.take()  # the column's type
        if parser.peek(","):
            parser.take()
    parser.take(")")
    parser.take("[")
    values = []
    while not parser.peek("]"):
        values.append(parser.atom()({}))
        if parser.peek(","):
            parser.take()
    parser.take("]")
    if not columns or len(values) % len(columns):
        raise KqlError("datatable: the values do not fill whole rows")
    width = len(columns)
    return [dict(zip(columns, values[i : i + width], strict=True)) for i in range(0, len(values), width)]


def _join(parser: _Parser, rows: list[Row], tables: dict[str, Iterable[Row]]) -> list[Row]:
    """``join kind=leftouter|inner T on col``; a right column whose name the left row already has
    gets the suffix 1, as in KQL."""
    kind = "innerunique"
    if parser.peek("kind"):
        parser.take()
        parser.take("=")
        kind = parser.take().text
    if kind not in ("leftouter", "inner"):
        raise KqlError(f"join kind={kind} is outside the supported subset")
    name = parser.take()
    if name.kind != "name" or name.text not in tables:
        raise KqlError(f"join takes a table name here, found {name.text!r}")
    parser.take("on")
    key = parser.take().text
    right = [dict(r) for r in tables[name.text]]
    right_columns = list(dict.fromkeys(c for r in right for c in r))
    out: list[Row] = []
    for row in rows:
        matches = [r for r in right if row.get(key) is not None and r.get(key) == row.get(key)]
        if not matches and kind == "leftouter":
            matches = [dict.fromkeys(right_columns)]
        for match in matches:
            joined = dict(row)
            for column in right_columns:
                joined[f"{column}1" if column in row else column] = match.get(column)
            out.append(joined)
    return out


def _summarize(parser: _Parser, rows: list[Row]) -> list[Row]:
    aggregates: list[tuple[str, _Aggregate]] = []
    while True:
        name = parser.take().text
        parser.take("=")
        aggregate = parser.expr()
        if not isinstance(aggregate, _Aggregate):
            raise KqlError(f"summarize takes one of {sorted(_AGGREGATE_ARGS)} here")
        aggregates.append((name, aggregate))
        if not parser.peek(","):
            break
        parser.take()
    keys: list[tuple[str, Callable[[Row], Any]]] = []
    if parser.peek("by"):
        parser.take()
        while True:
            first = parser.t[parser.i]
            if parser.i + 1 < len(parser.t) and parser.t[parser.i + 1].text == "=":
                parser.take()
                parser.take("=")
                name = first.text
            elif first.text == "bin":  # bin(col, size) keeps the column's name
                name = parser.t[parser.i + 2].text
            else:
                name = first.text
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
