"""Exactly the justified role assignments, each on the narrowest scope, with deterministic names."""

from __future__ import annotations

import json
from typing import Any

from tests.infra import templates as t

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# (role, principal parameter, scope: the symbolic name of the resource it is assigned on)
EXPECTED = {
    (STORAGE_BLOB_DATA_OWNER, "appPrincipalId", "storage"),
    (STORAGE_QUEUE_DATA_CONTRIBUTOR, "appPrincipalId", "storage"),
    (STORAGE_TABLE_DATA_CONTRIBUTOR, "appPrincipalId", "storage"),
    (KEY_VAULT_SECRETS_USER, "appPrincipalId", "secret"),
    (MONITORING_METRICS_PUBLISHER, "appPrincipalId", "appInsights"),
    (STORAGE_BLOB_DATA_CONTRIBUTOR, "eventGridPrincipalId", "eventGridDeadletter"),
    # the optional operator (main.bicep principalId, from azd's AZURE_PRINCIPAL_ID)
    (STORAGE_BLOB_DATA_CONTRIBUTOR, "operatorPrincipalId", "storage"),
    (STORAGE_QUEUE_DATA_CONTRIBUTOR, "operatorPrincipalId", "storage"),
    # each producer that drops files (main.bicep producerPrincipalIds, a render farm): the loop variable
    (STORAGE_BLOB_DATA_CONTRIBUTOR, "producer", "incoming"),
}
OPERATOR = "operatorPrincipalId"
PRODUCER = "producer"

ASSIGNMENT = "Microsoft.Authorization/roleAssignments"


def assignments() -> dict[str, dict[str, Any]]:
    return t.resources(t.module("role-assignments"), ASSIGNMENT)


def test_role_assignments_live_in_one_module() -> None:
    for path in t.bicep_files():
        if path.name != "role-assignments.bicep":
            assert not t.resources(t.parse(path), ASSIGNMENT), f"{path.name} assigns roles"


def test_exactly_the_justified_roles_are_assigned() -> None:
    doc = t.module("role-assignments")
    granted = {
        (t.role_definition_guid(doc, a), a["properties"]["principalId"], a["scope"]) for a in assignments().values()
    }
    assert granted == EXPECTED
    assert len(assignments()) == len(EXPECTED)


def test_scopes_are_the_resources_they_name() -> None:
    doc = t.module("role-assignments")
    existing = {
        "storage": "Microsoft.Storage/storageAccounts",
        "secret": "Microsoft.KeyVault/vaults/secrets",
        "appInsights": "Microsoft.Insights/components",
        "eventGridDeadletter": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "incoming": "Microsoft.Storage/storageAccounts/blobServices/containers",
    }
    for symbol, type_ in existing.items():
        assert symbol in t.resources(doc, type_, existing=True), f"{symbol} is not an existing {type_}"


def test_the_dead_letter_writer_is_confined_to_the_event_grid_dead_letter_container() -> None:
    container_type = "Microsoft.Storage/storageAccounts/blobServices/containers"
    container = t.resources(t.module("role-assignments"), container_type, existing=True)
    name = container["eventGridDeadletter"]["name"]
    assert t.module_param_value("role-assignments", name) == "eventgrid-deadletter"


def test_every_assignment_has_a_deterministic_guid_name_and_a_service_principal() -> None:
    for symbol, assignment in assignments().items():
        assert t.function_types(assignment["name"]) == {"guid"}, symbol
        leaves = set(t.leaves(assignment["name"]))
        assert assignment["properties"]["principalId"] in leaves, f"{symbol}: name must include the principal"
        if assignment["properties"]["principalId"] == OPERATOR:
            assert assignment["properties"]["principalType"] == "operatorPrincipalType", symbol
        elif assignment["properties"]["principalId"] == PRODUCER:
            assert assignment["properties"]["principalType"] == "producerPrincipalType", symbol
        else:
            assert assignment["properties"]["principalType"] == "ServicePrincipal", symbol


def test_the_operator_grants_exist_only_when_a_principal_is_given() -> None:
    doc = t.module("role-assignments")
    assert t.param_default(doc, OPERATOR) == ""
    operator = {name for name, a in assignments().items() if a["properties"]["principalId"] == OPERATOR}
    assert len(operator) == 2
    for name, resource in doc["resources"].items():
        guarded = OPERATOR in set(t.leaves(t.condition(resource)))
        assert guarded == (name in operator), f"{name}: only the operator grants are conditional"
        if guarded:
            assert t.function_types(t.condition(resource)) == {"empty"}


