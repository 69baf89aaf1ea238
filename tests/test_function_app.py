"""The function itself, called the way the Functions docs describe for the v2 model: take the
decorated function from the app and call it with a real BlobClient on Azurite."""

import importlib
import json
import logging
import subprocess
import sys

import azure.functions as func
import pytest

from shared.delivery import host
from shared.delivery.log import LOGGER_NAME, blob_context
from shared.delivery.reassert import encode
from tests.conftest import new_imodel, png_bytes
from tests.deployment import copy_deployment


@pytest.fixture
def function_app(env, containers, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    host.reset()
    import function_app as module

    module = importlib.reload(module)
    yield module
    host.reset()


class InvocationContext(func.Context):
    """What the worker passes as ``context``: the invocation's id and the function's name."""

    def __init__(self, invocation_id: str) -> None:
        self._invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return "thumbnail_drop"

    @property
    def function_directory(self) -> str:
        return "."

    @property
    def trace_context(self):  # type: ignore[override]
        return None

    @property
    def retry_context(self):  # type: ignore[override]
        return None

    @property
    def thread_local_storage(self):  # type: ignore[override]
        return None


def the_function(module, name="thumbnail_drop"):
    (function,) = [f for f in module.app.get_functions() if f.get_function_name() == name]
    return function


def test_the_trigger_is_an_event_grid_blob_trigger_on_the_incoming_container(function_app):
    function = the_function(function_app)
    assert function.get_function_name() == "thumbnail_drop"
    (binding,) = json.loads(function.get_function_json())["bindings"]
    assert binding["type"] == "blobTrigger"
    assert binding["path"] == "%THUMBNAILS_CONTAINER%/{imodelId}/{name}"
    assert binding["connection"] == "THUMBNAILS_STORAGE"
    assert binding["source"] == "EventGrid"


def test_calling_the_function_uploads_and_archives(function_app, containers, emulator):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(900, 600))
    user_function = the_function(function_app).get_user_function()

    user_function(client=containers.incoming.get_blob_client(f"{imodel}/render.png"), context=InvocationContext("i-1"))

    assert len(emulator.state.uploads[imodel]) == 1
    assert containers.originals(containers.processed) == [f"{imodel}/render.png"]


def test_a_transient_failure_fails_the_invocation_so_the_host_retries(function_app, containers, emulator):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(300, 200))
    emulator.state.rate_limit_next(count=5, retry_after=3600)  # longer than the cap: not in this invocation
    user_function = the_function(function_app).get_user_function()

    with pytest.raises(host.RetryLaterError) as caught:
        user_function(
            client=containers.incoming.get_blob_client(f"{imodel}/render.png"), context=InvocationContext("i-2")
        )

    assert caught.value.outcome.code == "TooManyRequests"
    assert containers.names(containers.incoming) == [f"{imodel}/render.png"]


def test_the_reassert_function_puts_the_newest_recorded_drop_once_more(function_app, containers, emulator):
    """Called as the worker calls a queue-triggered function: a ``func.QueueMessage`` whose body is
    the decoded message (the queue extension base64-decodes it before the worker sees it)."""
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(300, 200))
    # get_functions() builds the functions once per app: take both from one call.
    functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    functions["thumbnail_drop"](
        client=containers.incoming.get_blob_client(f"{imodel}/render.png"), context=InvocationContext("i-3")
    )
    reassert = functions["thumbnail_reassert"]

    reassert(message=func.QueueMessage(body=encode(imodel)), context=InvocationContext("i-4"))

    puts = emulator.state.uploads[imodel]
    assert len(puts) == 2
    assert puts[0].data == puts[1].data


def test_a_bad_setting_fails_at_start_up_naming_it(env, monkeypatch):
    from shared.settings import SettingsError

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("THUMBNAIL_MAX_WIDTH", "wide")
    host.reset()
    import function_app as module

    with pytest.raises(SettingsError, match="THUMBNAIL_MAX_WIDTH"):
        importlib.reload(module)
    host.reset()


