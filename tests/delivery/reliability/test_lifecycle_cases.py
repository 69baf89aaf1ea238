"""Issue 16, cases 1-7: each reproduced against Azurite and the emulator, black-box.

Every test ends the same way: after every delivery the host would make, and the re-asserts the
queue would deliver after their delay, the iModel shows the newest drop, no uploaded blob is
dead-lettered, and every version's original is kept.

Stand-ins, and the real part each one plays:

- A ``requests`` transport adapter plays the network between the app and the iModels API
  (``PUT /imodels/{id}/thumbnail``, ../shared/seed contract: no ``If-Match``, no version).  A client
  read timeout does not cancel a request the server already has: the adapter keeps the request it
  "timed out" and lets it reach the emulator later (a late apply), as an API behind a gateway can.
- The storage SDK's ``raw_request_hook`` (azure-core ``CustomHookPolicy``, called once per request
  just before it is sent) plays a storage fault (raising ``ServiceRequestError``, what azure-core
  raises for a request that could not be sent) and a pause of the process (a stale lease holder:
  GC pause, SIGSTOP) by running the other delivery there.
- A broken record lease (``break_lease(0)``) is what a lease that ran out while its holder stalled
  looks like to the holder's next request (409/412 on the lease id).
- ``run_reasserts`` stands in for the Functions host delivering the re-assert queue message once
  its visibility delay has passed (Azurite hides it for real time; the tests do not wait 700 s).
"""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.storage.blob import BlobLeaseClient, LinearRetry
from requests.adapters import HTTPAdapter

from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges.itwin import new_session
from shared.edges.storage import blob_service
from shared.imaging import normalize
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes

OLDER = png_bytes(300, 200, color=(30, 30, 200))
NEWER = png_bytes(300, 200, color=(200, 30, 30))


def next_second() -> None:
    now = time.time()
    time.sleep(int(now) + 1.05 - now)


def drop(containers, name, data, metadata=None):
    containers.incoming.upload_blob(name, data, overwrite=True, metadata=metadata)
    return containers.incoming.get_blob_client(name)


def older_and_newer(containers, imodel):
    """Two drops a minute apart, ordered by the drop times they carry (as redriven blobs do), so
    no test waits for the clock's next second."""
    older = drop(containers, f"{imodel}/older.png", OLDER, metadata={"thumbnaildrop_dropped": "2026-01-01T08:00:00Z"})
    newer = drop(containers, f"{imodel}/newer.png", NEWER, metadata={"thumbnaildrop_dropped": "2026-01-01T08:01:00Z"})
    return older, newer


def thumb(pipeline, data):
    return normalize(data, pipeline.settings.image).data


def last_put(emulator, imodel):
    return emulator.state.uploads[imodel][-1].data


def break_record_lease(containers, imodel):
    with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
        BlobLeaseClient(containers.state.get_blob_client(f"{imodel}.json")).break_lease(lease_break_period=0)


def run_reasserts(pipeline, imodel):
    """What the queue-triggered function does once the delay has passed (absent: nothing)."""
    reassert = getattr(pipeline, "reassert", None)
    if reassert is not None:
        reassert(imodel)


def pipeline_with(env, clock, *, session=None, hook=None, **overrides):
    settings = load_settings(env | overrides)
    # With a hook, no SDK retries: an injected fault is seen once, without the SDK's real backoff.
    no_retries = LinearRetry(backoff=0, retry_total=0)
    blobs = blob_service(settings.storage, raw_request_hook=hook, retry_policy=no_retries) if hook else None
    return build_pipeline(settings, session=session, blobs=blobs, clock=clock, sleep=clock.sleep, now=clock.now)


class Wire(HTTPAdapter):
    """The network to the API, with a callback around thumbnail PUTs."""

    def __init__(self, before_put=None, after_put=None):
        super().__init__()
        self.before_put = before_put
        self.after_put = after_put
        self.puts = 0
        self.held: list = []

    def send(self, request, *args, **kwargs):
        if request.method == "PUT" and request.url.endswith("/thumbnail"):
            self.puts += 1
            if self.before_put is not None and self.before_put(self, request) == "timeout":
                self.held.append((request, args, kwargs))
                raise requests.exceptions.ReadTimeout("read timed out (the server still has the request)")
            response = super().send(request, *args, **kwargs)
            if self.after_put is not None:
                self.after_put(self, request)
            return response
        return super().send(request, *args, **kwargs)

    def apply_late(self):
        for request, args, kwargs in self.held:
            super().send(request, *args, **kwargs)
        self.held.clear()


