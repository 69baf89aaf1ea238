"""Type-check every resource body in infra/ against Azure's own resource types, without the Bicep CLI.

The Bicep compiler checks a resource body against ``types.json`` files generated from Azure's REST
API specs (Azure/bicep-types-az).  No Bicep compiler can be installed here, so this script does the
same checks over what ``pycep-parser`` makes of each ``.bicep`` file, with copies of those files in
``infra/bicep-types/`` (MIT, see the LICENSE there; one file per provider and API version used):

* the resource type and API version exist (an ``existing`` reference too), and a declared resource's
  type is deployable (``writableScopes`` is not 0);
* every property set in the body, nested objects and arrays included, exists in the type (ARM names
  are case-insensitive) or is allowed by ``additionalProperties``;
* a value has a compatible kind: string / int / bool / object / array;
* a string literal is one of the allowed values where the type is a closed enum (a union of string
  literals; an open enum, which also admits any string, takes any string), and a parameter's
  ``@allowed`` values all fit it;
* required properties are present and read-only ones are not set;
* a discriminated object (an Event Grid destination, say) is checked against the variant its
  discriminator literal selects;
* a reference to a resource's property anywhere in the file (``storage.properties.primaryEndpoints.blob``,
  in an expression or inside ``'${...}'``) names properties its type has (read-only ones included), and
  a module's ``mod.outputs.x`` names an output that module declares.

What it cannot know it leaves alone rather than guess: a value computed by a function or operator
(``guid()``, ``a.b``, ``x ? y : z``), a resource's output.  A bare name that is a parameter, a
variable or a loop variable is a reference (pycep-parser writes references and string literals
alike); a parameter is checked by its declared type and ``@allowed`` values, a variable by its value.

``UNVERIFIED`` lists resource types that ``infra/bicep-types/`` does not hold, each with the reason;
any other type missing from it is an error.  Run: ``python infra/typecheck.py`` (exit 1 on findings).
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
TYPES = INFRA / "bicep-types"

# Types deliberately not vendored, each with why it cannot be checked here.
UNVERIFIED: Mapping[str, str] = {
    "Microsoft.Resources/resourceGroups@2024-03-01": (
        "the resource-group type is generated into bicep-types-az's 'resources' folder, which the "
        "handed-out copy does not include (resources_9 holds only deploymentStacks); main.bicep sets "
        "only name, location and tags on it"
    ),
}

# Keys of a resource declaration that are Bicep syntax, not part of the ARM body.
_BICEP_KEYWORDS = {"parent", "scope", "dependson"}

REQUIRED, READ_ONLY = 1, 2


@dataclass(frozen=True)
class Finding:
    file: str
    resource: str
    type: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.resource} ({self.type}) {self.path}: {self.message}"


class TypeIndex:
    """Every ResourceType in ``infra/bicep-types/**/types.json``, by lower-cased ``Type@version``."""

    def __init__(self, root: Path = TYPES) -> None:
        self._resources: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
        self._files: dict[str, Path] = {}
        for path in sorted(root.rglob("types.json")):
            nodes: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
            for node in nodes:
                if node["$type"] == "ResourceType":
                    self._resources[node["name"].lower()] = (nodes, node)
                    self._files[node["name"].lower()] = path

    def resource(self, type_and_version: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        return self._resources.get(type_and_version.lower())

    def file_of(self, type_and_version: str) -> Path | None:
        """The vendored types.json that defines a type (None if none does)."""
        return self._files.get(type_and_version.lower())

    def names(self) -> list[str]:
        return sorted(node["name"] for _, node in self._resources.values())


def _deref(nodes: list[dict[str, Any]], ref: dict[str, Any]) -> dict[str, Any]:
    return nodes[int(ref["$ref"].split("/")[-1])]


def _is_expression(value: Any) -> bool:
    """pycep's shape for a function call, an operator or a loop (and nothing a literal object would have)."""
    if not isinstance(value, dict):
        return False
    if set(value) == {"function"} or set(value) == {"operator"}:
        inner = next(iter(value.values()))
        return isinstance(inner, dict) and "type" in inner
    return "loop_type" in value and "config" in value


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def _loop_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "loop_type" in node and isinstance(node["loop_type"], dict):
            detail = node["loop_type"].get("detail") or {}
            for key in ("item_name", "index_name"):
                if isinstance(detail.get(key), str):
                    yield detail[key]
        for value in node.values():
            yield from _loop_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _loop_names(item)