# -- the worker's view ------------------------------------------------------------------------------
#
# The Python worker (Azure/azure-functions-python-worker, loader.process_indexed_function and
# functions.Registry.add_indexed_function) indexes a v2 app like this: find the FunctionApp in the
# imported function_app module, take each function's parameters less `context` (the invocation
# context is not a binding), record each parameter's binding type and annotation, turn deferred
# (SDK-type) binding on for the function when the annotation is an SdkType known to the base
# extension's registry, and then ask that registry, not the function, for the raw bindings the host
# receives.  The probe below does exactly those steps with the installed azure-functions and
# azurefunctions-extensions-base, inside a copy of the deployed file set, with only the app settings
# infra/ sets in the environment.

WORKER_INDEXING_PROBE = """
import inspect, json, sys
import azure.functions as func
import azurefunctions.extensions.base as base
import function_app

registry = base.get_binding_registry()
apps = [v for v in vars(function_app).values() if isinstance(v, func.FunctionRegister)]
assert len(apps) == 1, apps
result = []
for function in apps[0].get_functions():
    user = function.get_user_function()
    params = dict(inspect.signature(user).parameters)
    annotations = {name: p.annotation for name, p in params.items() if p.annotation is not p.empty}
    bound = {b.name: b for b in function.get_bindings()}
    requires_context = "context" in params and "context" not in bound
    if requires_context:
        params.pop("context")
        assert annotations["context"] is func.Context, annotations["context"]
    assert set(params) == set(bound), (sorted(params), sorted(bound))
    deferred = False
    input_types = {}
    for name in params:
        anno = annotations.get(name)
        supported = registry.check_supported_type(anno)
        deferred = deferred or supported
        input_types[name] = type("ParamTypeInfo", (), {"binding_name": bound[name].type, "pytype": anno,
                                                     "deferred_bindings_enabled": supported})()
    if deferred:
        raw, logs = registry.get_raw_bindings(function, input_types)
    else:
        raw, logs = function.get_raw_bindings(), {}
    result.append({"name": function.get_function_name(), "deferred": deferred, "context": requires_context,
                   "raw": [json.loads(r) for r in raw]})
print(json.dumps(result))
"""

# What each setting's Bicep expression evaluates to in Azure, for one example deployment; a plain
# literal in the template is used as it is.  A setting added to infra/ without an example here fails
# the test below, so the app is always imported with exactly the settings infra/ sets.
EXAMPLE_VALUES = {
    "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
    "AzureWebJobsStorage__blobServiceUri": "https://stexample.blob.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://stexample.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://stexample.table.core.windows.net/",
    "THUMBNAILS_STORAGE__blobServiceUri": "https://stexample.blob.core.windows.net/",
    "THUMBNAILS_STORAGE__queueServiceUri": "https://stexample.queue.core.windows.net/",
    "THUMBNAILS_STORAGE__clientId": "00000000-0000-0000-0000-000000000001",
    "ITWIN_CLIENT_ID": "service-client",
    "INSTANCE_MEMORY_MB": "2048",  # instanceMemoryMB, an azd parameter
    # App Service resolves the Key Vault reference before the worker starts.
    "ITWIN_CLIENT_SECRET": "resolved-secret",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000002",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD",
}


def infra_app_settings() -> dict[str, str]:
    """The app settings infra/ sets, each evaluated for the example deployment."""
    from tests.infra import templates as t

    resolved: dict[str, str] = {}
    for name, value in t.app_settings().items():
        if name in EXAMPLE_VALUES:
            resolved[name] = EXAMPLE_VALUES[name]
            continue
        # a container name or URL passed down from main.bicep: follow it to its literal
        parameter = value if isinstance(value, str) else None
        if parameter in t.module("function-app")["parameters"]:
            literal = t.module_param_value("function-app", parameter)
            assert isinstance(literal, str), f"{name}: add an example value"
            assert "${" not in literal, f"{name}: add an example value"
            resolved[name] = literal
        else:
            assert isinstance(value, str), f"{name}: add an example value"
            assert "${" not in value, f"{name}: add an example value"
            resolved[name] = value
    return resolved