def session_with(adapter):
    session = new_session()
    session.mount("http://", adapter)
    return session


# -- 1. a stale lease holder ---------------------------------------------------------------


def test_1_a_stale_lease_holder_that_puts_last_is_repaired(env, containers, emulator, clock):
    """The older drop's worker stalls past its lease right before its PUT; the newer drop is
    delivered meanwhile; then the older PUT lands.  The iModel must end on the newer drop."""
    imodel = new_imodel()
    older, newer = older_and_newer(containers, imodel)
    other = pipeline_with(env, clock)

    def stall(wire, request):
        if wire.puts == 1:
            break_record_lease(containers, imodel)  # the lease ran out while this worker stood still
            assert other.process(newer).status is Status.UPLOADED

    stale = pipeline_with(env, clock, session=session_with(Wire(before_put=stall)))
    first = stale.process(older)
    if first.status is Status.RETRY:
        stale.process(older)
    run_reasserts(other, imodel)

    assert last_put(emulator, imodel) == thumb(other, NEWER)
    assert containers.names(containers.deadletter) == []
    assert containers.names(containers.incoming) == []


# -- 2. a late-applied PUT -----------------------------------------------------------------


def test_2_a_put_applied_after_the_client_gave_up_is_repaired(env, containers, emulator, clock):
    """The older drop's first PUT times out on the client but the API applies it after the newer
    drop's PUT; the older drop's retry had succeeded.  The iModel must end on the newer drop."""
    imodel = new_imodel()
    older, newer = older_and_newer(containers, imodel)
    wire = Wire(before_put=lambda w, r: "timeout" if w.puts == 1 else None)
    pipeline = pipeline_with(env, clock, session=session_with(wire))

    assert pipeline.process(older).status is Status.UPLOADED  # the retry got 201
    assert pipeline.process(newer).status is Status.UPLOADED
    wire.apply_late()  # ...and now the first, timed-out PUT of the older drop lands
    assert last_put(emulator, imodel) == thumb(pipeline, OLDER)
    run_reasserts(pipeline, imodel)

    assert last_put(emulator, imodel) == thumb(pipeline, NEWER)


# -- 3. the record fails closed ------------------------------------------------------------


