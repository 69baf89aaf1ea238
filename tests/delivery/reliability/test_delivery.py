"""At-least-once delivery: duplicates, concurrency, late old images, uncommitted uploads, the
poison queue and redrive, on real Azurite and the emulator."""

import base64
import json
import threading

import pytest
from azure.storage.blob import BlobBlock
from azure.storage.queue import QueueServiceClient

from shared.core.outcome import Status
from shared.core.paths import parse_blob_path
from shared.delivery.compose import build_pipeline
from shared.delivery.source import Arrival, Source, etag_text
from shared.edges.storage import blob_service
from shared.ops.deadletters import AUDIT_PREFIX, DeadLetters
from shared.ops.poison import POISON_QUEUE, parse_poison_message, poison_queue, sweep
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes


def workers(env, clock, count):
    """Separate pipelines: separate token caches and clients, as separate host instances have."""
    settings = load_settings(env)
    return [build_pipeline(settings, clock=clock, sleep=clock.sleep, now=clock.now) for _ in range(count)]


def race(pipelines, blob_factory):
    barrier = threading.Barrier(len(pipelines))
    outcomes = [None] * len(pipelines)

    def run(index, pipeline):
        barrier.wait()
        outcomes[index] = pipeline.process(blob_factory(pipeline))

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(pipelines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_deliveries_of_a_good_blob_upload_once_and_no_one_errs(env, containers, emulator, clock):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    original = png_bytes(800, 600)
    containers.incoming.upload_blob(name, original)

    outcomes = race(workers(env, clock, 4), lambda p: p.blobs.get_blob_client(containers.incoming.container_name, name))

    assert {o.status for o in outcomes} <= {Status.UPLOADED, Status.SKIPPED}
    assert Status.UPLOADED in {o.status for o in outcomes}
    assert all(o.code is None for o in outcomes)
    assert containers.names(containers.incoming) == []
    assert containers.names(containers.processed) == [name]
    assert containers.names(containers.deadletter) == []
    assert len({u.data for u in emulator.state.uploads[imodel]}) == 1


def test_concurrent_deliveries_of_a_bad_blob_make_one_dead_letter(env, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    name = f"{imodel}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))

    outcomes = race(workers(env, clock, 4), lambda p: p.blobs.get_blob_client(containers.incoming.container_name, name))

    assert {o.status for o in outcomes} <= {Status.DEADLETTERED, Status.SKIPPED}
    assert sum(o.status is Status.DEADLETTERED for o in outcomes) >= 1
    assert containers.names(containers.deadletter) == [name, name + ".error.json"]
    assert containers.names(containers.incoming) == []


def test_the_uploader_wins_over_a_stale_dead_letter_of_the_same_version(pipeline, containers, emulator):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    blob = containers.incoming.get_blob_client(name)
    blob.upload_blob(png_bytes(300, 200))
    etag = blob.get_blob_properties().etag
    # What a concurrent worker left when it crashed right after dead-lettering, before deleting.
    containers.deadletter.upload_blob(name, blob.download_blob().readall())
    containers.deadletter.upload_blob(name + ".error.json", json.dumps({"code": "RetriesExhausted", "etag": etag}))

    outcome = pipeline.process(blob)

    assert outcome.status is Status.UPLOADED
    assert containers.names(containers.deadletter) == []
    assert name in containers.names(containers.processed)


def test_a_version_already_archived_is_not_dead_lettered(pipeline, containers, emulator):
    imodel = new_imodel()
    emulator.state.forbid(imodel)  # this delivery would fail...
    name = f"{imodel}/render.png"
    blob = containers.incoming.get_blob_client(name)
    blob.upload_blob(png_bytes(300, 200))
    etag = blob.get_blob_properties().etag
    # ...but an earlier delivery uploaded and archived this very version, then crashed.
    containers.processed.upload_blob(name, b"archived", metadata={"source_etag": etag_text(etag)})

    outcome = pipeline.process(blob)

    assert outcome.status is Status.SKIPPED
    assert containers.names(containers.deadletter) == []
    assert containers.names(containers.incoming) == []


def test_an_uncommitted_upload_is_ignored_until_committed(pipeline, containers, emulator):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    blob = containers.incoming.get_blob_client(name)
    data = png_bytes(300, 200)
    blob.stage_block("b1", data)

    assert pipeline.process(blob).status is Status.SKIPPED
    assert emulator.state.put_total == 0

    blob.commit_block_list([BlobBlock("b1")])
    assert pipeline.process(blob).status is Status.UPLOADED


def test_counting_a_failed_delivery_leaves_the_etag_and_the_next_one_knows(pipeline, containers, emulator):
    """A failure is counted by a mark of its own, not on the source, so the blob keeps its ETag (a
    recorded send still matches it) and the next delivery reports the earlier failure."""
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    blob = containers.incoming.get_blob_client(name)
    blob.upload_blob(png_bytes(300, 200))
    before = blob.get_blob_properties().etag
    emulator.state.fail_next(503, count=10_000)
    assert pipeline.process(blob).status is Status.RETRY
    after = blob.get_blob_properties()
    assert after.etag == before
    assert pipeline.attempts.count(blob.container_name, blob.blob_name, after.etag) == 1
    emulator.state.reset()

    outcome = pipeline.process(blob)
    assert outcome.status is Status.UPLOADED
    assert outcome.attempts == 2


@pytest.mark.parametrize("encode", [lambda text: base64.b64encode(text.encode()).decode(), lambda text: text])
def test_poison_messages_are_parsed_base64_or_raw(encode):
    message = {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.thumbnail_drop",
        "BlobType": "BlockBlob",
        "ContainerName": "thumbnails",
        "BlobName": "x/y.png",
        "ETag": '"0x1"',
    }
    parsed = parse_poison_message(encode(json.dumps(message)))
    assert parsed is not None
    assert (parsed.container, parsed.blob_name, parsed.etag) == ("thumbnails", "x/y.png", '"0x1"')
    assert parse_poison_message("not json") is None


def test_poison_sweep_dead_letters_what_the_host_gave_up_on(pipeline, containers, env):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    etag = containers.incoming.upload_blob(name, png_bytes(300, 200)).get_blob_properties().etag
    for _ in range(4):  # four failed deliveries before the host gave up
        pipeline.attempts.failed(containers.incoming.container_name, name, etag)
    queue = QueueServiceClient.from_connection_string(env["THUMBNAILS_STORAGE"]).get_queue_client(POISON_QUEUE)
    queue.create_queue()
    try:
        ours = {"FunctionId": "Host.Functions.thumbnail_drop", "BlobType": "BlockBlob", "ETag": '"0x1"'}
        queue.send_message(
            base64.b64encode(
                json.dumps({**ours, "ContainerName": containers.incoming.container_name, "BlobName": name}).encode()
            ).decode()
        )
        queue.send_message(json.dumps({**ours, "ContainerName": "someone-else", "BlobName": "a/b.png"}))

        results = sweep(pipeline, poison_queue(pipeline.settings.storage))

        notes = sorted(r.note for r in results)
        assert notes == ["dead-lettered", "left in the queue: not a message for this container"]
        payload = json.loads(containers.read(containers.deadletter, name + ".error.json"))
        assert payload["code"] == "RetriesExhausted"
        assert payload["attempts"] == 4
        assert containers.names(containers.incoming) == []
        assert queue.get_queue_properties().approximate_message_count == 1
    finally:
        queue.delete_queue()


def test_redrive_puts_the_original_back_and_keeps_the_payload_in_an_audit_trail(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    name = f"{imodel}/render.png"
    original = png_bytes(300, 200)
    containers.incoming.upload_blob(name, original)
    assert pipeline.process(containers.incoming.get_blob_client(name)).status is Status.DEADLETTERED

    letters = DeadLetters(pipeline.blobs, pipeline.settings, clock.now)
    (entry,) = letters.list(code="InsufficientPermissions")
    assert letters.list(code="iModelNotFound") == []
    assert letters.list(imodel_id=imodel)[0].blob == name
    emulator.state.allow(imodel)  # the service client was granted access

    assert letters.redrive(entry) == f"{containers.incoming.container_name}/{name}"

    assert containers.read(containers.incoming, name) == original
    redriven = containers.incoming.get_blob_client(name).get_blob_properties()
    assert pipeline.attempts.count(containers.incoming.container_name, name, redriven.etag) == 0  # a new start
    remaining = containers.names(containers.deadletter)
    assert [n for n in remaining if not n.startswith(AUDIT_PREFIX)] == []
    (audit,) = [n for n in remaining if n.startswith(AUDIT_PREFIX)]
    assert json.loads(containers.read(containers.deadletter, audit))["code"] == "InsufficientPermissions"
    assert letters.list() == []

    assert pipeline.process(containers.incoming.get_blob_client(name)).status is Status.UPLOADED


def test_a_blob_replaced_while_being_decoded_is_not_sent(env, containers, emulator, clock):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    replaced = []

    state = containers.state.container_name

    def replace_on_marker_read(request):
        # The delivery record is leased just before sending: overwrite the blob at that moment.
        if f"/{state}/" in request.http_request.url and not replaced:
            replaced.append(True)
            containers.incoming.upload_blob(name, png_bytes(310, 200), overwrite=True)

    settings = load_settings(env)
    blobs = blob_service(settings.storage, raw_request_hook=replace_on_marker_read)
    pipeline = build_pipeline(settings, blobs=blobs, clock=clock, sleep=clock.sleep, now=clock.now)

    outcome = pipeline.process(blobs.get_blob_client(containers.incoming.container_name, name))

    assert replaced
    assert outcome.status is Status.SKIPPED
    assert emulator.state.put_total == 0
    assert containers.names(containers.incoming) == [name]  # the newer version waits for its own event


def test_archiving_never_overwrites_a_newer_version_of_the_same_path(pipeline, containers):
    name = f"{new_imodel()}/render.png"
    blob = containers.incoming.get_blob_client(name)
    blob.upload_blob(png_bytes(300, 200))
    old_props = blob.get_blob_properties()
    old_bytes = blob.download_blob().readall()
    blob.delete_blob()  # replaced and fully handled meanwhile:
    containers.processed.upload_blob(name, b"newer", metadata={"dropped": "2999-01-01T00:00:00Z"})
    source = Source(Arrival(blob, old_props), parse_blob_path(containers.incoming.container_name, name), old_bytes)

    pipeline.archiver.archive(source, pipeline.deadline(), sent=None, superseded_by="x")

    assert containers.read(containers.processed, name) == b"newer"


def test_an_unreadable_dead_letter_payload_is_never_deleted_as_stale(pipeline, containers, emulator):
    imodel = new_imodel()
    name = f"{imodel}/render.png"
    containers.deadletter.upload_blob(name, b"someone's original")
    containers.deadletter.upload_blob(name + ".error.json", b"{not json")
    containers.incoming.upload_blob(name, png_bytes(300, 200))

    assert pipeline.process(containers.incoming.get_blob_client(name)).status is Status.UPLOADED
    assert containers.names(containers.deadletter) == [name, name + ".error.json"]


def test_redrive_never_overwrites_a_newer_drop_and_finishes_a_half_done_redrive(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    name = f"{imodel}/render.png"
    original = png_bytes(300, 200)
    containers.incoming.upload_blob(name, original)
    pipeline.process(containers.incoming.get_blob_client(name))
    letters = DeadLetters(pipeline.blobs, pipeline.settings, clock.now)
    (entry,) = letters.list()

    containers.incoming.upload_blob(name, b"a newer drop")
    with pytest.raises(FileExistsError):
        letters.redrive(entry)
    assert containers.read(containers.incoming, name) == b"a newer drop"
    assert letters.list() != []

    containers.incoming.get_blob_client(name).upload_blob(original, overwrite=True)  # as a crashed redrive left it
    letters.redrive(entry)
    assert letters.list() == []
