"""The blob's logging context reaches every record because the whole package logs on one logger,
the one that carries the filter (a logger's filters never see records of its children)."""

from __future__ import annotations

import ast
import logging

from shared.delivery.log import LOGGER_NAME, ContextFilter, blob_context, current_invocation_id, install
from tests.repo import ROOT


def test_every_logger_in_the_package_is_the_filtered_one() -> None:
    calls = []
    for path in sorted((ROOT / "shared").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger":
                calls.append((path.relative_to(ROOT).as_posix(), ast.unparse(node.args[0]) if node.args else ""))
    assert calls, "no getLogger call found: has logging moved?"
    # The CLI may quiet a library's own logger (the Azure SDK's); it never logs on one.
    ours = [(path, arg) for path, arg in calls if not arg.startswith("'azure.")]
    assert {arg for _, arg in ours} == {"LOGGER_NAME"}, calls
    assert [f for f in logging.getLogger(LOGGER_NAME).filters if isinstance(f, ContextFilter)]


def test_installing_twice_keeps_one_filter() -> None:
    install()
    install()
    assert len([f for f in logging.getLogger(LOGGER_NAME).filters if isinstance(f, ContextFilter)]) == 1


def test_contexts_nest_and_restore() -> None:
    assert current_invocation_id() is None
    with blob_context(invocation_id="outer", blob="b"):
        with blob_context(imodel_id="m") as keys:
            assert keys == {"td_invocation_id": "outer", "td_blob": "b", "td_imodel_id": "m"}
        assert current_invocation_id() == "outer"
    assert current_invocation_id() is None
