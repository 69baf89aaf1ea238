"""The newest thumbnail wins, by construction: every hole the old detect-and-repair path had, forced.

Each test is black-box (drops, deliveries, the emulator's record of PUTs), so it says the same thing
about any implementation: after every delivery has run, the last PUT an iModel received carries the
bytes of its newest drop, no uploaded blob is dead-lettered, and every blob is accounted for.
"""

import contextlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobLeaseClient
from requests.adapters import HTTPAdapter

from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges.attempts import AttemptMarks
from shared.edges.itwin import new_session
from shared.edges.storage import blob_service
from shared.imaging import normalize
from shared.ops.deadletters import DeadLetters
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes
from tests.repo import ROOT

OLDER = png_bytes(500, 300, color=(30, 30, 200))
NEWER = png_bytes(500, 300, color=(200, 30, 30))


def next_second() -> None:
    """Wait for the wall clock's next whole second: storage stamps creation times in seconds."""
    now = time.time()
    time.sleep(int(now) + 1.05 - now)


def drop(containers, name, data):
    containers.incoming.upload_blob(name, data, overwrite=True)
    return containers.incoming.get_blob_client(name)


def drop_older_then_newer(containers, imodel):
    older = drop(containers, f"{imodel}/older.png", OLDER)
    next_second()
    newer = drop(containers, f"{imodel}/newer.png", NEWER)
    assert older.get_blob_properties().creation_time < newer.get_blob_properties().creation_time
    return older, newer


def thumbnail_of(pipeline, data):
    return normalize(data, pipeline.settings.image).data


def last_put(emulator, imodel):
    return emulator.state.uploads[imodel][-1].data


def free_leases(containers, imodel, *names):
    """What the lease durations of a dead worker do in production, without waiting for them."""
    clients = [containers.incoming.get_blob_client(name) for name in names]
    clients.append(containers.state.get_blob_client(f"{imodel}.json"))
    for client in clients:
        with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
            BlobLeaseClient(client).break_lease(lease_break_period=0)


def start_worker(env, name, *options):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.reliability.crash_worker", json.dumps(env), name, "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


def test_a_kill_between_an_older_put_and_its_record_still_ends_on_the_newest(
    env, pipeline, containers, emulator, tmp_path
):
    """The older image's worker is about to PUT when the newer one is delivered; the older PUT then
    lands and its worker dies before recording anything.  Redeliveries must end on the newer image."""
    imodel = new_imodel()
    older, newer = drop_older_then_newer(containers, imodel)
    worker = start_worker(env, older.blob_name, "--pause", str(tmp_path), "--kill-after-put")
    assert wait_for(tmp_path / "ready"), worker.communicate(timeout=5)

    first_newer = pipeline.process(newer)  # while the older one is on the wire
    (tmp_path / "go").touch()
    assert worker.wait(timeout=60) == -9
    free_leases(containers, imodel, older.blob_name)

    # The host redelivers both (in the order it likes; the newer first here, as it failed first).
    outcomes = [first_newer]
    if first_newer.status is Status.RETRY:
        outcomes.append(pipeline.process(newer))
    outcomes.append(pipeline.process(older))

    assert last_put(emulator, imodel) == thumbnail_of(pipeline, NEWER)
    assert outcomes[-1].status in (Status.SUPERSEDED, Status.UPLOADED)
    assert containers.names(containers.incoming) == []
    assert containers.names(containers.deadletter) == []
    assert sorted(containers.names(containers.processed)) == [f"{imodel}/newer.png", f"{imodel}/older.png"]


@pytest.mark.parametrize("release_first", ["newer", "older"])
def test_two_processes_racing_an_older_and_a_newer_put_end_on_the_newest(
    env, containers, emulator, tmp_path, release_first
):
    """Two worker processes, each stopped right before its PUT whenever it gets there; the test lets
    them go in the order given (when both are waiting), or as they arrive (when only one can be)."""
    imodel = new_imodel()
    older, newer = drop_older_then_newer(containers, imodel)
    pauses = {"older": tmp_path / "older", "newer": tmp_path / "newer"}
    for path in pauses.values():
        path.mkdir()
    workers = {
        "older": start_worker(env, older.blob_name, "--pause", str(pauses["older"])),
        "newer": start_worker(env, newer.blob_name, "--pause", str(pauses["newer"])),
    }
    order = [release_first, "newer" if release_first == "older" else "older"]
    released: list[str] = []
    end = time.monotonic() + 120
    while len(released) < 2 and time.monotonic() < end:
        ready = [who for who in order if who not in released and (pauses[who] / "ready").exists()]
        if ready and len(ready) < 2 - len(released):
            time.sleep(1.0)  # give the other one the chance to arrive too (only one can, with a lease)
            ready = [who for who in order if who not in released and (pauses[who] / "ready").exists()]
        if ready:
            (pauses[ready[0]] / "go").touch()
            released.append(ready[0])
        if all(w.poll() is not None for w in workers.values()):
            break
        time.sleep(0.02)
    results = {who: w.communicate(timeout=120) for who, w in workers.items()}
    assert all(w.returncode == 0 for w in workers.values()), results

    assert last_put(emulator, imodel) == thumbnail_of(load_pipeline(env), NEWER)
    assert containers.names(containers.incoming) == []
    assert containers.names(containers.deadletter) == []


