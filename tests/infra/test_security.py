"""Storage, Key Vault and monitoring are locked down, and no secret leaves through an output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.settings import DEFAULTS
from tests.infra import templates as t


def storage_account() -> dict[str, Any]:
    return t.only_resource(t.module("storage"), "Microsoft.Storage/storageAccounts")


def test_storage_account_allows_no_shared_key_no_public_blob_and_only_tls12_https() -> None:
    props = storage_account()["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["defaultToOAuthAuthentication"] is True


def container_names() -> dict[str, str]:
    """Container symbolic name -> the container name main.bicep gives it."""
    doc = t.module("storage")
    found = {}
    for symbol, config in t.resources(doc, "Microsoft.Storage/storageAccounts/blobServices/containers").items():
        found[symbol] = t.module_param_value("storage", config["name"])
    return found


def test_the_containers_the_app_and_the_platform_need_exist_and_are_private() -> None:
    names = set(container_names().values())
    assert names == {
        DEFAULTS["THUMBNAILS_CONTAINER"],
        DEFAULTS["PROCESSED_CONTAINER"],
        DEFAULTS["DEADLETTER_CONTAINER"],
        DEFAULTS["STATE_CONTAINER"],
        DEFAULTS["PACE_CONTAINER"],
        "eventgrid-deadletter",
        t.variable(t.main(), "deploymentContainerName"),
    }
    containers = t.resources(t.module("storage"), "Microsoft.Storage/storageAccounts/blobServices/containers")
    for config in containers.values():
        assert config["properties"]["publicAccess"] == "None"


def lifecycle_rules() -> list[dict[str, Any]]:
    policy = t.only_resource(t.module("storage"), "Microsoft.Storage/storageAccounts/managementPolicies")
    rules = policy["properties"]["policy"]["rules"]
    assert isinstance(rules, list)
    return rules


def rule_prefixes(rule: dict[str, Any]) -> list[str]:
    """The rule's prefixes with the container parameter replaced by the name main.bicep passes."""
    prefixes = []
    for prefix in rule["definition"]["filters"]["prefixMatch"]:
        for param in t.module("storage")["parameters"]:
            prefix = prefix.replace("${" + param + "}", str(t.module_param_value("storage", param)))
        prefixes.append(prefix)
    return prefixes


def test_processed_blobs_are_deleted_after_the_retention_parameter() -> None:
    rules = [r for r in lifecycle_rules() if r["enabled"] is True]
    processed = [r for r in rules if f"{DEFAULTS['PROCESSED_CONTAINER']}/" in rule_prefixes(r)]
    assert len(processed) == 1
    rule = processed[0]
    # the trailing slash keeps the rule inside the container (not thumbnails-processed-old/...)
    assert rule_prefixes(rule) == [f"{DEFAULTS['PROCESSED_CONTAINER']}/"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterModificationGreaterThan": "processedRetentionDays"}
    assert t.module_param_value("storage", "processedRetentionDays") == 30


@pytest.mark.parametrize(
    "container", [DEFAULTS["DEADLETTER_CONTAINER"], DEFAULTS["STATE_CONTAINER"], "eventgrid-deadletter"]
)
def test_dead_letters_are_never_aged_out(container: str) -> None:
    for rule in lifecycle_rules():
        for prefix in rule_prefixes(rule):
            # an empty prefix, or one the container's blobs start with, would age them out
            assert prefix, f"rule {rule['name']} has an empty prefix (matches every container)"
            assert not f"{container}/".startswith(prefix), f"rule {rule['name']} ages out {container}"


def key_vault() -> dict[str, Any]:
    return t.only_resource(t.module("keyvault"), "Microsoft.KeyVault/vaults")


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    props = key_vault()["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert "accessPolicies" not in props


def test_the_client_secret_is_a_secure_parameter_stored_only_in_key_vault() -> None:
    assert "secure" in t.decorators(t.main(), "itwinClientSecret")
    assert t.param_default(t.main(), "itwinClientSecret") is None
    assert "secure" in t.decorators(t.module("keyvault"), "itwinClientSecret")
    assert t.module_call("keyvault")["config"]["params"]["itwinClientSecret"] == "itwinClientSecret"
    secret = t.only_resource(t.module("keyvault"), "Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["value"] == "itwinClientSecret"
    # the only other place the parameter may appear is the call into the Key Vault module
    for name, call in t.main()["modules"].items():
        if call["detail"]["path"] != "modules/keyvault.bicep":
            assert "itwinClientSecret" not in set(t.leaves(call)), f"module {name} receives the secret"


def test_the_secret_comes_from_azd_environment_not_from_a_file() -> None:
    params = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["itwinClientSecret"] == {"value": "${ITWIN_CLIENT_SECRET}"}


def test_app_insights_accepts_only_entra_authenticated_telemetry() -> None:
    component = t.only_resource(t.module("monitoring"), "Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert component["properties"]["WorkspaceResourceId"]


FORBIDDEN_IN_OUTPUTS = ("itwinClientSecret", "ConnectionString", "InstrumentationKey", "systemKeys", "blobs_extension")


@pytest.mark.parametrize("path", t.bicep_files(), ids=lambda p: p.relative_to(t.INFRA).as_posix())
def test_no_output_carries_a_secret(path):
    doc = t.parse(path)
    secure_params = {name for name in doc.get("parameters", {}) if "secure" in t.decorators(doc, name)}
    secrets = set(t.resources(doc, "Microsoft.KeyVault/vaults/secrets")) | set(
        t.resources(doc, "Microsoft.KeyVault/vaults/secrets", existing=True)
    )
    for name, output in doc.get("outputs", {}).items():
        where = f"{path.name}: output {name}"
        assert "secure" not in {d["type"] for d in output["decorators"]}, where
        assert not {"list_keys", "list", "list_account_sas", "list_service_sas"} & t.function_types(output), where
        leaves = {str(leaf) for leaf in t.leaves(output["value"])}
        assert not leaves & secure_params, f"{where} returns a @secure() parameter"
        for secret in secrets:
            assert not (secret in leaves and "value" in leaves), f"{where} returns the value of secret {secret}"
        for text in leaves:
            assert not any(word in text for word in FORBIDDEN_IN_OUTPUTS), f"{where} = {text}"
            assert "listkeys" not in text.lower(), where
            assert not any(f"{s}.properties.value" in text for s in secrets), where
            assert not any("${" + p + "}" in text for p in secure_params), where


def test_main_outputs_are_names_and_uris_only() -> None:
    outputs = t.main()["outputs"]
    assert outputs, "azd and the hook need main.bicep's outputs"
    for name, output in outputs.items():
        assert output["type"] == "string", name
        assert not any(word in name.upper() for word in ("SECRET", "KEY_VALUE", "PASSWORD", "CONNECTION")), name
