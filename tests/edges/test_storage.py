"""Storage errors keep their cause, against a real Azurite: a 403 is StorageAccessDenied and says
which account and which role; anything else is StorageUnavailable with status and request id."""

import base64
import re

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

from shared.core.errors import ErrorCode, ThumbnailError
from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges import storage
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes


def with_wrong_key(env):
    wrong = base64.b64encode(b"not the account key" * 3).decode()
    return {**env, "THUMBNAILS_STORAGE": re.sub("AccountKey=[^;]+", f"AccountKey={wrong}", env["THUMBNAILS_STORAGE"])}


def test_a_403_is_storage_access_denied_naming_the_role_and_the_account_with_its_cause(env, containers):
    service = BlobServiceClient.from_connection_string(with_wrong_key(env)["THUMBNAILS_STORAGE"])
    blob = service.get_blob_client(env["THUMBNAILS_CONTAINER"], f"{new_imodel()}/x.png")

    with pytest.raises(ThumbnailError) as caught:
        storage.storage_call("read it", blob.get_blob_properties, account=blob.account_name)

    error = caught.value
    assert error.code is ErrorCode.STORAGE_ACCESS_DENIED
    assert error.transient  # the blob stays until the role is assigned
    assert isinstance(error.__cause__, HttpResponseError)
    assert error.details["status"] == 403
    assert error.details["requestId"]
    assert "devstoreaccount1" in error.message
    assert "Storage Blob Data Owner" in error.hint


def test_a_pipeline_without_access_leaves_the_blob_with_storage_access_denied(env, containers, emulator, clock):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(100, 80))
    settings = load_settings(with_wrong_key(env))
    pipeline = build_pipeline(settings, clock=clock, sleep=clock.sleep, now=clock.now)

    outcome = pipeline.process(pipeline.blobs.get_blob_client(settings.incoming_container, name))

    assert outcome.status is Status.RETRY
    assert outcome.code == "StorageAccessDenied"
    assert containers.names(containers.incoming) == [name]


def test_an_outage_is_storage_unavailable_with_its_cause(env):
    # Nothing listens on port 9: the request never reaches a storage account.
    service = BlobServiceClient(
        "http://127.0.0.1:9/devstoreaccount1", credential=None, retry_total=0, connection_timeout=1
    )
    blob = service.get_blob_client("c", "b")
    with pytest.raises(ThumbnailError) as caught:
        storage.storage_call("read it", blob.get_blob_properties)
    assert caught.value.code is ErrorCode.STORAGE_UNAVAILABLE
    assert caught.value.__cause__ is not None
    assert caught.value.details["exception"]