def load_pipeline(env):
    return build_pipeline(load_settings(env))


def test_a_failed_send_after_being_overtaken_never_dead_letters_an_uploaded_blob(env, containers, emulator, clock):
    """While the older image's PUT is on the wire the newer one is delivered, and then the client
    loses access to the iModel.  The older one's PUT got 201: it must never be dead-lettered."""
    imodel = new_imodel()
    older, newer = drop_older_then_newer(containers, imodel)
    settings = load_settings(env)
    other = build_pipeline(settings, clock=clock, sleep=clock.sleep, now=clock.now)
    during: list = []

    class NewerDeliveredMeanwhile(HTTPAdapter):
        def send(self, request, *args, **kwargs):
            response = super().send(request, *args, **kwargs)
            if request.method == "PUT" and not during:
                during.append(other.process(newer))
                emulator.state.forbid(imodel)
            return response

    session = new_session()
    session.mount("http://", NewerDeliveredMeanwhile())
    pipeline = build_pipeline(settings, session=session, clock=clock, sleep=clock.sleep, now=clock.now)

    outcome = pipeline.process(older)

    assert outcome.status is Status.UPLOADED, (outcome.code, outcome.message)
    assert containers.names(containers.deadletter) == []
    emulator.state.allow(imodel)
    if containers.incoming.get_blob_client(newer.blob_name).exists():
        assert other.process(newer).status is Status.UPLOADED
    assert last_put(emulator, imodel) == thumbnail_of(pipeline, NEWER)
    assert containers.names(containers.incoming) == []


def same_second_pair(containers, imodel):
    """Two drops whose creation times are the same whole second (retried until they are)."""
    for _ in range(10):
        a = drop(containers, f"{imodel}/a.png", OLDER)
        b = drop(containers, f"{imodel}/b.png", NEWER)
        if a.get_blob_properties().creation_time == b.get_blob_properties().creation_time:
            return a, b
        a.delete_blob()
        b.delete_blob()
    pytest.fail("could not make two drops in one second")


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_drops_in_the_same_second_end_on_the_same_one_whatever_the_order(pipeline, containers, emulator, first):
    """Ties are ordered by name: of two drops in one second, b.png (the greater name) wins, always."""
    imodel = new_imodel()
    a, b = same_second_pair(containers, imodel)
    order = [a, b] if first == "a" else [b, a]

    outcomes = [pipeline.process(blob) for blob in order]

    assert all(o.status in (Status.UPLOADED, Status.SUPERSEDED) for o in outcomes)
    assert last_put(emulator, imodel) == thumbnail_of(pipeline, NEWER)
    assert containers.names(containers.incoming) == []


