"""The Bicep templates as data, for tests that run without an Azure account or the Bicep CLI.

``pycep-parser`` turns a ``.bicep`` file into JSON-like dicts.  A few of its conventions matter here:

* a reference to a parameter, variable or resource is a bare string (``"identityId"``), and an
  interpolated string keeps its ``${...}`` text (``"func-${resourceToken}"``);
* a function call is ``{"function": {"type": ..., "parameters": {...}}}`` and ``a.b`` a
  ``{"operator": {"type": "property_accessor", ...}}`` (older versions fold some of these into the
  function node), so the helpers below look at leaves and node types rather than at exact shapes.

The tests run under two parser versions: the one in requirements-dev.txt (the app's venv) and the
one checkov pins (``infra/check.sh``), so they must not depend on either one's exact tree.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
MAIN = INFRA / "main.bicep"
HOST_JSON = ROOT / "host.json"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    return parsed


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / f"{name}.bicep")


def main() -> dict[str, Any]:
    return parse(MAIN)


def resources(doc: dict[str, Any], type_: str, *, existing: bool = False) -> dict[str, dict[str, Any]]:
    """Resources of one type (declared ones, or ``existing`` references), by symbolic name."""
    return {
        name: body(res)
        for name, res in doc.get("resources", {}).items()
        if res["type"] == type_ and bool(res.get("existing")) == existing
    }


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's body: ``= if (cond) {...}`` puts it one level down, beside the condition."""
    config: dict[str, Any] = resource["config"]
    if "condition" in config and "config" in config:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def condition(resource: dict[str, Any]) -> Any:
    """The ``if (...)`` of a conditional resource, or None."""
    return resource["config"].get("condition") if "config" in resource["config"] else None


def only_resource(doc: dict[str, Any], type_: str) -> dict[str, Any]:
    found = resources(doc, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def leaves(node: Any) -> Iterator[Any]:
    """Every scalar in a parsed subtree (strings, numbers, booleans)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from leaves(value)
    elif isinstance(node, list):
        for item in node:
            yield from leaves(item)
    else:
        yield node


def function_types(node: Any) -> set[str]:
    """Names of the functions called anywhere in a parsed subtree (``guid``, ``list_keys``...)."""
    found: set[str] = set()
    if isinstance(node, dict):
        call = node.get("function")
        if isinstance(call, dict) and isinstance(call.get("type"), str):
            found.add(call["type"])
        for value in node.values():
            found |= function_types(value)
    elif isinstance(node, list):
        for item in node:
            found |= function_types(item)
    return found


def param_default(doc: dict[str, Any], name: str) -> Any:
    return doc["parameters"][name]["default"]


def decorators(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in doc["parameters"][name]["decorators"]}


def variable(doc: dict[str, Any], name: str) -> Any:
    return doc["variables"][name]["value"]


def module_call(target: str) -> dict[str, Any]:
    """The ``module`` block in main.bicep that deploys ``modules/<target>.bicep``."""
    calls: list[dict[str, Any]] = [
        m for m in main()["modules"].values() if m["detail"]["path"] == f"modules/{target}.bicep"
    ]
    assert len(calls) == 1, f"main.bicep should deploy modules/{target}.bicep once"
    return calls[0]


def main_value(reference: Any) -> Any:
    """What a bare reference in main.bicep stands for: a variable's value or a parameter's default."""
    doc = main()
    if isinstance(reference, str) and reference in doc.get("variables", {}):
        return variable(doc, reference)
    if isinstance(reference, str) and reference in doc.get("parameters", {}):
        return param_default(doc, reference)
    return reference


def module_param_value(target: str, param: str) -> Any:
    """The value main.bicep gives a module parameter, resolved one step (variable or default)."""
    params = module_call(target)["config"]["params"]
    if param in params:
        return main_value(params[param])
    return param_default(module(target), param)


def app_settings() -> dict[str, Any]:
    """The function app's settings, name -> parsed value."""
    site = only_resource(module("function-app"), "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), "an app setting is listed twice"
    return {entry["name"]: entry["value"] for entry in entries}


def role_definition_guid(doc: dict[str, Any], assignment: dict[str, Any]) -> str:
    """The built-in role a ``roleAssignments`` resource grants (its GUID, through the variable)."""
    subtree = assignment["properties"]["roleDefinitionId"]
    guids = set()
    for leaf in leaves(subtree):
        if isinstance(leaf, str) and leaf in doc.get("variables", {}):
            leaf = variable(doc, leaf)
        if isinstance(leaf, str) and _GUID.match(leaf):
            guids.add(leaf)
    assert len(guids) == 1, f"cannot tell which role {subtree!r} grants"
    return guids.pop()


def host_json() -> dict[str, Any]:
    data = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def typecheck() -> Any:
    """``infra/typecheck.py`` as a module (infra/ is not a package: the script runs on its own too)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("infra_typecheck", INFRA / "typecheck.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up by name
    spec.loader.exec_module(loaded)
    return loaded