def index_like_the_worker(tmp_path, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    copy_deployment(tmp_path)
    return subprocess.run(
        [sys.executable, "-P", "-c", WORKER_INDEXING_PROBE],
        cwd=tmp_path,
        env={**settings, "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_worker_sends_the_host_a_deferred_event_grid_blob_trigger(tmp_path):
    settings = infra_app_settings()
    assert set(EXAMPLE_VALUES) <= set(settings), "an example for a setting infra/ no longer sets"

    result = index_like_the_worker(tmp_path, settings)

    assert result.returncode == 0, result.stderr
    functions = {f["name"]: f for f in json.loads(result.stdout.strip().splitlines()[-1])}
    assert set(functions) == {"thumbnail_drop", "thumbnail_reassert"}
    (reassert,) = functions["thumbnail_reassert"]["raw"]
    assert reassert == {
        "type": "queueTrigger",
        "direction": "IN",
        "name": "message",
        "queueName": "%REASSERT_QUEUE%",
        "connection": "THUMBNAILS_STORAGE",
    }
    function = functions["thumbnail_drop"]
    assert function["deferred"] is True
    assert function["context"] is True
    (binding,) = function["raw"]
    assert binding == {
        "type": "blobTrigger",
        "direction": "IN",
        "name": "client",
        "path": "%THUMBNAILS_CONTAINER%/{imodelId}/{name}",
        "connection": "THUMBNAILS_STORAGE",
        "source": "EventGrid",
        "properties": {"SupportsDeferredBinding": True},
    }


def test_without_the_settings_infra_sets_the_deployed_app_does_not_import(tmp_path):
    # the other side of the test above: the import really depends on those settings
    settings = infra_app_settings()
    del settings["THUMBNAILS_STORAGE__blobServiceUri"]

    result = index_like_the_worker(tmp_path, settings)

    assert result.returncode != 0
    assert "THUMBNAILS_STORAGE" in result.stderr


class Captured(logging.Handler):
    """Records as the worker's handler sees them (after the package logger's filters)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured():
    handler = Captured()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_the_invocation_id_tags_every_record_of_the_blob_and_the_dead_letter_payload(
    function_app, containers, emulator, captured
):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(300, 200))
    user_function = the_function(function_app).get_user_function()

    blob_client = containers.incoming.get_blob_client(f"{imodel}/render.png")
    user_function(client=blob_client, context=InvocationContext("inv-7"))

    assert captured.records, "the function logged nothing"
    for record in captured.records:
        assert record.td_invocation_id == "inv-7"
        assert record.td_blob == f"{containers.incoming.container_name}/{imodel}/render.png"
        assert record.td_imodel_id == imodel
    payload = json.loads(containers.read(containers.deadletter, f"{imodel}/render.png.error.json"))
    assert payload["invocationId"] == "inv-7"


def test_an_intermediate_record_carries_the_blob_keys_and_they_end_with_the_blob(captured):
    logger = logging.getLogger(LOGGER_NAME)
    imodel = new_imodel()
    with blob_context(invocation_id="inv-8", blob=f"thumbnails/{imodel}/a.png", imodel_id=imodel):
        logger.warning("the newest-upload marker kept changing")
        logger.warning("final", extra={"td_blob": "given/explicitly"})
    logger.warning("after the blob")

    during, explicit, after = captured.records
    assert during.td_invocation_id == "inv-8"
    assert during.td_blob == f"thumbnails/{imodel}/a.png"
    assert during.td_imodel_id == imodel
    assert explicit.td_blob == "given/explicitly"  # extra wins over the context
    assert explicit.td_invocation_id == "inv-8"
    assert not hasattr(after, "td_invocation_id")