def test_a_redrive_older_than_the_current_thumbnail_does_not_replace_it(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    older = drop(containers, f"{imodel}/older.png", OLDER)
    assert pipeline.process(older).status is Status.DEADLETTERED
    emulator.state.allow(imodel)  # access granted; meanwhile a newer render arrives and is sent
    next_second()
    newer = drop(containers, f"{imodel}/newer.png", NEWER)
    assert pipeline.process(newer).status is Status.UPLOADED
    next_second()

    letters = DeadLetters(pipeline.blobs, pipeline.settings, clock.now)
    (entry,) = letters.list(imodel_id=imodel)
    letters.redrive(entry)
    outcome = pipeline.process(containers.incoming.get_blob_client(older.blob_name))

    assert outcome.status is Status.SUPERSEDED
    assert last_put(emulator, imodel) == thumbnail_of(pipeline, NEWER)
    assert len(emulator.state.uploads[imodel]) == 1


def test_the_order_survives_the_archive_retention(pipeline, containers, emulator, clock):
    """The processed container's lifecycle rule deletes archives after 30 days; an old render that
    is still being retried then must not replace the newer thumbnail."""
    imodel = new_imodel()
    older, newer = drop_older_then_newer(containers, imodel)
    emulator.state.fail_next(503, count=10_000)
    assert pipeline.process(older).status is Status.RETRY  # the API is down for this one
    emulator.state.reset()
    assert pipeline.process(newer).status is Status.UPLOADED
    clock.advance(31 * 24 * 3600)
    for name in containers.names(containers.processed):  # what the 30-day lifecycle rule does
        containers.processed.delete_blob(name)

    outcome = pipeline.process(older)

    assert outcome.status is Status.SUPERSEDED
    assert last_put(emulator, imodel) == thumbnail_of(pipeline, NEWER)


def test_a_storm_of_429s_and_lease_contention_ends_before_the_deadline(env, containers, emulator, clock):
    """429s with long retry-afters, the delivery record and then the source held by other workers,
    and a final refusal to dispose of: the invocation ends by its deadline, the blob left in place."""
    settings = load_settings(env)
    budget = settings.retry.budget_seconds
    imodel = new_imodel()
    blob = drop(containers, f"{imodel}/render.png", OLDER)
    emulator.state.rate_limit_next(count=9, retry_after=32)  # 288 s of waiting the API asks for
    emulator.state.forbid(imodel)  # ...and then a permanent refusal, to be dead-lettered
    # Another worker holds the source (as if disposing it) for longer than anyone should wait.
    BlobLeaseClient(blob).acquire(lease_duration=-1)
    # And another delivery of the same iModel holds its record for the first 10 s.
    record = containers.state.get_blob_client(f"{imodel}.json")
    record.upload_blob(b"")
    record_lease = BlobLeaseClient(record)
    record_lease.acquire(lease_duration=-1)
    started = clock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock() - started >= 10 and record_lease.id:
            with contextlib.suppress(HttpResponseError):
                record_lease.release()

    pipeline = build_pipeline(settings, clock=clock, sleep=sleep, now=clock.now)
    outcome = pipeline.process(blob)

    assert outcome.status is Status.RETRY, (outcome.code, outcome.message)
    assert clock() - started <= budget, f"ran {clock() - started:.0f} s past a {budget:.0f} s deadline"
    assert containers.names(containers.incoming) == [blob.blob_name]
    assert containers.names(containers.deadletter) == []


def test_the_drop_time_of_a_redriven_blob_is_its_original_one(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    blob = drop(containers, f"{imodel}/render.png", OLDER)
    created = blob.get_blob_properties().creation_time
    pipeline.process(blob)
    next_second()
    letters = DeadLetters(pipeline.blobs, pipeline.settings, clock.now)
    letters.redrive(letters.list(imodel_id=imodel)[0])

    redriven = containers.incoming.get_blob_client(blob.blob_name).get_blob_properties()

    assert redriven.creation_time > created
    carried = datetime.strptime(redriven.metadata["thumbnaildrop_dropped"], "%Y-%m-%dT%H:%M:%SZ")
    assert carried.replace(tzinfo=UTC) == created


def test_a_409_storm_behind_a_held_record_ends_before_the_deadline_and_leaves_the_blob(
    env, containers, emulator, clock
):
    settings = load_settings(env)
    budget = settings.retry.budget_seconds
    imodel = new_imodel()
    blob = drop(containers, f"{imodel}/render.png", OLDER)
    emulator.state.not_initialized(imodel)  # 409 iModelNotInitialized for good
    record = containers.state.get_blob_client(f"{imodel}.json")
    record.upload_blob(b"")
    record_lease = BlobLeaseClient(record)
    record_lease.acquire(lease_duration=-1)
    started = clock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock() - started >= 100 and record_lease.id:
            with contextlib.suppress(HttpResponseError):
                record_lease.release()

    outcome = build_pipeline(settings, clock=clock, sleep=sleep, now=clock.now).process(blob)

    assert outcome.status is Status.RETRY
    assert outcome.code == "iModelNotInitialized"
    assert outcome.api_calls >= 2  # it did poll, after waiting 100 s for the record
    assert clock() - started <= budget
    assert containers.names(containers.incoming) == [blob.blob_name]
    marks = AttemptMarks(blob_service(settings.storage), settings.processed_container)
    assert marks.count(blob.container_name, blob.blob_name, blob.get_blob_properties().etag) == 1  # counted
