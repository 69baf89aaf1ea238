"""One blob through the whole pipeline: real Azurite, the emulator over HTTP, a fake clock."""

import hashlib
import io
import json
import logging
from datetime import timedelta

import pytest
from PIL import Image

from shared.core.outcome import Status
from tests.conftest import jpeg_bytes, new_imodel, png_bytes


def drop(containers, name, data):
    containers.incoming.upload_blob(name, data)
    return containers.incoming.get_blob_client(name)


def payload_of(containers, name):
    return json.loads(containers.read(containers.deadletter, name + ".error.json"))


def test_a_good_png_is_uploaded_and_archived(pipeline, containers, emulator):
    imodel = new_imodel()
    original = png_bytes(1600, 900)
    outcome = pipeline.process(drop(containers, f"{imodel}/render.png", original))

    assert outcome.status is Status.UPLOADED
    assert outcome.imodel_id == imodel
    assert outcome.api_status == 201
    sent = emulator.state.uploads[imodel][-1]
    assert outcome.correlation_id == sent.correlation_id
    with Image.open(io.BytesIO(sent.data)) as image:
        assert image.format == "PNG"
        assert image.size == (800, 450)
    assert containers.names(containers.incoming) == []
    assert containers.originals(containers.processed) == [f"{imodel}/render.png"]
    archived = containers.processed.get_blob_client(f"{imodel}/render.png")
    assert archived.download_blob().readall() == original
    metadata = archived.get_blob_properties().metadata
    assert metadata["thumbnail_sha256"] == hashlib.sha256(sent.data).hexdigest()
    assert metadata["source_sha256"] == hashlib.sha256(original).hexdigest()
    assert metadata["correlation_id"] == sent.correlation_id


def test_a_jpeg_is_uploaded_as_png(pipeline, containers, emulator):
    imodel = new_imodel()
    outcome = pipeline.process(drop(containers, f"{imodel}/photo.jpg", jpeg_bytes()))
    assert outcome.status is Status.UPLOADED
    sent = emulator.state.uploads[imodel][-1]
    assert sent.content_type == "image/png"
    assert sent.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("arrange", "code", "status"),
    [
        (lambda s, i: s.forbid(i), "InsufficientPermissions", 403),
        (lambda s, i: s.forget(i), "iModelNotFound", 404),
    ],
)
def test_a_permanent_api_refusal_is_dead_lettered_with_a_full_payload(
    pipeline, containers, emulator, clock, arrange, code, status
):
    imodel = new_imodel()
    arrange(emulator.state, imodel)
    original = png_bytes(640, 400)
    blob = drop(containers, f"{imodel}/render.png", original)
    etag = blob.get_blob_properties().etag

    outcome = pipeline.process(blob)

    assert outcome.status is Status.DEADLETTERED
    assert outcome.code == code
    assert containers.names(containers.incoming) == []
    assert containers.names(containers.deadletter) == [f"{imodel}/render.png", f"{imodel}/render.png.error.json"]
    assert containers.read(containers.deadletter, f"{imodel}/render.png") == original
    payload = payload_of(containers, f"{imodel}/render.png")
    assert payload["code"] == code
    assert payload["stage"] == "upload"
    assert payload["kind"] == "permanent"
    assert payload["message"]
    assert payload["hint"]
    assert "{client id}" not in payload["hint"]
    assert payload["blob"] == f"{containers.incoming.container_name}/{imodel}/render.png"
    assert payload["etag"] == etag
    assert payload["imodelId"] == imodel
    assert payload["sha256"] == hashlib.sha256(original).hexdigest()
    assert payload["size"] == len(original)
    assert payload["attempts"] == 1
    assert payload["at"] == clock.wall.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert payload["api"]["status"] == status
    assert payload["api"]["body"]["error"]["code"] == code
    assert payload["api"]["correlationId"]
    assert payload["image"]["format"] == "PNG"
    assert (payload["image"]["width"], payload["image"]["height"]) == (640, 400)