def test_main_passes_azds_principal_to_the_operator_grants() -> None:
    params = t.module_call("role-assignments")["config"]["params"]
    assert params[OPERATOR] == "principalId"
    assert t.param_default(t.main(), "principalId") == ""
    parameters = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["principalId"] == {"value": "${AZURE_PRINCIPAL_ID}"}


def test_every_assignment_is_justified_by_a_comment() -> None:
    lines = (t.MODULES / "role-assignments.bicep").read_text(encoding="utf-8").splitlines()
    for symbol in assignments():
        start = next(i for i, line in enumerate(lines) if line.startswith(f"resource {symbol} "))
        comment = []
        for line in reversed(lines[:start]):
            if not line.startswith("//"):
                break
            comment.append(line)
        assert len(" ".join(comment)) >= 120, f"{symbol} needs a comment that says why"


def test_principals_are_the_app_identity_and_the_topic_identity() -> None:
    params = t.module_call("role-assignments")["config"]["params"]
    assert "identity" in set(t.leaves(params["appPrincipalId"]))
    assert "principalId" in set(t.leaves(params["appPrincipalId"]))
    assert "systemTopic" in set(t.leaves(params["eventGridPrincipalId"]))


def test_azd_sets_the_operator_principal_type_from_its_own_login() -> None:
    """A CI deploy signs azd in as a service principal; with principalType fixed to User, ARM answers
    UnmatchedPrincipalType.  azd substitutes ``${AZURE_PRINCIPAL_TYPE}`` in main.parameters.json with the
    type of the signed-in principal (Azure/azure-dev, cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go:
    ``evalParamEnvSubst`` answers PrincipalTypeEnvVarName from ``CurrentPrincipalType``, "User" or
    "ServicePrincipal"), and leaves the parameter out (so its default applies) when it yields nothing."""
    parameters = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["principalType"] == {"value": "${AZURE_PRINCIPAL_TYPE}"}
    assert t.param_default(t.main(), "principalType") == "User"
    for produced_by_azd in ("User", "ServicePrincipal"):
        assert produced_by_azd in t.decorators(t.main(), "principalType")["allowed"]
        assert produced_by_azd in t.decorators(t.module("role-assignments"), "operatorPrincipalType")["allowed"]
    assert t.module_call("role-assignments")["config"]["params"]["operatorPrincipalType"] == "principalType"


def test_producers_may_write_to_the_incoming_container_and_nowhere_else() -> None:
    """Shared keys are off, so a render farm can drop a file only with an Entra role: each object id in
    producerPrincipalIds gets Storage Blob Data Contributor scoped to the incoming container (not the
    account), with producerPrincipalType.  azd fills the array from PRODUCER_PRINCIPAL_IDS: for an array
    parameter whose value is a string, azd substitutes the variable and parses the result as JSON, and
    leaves the parameter out while the variable is unset (Azure/azure-dev bicep_provider.go,
    ``loadParameters``, "Path A")."""
    doc = t.module("role-assignments")
    producer = doc["resources"]["producerBlobContributor"]
    loop = producer["config"]["loop_type"]["detail"]
    assert (loop["item_name"], loop["array_name"]) == (PRODUCER, "producerPrincipalIds")
    grant = t.body(producer)
    assert grant["scope"] == "incoming"
    assert t.role_definition_guid(doc, grant) == STORAGE_BLOB_DATA_CONTRIBUTOR
    assert (grant["properties"]["principalId"], grant["properties"]["principalType"]) == (
        PRODUCER,
        "producerPrincipalType",
    )
    assert t.function_types(grant["name"]) == {"guid"}
    assert {"incoming", PRODUCER} <= set(t.leaves(grant["name"])), "one name per producer and container"
    container = t.resources(doc, "Microsoft.Storage/storageAccounts/blobServices/containers", existing=True)
    assert container["incoming"]["parent"] == "blobService"
    assert t.module_param_value("role-assignments", container["incoming"]["name"]) == "thumbnails"
    # optional, and a render farm is a service principal unless said otherwise
    assert t.param_default(doc, "producerPrincipalIds") == []
    assert t.param_default(t.main(), "producerPrincipalIds") == []
    assert t.param_default(t.main(), "producerPrincipalType") == "ServicePrincipal"
    assert t.decorators(t.main(), "producerPrincipalType")["allowed"] == ["User", "Group", "ServicePrincipal"]
    params = t.module_call("role-assignments")["config"]["params"]
    assert params["producerPrincipalIds"] == "producerPrincipalIds"
    assert params["producerPrincipalType"] == "producerPrincipalType"
    parameters = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["producerPrincipalIds"] == {"value": "${PRODUCER_PRINCIPAL_IDS}"}
    assert parameters["producerPrincipalType"] == {"value": "${PRODUCER_PRINCIPAL_TYPE}"}
