"""Every template parses, main.bicep wires its modules correctly, and every checkov skip says why.

Without the Bicep CLI nothing else would notice a module parameter that is passed but not declared,
or declared without a default but never passed: both fail only at `azd provision`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import templates as t

EXPECTED_FILES = {
    "main.bicep",
    "modules/identity.bicep",
    "modules/storage.bicep",
    "modules/monitoring.bicep",
    "modules/keyvault.bicep",
    "modules/eventgrid-system-topic.bicep",
    "modules/role-assignments.bicep",
    "modules/function-app.bicep",
    "modules/eventgrid-subscription.bicep",
    "modules/alerts.bicep",
    "modules/workbook.bicep",
}


def test_the_expected_templates_exist() -> None:
    found = {p.relative_to(t.INFRA).as_posix() for p in t.bicep_files()}
    assert found == EXPECTED_FILES


@pytest.mark.parametrize("path", t.bicep_files(), ids=lambda p: p.relative_to(t.INFRA).as_posix())
def test_template_parses(path: Path) -> None:
    doc = t.parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} declares nothing"


def test_main_targets_the_subscription_and_deploys_every_module_but_the_subscription() -> None:
    doc = t.main()
    assert doc["globals"]["scope"]["value"] == "subscription"
    deployed = {m["detail"]["path"] for m in doc["modules"].values()}
    modules = {p.relative_to(t.INFRA).as_posix() for p in t.MODULES.glob("*.bicep")}
    # The Event Grid subscription needs the function's key, so the postdeploy hook deploys it.
    assert deployed == modules - {"modules/eventgrid-subscription.bicep"}


@pytest.mark.parametrize("call", sorted(t.main()["modules"]))
def test_module_parameters_match_their_declarations(call: str) -> None:
    block = t.main()["modules"][call]
    target = t.parse(t.INFRA / block["detail"]["path"])
    declared = target["parameters"]
    passed = set(block["config"]["params"])
    assert passed <= set(declared), f"{call}: passes undeclared {sorted(passed - set(declared))}"
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= passed, f"{call}: leaves required {sorted(required - passed)} unset"


def test_the_function_app_waits_for_its_roles() -> None:
    calls = t.main()["modules"].items()
    roles_call = next(name for name, m in calls if m["detail"]["path"] == "modules/role-assignments.bicep")
    assert roles_call in t.module_call("function-app")["config"]["dependsOn"]


SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(.*)$")


def _skips() -> list[tuple[str, int, str, str]]:
    found = []
    for path in t.bicep_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                found.append((path.name, number, match.group(1), match.group(2)))
    return found


def test_checkov_skips_exist_and_each_carries_a_reason() -> None:
    skips = _skips()
    assert skips, "no checkov skips found: has the comment syntax changed?"
    for name, number, check, rest in skips:
        assert line_is_comment(name, number), f"{name}:{number}: skip is not a // comment"
        assert check.startswith("CKV"), f"{name}:{number}: {check} is not a checkov id"
        reason = rest.lstrip(":").strip()
        assert rest.startswith(":"), f"{name}:{number}: {check} needs ': reason'"
        assert len(reason) >= 40, f"{name}:{number}: {check} needs a real reason"


def line_is_comment(name: str, number: int) -> bool:
    path = next(p for p in t.bicep_files() if p.name == name)
    line = path.read_text(encoding="utf-8").splitlines()[number - 1]
    return line.lstrip().startswith("//")


def test_each_skip_comment_names_one_check() -> None:
    # checkov keys a suppression by the whole "A,B" text, so a list would silently skip nothing
    for _name, _number, check, rest in _skips():
        assert not rest.startswith(","), f"{check}: one check id per comment line"
