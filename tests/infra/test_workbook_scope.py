"""The workbook knows which component to read when it is opened outside it.

A workbook's panels query the resource the workbook is opened on.  Opened from Azure Monitor >
Workbooks or from a shared link there is none, and the workbook falls back to the ``fallbackResourceIds``
in its serialized JSON (the field the portal writes when a workbook is saved; see the Workbooks JSON
schema, Microsoft/Application-Insights-Workbooks schema/workbook.json).  Without it every panel is empty.
The test evaluates the template's own ``serializedData`` expression, the way ARM would, with the
functions it uses (``loadJsonContent``, ``union``, ``string``), and reads the JSON the workbook gets.
"""

from __future__ import annotations

import json
from typing import Any

from tests.infra import templates as t

COMPONENT_ID = "/subscriptions/s/resourceGroups/rg-x/providers/Microsoft.Insights/components/appi-x"


def evaluate(node: Any, params: dict[str, Any]) -> Any:
    """The ARM value of a parsed expression built from string, union, loadJsonContent or loadTextContent,
    literals and parameters."""
    if isinstance(node, str):
        return params.get(node, node)
    if isinstance(node, list):
        return [evaluate(item, params) for item in node]
    if isinstance(node, dict) and set(node) == {"function"}:
        call = node["function"]
        args = call["parameters"]
        if call["type"] in ("load_json_content", "load_text_content"):
            text = (t.MODULES / args["file_path"]).resolve().read_text(encoding="utf-8")
            return json.loads(text) if call["type"] == "load_json_content" else text
        if call["type"] == "union":
            merged: dict[str, Any] = {}
            for key in sorted(args):  # arg_1, arg_2...: later objects win, key by key (shallow)
                merged.update(evaluate(args[key], params))
            return merged
        if call["type"] == "string":
            value = evaluate(args["value_to_convert"], params)
            return value if isinstance(value, str) else json.dumps(value)
        raise AssertionError(f"the test cannot evaluate {call['type']}()")
    if isinstance(node, dict):
        return {key: evaluate(value, params) for key, value in node.items()}
    return node


def test_the_workbook_falls_back_to_the_component_it_is_deployed_on() -> None:
    book = t.only_resource(t.module("workbook"), "Microsoft.Insights/workbooks")
    params = {"applicationInsightsId": COMPONENT_ID}

    data = json.loads(evaluate(book["properties"]["serializedData"], params))

    assert data["fallbackResourceIds"] == [evaluate(book["properties"]["sourceId"], params)] == [COMPONENT_ID]
    assert data["version"] == book["properties"]["version"] == "Notebook/1.0"
    generated = json.loads((t.INFRA / "queries" / "workbook.json").read_text(encoding="utf-8"))
    assert data["items"] == generated["items"], "the panels are the generated ones, unchanged"
    # main.bicep gives the module the component's id, the same value as the alerts' scope
    call = t.module_call("workbook")["config"]["params"]["applicationInsightsId"]
    assert {"monitoring", "applicationInsightsId"} <= set(t.leaves(call))
