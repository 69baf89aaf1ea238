"""The function itself, called the way the Functions docs describe for the v2 model: take the
decorated function from the app and call it with a real BlobClient on Azurite."""

import importlib
import json

import pytest

from shared.delivery import host
from tests.conftest import new_imodel, png_bytes


@pytest.fixture
def function_app(env, containers, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    host.reset()
    import function_app as module

    module = importlib.reload(module)
    yield module
    host.reset()


def the_function(module):
    (function,) = module.app.get_functions()
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

    user_function(client=containers.incoming.get_blob_client(f"{imodel}/render.png"))

    assert len(emulator.state.uploads[imodel]) == 1
    assert containers.originals(containers.processed) == [f"{imodel}/render.png"]


def test_a_transient_failure_fails_the_invocation_so_the_host_retries(function_app, containers, emulator):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(300, 200))
    emulator.state.rate_limit_next(count=5, retry_after=3600)  # longer than the cap: not in this invocation
    user_function = the_function(function_app).get_user_function()

    with pytest.raises(host.RetryLaterError) as caught:
        user_function(client=containers.incoming.get_blob_client(f"{imodel}/render.png"))

    assert caught.value.outcome.code == "TooManyRequests"
    assert containers.names(containers.incoming) == [f"{imodel}/render.png"]


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
