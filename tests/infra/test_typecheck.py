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


# The blind spots of issue 18: each edit is one that `azd provision` (the Bicep compiler or ARM's
# validation) rejects, and that the checker missed.  main.bicep is checked beside a copy of modules/, so
# module calls are checked against the modules' parameters and resources.
BLIND_SPOTS = [
    pytest.param(
        "modules/storage.bicep",
        "resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {\n  parent: storage\n",
        "resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {\n",
        [
            "blobService (Microsoft.Storage/storageAccounts/blobServices@2023-05-01) name: 'default' has 1 segment(s), "
            "a Microsoft.Storage/storageAccounts/blobServices needs 2 ('parent/child'), or declare 'parent' (BCP169)"
        ],
        id="child-without-parent-and-a-one-segment-name",
    ),
    pytest.param(
        "modules/storage.bicep",
        "  parent: storage\n  name: 'default'",
        "  parent: storage\n  name: 'acct/default'",
        [
            "blobService (Microsoft.Storage/storageAccounts/blobServices@2023-05-01) name: 'acct/default' has 2 "
            "segments; with 'parent' the name is one segment (BCP170)",
            "blobService (Microsoft.Storage/storageAccounts/blobServices@2023-05-01) name: 'acct/default' is not "
            "allowed: expected 'default'",
        ],
        id="child-with-parent-and-a-two-segment-name",
    ),
    pytest.param(
        "main.bicep",
        "@minLength(1)\n@description('Region",
        "@minValue(1)\n@description('Region",
        ["param location (string) @minValue: cannot be attached to a parameter of type string (only int)"],
        id="decorator-that-does-not-fit-the-type",
    ),
    pytest.param(
        "modules/alerts.bicep",
        "groupShortName: 'thumbnails'",
        "groupShortName: 'thumbnailsdrop'",
        [
            "actionGroup (Microsoft.Insights/actionGroups@2023-01-01) properties.groupShortName: 'thumbnailsdrop' "
            "is 14 characters, longer than the maximum 12"
        ],
        id="string-longer-than-maxLength",
    ),
    pytest.param(
        "main.bicep",
        "var keyVaultSecretName = 'itwin-client-secret'",
        "var keyVaultSecretName = 'itwin_client_secret'",
        [
            "module keyVault -> secret (Microsoft.KeyVault/vaults/secrets@2023-07-01) name (parameter secretName): "
            "'itwin_client_secret' does not match the pattern ^[a-zA-Z0-9-]{1,127}$ (the value main.bicep passes)"
        ],
        id="pattern-through-a-module-parameter",
    ),
    pytest.param(
        "modules/storage.bicep",
        "days: 7",
        "days: 400",
        [
            "blobService (Microsoft.Storage/storageAccounts/blobServices@2023-05-01) "
            "properties.deleteRetentionPolicy.days: 400 is out of range: 1 to 365"
        ],
        id="integer-out-of-range",
    ),
    pytest.param(
        "main.bicep",
        "param maximumInstanceCount int = 40",
        "param maximumInstanceCount int = 20",
        ["param maximumInstanceCount (int) (default): 20 is below @minValue(40)"],
        id="default-outside-its-own-decorators",
    ),
    pytest.param(
        "main.bicep",
        "    name: 'id-thumbnails-${resourceToken}'",
        "    nmae: 'id-thumbnails-${resourceToken}'",
        [
            "module identity (modules/identity.bicep) params.nmae: the module declares no such parameter "
            "(did you mean 'name'?)",
            "module identity (modules/identity.bicep) params.name: is required: the module declares it without "
            "a default",
        ],
        id="module-parameter-name",
    ),
    pytest.param(
        "main.bicep",
        "    itwinClientId: itwinClientId\n",
        "    itwinClientId: maximumInstanceCount\n",
        [
            "module functionApp (modules/function-app.bicep) params.itwinClientId: parameter maximumInstanceCount is "
            "an int, the module's parameter a string"
        ],
        id="module-parameter-type",
    ),
    pytest.param(
        "main.bicep",
        "module identity 'modules/identity.bicep' = {\n  name: 'identity'\n  scope: rg\n",
        "module identity 'modules/identity.bicep' = {\n  name: 'identity'\n",
        [
            "module identity (modules/identity.bicep) scope: a resourceGroup module deployed from a subscription "
            "file needs 'scope'"
        ],
        id="module-without-scope",
    ),
    pytest.param(
        "modules/role-assignments.bicep",
        "  scope: eventGridDeadletter\n",
        "  scope: eventGridDeadletterX\n",
        [
            "eventGridDeadletterWriter (Microsoft.Authorization/roleAssignments@2022-04-01) scope: no resource "
            "named 'eventGridDeadletterX' in this file"
        ],
        id="resource-scope",
    ),
    pytest.param(
        "modules/storage.bicep",
        "publicAccess: 'None'",
        "publicAccess: empty(name) ? 'None' : 'Private'",
        [
            "incoming (Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01) properties.publicAccess "
            "(false branch): 'Private' is not one of ['Blob', 'Container', 'None']"
        ],
        id="both-branches-of-a-ternary",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), BLIND_SPOTS)
def test_the_checker_catches_what_it_used_to_miss(
    tmp_path: Path, file: str, old: str, new: str, expected: list[str]
) -> None:
    shutil.copytree(t.MODULES, tmp_path / "modules")
    original = (t.INFRA / file).read_text(encoding="utf-8")
    assert original.count(old) >= 1, f"{file} no longer contains {old!r}: update the mutation"
    mutated = tmp_path / file
    mutated.write_text(original.replace(old, new, 1), encoding="utf-8")

    findings = [str(f).split(": ", 1)[1] for f in typecheck.check_file(mutated)]

    assert findings == expected


MODULE_CONTRACTS = [
    pytest.param(
        "modules/keyvault.bicep",
        "@secure()\n@description('The IMS",
        "@description('The IMS",
        [
            "module keyVault (modules/keyvault.bicep) params.itwinClientSecret: the @secure() parameter "
            "itwinClientSecret goes to a parameter that is not @secure()"
        ],
        id="secret-into-a-parameter-that-is-not-secure",
    ),
    pytest.param(
        "main.bicep",
        "@allowed([\n  2048\n  4096\n])",
        "@allowed([\n  512\n  2048\n  4096\n])",
        [
            "module functionApp (modules/function-app.bicep) params.instanceMemoryMB (parameter instanceMemoryMB): "
            "the int 512 is not one of the @allowed values [2048, 4096]"
        ],
        id="allowed-values-the-module-refuses",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), MODULE_CONTRACTS)
def test_main_bicep_keeps_each_modules_parameter_contract(
    tmp_path: Path, file: str, old: str, new: str, expected: list[str]
) -> None:
    """A module edit (or a main.bicep edit) that breaks what main.bicep passes shows in main.bicep's check:
    a secret that would land in the deployment's visible inputs, a value the module's @allowed refuses."""
    shutil.copytree(t.MODULES, tmp_path / "modules")
    shutil.copy(t.MAIN, tmp_path / "main.bicep")
    original = (t.INFRA / file).read_text(encoding="utf-8")
    assert original.count(old) == 1, f"{file} no longer contains {old!r} once: update the mutation"
    (tmp_path / file).write_text(original.replace(old, new, 1), encoding="utf-8")

    findings = [str(f).split(": ", 1)[1] for f in typecheck.check_file(tmp_path / "main.bicep")]

    assert findings == expected