def _corrupt(containers, imodel, how):
    record = containers.state.get_blob_client(f"{imodel}.json")
    if how == "truncated":
        data = record.download_blob().readall()
        record.upload_blob(data[: len(data) // 2], overwrite=True)
    elif how == "newer-version":
        record.upload_blob(b'{"version": 99, "imodelId": "x", "future": {}}', overwrite=True)
    elif how == "container-deleted":
        containers.state.delete_container()


@pytest.mark.parametrize("how", ["truncated", "newer-version", "container-deleted"])
def test_3_an_unreadable_record_never_lets_an_older_drop_through(env, containers, emulator, clock, how):
    imodel = new_imodel()
    older, newer = older_and_newer(containers, imodel)
    pipeline = pipeline_with(env, clock, MAX_DELIVERY_ATTEMPTS="2")
    assert pipeline.process(newer).status is Status.UPLOADED
    _corrupt(containers, imodel, how)

    first = pipeline.process(older)
    second = pipeline.process(older)

    assert last_put(emulator, imodel) == thumb(pipeline, NEWER)
    assert len(emulator.state.uploads[imodel]) == 1
    assert first.status is Status.RETRY
    assert first.code == "DeliveryRecordUnreadable"
    assert second.status is Status.DEADLETTERED
    assert second.code == "DeliveryRecordUnreadable"


def test_3_a_deleted_record_is_not_nothing_recorded(env, containers, emulator, clock):
    """A deleted record cannot be told from one never written; the archive of what was sent can:
    an older drop's redelivery must not overwrite the newer thumbnail."""
    imodel = new_imodel()
    older, newer = older_and_newer(containers, imodel)
    pipeline = pipeline_with(env, clock)
    assert pipeline.process(newer).status is Status.UPLOADED
    containers.state.delete_blob(f"{imodel}.json")

    outcome = pipeline.process(older)

    assert last_put(emulator, imodel) == thumb(pipeline, NEWER)
    assert len(emulator.state.uploads[imodel]) == 1
    assert outcome.status is Status.SUPERSEDED


# -- 4. a carried drop time is validated ---------------------------------------------------


@pytest.mark.parametrize("first", ["bad", "newer"])
def test_4_an_invalid_carried_drop_time_is_ignored(env, containers, emulator, clock, first):
    """``thumbnaildrop_dropped: n/a`` (any upload tool can set it) must neither win nor block."""
    imodel = new_imodel()
    bad = drop(containers, f"{imodel}/bad.png", OLDER, metadata={"thumbnaildrop_dropped": "n/a"})
    next_second()
    newer = drop(containers, f"{imodel}/newer.png", NEWER)
    pipeline = pipeline_with(env, clock)

    for blob in [bad, newer] if first == "bad" else [newer, bad]:
        pipeline.process(blob)

    assert last_put(emulator, imodel) == thumb(pipeline, NEWER)
    assert containers.names(containers.incoming) == []


# -- 5. every version's original is kept ---------------------------------------------------


def test_5_an_overwrite_during_the_send_keeps_both_originals(env, containers, emulator, clock):
    imodel = new_imodel()
    name = f"{imodel}/a.png"
    first = drop(containers, name, OLDER)
    created_at = first.get_blob_properties().creation_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    other = pipeline_with(env, clock)
    done = []

    def overwrite_and_deliver(request):
        # Just before the first version's archive step leases its source: a.png is overwritten
        # and the new version's own event completes first.
        http = request.http_request
        if not done and http.method == "PUT" and "comp=lease" in http.url and "/in-" in http.url:
            done.append(True)
            # Azurite gives an overwritten blob a new creation time (measured), so the same second
            # is made the way a redrive makes it: the new version carries the first one's drop time.
            second = drop(containers, name, NEWER, metadata={"thumbnaildrop_dropped": created_at})
            assert other.process(second).status is Status.UPLOADED

    pipeline = pipeline_with(env, clock, hook=overwrite_and_deliver)
    pipeline.process(pipeline.blobs.get_blob_client(containers.incoming.container_name, name))

    assert done
    kept = {containers.read(containers.processed, n) for n in containers.names(containers.processed)}
    assert OLDER in kept
    assert NEWER in kept
    assert containers.read(containers.processed, name) == NEWER  # the plain name holds the newest
    assert last_put(emulator, imodel) == thumb(pipeline, NEWER)


# -- 6. counting attempts leaves the ETag alone --------------------------------------------


def test_6_a_storage_failure_after_the_record_costs_no_second_put(env, containers, emulator, clock):
    imodel = new_imodel()
    blob = drop(containers, f"{imodel}/render.png", OLDER)
    failures = []

    def archive_fails_once(request):
        http = request.http_request
        if http.method == "PUT" and "/done-" in http.url and not failures:
            failures.append(http.url)
            raise ServiceRequestError("storage unreachable (injected)")

    flaky = pipeline_with(env, clock, hook=archive_fails_once)
    assert flaky.process(blob).status is Status.RETRY
    outcome = pipeline_with(env, clock).process(blob)

    assert outcome.status is Status.UPLOADED, (outcome.code, outcome.message)
    assert len(emulator.state.uploads[imodel]) == 1
    assert containers.names(containers.processed) == [blob.blob_name]


# -- 7. a lease lost after the 201 ---------------------------------------------------------


def test_7_a_lease_lost_after_the_201_on_the_last_attempt_is_not_dead_lettered(env, containers, emulator, clock):
    imodel = new_imodel()
    blob = drop(containers, f"{imodel}/render.png", OLDER)
    emulator.state.fail_next_token(count=10_000, status=503)
    assert pipeline_with(env, clock, MAX_DELIVERY_ATTEMPTS="2").process(blob).status is Status.RETRY
    emulator.state.reset()
    wire = Wire(after_put=lambda w, r: break_record_lease(containers, imodel))

    outcome = pipeline_with(env, clock, session=session_with(wire), MAX_DELIVERY_ATTEMPTS="2").process(blob)

    assert wire.puts == 1
    assert outcome.status is not Status.DEADLETTERED, (outcome.code, outcome.message)
    assert containers.names(containers.deadletter) == []
    # The host's next delivery (or the poison path) settles it as uploaded, never dead-lettered.
    final = pipeline_with(env, clock, MAX_DELIVERY_ATTEMPTS="2")
    settled = final.process(blob) if outcome.status is Status.RETRY else outcome
    if settled.status is Status.RETRY:
        settled = final.give_up(blob)
    assert settled.status is Status.UPLOADED, (settled.code, settled.message)
    assert containers.names(containers.deadletter) == []
    assert last_put(emulator, imodel) == thumb(final, OLDER)