def test_429_waits_retry_after_then_uploads(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.rate_limit_next(count=2, retry_after=7)
    outcome = pipeline.process(drop(containers, f"{imodel}/render.png", png_bytes(400, 250)))
    assert outcome.status is Status.UPLOADED
    assert clock.sleeps == [7, 7]
    assert emulator.state.statuses[429] == 2


def test_5xx_is_retried_with_backoff_then_uploads(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.fail_next(503, count=3)
    outcome = pipeline.process(drop(containers, f"{imodel}/render.png", png_bytes(400, 250)))
    assert outcome.status is Status.UPLOADED
    assert len(clock.sleeps) == 3
    assert clock.sleeps[0] < clock.sleeps[2]


def test_a_transient_failure_leaves_the_blob_and_counts_the_attempt(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.fail_next(503, count=10_000)
    blob = drop(containers, f"{imodel}/render.png", png_bytes(400, 250))

    outcome = pipeline.process(blob)

    assert outcome.status is Status.RETRY
    assert outcome.must_retry
    assert outcome.code == "ApiServerError"
    assert sum(clock.sleeps) <= pipeline.settings.retry.budget_seconds
    assert containers.names(containers.incoming) == [f"{imodel}/render.png"]
    assert pipeline.attempts.count(blob.container_name, blob.blob_name, blob.get_blob_properties().etag) == 1
    # the count is of this very ETag: counting left the source blob alone
    assert containers.names(containers.deadletter) == []


def test_the_last_allowed_attempt_dead_letters_as_retries_exhausted(pipeline, containers, emulator):
    imodel = new_imodel()
    emulator.state.fail_next(503, count=10_000)
    blob = drop(containers, f"{imodel}/render.png", png_bytes(400, 250))
    outcomes = [pipeline.process(blob) for _ in range(pipeline.settings.retry.max_delivery_attempts)]
    assert [o.status for o in outcomes[:-1]] == [Status.RETRY] * (len(outcomes) - 1)
    assert outcomes[-1].status is Status.DEADLETTERED
    payload = payload_of(containers, f"{imodel}/render.png")
    assert payload["code"] == "RetriesExhausted"
    assert payload["attempts"] == pipeline.settings.retry.max_delivery_attempts
    assert payload["lastError"]["code"] == "ApiServerError"
    assert payload["api"]["status"] == 503


def test_not_initialized_retries_until_the_window_then_dead_letters(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.not_initialized(imodel)
    blob = drop(containers, f"{imodel}/render.png", png_bytes(400, 250))
    first = pipeline.process(blob)
    assert first.status is Status.RETRY
    assert first.code == "iModelNotInitialized"
    clock.wall += timedelta(seconds=pipeline.settings.retry.not_initialized_window_seconds + 1)
    second = pipeline.process(blob)
    assert second.status is Status.DEADLETTERED
    payload = payload_of(containers, f"{imodel}/render.png")
    assert payload["code"] == "iModelNotInitialized"
    assert payload["kind"] == "permanent"
    assert payload["api"]["status"] == 409


def test_not_initialized_that_initializes_within_the_budget_uploads(pipeline, containers, emulator):
    imodel = new_imodel()
    emulator.state.not_initialized(imodel, attempts=2)
    outcome = pipeline.process(drop(containers, f"{imodel}/render.png", png_bytes(400, 250)))
    assert outcome.status is Status.UPLOADED
    assert emulator.state.statuses[409] == 2


@pytest.mark.parametrize(
    ("name", "code"),
    [("not-a-guid/render.png", "InvalidImodelId"), ("render.png", "InvalidBlobPath")],
)
def test_bad_paths_are_dead_lettered_before_any_api_call(pipeline, containers, emulator, name, code):
    original = png_bytes(100, 100)
    outcome = pipeline.process(drop(containers, name, original))
    assert outcome.status is Status.DEADLETTERED
    assert outcome.code == code
    assert containers.read(containers.deadletter, name) == original
    payload = payload_of(containers, name)
    assert payload["stage"] == "path"
    assert payload["imodelId"] is None
    assert payload["sha256"] == hashlib.sha256(original).hexdigest()
    assert emulator.state.put_total == 0
    assert emulator.state.token_requests == 0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "EmptyBlob"),
        (b"%PDF-1.7\n" + b"x" * 100, "UnsupportedImageFormat"),
        (png_bytes(300, 300)[:200], "CorruptImage"),
    ],
)
def test_bad_images_are_dead_lettered_byte_identical(pipeline, containers, emulator, data, code):
    imodel = new_imodel()
    outcome = pipeline.process(drop(containers, f"{imodel}/render.png", data))
    assert outcome.status is Status.DEADLETTERED
    assert outcome.code == code
    assert containers.read(containers.deadletter, f"{imodel}/render.png") == data
    assert payload_of(containers, f"{imodel}/render.png")["stage"] in ("read", "image")
    assert emulator.state.put_total == 0


def test_a_blob_over_the_byte_cap_is_refused_from_its_properties(env, clock, containers, emulator):
    from shared.delivery.compose import build_pipeline
    from shared.settings import load_settings

    pipeline = build_pipeline(load_settings({**env, "MAX_BLOB_BYTES": "1000"}), clock=clock, sleep=clock.sleep)
    imodel = new_imodel()
    original = png_bytes(600, 600)
    assert len(original) > 1000
    outcome = pipeline.process(drop(containers, f"{imodel}/big.png", original))
    assert outcome.code == "BlobTooLarge"
    assert outcome.timings.get("image") is None  # never decoded
    assert containers.read(containers.deadletter, f"{imodel}/big.png") == original
    assert payload_of(containers, f"{imodel}/big.png")["sha256"] == hashlib.sha256(original).hexdigest()


def test_a_blob_already_gone_is_skipped(pipeline, containers):
    blob = drop(containers, f"{new_imodel()}/render.png", png_bytes(100, 100))
    blob.delete_blob()
    assert pipeline.process(blob).status is Status.SKIPPED


def test_one_token_serves_many_blobs(pipeline, containers, emulator):
    for _ in range(6):
        pipeline.process(drop(containers, f"{new_imodel()}/render.png", png_bytes(200, 100)))
    assert emulator.state.token_requests == 1
    assert emulator.state.put_total == 6


def test_neither_the_secret_nor_a_token_reaches_a_log(pipeline, containers, emulator, env, caplog):
    from shared.delivery.log import log_outcome

    caplog.set_level(logging.DEBUG)
    emulator.state.forbid(forbidden := new_imodel())
    outcomes = [
        pipeline.process(drop(containers, f"{new_imodel()}/ok.png", png_bytes(200, 100))),
        pipeline.process(drop(containers, f"{forbidden}/no.png", png_bytes(200, 100))),
    ]
    emulator.state.revoke_tokens()
    outcomes.append(pipeline.process(drop(containers, f"{new_imodel()}/again.png", png_bytes(200, 100))))
    for outcome in outcomes:
        log_outcome(outcome)
    token = pipeline.itwin.tokens.get()
    text = caplog.text + json.dumps([o.log_fields() for o in outcomes], default=str)
    assert "thumbnail uploaded" in caplog.text
    assert env["ITWIN_CLIENT_SECRET"] not in text
    assert token not in text
    account_key = env["THUMBNAILS_STORAGE"].split("AccountKey=")[1].split(";")[0]
    assert account_key not in text
    for name in containers.names(containers.deadletter):
        assert token not in containers.read(containers.deadletter, name).decode("latin-1")


def test_an_unforeseen_error_is_retried_then_dead_lettered_never_lost(env, clock, containers, emulator):
    from requests.adapters import HTTPAdapter

    from shared.delivery.compose import build_pipeline
    from shared.edges.itwin import new_session
    from shared.settings import load_settings

    class Surprise(HTTPAdapter):
        def send(self, request, *args, **kwargs):
            raise RuntimeError("a library surprise")

    session = new_session()
    session.mount("http://", Surprise())
    pipeline = build_pipeline(load_settings(env), session=session, clock=clock, sleep=clock.sleep, now=clock.now)
    imodel = new_imodel()
    blob = drop(containers, f"{imodel}/render.png", png_bytes(300, 200))

    outcomes = [pipeline.process(blob) for _ in range(pipeline.settings.retry.max_delivery_attempts)]

    assert outcomes[0].status is Status.RETRY
    assert outcomes[0].code == "InternalError"
    assert outcomes[0].stage == "upload"
    assert outcomes[-1].status is Status.DEADLETTERED
    payload = payload_of(containers, f"{imodel}/render.png")
    assert payload["code"] == "RetriesExhausted"
    assert payload["lastError"]["code"] == "InternalError"
    assert "RuntimeError: a library surprise" in payload["lastError"]["message"]
