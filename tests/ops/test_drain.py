"""drain and watch: the local stand-in for the host, on the same pipeline."""

import json
import logging

from shared.delivery.log import log_outcome
from shared.ops.drain import Backoff, drain, watch
from tests.conftest import new_imodel, png_bytes


def test_watch_processes_new_drops_and_backs_off_a_transient_failure(pipeline, containers, emulator, clock):
    failing, good = new_imodel(), new_imodel()
    containers.incoming.upload_blob(f"{failing}/render.png", png_bytes(200, 100))
    emulator.state.rate_limit_next(count=1, retry_after=3600)  # beyond the cap: fails this round
    seen = []

    def on_outcome(outcome):
        seen.append(outcome)
        if len(seen) == 1:  # a new render arrives while the first one waits out its backoff
            containers.incoming.upload_blob(f"{good}/render.png", png_bytes(200, 100))

    # Rounds 2 s apart: the failed blob is not retried before its 10 s backoff; the new one is taken.
    watch(pipeline, interval=2, on_outcome=on_outcome, clock=clock, sleep=clock.sleep, rounds=3)
    assert [(o.status.value, o.imodel_id) for o in seen] == [("retry", failing), ("uploaded", good)]

    watch(pipeline, interval=2, on_outcome=on_outcome, clock=clock, sleep=clock.sleep, rounds=1)
    assert (seen[-1].status.value, seen[-1].imodel_id) == ("uploaded", failing)
    assert containers.names(containers.incoming) == []


def test_backoff_doubles_per_blob_and_forgets_settled_ones():
    backoff = Backoff(first=10, longest=40)
    backoff.failed("a", now=0)
    assert not backoff.ready("a", now=9)
    assert backoff.ready("a", now=10)
    backoff.failed("a", now=10)
    assert not backoff.ready("a", now=29)
    assert backoff.ready("a", now=30)
    backoff.failed("a", now=30)
    backoff.failed("a", now=30)
    assert backoff.due["a"] == (70, 40)  # capped at `longest`
    assert backoff.ready("b", now=0)
    backoff.settled("a")
    assert backoff.ready("a", now=0)


def test_drain_report_counts_and_exit_condition(pipeline, containers, emulator, clock):
    containers.incoming.upload_blob(f"{new_imodel()}/a.png", png_bytes(200, 100))
    containers.incoming.upload_blob("root.png", png_bytes(200, 100))
    report = drain(pipeline, workers=2, clock=clock)
    assert report.counts == {"uploaded": 1, "deadlettered": 1}
    assert report.ok
    assert "2 blobs" in report.summary()


def test_one_structured_log_line_per_outcome(pipeline, containers, emulator, caplog):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(1200, 800))
    outcome = pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png"))
    caplog.set_level(logging.INFO, logger="thumbnail_drop")

    log_outcome(outcome)

    (record,) = [r for r in caplog.records if r.name == "thumbnail_drop"]
    assert record.levelno == logging.INFO
    assert record.td_status == "uploaded"
    assert record.td_imodel_id == imodel
    assert record.td_api_status == 201
    assert record.td_correlation_id == emulator.state.uploads[imodel][-1].correlation_id
    assert record.td_attempts == 1
    # Nested fields are JSON text: the exporter writes every attribute with str() (shared/delivery/log.py).
    assert set(json.loads(record.td_timings)) >= {"read", "path", "image", "upload", "dispose"}
    source, output = json.loads(record.td_source_image), json.loads(record.td_output_image)
    assert (source["width"], source["height"]) == (1200, 800)
    assert (output["width"], output["height"]) == (750, 500)
    assert output["format"] == "PNG"
