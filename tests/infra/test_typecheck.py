"""infra/typecheck.py: every template passes Azure's own resource types, and the checker bites.

Each mutation below is one edit to a real template that `azd provision` would reject (or, for an
open-ended property, silently ignore); the checker must name the resource and the property path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.infra import templates as t

typecheck = t.typecheck()


@pytest.mark.parametrize("path", t.bicep_files(), ids=lambda p: p.relative_to(t.INFRA).as_posix())
def test_every_template_passes_the_azure_types(path: Path) -> None:
    assert [str(f) for f in typecheck.check_file(path)] == []


def test_every_resource_type_used_is_vendored_or_listed_as_unverifiable() -> None:
    index = typecheck.default_index()
    used = {
        f"{res['type']}@{res['api_version']}" for path in t.bicep_files() for res in t.parse(path)["resources"].values()
    }
    vendored = {name.lower() for name in index.names()}
    unverified = {name for name in used if name.lower() not in vendored}
    assert unverified == set(typecheck.UNVERIFIED), "UNVERIFIED must list exactly the types not vendored"
    # and every vendored file is used: nothing is copied in that no template needs
    needed = {index.file_of(name) for name in used} - {None}
    assert set(typecheck.TYPES.rglob("types.json")) == needed
    assert (typecheck.TYPES / "LICENSE").read_text(encoding="utf-8").strip().startswith("MIT License")


MUTATIONS = [
    pytest.param(
        "modules/function-app.bicep",
        "httpsOnly: true",
        "httpOnly: true",
        "site (Microsoft.Web/sites@2024-04-01) properties.httpOnly: no such property (did you mean 'httpsOnly'?)",
        id="misspelled-property",
    ),
    pytest.param(
        "modules/storage.bicep",
        "publicAccess: 'None'",
        "publicAccess: 'Private'",
        "incoming (Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01) properties.publicAccess: "
        "'Private' is not one of ['Blob', 'Container', 'None']",
        id="wrong-enum-value",
    ),
    pytest.param(
        "modules/keyvault.bicep",
        "      family: 'A'\n",
        "",
        "vault (Microsoft.KeyVault/vaults@2023-07-01) properties.sku.family: is required",
        id="missing-required-property",
    ),
    pytest.param(
        "modules/storage.bicep",
        "days: 7",
        "days: '7'",
        "blobService (Microsoft.Storage/storageAccounts/blobServices@2023-05-01) "
        "properties.deleteRetentionPolicy.days: expected an int, got the string '7'",
        id="wrong-kind",
    ),
    pytest.param(
        "modules/eventgrid-subscription.bicep",
        "maxEventsPerBatch: 1",
        "maxEventsPerBatches: 1",
        "blobCreated (Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15) "
        "properties.destination.properties.maxEventsPerBatches: no such property (did you mean 'maxEventsPerBatch'?)",
        id="property-of-a-discriminated-variant",
    ),
    pytest.param(
        "modules/identity.bicep",
        "userAssignedIdentities@2023-01-31",
        "userAssignedIdentities@2099-01-31",
        "identity (Microsoft.ManagedIdentity/userAssignedIdentities@2099-01-31) (body): "
        "unknown resource type or API version (not in infra/bicep-types)",
        id="unknown-api-version",
    ),
    pytest.param(
        "modules/identity.bicep",
        "  tags: tags\n",
        "  tags: tags\n  properties: {\n    principalId: 'x'\n  }\n",
        "identity (Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31) properties: "
        "is read-only: Azure sets it, a template may not",
        id="read-only-property",
    ),
    pytest.param(
        "modules/storage.bicep",
        "          enabled: true\n          type: 'Lifecycle'",
        "          enabled: 'true'\n          type: 'Lifecycle'",
        "lifecycle (Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01) "
        "properties.policy.rules[0].enabled: expected a bool, got the string 'true'",
        id="inside-an-array",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), MUTATIONS)
def test_the_checker_catches_a_mutated_template(tmp_path: Path, file: str, old: str, new: str, expected: str) -> None:
    original = (t.INFRA / file).read_text(encoding="utf-8")
    assert original.count(old) >= 1, f"{file} no longer contains {old!r}: update the mutation"
    mutated = tmp_path / Path(file).name
    mutated.write_text(original.replace(old, new, 1), encoding="utf-8")

    findings = [str(f).split(": ", 1)[1] for f in typecheck.check_file(mutated)]

    assert findings == [expected]


def test_a_parameter_whose_allowed_values_leave_a_closed_enum_is_caught(tmp_path: Path) -> None:
    original = (t.MODULES / "storage.bicep").read_text(encoding="utf-8")
    mutated = tmp_path / "storage.bicep"
    parameter = "@allowed([\n  'None'\n  'Private'\n])\nparam access string = 'None'\n\n"
    text = original.replace("resource storage ", parameter + "resource storage ", 1)
    mutated.write_text(text.replace("publicAccess: 'None'", "publicAccess: access", 1), encoding="utf-8")

    findings = [str(f).split(": ", 1)[1] for f in typecheck.check_file(mutated)]

    assert findings == [
        "incoming (Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01) properties.publicAccess "
        "(parameter access): 'Private' is not one of ['Blob', 'Container', 'None']"
    ]


def test_an_open_enum_takes_any_string(tmp_path: Path) -> None:
    # Storage's sku.name is a union of literals AND string in Azure's types: Bicep accepts any string there.
    original = (t.MODULES / "storage.bicep").read_text(encoding="utf-8")
    mutated = tmp_path / "storage.bicep"
    mutated.write_text(original.replace("  'Standard_RAGZRS'\n", "  'Standard_RAGZRS'\n  'Premium_XYZ'\n", 1))

    assert typecheck.check_file(mutated) == []


REFERENCE_MUTATIONS = [
    pytest.param(
        "modules/function-app.bicep",
        "value: storage.properties.primaryEndpoints.blob\n",
        "value: storage.properties.primaryEndpoints.blobs\n",
        "resource site (Microsoft.Storage/storageAccounts@2023-05-01) storage.properties.primaryEndpoints.blobs: "
        "no such property (did you mean 'blob'?)",
        id="misspelled-reference",
    ),
    pytest.param(
        "modules/eventgrid-subscription.bicep",
        "${site.properties.defaultHostName}",
        "${site.properties.hostName}",
        "resource blobCreated (Microsoft.Web/sites@2024-04-01) site.properties.hostName: no such property "
        "(did you mean 'hostNames'?)",
        id="reference-inside-an-interpolation",
    ),
    pytest.param(
        "main.bicep",
        "appPrincipalId: identity.outputs.principalId",
        "appPrincipalId: identity.outputs.objectId",
        "module roles (module modules/identity.bicep) identity.outputs.objectId: the module has no such output",
        id="module-output-that-does-not-exist",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), REFERENCE_MUTATIONS)
def test_the_checker_catches_a_reference_to_a_property_that_does_not_exist(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    shutil.copytree(t.MODULES, tmp_path / "modules")  # main.bicep's module outputs are read from there
    original = (t.INFRA / file).read_text(encoding="utf-8")
    assert old in original, f"{file} no longer contains {old!r}: update the mutation"
    mutated = tmp_path / file
    mutated.write_text(original.replace(old, new, 1), encoding="utf-8")

    findings = [str(f).split(": ", 1)[1] for f in typecheck.check_file(mutated)]

    assert findings == [expected]
