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
* a string literal's length and pattern and an int's range fit the type's ``minLength``/``maxLength``/
  ``pattern``/``minValue``/``maxValue`` (an interpolation's literal characters alone must fit the
  maximum); both branches of ``cond ? a : b`` are checked;
* a child type (``a/b/c``) is declared with ``parent`` (a resource of the parent type) and a one-segment
  name, or without it and one name segment per type segment (Bicep's BCP169/BCP170); a resource's
  ``scope`` names a resource of the file and the type is an extension type, and a resource without one
  is deployable at the file's ``targetScope``;
* a parameter's decorators fit its type (``@minValue`` only on an int, ``@minLength`` on a string or an
  array, ``@secure`` on a string or an object: BCP124), and its default and ``@allowed`` values fit its
  type and decorators;
* a module call passes only parameters the module declares, every one it requires, values of the
  declared kind within the declared decorators (a parameter by its declared type and ``@allowed``
  values, a ``@secure()`` one only to a ``@secure()`` one), and ``scope`` where the module's targetScope
  differs from the file's; the module's resources are checked again with the literal values the call
  passes (a name that breaks the type's pattern is caught where it is chosen);
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
        self.run_resources()
        self.check_parameters()
        self.check_modules()
        self.check_references()
        return self.findings

    def run_resources(self) -> None:
        for name, declaration in (self.doc.get("resources") or {}).items():
            type_ = f"{declaration['type']}@{declaration['api_version']}"
            self._resource = (name, type_)
            body = declaration["config"]
            # `= if (cond) {...}` and `= [for x in xs: {...}]` wrap the body one level down
            while isinstance(body, dict) and "config" in body and ("condition" in body or "loop_type" in body):
                body = body["config"]
            self.check_parent_and_name(declaration["type"], body)
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
            self.check_resource_scope(resource_type, body)
            body = {k: v for k, v in body.items() if k.lower() not in _BICEP_KEYWORDS}
            self.check(nodes, resource_type["body"], body, "")

    # -- where a resource goes: parent, name segments, scope ----------------------------------------

    def target_scope(self) -> str:
        scope = (self.doc.get("globals") or {}).get("scope") or {}
        return str(scope.get("value") or "resourceGroup")

    def check_parent_and_name(self, type_name: str, body: dict[str, Any]) -> None:
        """A child type (``a/b/c``) is declared with ``parent`` and a one-segment name, or without it and
        a name of one segment per type segment (``'acct/default'``): Bicep's BCP169 / BCP170."""
        segments = len(type_name.split("/")) - 1
        parent = body.get("parent")
        resources = self.doc.get("resources") or {}
        if parent is not None:
            if not isinstance(parent, str) or parent not in resources:
                self.report("parent", f"no resource named {parent!r} in this file")
                return
            expected_type = type_name.rsplit("/", 1)[0]
            if resources[parent]["type"].lower() != expected_type.lower():
                self.report("parent", f"'{parent}' is a {resources[parent]['type']}, not a {expected_type}")
            expected = 1
        else:
            expected = segments
        name = body.get("name")
        if isinstance(name, str) and name in self.variables:
            name = self.variables[name]["value"]
        if not isinstance(name, str) or name in self.symbols:
            return  # computed, or a parameter: its segments cannot be told here
        found = _literal_text(name).count("/") + 1
        if found == expected:
            return
        if parent is not None:
            self.report("name", f"'{name}' has {found} segments; with 'parent' the name is one segment (BCP170)")
        else:
            self.report(
                "name",
                f"'{name}' has {found} segment(s), a {type_name} needs {expected} ('parent/child'), "
                "or declare 'parent' (BCP169)",
            )

    def check_resource_scope(self, resource_type: dict[str, Any], body: dict[str, Any]) -> None:
        writable = resource_type.get("writableScopes")
        scope = body.get("scope")
        resources = self.doc.get("resources") or {}
        if scope is None:
            wanted = _SCOPE_BITS.get(self.target_scope())
            if isinstance(writable, int) and wanted and writable and not writable & wanted and "parent" not in body:
                self.report("", f"cannot be deployed at {self.target_scope()} scope (the file's targetScope)")
        elif isinstance(scope, str):
            if scope not in resources:
                self.report("scope", f"no resource named {scope!r} in this file")
            elif isinstance(writable, int) and not writable & _EXTENSION:
                self.report("scope", "not an extension resource type: it cannot take a resource as its scope")

    # -- parameters: decorators that fit their type, defaults and allowed values that fit both ------

    def check_parameters(self) -> None:
        for name, param in self.params.items():
            self._resource = (f"param {name}", str(param.get("type")))
            decorators = _decorators(param)
            for decorator, kinds in _DECORATOR_KINDS.items():
                if decorator in decorators and param.get("type") not in kinds:
                    self.report(
                        _DECORATOR_NAMES[decorator],
                        f"cannot be attached to a parameter of type {param.get('type')} "
                        f"(only {' or '.join(sorted(kinds))})",
                    )
            for value in decorators.get("allowed") or []:
                self.check_argument(param, value, "@allowed", check_allowed=False)
            default = param.get("default")
            if (
                default is not None
                and not _is_expression(default)
                and not (isinstance(default, str) and default in self.symbols)
            ):
                self.check_argument(param, default, "(default)")

    def check_argument(self, param: dict[str, Any], value: Any, path: str, *, check_allowed: bool = True) -> None:
        """A literal value given to a parameter (its default, an @allowed entry, a module argument) fits
        the parameter's type and decorators, as ARM validates it when the deployment starts."""
        kind = param.get("type")
        fits = {
            "string": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
        }.get(str(kind), True)
        if not fits:
            self.report(path, f"expected {_article(str(kind))}, got {_describe(value)}")
            return
        decorators = _decorators(param)
        allowed = decorators.get("allowed")
        interpolated = isinstance(value, str) and "${" in value
        if check_allowed and isinstance(allowed, list) and not interpolated and value not in allowed:
            self.report(path, f"{_describe(value)} is not one of the @allowed values {allowed}")
        if kind == "int":
            low, high = decorators.get("min_value"), decorators.get("max_value")
            if isinstance(low, int) and value < low:
                self.report(path, f"{value} is below @minValue({low})")
            if isinstance(high, int) and value > high:
                self.report(path, f"{value} is above @maxValue({high})")
        if kind in ("string", "array"):
            length = len(_literal_text(value)) if isinstance(value, str) else len(value)
            low, high = decorators.get("min_length"), decorators.get("max_length")
            if isinstance(low, int) and length < low and not interpolated:
                self.report(path, f"{_describe(value)} is shorter than @minLength({low})")
            if isinstance(high, int) and length > high:
                self.report(path, f"{_describe(value)} is longer than @maxLength({high})")

    # -- modules: parameter names, kinds, decorators and scope --------------------------------------

    def check_modules(self) -> None:
        if self.path is None:
            return
        resources = self.doc.get("resources") or {}
        for name, module in (self.doc.get("modules") or {}).items():
            relative = module["detail"]["path"]
            self._resource = (f"module {name}", relative)
            target_path = (self.path.parent / relative).resolve()
            if not target_path.is_file():
                self.report("", "the module's file does not exist")
                continue
            target = parse(target_path)
            config: dict[str, Any] = module["config"]
            while "config" in config and ("condition" in config or "loop_type" in config):
                config = config["config"]
            declared: dict[str, Any] = target.get("parameters") or {}
            passed: dict[str, Any] = config.get("params") or {}
            for param, value in passed.items():
                if param not in declared:
                    close = difflib.get_close_matches(param, list(declared), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.report(f"params.{param}", f"the module declares no such parameter{hint}")
                else:
                    self.check_module_argument(declared[param], value, f"params.{param}")
            for param, declaration in declared.items():
                if declaration.get("default") is None and param not in passed:
                    self.report(f"params.{param}", "is required: the module declares it without a default")
            self.check_module_body_with_arguments(name, relative, target, target_path, passed)
            self._resource = (f"module {name}", relative)
            module_scope = str(((target.get("globals") or {}).get("scope") or {}).get("value") or "resourceGroup")
            scope = config.get("scope")
            if scope is None:
                if module_scope != self.target_scope():
                    self.report(
                        "scope",
                        f"a {module_scope} module deployed from a {self.target_scope()} file needs 'scope'",
                    )
            elif isinstance(scope, str):
                wanted_type = _SCOPE_RESOURCE_TYPES.get(module_scope)
                if scope not in resources:
                    self.report("scope", f"no resource named {scope!r} in this file")
                elif wanted_type is None or resources[scope]["type"].lower() != wanted_type.lower():
                    self.report("scope", f"'{scope}' is a {resources[scope]['type']}, not a {module_scope}")

    def check_module_body_with_arguments(
        self, call: str, relative: str, target: dict[str, Any], target_path: Path, passed: dict[str, Any]
    ) -> None:
        """Check the module's resources again with the literal values this file passes (through its
        variables): a name that breaks the type's length or pattern is caught where it is chosen."""
        declared: dict[str, Any] = target.get("parameters") or {}
        values = {}
        for param, value in passed.items():
            literal = self.literal_value(value)
            if param in declared and literal is not None:
                values[param] = literal
        if not values:
            return
        parameters = {}
        for param, declaration in declared.items():
            if param in values:
                kept = [d for d in declaration.get("decorators") or [] if d.get("type") != "allowed"]
                declaration = {**declaration, "default": values[param], "decorators": kept}
            parameters[param] = declaration
        with_arguments = _Checker(self.index, {**target, "parameters": parameters}, relative)
        as_declared = _Checker(self.index, target, relative)
        for checker in (with_arguments, as_declared):
            checker.path = target_path
            checker.run_resources()
        known = set(as_declared.findings)
        for finding in with_arguments.findings:
            if finding not in known:
                self.findings.append(
                    Finding(
                        self.file,
                        f"module {call} -> {finding.resource}",
                        finding.type,
                        finding.path,
                        f"{finding.message} (the value {self.file} passes)",
                    )
                )

    def literal_value(self, value: Any) -> Any:
        """A string, int or bool this file passes, following its variables (None: not a literal)."""
        seen: set[str] = set()
        while isinstance(value, str) and value in self.variables and value not in seen:
            seen.add(value)
            value = self.variables[value]["value"]
        if isinstance(value, bool | int) or (isinstance(value, str) and value not in self.symbols):
            return value
        return None

    def check_module_argument(self, param: dict[str, Any], value: Any, path: str) -> None:
        conditional = _conditional(value)
        if conditional is not None:
            self.check_module_argument(param, conditional[0], f"{path} (true branch)")
            self.check_module_argument(param, conditional[1], f"{path} (false branch)")
            return
        if isinstance(value, str) and value in self.params:
            source = self.params[value]
            if source.get("type") != param.get("type"):
                self.report(
                    path,
                    f"parameter {value} is {_article(str(source.get('type')))}, "
                    f"the module's parameter {_article(str(param.get('type')))}",
                )
                return
            if "secure" in _decorators(source) and "secure" not in _decorators(param):
                self.report(path, f"the @secure() parameter {value} goes to a parameter that is not @secure()")
            for sample in _decorators(source).get("allowed") or []:
                self.check_argument(param, sample, f"{path} (parameter {value})")
            return
        if isinstance(value, str) and value in self.variables:
            if value not in self._resolving:
                self._resolving.add(value)
                try:
                    self.check_module_argument(param, self.variables[value]["value"], f"{path} (variable {value})")
                finally:
                    self._resolving.discard(value)
            return
        if isinstance(value, str) and value in self.symbols:
            return  # a resource, a module or a loop variable
        if _is_expression(value):
            returned = _returned_kind(value)
            if returned is not None and param.get("type") not in (returned, None):
                self.report(
                    path,
                    f"this expression gives {_article(returned)}, the parameter is {_article(str(param.get('type')))}",
                )
            return
        self.check_argument(param, value, path)

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
            outputs = dict(parse(target).get("outputs") or {})
            if not any(o.lower() == rest[1].lower() for o in outputs):
                self._resource = (where, f"module {modules[root]['detail']['path']}")
                close = difflib.get_close_matches(rest[1], list(outputs), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.report(".".join(chain[:3]), f"the module has no such output{hint}")

    # -- values -------------------------------------------------------------------------------------

    def check(self, nodes: list[dict[str, Any]], ref: dict[str, Any], value: Any, path: str) -> None:
        type_ = _deref(nodes, ref)
        kind = type_["$type"]
        conditional = _conditional(value)
        if kind != "AnyType" and conditional is not None:
            self.check(nodes, ref, conditional[0], f"{path} (true branch)")
            self.check(nodes, ref, conditional[1], f"{path} (false branch)")
            return
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
            else:
                self.check_string(type_, value, path)
        elif kind == "IntegerType":
            if isinstance(value, bool) or not isinstance(value, int):
                self.report(path, f"expected an int, got {_describe(value)}")
            elif not isinstance(value, _AnyInt):
                low, high = type_.get("minValue"), type_.get("maxValue")
                if (low is not None and value < low) or (high is not None and value > high):
                    self.report(path, f"{value} is out of range: {_range(low, high)}")
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

    def check_string(self, type_: dict[str, Any], value: str, path: str) -> None:
        """Length and pattern of a string: exactly for a literal; for an interpolation, its literal
        characters alone must fit the maximum."""
        interpolated = "${" in value
        length = len(_literal_text(value))
        low, high = type_.get("minLength"), type_.get("maxLength")
        if high is not None and length > high:
            at_least = "at least " if interpolated else ""
            self.report(path, f"'{value}' is {at_least}{length} characters, longer than the maximum {high}")
        if interpolated:
            return
        if low is not None and length < low:
            self.report(path, f"'{value}' is {length} characters, shorter than the minimum {low}")
        pattern = type_.get("pattern")
        if isinstance(pattern, str):
            try:
                matches = re.search(pattern, value) is not None
            except re.error:
                return  # a .NET construct Python's re lacks: not guessed at
            if not matches:
                self.report(path, f"'{value}' does not match the pattern {pattern}")

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
        # a value of the parameter's kind that says nothing more: only the kind is checked with it
        declared = {"string": "${param}", "int": _AnyInt(0), "bool": False, "object": {}, "array": []}.get(
            param.get("type")
        )
        if declared is None:
            return
        allowed = _decorators(param).get("allowed")
        samples = list(allowed) if isinstance(allowed, list) and allowed else [declared]
        default = param.get("default")
        literal_default = not _is_expression(default) and not (isinstance(default, str) and default in self.symbols)
        if param.get("type") in ("string", "int", "bool") and default is not None and not allowed and literal_default:
            samples.append(default)  # the value a deployment gets when it passes none
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


class _AnyInt(int):
    """An int parameter's stand-in value: checked for its kind only, never against a range."""


# bicep-types' ScopeType flags: where a resource type may be deployed (writableScopes).
_SCOPE_BITS = {"tenant": 1, "managementGroup": 2, "subscription": 4, "resourceGroup": 8}
_EXTENSION = 16
# The resource a module's `scope:` names for each targetScope of the module.
_SCOPE_RESOURCE_TYPES = {"resourceGroup": "Microsoft.Resources/resourceGroups"}
# Bicep's parameter decorators and the parameter types they fit (BCP124 otherwise).
_DECORATOR_KINDS = {
    "min_value": {"int"},
    "max_value": {"int"},
    "min_length": {"string", "array"},
    "max_length": {"string", "array"},
    "secure": {"string", "object"},
}
_DECORATOR_NAMES = {
    "min_value": "@minValue",
    "max_value": "@maxValue",
    "min_length": "@minLength",
    "max_length": "@maxLength",
    "secure": "@secure",
}
# What a function call gives, for the functions whose result kind is fixed (pycep's names).
_RETURNED_KINDS = {
    "guid": "string",
    "unique_string": "string",
    "to_lower": "string",
    "to_upper": "string",
    "string": "string",
    "concat": "string",
    "format": "string",
    "replace": "string",
    "substring": "string",
    "int": "int",
    "length": "int",
    "empty": "bool",
    "contains": "bool",
    "bool": "bool",
}


def _decorators(param: dict[str, Any]) -> dict[str, Any]:
    return {d.get("type"): d.get("argument") for d in param.get("decorators") or []}


def _conditional(value: Any) -> tuple[Any, Any] | None:
    """The two branches of ``cond ? a : b`` (pycep's conditional operator), or None."""
    if isinstance(value, dict) and set(value) == {"operator"} and isinstance(value["operator"], dict):
        operator = value["operator"]
        if operator.get("type") == "conditional":
            operands = operator.get("operands") or {}
            return operands.get("true_value"), operands.get("false_value")
    return None


def _returned_kind(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"function"} and isinstance(value["function"], dict):
        return _RETURNED_KINDS.get(str(value["function"].get("type")))
    return None


def _literal_text(value: str) -> str:
    """A string without its ``${...}`` parts: the characters that are there whatever the values."""
    return re.sub(r"\$\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "", value)


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


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


def parse(path: Path) -> dict[str, Any]:
    """pycep's tree of a .bicep file; parsed once per distinct text (a module is read for each call)."""
    return _parse_text(path.read_text(encoding="utf-8"))


@cache
def _parse_text(text: str) -> dict[str, Any]:
    from pycep import BicepParser

    return dict(BicepParser().parse(text=text))


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
    doc = parse(path)
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
    return dict(parse(path).get("resources") or {})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
