"""``deadletter``, ``status`` and ``poison sweep`` only read and move blobs: they run on the storage
settings alone, without ``ITWIN_CLIENT_ID`` or ``ITWIN_CLIENT_SECRET`` (an operator's laptop has
``az login``, not the service client's secret).  Against Azurite and the emulator."""

from __future__ import annotations

import base64
import json

from azure.storage.queue import QueueServiceClient

from shared.core.outcome import Status
from shared.ops.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from shared.ops.poison import POISON_QUEUE
from tests.conftest import new_imodel, png_bytes


def storage_only(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if not name.startswith("ITWIN_")}


def test_deadletter_and_status_need_no_itwin_client(env, containers, emulator, pipeline, capsys):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    name = f"{imodel}/render.png"
    containers.incoming.upload_blob(name, png_bytes(64, 48))
    assert pipeline.process(containers.incoming.get_blob_client(name)).status is Status.DEADLETTERED
    bare = storage_only(env)

    assert main(["deadletter", "list"], env=bare) == EXIT_OK
    assert name in capsys.readouterr().out
    assert main(["deadletter", "show", name], env=bare) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["code"] == "InsufficientPermissions"
    assert main(["status", name], env=bare) == EXIT_FAILED  # found, and dead-lettered
    assert name in capsys.readouterr().out
    assert main(["deadletter", "redrive", "--blob", name], env=bare) == EXIT_OK
    assert containers.names(containers.incoming) == [name]


def test_poison_sweep_needs_no_itwin_client(env, containers, capsys):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(64, 48))
    queue = QueueServiceClient.from_connection_string(env["THUMBNAILS_STORAGE"]).get_queue_client(POISON_QUEUE)
    queue.create_queue()
    try:
        message = {
            "FunctionId": "Host.Functions.thumbnail_drop",
            "BlobType": "BlockBlob",
            "ETag": '"0x1"',
            "ContainerName": containers.incoming.container_name,
            "BlobName": name,
        }
        queue.send_message(base64.b64encode(json.dumps(message).encode()).decode())

        assert main(["poison", "sweep"], env=storage_only(env)) == EXIT_OK
    finally:
        queue.delete_queue()
    assert "dead-lettered" in capsys.readouterr().out
    payload = json.loads(containers.read(containers.deadletter, name + ".error.json"))
    assert payload["code"] == "RetriesExhausted"
    assert containers.names(containers.incoming) == []


def test_the_commands_that_call_the_api_still_name_the_missing_client(env, containers, capsys):
    assert main(["drain"], env=storage_only(env)) == EXIT_USAGE
    assert "ITWIN_CLIENT_ID" in capsys.readouterr().err
