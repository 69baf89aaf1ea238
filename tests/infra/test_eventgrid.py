"""The Event Grid subscription feeds exactly the incoming container to the right function, and azd
creates it after the code is deployed (azure.yaml and the postdeploy hooks)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.settings import DEFAULTS
from tests.infra import templates as t

HOOKS = {
    "posix": t.INFRA / "hooks" / "postdeploy.sh",
    "windows": t.INFRA / "hooks" / "postdeploy.ps1",
}


def subscription() -> dict[str, Any]:
    return t.only_resource(t.module("eventgrid-subscription"), "Microsoft.EventGrid/systemTopics/eventSubscriptions")


def resolved(text: str) -> str:
    """A string from the subscription module with its parameters at their defaults."""
    doc = t.module("eventgrid-subscription")
    for name, param in doc["parameters"].items():
        if param["default"] is not None:
            text = text.replace("${" + name + "}", str(param["default"]))
    return text


def subject_filter() -> str:
    value = subscription()["properties"]["filter"]["subjectBeginsWith"]
    assert isinstance(value, str)
    return value


def test_subject_filter_ends_with_a_slash() -> None:
    assert subject_filter().endswith("/"), "without the slash thumbnails-processed/ would match too"
    assert resolved(subject_filter()) == f"/blobServices/default/containers/{DEFAULTS['THUMBNAILS_CONTAINER']}/"


@pytest.mark.parametrize(
    ("subject", "matches"),
    [
        ("/blobServices/default/containers/thumbnails/blobs/5e19bee0-3aea-4355-a9f0-c6df9989ee7d/render.png", True),
        ("/blobServices/default/containers/thumbnails-processed/blobs/5e19bee0/render.png", False),
        ("/blobServices/default/containers/thumbnails-deadletter/blobs/5e19bee0/render.png", False),
        ("/blobServices/default/containers/eventgrid-deadletter/blobs/x.json", False),
        ("/blobServices/default/containers/app-package/blobs/released-package.zip", False),
    ],
)
def test_subject_filter_selects_only_the_incoming_container(subject: str, matches: bool) -> None:
    assert subject.startswith(resolved(subject_filter())) is matches


def test_only_completed_blob_creations_are_delivered() -> None:
    event_filter = subscription()["properties"]["filter"]
    assert event_filter["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    assert event_filter["advancedFilters"] == [
        {
            "key": "data.api",
            "operatorType": "StringIn",
            "values": ["PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"],
        }
    ]


def test_webhook_is_the_blobs_extension_of_the_deployed_function() -> None:
    destination = subscription()["properties"]["destination"]
    assert destination["endpointType"] == "WebHook"
    url = resolved(destination["properties"]["endpointUrl"])
    assert url.startswith("https://${site.properties.defaultHostName}/runtime/webhooks/blobs?")
    assert "functionName=Host.Functions.thumbnail_drop&" in url
    key = r"\$\{listKeys\('\$\{site\.id\}/host/default', '[0-9-]+'\)\.systemKeys\.blobs_extension\}"
    assert re.search(rf"&code={key}$", url)


def test_the_function_name_is_the_one_function_app_py_declares() -> None:
    source = (t.ROOT / "function_app.py").read_text(encoding="utf-8")
    declared = re.findall(r"@app\.function_name\(\s*(?:name\s*=\s*)?[\"']([^\"']+)[\"']", source)
    assert t.param_default(t.module("eventgrid-subscription"), "functionName") in declared


def test_delivery_is_retried_for_a_day_then_dead_lettered_with_the_topic_identity() -> None:
    props = subscription()["properties"]
    assert props["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    assert "deadLetterDestination" not in props, "dead-letter with an identity, not with a key"
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    destination = dead_letter["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    container = destination["properties"]["blobContainerName"]
    assert t.param_default(t.module("eventgrid-subscription"), container) == "eventgrid-deadletter"
    topic = t.only_resource(t.module("eventgrid-system-topic"), "Microsoft.EventGrid/systemTopics")
    assert topic["identity"] == {"type": "SystemAssigned"}
    assert topic["properties"]["topicType"] == "Microsoft.Storage.StorageAccounts"


def test_main_outputs_what_the_hook_needs() -> None:
    outputs = set(t.main()["outputs"])
    for path in HOOKS.values():
        text = path.read_text(encoding="utf-8")
        wanted = set(re.findall(r"(?:value|Get-AzdValue) '?([A-Z][A-Z0-9_]+)'?", text))
        assert wanted, f"{path.name} reads no azd values?"
        # AZURE_SUBSCRIPTION_ID is azd's own; the rest come from main.bicep.
        assert wanted - {"AZURE_SUBSCRIPTION_ID"} <= outputs, f"{path.name}: {sorted(wanted - outputs)}"


@pytest.mark.parametrize("platform", sorted(HOOKS))
def test_hook_deploys_the_subscription_module_with_its_required_parameters(platform: str) -> None:
    text = HOOKS[platform].read_text(encoding="utf-8")
    assert "eventgrid-subscription.bicep" in text
    assert "az deployment group create" in text
    doc = t.module("eventgrid-subscription")
    required = {name for name, param in doc["parameters"].items() if param["default"] is None}
    for name in required:
        assert re.search(rf"\b{name}=", text), f"{HOOKS[platform].name} does not pass {name}"
    # The filter lives in the Bicep module only, never duplicated in a script.
    assert "subject-begins-with" not in text
    assert "subjectBeginsWith" not in text
    # The key is read by the template (listKeys), never fetched into the script.
    assert "systemKeys.blobs_extension != null" in text
    assert "--query systemKeys.blobs_extension " not in text
    assert '--query "systemKeys.blobs_extension"' not in text


def test_hook_passes_the_outputs_main_bicep_names() -> None:
    sh = HOOKS["posix"].read_text(encoding="utf-8")
    assert 'incomingContainerName="$incoming_container"' in sh
    assert "incoming_container=$(value THUMBNAILS_CONTAINER_NAME)" in sh
    assert t.main_value(t.main()["outputs"]["THUMBNAILS_CONTAINER_NAME"]["value"]) == DEFAULTS["THUMBNAILS_CONTAINER"]


def azure_yaml() -> str:
    return (t.ROOT / "azure.yaml").read_text(encoding="utf-8")


def test_azure_yaml_declares_the_python_function_service() -> None:
    text = azure_yaml()
    block = re.search(r"^services:\n((?:[ ].*\n)+)", text, re.MULTILINE)
    assert block, "azure.yaml has no services block"
    service = block.group(1)
    assert re.search(r"^  thumbnails:$", service, re.MULTILINE)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"^    {re.escape(line)}$", service, re.MULTILINE), line


def test_azure_yaml_runs_the_postdeploy_hooks() -> None:
    text = azure_yaml()
    hooks = re.search(r"^hooks:\n((?:(?:[ ].*)?\n)+)", text, re.MULTILINE)
    assert hooks, "azure.yaml has no hooks block"
    body = hooks.group(1)
    assert re.search(r"^  postdeploy:$", body, re.MULTILINE)
    posix = re.search(r"^    posix:\n((?:      .*\n)+)", body, re.MULTILINE)
    windows = re.search(r"^    windows:\n((?:      .*\n)+)", body, re.MULTILINE)
    assert posix, "no posix hook"
    assert windows, "no windows hook"
    assert "run: infra/hooks/postdeploy.sh" in posix.group(1)
    assert "shell: sh" in posix.group(1)
    assert "run: infra/hooks/postdeploy.ps1" in windows.group(1)
    assert "shell: pwsh" in windows.group(1)
    for path in HOOKS.values():
        assert path.is_file()


def test_parameters_file_uses_azd_variables_for_every_required_parameter() -> None:
    params = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = t.main()["parameters"]
    assert set(params) <= set(declared)
    assert {name for name, p in declared.items() if p["default"] is None} <= set(params)
    assert params["environmentName"] == {"value": "${AZURE_ENV_NAME}"}
    assert params["location"] == {"value": "${AZURE_LOCATION}"}
    assert params["itwinClientId"] == {"value": "${ITWIN_CLIENT_ID}"}
