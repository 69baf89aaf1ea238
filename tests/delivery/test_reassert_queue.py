"""The delayed re-assert on a real storage queue (Azurite): queued only for a send in doubt, once,
with the in-doubt bound as its visibility delay, and run by ``drain`` once it is due.

A read timeout is played by a ``requests`` transport adapter that raises ``ReadTimeout`` without
letting the request through (the client's view of an API that is slow to answer); the emulator's
503 is the API saying it did not apply the PUT (the iModels contract's 503 answer).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError
from requests.adapters import HTTPAdapter

from shared.core.lifecycle import in_doubt_bound
from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges.itwin import new_session
from shared.edges.queues import queue_client
from shared.ops.drain import drain
from shared.settings import FUNCTION_TIMEOUT_SECONDS, load_settings
from tests.conftest import new_imodel, png_bytes

SMALL = png_bytes(200, 120)


class FirstPutTimesOut(HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def send(self, request, *args, **kwargs):
        if request.method == "PUT" and request.url.endswith("/thumbnail"):
            self.puts += 1
            if self.puts == 1:
                raise requests.exceptions.ReadTimeout("read timed out")
        return super().send(request, *args, **kwargs)


def messages_in(queue) -> int:
    try:
        return queue.get_queue_properties().approximate_message_count
    except ResourceNotFoundError:  # not created yet: nothing was ever queued
        return 0


def test_a_timed_out_attempt_queues_one_reassert_delayed_by_the_bound(env, containers, emulator, clock):
    settings = load_settings(env)
    sent_delays: list[int] = []

    def capture(request):
        query = parse_qs(urlsplit(request.http_request.url).query)
        if request.http_request.method == "POST" and "visibilitytimeout" in query:
            sent_delays.append(int(query["visibilitytimeout"][0]))

    queue = queue_client(settings.storage, settings.reassert_queue, raw_request_hook=capture)
    session = new_session()
    session.mount("http://", FirstPutTimesOut())
    pipeline = build_pipeline(settings, session=session, queue=queue, clock=clock, sleep=clock.sleep, now=clock.now)
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", SMALL)

    outcome = pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png"))

    assert outcome.status is Status.UPLOADED
    bound = in_doubt_bound(FUNCTION_TIMEOUT_SECONDS, settings.itwin.connect_timeout, settings.itwin.read_timeout)
    # Sent once (a first try may meet a queue that does not exist yet, and is sent again after
    # creating it); delayed T after the intent, counted from the send (the fake clock moved by the backoff).
    assert len(set(sent_delays)) == 1
    assert bound - 60 <= sent_delays[0] <= bound
    assert messages_in(queue) == 1
    assert list(queue.peek_messages()) == []  # invisible until due
    record = pipeline.records.read(imodel)
    assert record is not None
    assert record.pending == ()  # resolved: the queued re-assert covers it


def test_sends_whose_outcome_is_known_queue_nothing(pipeline, containers, emulator, clock):
    """503s and 429s are answers (not applied); a clean 201 is an answer: no re-assert for any."""
    imodels = [new_imodel() for _ in range(3)]
    for imodel in imodels:
        containers.incoming.upload_blob(f"{imodel}/render.png", SMALL)
    emulator.state.fail_next(503, count=2)
    emulator.state.rate_limit_next(count=2, retry_after=1)

    report = drain(pipeline, workers=1, clock=clock)

    assert report.counts == {"uploaded": 3}
    assert messages_in(pipeline.reasserts.queue) == 0
    assert report.reasserts == []


def test_drain_runs_a_due_reassert_once_and_deletes_its_message(pipeline, containers, emulator, clock):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", SMALL)
    assert pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png")).status is Status.UPLOADED
    pipeline.reasserts.schedule(imodel, 0)  # as if the bound had passed

    first = drain(pipeline, clock=clock)
    second = drain(pipeline, clock=clock)

    assert [o.status for o in first.reasserts] == [Status.UPLOADED]
    assert second.reasserts == []
    puts = emulator.state.uploads[imodel]
    assert len(puts) == 2
    assert puts[0].data == puts[1].data
    assert messages_in(pipeline.reasserts.queue) == 0


def test_a_message_that_is_not_ours_is_dropped_without_a_put(pipeline, containers, emulator, clock):
    pipeline.reasserts.queue.create_queue()
    pipeline.reasserts.queue.send_message(b'{"imodelId": "../../etc"}')

    report = drain(pipeline, clock=clock)

    assert report.reasserts == []
    assert emulator.state.put_total == 0
    assert messages_in(pipeline.reasserts.queue) == 0


def test_an_in_doubt_send_whose_reassert_cannot_be_queued_stays_in_doubt_in_the_record(
    env, containers, emulator, clock
):
    """The queue is out of reach (azure-core raises ServiceRequestError for a request that could
    not be sent) when the send turns out to have been in doubt: the record keeps the intent, so the
    next holder of the record queues the re-assert."""
    settings = load_settings(env)

    def unreachable(request):
        if request.http_request.method == "POST":
            raise ServiceRequestError("queue unreachable (injected)")

    queue = queue_client(settings.storage, settings.reassert_queue, raw_request_hook=unreachable, retry_total=0)
    session = new_session()
    session.mount("http://", FirstPutTimesOut())
    pipeline = build_pipeline(settings, session=session, queue=queue, clock=clock, sleep=clock.sleep, now=clock.now)
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", SMALL)

    outcome = pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png"))

    assert outcome.status is Status.UPLOADED
    record = pipeline.records.read(imodel)
    assert record is not None
    assert record.key is not None
    assert record.key.name == f"{imodel}/render.png"
    assert [p.scheduled for p in record.pending] == [False]  # an orphan for the next holder