class _Checker:
    def __init__(self, index: TypeIndex, doc: dict[str, Any], file: str) -> None:
        self.index = index
        self.doc = doc
        self.file = file
        self.params: dict[str, Any] = doc.get("parameters") or {}
        self.variables: dict[str, Any] = doc.get("variables") or {}
        self.symbols = set(self.params) | set(self.variables)
        self.symbols |= set(doc.get("resources") or {}) | set(doc.get("modules") or {})
        self.symbols |= set(_loop_names(doc))
        self.findings: list[Finding] = []
        self._resource = ("", "")
        self._resolving: set[str] = set()
        self.path: Path | None = None  # the file, to find the modules' files (references)

    def report(self, path: str, message: str) -> None:
        name, type_ = self._resource
        self.findings.append(Finding(self.file, name, type_, path or "(body)", message))

    def run(self) -> list[Finding]:
        for name, declaration in (self.doc.get("resources") or {}).items():
            type_ = f"{declaration['type']}@{declaration['api_version']}"
            self._resource = (name, type_)
            if type_ in UNVERIFIED:
                continue
            found = self.index.resource(type_)
            if found is None:
                self.report("", "unknown resource type or API version (not in infra/bicep-types)")
                continue
            nodes, resource_type = found
            if declaration.get("existing"):
                continue
            if resource_type.get("writableScopes") == 0:
                self.report("", "this type is read-only: it can only be referenced with 'existing'")
            body = declaration["config"]
            # `= if (cond) {...}` and `= [for x in xs: {...}]` wrap the body one level down
            while isinstance(body, dict) and "config" in body and ("condition" in body or "loop_type" in body):
                body = body["config"]
            body = {k: v for k, v in body.items() if k.lower() not in _BICEP_KEYWORDS}
            self.check(nodes, resource_type["body"], body, "")
        self.check_references()
        return self.findings

    # -- references: symbol.property.property ---------------------------------------------------------

    def check_references(self) -> None:
        sections = {
            "resource": self.doc.get("resources") or {},
            "module": self.doc.get("modules") or {},
            "output": self.doc.get("outputs") or {},
            "variable": self.variables,
        }
        for kind, entries in sections.items():
            for name, entry in entries.items():
                for chain in _chains(entry):
                    self.check_chain(chain, f"{kind} {name}")

    def check_chain(self, chain: list[str], where: str) -> None:
        root, rest = chain[0], chain[1:]
        resources = self.doc.get("resources") or {}
        modules = self.doc.get("modules") or {}
        if root in resources:
            declaration = resources[root]
            type_ = f"{declaration['type']}@{declaration['api_version']}"
            found = self.index.resource(type_)
            if found is None:
                return  # reported (or listed as unverifiable) with the resource itself
            nodes, resource_type = found
            self._resource = (where, type_)
            node: dict[str, Any] | None = _deref(nodes, resource_type["body"])
            for depth, name in enumerate(rest):
                assert node is not None
                properties = _accessible(nodes, node)
                if properties is None:
                    return  # any, or an additionalProperties map: any name goes
                match = next((p for k, p in properties.items() if k.lower() == name.lower()), None)
                if match is None:
                    known = list(properties)
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.report(".".join(chain[: depth + 2]), f"no such property{hint}")
                    return
                node = _deref(nodes, match["type"])
        elif root in modules and rest and rest[0] == "outputs" and len(rest) > 1 and self.path is not None:
            target = (self.path.parent / modules[root]["detail"]["path"]).resolve()
            if not target.is_file():
                return
            from pycep import BicepParser

            outputs = dict(BicepParser().parse(file_path=target).get("outputs") or {})
            if not any(o.lower() == rest[1].lower() for o in outputs):
                self._resource = (where, f"module {modules[root]['detail']['path']}")
                close = difflib.get_close_matches(rest[1], list(outputs), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.report(".".join(chain[:3]), f"the module has no such output{hint}")

    # -- values -------------------------------------------------------------------------------------

    def check(self, nodes: list[dict[str, Any]], ref: dict[str, Any], value: Any, path: str) -> None:
        type_ = _deref(nodes, ref)
        kind = type_["$type"]
        if kind == "AnyType" or value is None or _is_expression(value):
            return
        if isinstance(value, str) and value in self.symbols:
            self.check_reference(nodes, ref, value, path)
            return
        if kind == "UnionType":
            self.check_union(nodes, type_, value, path)
        elif kind == "StringLiteralType":
            if not isinstance(value, str):
                self.report(path, f"expected the string '{type_['value']}', got {_describe(value)}")
            elif "${" not in value and value != type_["value"]:
                self.report(path, f"'{value}' is not allowed: expected '{type_['value']}'")
        elif kind == "StringType":
            if not isinstance(value, str):
                self.report(path, f"expected a string, got {_describe(value)}")
        elif kind == "IntegerType":
            if isinstance(value, bool) or not isinstance(value, int):
                self.report(path, f"expected an int, got {_describe(value)}")
        elif kind == "BooleanType":
            if not isinstance(value, bool):
                self.report(path, f"expected a bool, got {_describe(value)}")
        elif kind == "ArrayType":
            if isinstance(value, dict) and "loop_type" in value:
                return
            if not isinstance(value, list):
                self.report(path, f"expected an array, got {_describe(value)}")
                return
            for position, item in enumerate(value):
                self.check(nodes, type_["itemType"], item, f"{path}[{position}]")
        elif kind == "ObjectType":
            self.check_object(nodes, type_.get("properties") or {}, type_.get("additionalProperties"), value, path)
        elif kind == "DiscriminatedObjectType":
            self.check_discriminated(nodes, type_, value, path)
        else:
            self.report(path, f"cannot check a {kind} (unsupported by infra/typecheck.py)")

    def check_reference(self, nodes: list[dict[str, Any]], ref: dict[str, Any], name: str, path: str) -> None:
        if name in self.variables and name not in self._resolving:
            self._resolving.add(name)
            try:
                self.check(nodes, ref, self.variables[name]["value"], path)
            finally:
                self._resolving.discard(name)
            return
        if name not in self.params:
            return  # a resource, a module or a loop variable: its type is not known here
        param = self.params[name]
        declared = {"string": "", "int": 0, "bool": False, "object": {}, "array": []}.get(param.get("type"))
        if declared is None:
            return
        allowed = next((d.get("argument") for d in param.get("decorators") or [] if d.get("type") == "allowed"), None)
        samples = allowed if isinstance(allowed, list) and allowed else [declared]
        for sample in samples:
            if isinstance(sample, str) and sample == "":
                sample = "${param}"  # any string: only the kind can be checked
            self.check(nodes, ref, sample, f"{path} (parameter {name})")

    def check_union(self, nodes: list[dict[str, Any]], type_: dict[str, Any], value: Any, path: str) -> None:
        elements = [_deref(nodes, e) for e in type_["elements"]]
        literals = [e["value"] for e in elements if e["$type"] == "StringLiteralType"]
        others = [ref for ref, e in zip(type_["elements"], elements, strict=True) if e["$type"] != "StringLiteralType"]
        if isinstance(value, str) and (value in literals or "${" in value):
            return  # a listed literal, or an interpolated string: only its kind can be told, and it is a string
        for ref in others:
            probe = _Checker(self.index, self.doc, self.file)
            probe._resource = self._resource
            probe.check(nodes, ref, value, path)
            if not probe.findings:
                return
        if isinstance(value, str) and literals:
            self.report(path, f"'{value}' is not one of {sorted(literals)}")
        else:
            kinds = sorted({_kind_name(e) for e in elements})
            self.report(path, f"expected {' or '.join(kinds)}, got {_describe(value)}")

    def check_object(
        self,
        nodes: list[dict[str, Any]],
        properties: Mapping[str, Any],
        additional: dict[str, Any] | None,
        value: Any,
        path: str,
        *,
        also_allowed: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(value, dict):
            self.report(path, f"expected an object, got {_describe(value)}")
            return
        by_lower = {name.lower(): (name, prop) for name, prop in properties.items()}
        given = {}
        for raw_key, item in value.items():
            key = _unquote(raw_key)
            where = f"{path}.{key}" if path else key
            given[key.lower()] = key
            if key.lower() in by_lower:
                _, prop = by_lower[key.lower()]
                if prop.get("flags", 0) & READ_ONLY:
                    self.report(where, "is read-only: Azure sets it, a template may not")
                    continue
                self.check(nodes, prop["type"], item, where)
            elif key.lower() in also_allowed:
                continue
            elif additional is not None:
                self.check(nodes, additional, item, where)
            elif "${" in key:
                self.report(where, "a computed key on an object with fixed properties")
            else:
                known = [n for n, p in properties.items() if not p.get("flags", 0) & READ_ONLY]
                close = difflib.get_close_matches(key, known, n=1)
                self.report(where, "no such property" + (f" (did you mean '{close[0]}'?)" if close else ""))
        for lower, (name, prop) in by_lower.items():
            if prop.get("flags", 0) & REQUIRED and not prop.get("flags", 0) & READ_ONLY and lower not in given:
                self.report(f"{path}.{name}" if path else name, "is required")

    def check_discriminated(self, nodes: list[dict[str, Any]], type_: dict[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.report(path, f"expected an object, got {_describe(value)}")
            return
        discriminator = type_["discriminator"]
        chosen = next((v for k, v in value.items() if _unquote(k).lower() == discriminator.lower()), None)
        elements: dict[str, Any] = type_["elements"]
        base = dict(type_.get("baseProperties") or {})
        where = f"{path}.{discriminator}" if path else discriminator
        if chosen is None:
            self.report(where, f"is required (one of {sorted(elements)})")
            return
        if not isinstance(chosen, str) or chosen in self.symbols or _is_expression(chosen) or "${" in chosen:
            # an expression picks the variant at deploy time: accept what any variant allows
            merged = dict(base)
            for ref in elements.values():
                merged.update(_deref(nodes, ref).get("properties") or {})
            optional = {k: {**p, "flags": p.get("flags", 0) & ~REQUIRED} for k, p in merged.items()}
            self.check_object(nodes, optional, None, value, path, also_allowed=frozenset({discriminator.lower()}))
            return
        match = next((ref for name, ref in elements.items() if name.lower() == chosen.lower()), None)
        if match is None:
            self.report(where, f"'{chosen}' is not one of {sorted(elements)}")
            return
        variant = _deref(nodes, match)
        merged = {**base, **(variant.get("properties") or {})}
        additional = variant.get("additionalProperties")
        self.check_object(nodes, merged, additional, value, path, also_allowed=frozenset({discriminator.lower()}))


_INTERPOLATED_CHAIN = re.compile(r"(?<![\w.'])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")


def _chains(node: Any) -> Iterator[list[str]]:
    """Every ``a.b.c`` reference in a parsed subtree: pycep's property_accessor nodes, and dotted names
    inside ``${...}`` of interpolated strings (which pycep leaves as text)."""
    if isinstance(node, dict):
        operator = node.get("operator")
        if set(node) == {"operator"} and isinstance(operator, dict) and operator.get("type") == "property_accessor":
            chain = _accessor_chain(operator)
            if chain is not None:
                yield chain
                return
        for value in node.values():
            yield from _chains(value)
    elif isinstance(node, list):
        for item in node:
            yield from _chains(item)
    elif isinstance(node, str) and "${" in node:
        for inner in re.findall(r"\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", node):
            for dotted in _INTERPOLATED_CHAIN.findall(inner):
                yield dotted.split(".")


def _accessor_chain(operator: dict[str, Any]) -> list[str] | None:
    operands = operator.get("operands") or {}
    first, second = operands.get("operand_1"), operands.get("operand_2")
    if not isinstance(first, str):
        return None  # a function's result (listKeys(...).x) or an index: not a symbol
    if isinstance(second, str):
        return [first, second]
    inner = second.get("operator") if isinstance(second, dict) else None
    if isinstance(inner, dict) and inner.get("type") == "property_accessor":
        rest = _accessor_chain(inner)
        return [first, *rest] if rest is not None else None
    return None


def _accessible(nodes: list[dict[str, Any]], node: dict[str, Any]) -> dict[str, Any] | None:
    """The properties a reference may name on a value of this type (None: any name)."""
    kind = node["$type"]
    if kind == "ObjectType":
        if node.get("additionalProperties") is not None and not node.get("properties"):
            return None
        return dict(node.get("properties") or {})
    if kind == "DiscriminatedObjectType":
        merged = dict(node.get("baseProperties") or {})
        for ref in node["elements"].values():
            merged.update(_deref(nodes, ref).get("properties") or {})
        return merged
    if kind == "UnionType":
        merged = {}
        for ref in node["elements"]:
            found = _accessible(nodes, _deref(nodes, ref))
            if found is None:
                return None
            merged.update(found)
        return merged
    if kind == "AnyType":
        return None
    return {}  # a string, int, bool or array has no properties


def _kind_name(node: dict[str, Any]) -> str:
    kind: str = node["$type"]
    names = {
        "StringType": "a string",
        "StringLiteralType": "a string",
        "IntegerType": "an int",
        "BooleanType": "a bool",
        "ArrayType": "an array",
        "ObjectType": "an object",
        "DiscriminatedObjectType": "an object",
    }
    return names.get(kind, kind)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the bool {str(value).lower()}"
    if isinstance(value, int):
        return f"the int {value}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, list):
        return "an array"
    return "an object"


@cache
def default_index() -> TypeIndex:
    return TypeIndex()


def check_document(
    doc: dict[str, Any], file: str, index: TypeIndex | None = None, path: Path | None = None
) -> list[Finding]:
    """Findings for one parsed template (``pycep.BicepParser().parse(...)``); ``path`` (the file)
    lets module references be checked against the modules' outputs."""
    checker = _Checker(index or default_index(), doc, file)
    checker.path = path
    return checker.run()


def check_file(path: Path, index: TypeIndex | None = None) -> list[Finding]:
    from pycep import BicepParser

    doc = dict(BicepParser().parse(file_path=path))
    name = path.relative_to(INFRA).as_posix() if path.is_relative_to(INFRA) else path.name
    return check_document(doc, name, index, path)


def bicep_files(root: Path = INFRA) -> list[Path]:
    return sorted(p for p in root.rglob("*.bicep") if "bicep-types" not in p.parts)


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or bicep_files()
    findings = [f for path in paths for f in check_file(path)]
    for finding in findings:
        print(finding)
    resources = sum(len(_declared(path)) for path in paths)
    print(
        f"typecheck (Azure types.json): {len(paths)} files, {resources} resources, {len(findings)} findings"
        + (f"; not verifiable here: {', '.join(sorted(UNVERIFIED))}" if UNVERIFIED else "")
    )
    return 1 if findings else 0


def _declared(path: Path) -> dict[str, Any]:
    from pycep import BicepParser

    return dict(BicepParser().parse(file_path=path).get("resources") or {})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
