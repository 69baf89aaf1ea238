"""The function app: Flex Consumption, Python 3.11, one identity for everything, and app settings that
agree with what the code reads (shared.settings.DEFAULTS)."""

from __future__ import annotations

from typing import Any

from shared.settings import DEFAULTS, IDENTITY_SUFFIXES, STORAGE_SETTING
from tests.infra import templates as t

# Settings the platform reads, not the app: identity-based host storage and Entra-authenticated telemetry.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # Read by the Python worker (it loads the Azure Monitor OpenTelemetry distro), not by the app.
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
}

# Replaced by functionAppConfig on Flex Consumption, a key-based secret, or simply not needed.
NEVER_SET = {
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsFeatureFlags",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "APPINSIGHTS_INSTRUMENTATIONKEY",
    STORAGE_SETTING,
}

# Flex Consumption's documented range of maximumInstanceCount (see the test below).
FLEX_LOWEST_MAXIMUM = 40
FLEX_HIGHEST_MAXIMUM = 1000


def site() -> dict[str, Any]:
    return t.only_resource(t.module("function-app"), "Microsoft.Web/sites")


def plan() -> dict[str, Any]:
    return t.only_resource(t.module("function-app"), "Microsoft.Web/serverfarms")


def test_plan_is_flex_consumption_fc1_on_linux() -> None:
    assert plan()["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan()["properties"]["reserved"] is True
    assert site()["kind"] == "functionapp,linux"
    assert site()["properties"]["serverFarmId"] != ""


def test_runtime_is_python_311() -> None:
    runtime = site()["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "3.11"}


def test_scale_settings_are_parameters_with_safe_defaults() -> None:
    scale = site()["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale == {"instanceMemoryMB": "instanceMemoryMB", "maximumInstanceCount": "maximumInstanceCount"}
    assert t.module_param_value("function-app", "instanceMemoryMB") == 2048
    allowed = t.decorators(t.main(), "instanceMemoryMB")["allowed"]
    assert allowed == t.decorators(t.module("function-app"), "instanceMemoryMB")["allowed"] == [2048, 4096]


def test_the_instance_count_range_is_what_flex_consumption_accepts_in_every_region() -> None:
    """Flex Consumption's documented range for maximumInstanceCount is 40 to 1000: learn.microsoft.com,
    azure-functions/flex-consumption-plan, "Considerations": "The lowest maximum scale is currently `40`.
    The highest currently supported value is `1000`" (MicrosoftDocs/azure-docs PR #128255 corrected a
    page that said 1).  Below 40 works only as a preview in a few regions (West Europe, Australia East,
    West US 2: the Functions PM on Azure/azure-functions-host#10523), so a smaller default is refused
    by ARM almost everywhere.  The template refuses it first, at `azd provision` validation."""
    for doc in (t.main(), t.module("function-app")):
        bounds = t.decorators(doc, "maximumInstanceCount")
        assert (bounds["min_value"], bounds["max_value"]) == (FLEX_LOWEST_MAXIMUM, FLEX_HIGHEST_MAXIMUM)
    assert t.module_param_value("function-app", "maximumInstanceCount") == FLEX_LOWEST_MAXIMUM
    passed = t.module_call("function-app")["config"]["params"]["maximumInstanceCount"]
    assert passed == "maximumInstanceCount"


def test_one_user_assigned_identity_runs_everything() -> None:
    props = site()["properties"]
    assert site()["identity"]["type"] == "UserAssigned"
    assert set(site()["identity"]["userAssignedIdentities"]) == {"'${identityId}'"}
    deployment = props["functionAppConfig"]["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert "${deploymentContainerName}" in deployment["value"]
    assert props["keyVaultReferenceIdentity"] == "identityId"
    assert props["httpsOnly"] is True
    settings = t.app_settings()
    for connection in ("AzureWebJobsStorage", STORAGE_SETTING):
        assert settings[f"{connection}__credential"] == "managedidentity"
        assert settings[f"{connection}__clientId"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert t.module_call("function-app")["config"]["params"]["identityClientId"] != ""


def test_host_storage_and_the_trigger_connection_are_identity_based_uris() -> None:
    settings = t.app_settings()
    for name in (
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
        f"{STORAGE_SETTING}__blobServiceUri",
        f"{STORAGE_SETTING}__queueServiceUri",
    ):
        service = name.split("__")[1].removesuffix("ServiceUri")
        leaves = set(t.leaves(settings[name]))
        assert {"storage", "primaryEndpoints", service} <= leaves, f"{name} should be the account's {service} endpoint"


def test_client_secret_is_a_key_vault_reference_resolved_by_the_identity() -> None:
    value = t.app_settings()["ITWIN_CLIENT_SECRET"]
    assert value.startswith("@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/")
    assert value.endswith("/)"), "versionless reference, so a rotated secret is picked up"
    assert "${keyVaultSecretName}" in value
    assert site()["properties"]["keyVaultReferenceIdentity"] == "identityId"


def settings_left_to_default() -> set[str]:
    names = t.variable(t.module("function-app"), "settingsLeftToDefault")
    assert len(names) == len(set(names))
    return set(names)


def test_app_settings_agree_with_the_settings_the_code_reads() -> None:
    names = set(t.app_settings())
    app = names - PLATFORM_SETTINGS
    expected = (set(DEFAULTS) - {STORAGE_SETTING}) | {f"{STORAGE_SETTING}__{s}" for s in IDENTITY_SUFFIXES}
    defaulted = settings_left_to_default()
    assert names >= PLATFORM_SETTINGS
    assert not app & defaulted, f"both set and 'left to default': {sorted(app & defaulted)}"
    unknown = sorted((app | defaulted) - expected)
    forgotten = sorted(expected - app - defaulted)
    assert app | defaulted == expected, f"unknown to the code: {unknown}; neither set nor defaulted: {forgotten}"


def test_only_settings_with_a_default_are_left_to_it() -> None:
    for name in settings_left_to_default():
        assert DEFAULTS[name] is not None, f"{name} has no default, so it must be set"


def test_the_connection_string_setting_is_never_set_in_azure() -> None:
    names = set(t.app_settings())
    assert not names & NEVER_SET, sorted(names & NEVER_SET)


def test_set_values_match_the_codes_defaults_where_they_overlap() -> None:
    settings = t.app_settings()
    overlapping = (
        "THUMBNAILS_CONTAINER",
        "PROCESSED_CONTAINER",
        "DEADLETTER_CONTAINER",
        "ITWIN_API_URL",
        "ITWIN_TOKEN_URL",
    )
    for name in overlapping:
        value = t.module_param_value("function-app", settings[name])
        assert value == DEFAULTS[name], f"{name}: infra {value!r}, code default {DEFAULTS[name]!r}"
    assert settings["ITWIN_CLIENT_ID"] == "itwinClientId"
    assert t.module_call("function-app")["config"]["params"]["itwinClientId"] == "itwinClientId"
    assert t.param_default(t.main(), "itwinClientId") is None


def test_azd_can_find_the_service() -> None:
    tags = site()["tags"]
    leaves = list(t.leaves(tags))
    assert "tags" in leaves, "the environment tags are kept"
    index = next(i for i, leaf in enumerate(leaves) if str(leaf).strip("'") == "azd-service-name")
    assert leaves[index + 1] == "thumbnails"
    assert t.variable(t.main(), "tags") == {"'azd-env-name'": "environmentName"}
