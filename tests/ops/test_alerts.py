"""The alert rules' queries (infra/queries/*.kql, loaded as they are by modules/alerts.bicep) over
what Application Insights would hold after real runs: the function's own code against Azurite and the
iTwin emulator, its log records sent through the Azure Monitor exporter the deployed worker uses
(tests/ops/conftest.py) to the local ingestion stand-in (tests/ops/ingestion.py).

Each received ``MessageData`` envelope becomes a ``traces`` row the way the component keeps it
(``customDimensions`` = the envelope's ``properties``, ``itemCount`` from its ``sampleRate``), and
tests/ops/kql.py runs the deployed query text over those rows.  A run with dead-letters must make
each relevant rule return rows (= fire); a clean run must not.  The workbook's panels
(infra/queries/workbook.json, as deployed) run over the same rows and must show the run.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.core.errors import CODES, ErrorCode
from shared.delivery import host
from tests.conftest import new_imodel, png_bytes
from tests.ops import ingestion, kql
from tests.repo import ROOT

QUERIES = ROOT / "infra" / "queries"
ALERTS = ROOT / "infra" / "modules" / "alerts.bicep"


def host_line(invocation_id: str, failed: bool) -> logging.LogRecord:
    """The host's completion line for one invocation, as Azure/azure-functions-host logs it
    (``LoggerExtensions``: "Executed '{FunctionName}' ({Status}, Id={InvocationId},
    Duration={ExecutionDuration}ms)", Error level when it failed, category Function.<name>)."""
    status, level = ("Failed", logging.ERROR) if failed else ("Succeeded", logging.INFO)
    message = f"Executed 'Functions.thumbnail_drop' ({status}, Id={invocation_id}, Duration=12ms)"
    return logging.LogRecord("Function.thumbnail_drop", level, "", 0, message, None, None)


@pytest.fixture
def run(env, containers, emulator, telemetry) -> Iterator[Any]:
    """Deliver blobs to the function's handler the way the host does (again after a failure), with
    the host's completion line for each invocation going through the exporter too.  ``binding_fails``
    is the host failing the invocation before the code runs (the blob binding cannot be created: a
    missing role, a storage outage), which the host reports like any failed invocation.
    ``run.envelopes()`` flushes the exporter and returns what the stand-in received, ``run.rows()``
    the ``traces`` rows of those envelopes."""
    host.reset()
    host.start({**env, "MAX_DELIVERY_ATTEMPTS": "2"})

    def deliver(name: str, times: int = 1, binding_fails: bool = False) -> None:
        for attempt in range(times):
            invocation_id = f"inv-{name}-{attempt}"
            failed = True
            try:
                if not binding_fails:
                    host.handle_blob(containers.incoming.get_blob_client(name), invocation_id=invocation_id)
                    failed = False
            except host.RetryLaterError:
                pass
            telemetry.handler.handle(host_line(invocation_id, failed))

    deliver.endpoint = telemetry.endpoint  # type: ignore[attr-defined]
    deliver.envelopes = telemetry.flush  # type: ignore[attr-defined]
    deliver.rows = lambda: [ingestion.traces_row(e) for e in telemetry.flush()]  # type: ignore[attr-defined]
    yield deliver
    host.reset()


def outcomes(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [
        (row["customDimensions"]["td_status"], row["customDimensions"].get("td_code"))
        for row in rows
        if "td_status" in row["customDimensions"]
    ]


def query(name: str, **placeholders: Any) -> str:
    text = (QUERIES / f"{name}.kql").read_text(encoding="utf-8")
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", str(value))
    assert "{" not in text, f"{name}.kql has a placeholder left: {text}"
    return text


def evaluate(text: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return kql.run(text, {"traces": rows}, now=datetime.now(UTC))


def throttling_query(percent: int = 10, minimum: int = 20) -> str:
    return query("throttling", thresholdPercent=percent, minimumOutcomes=minimum)


def clean_run(run, containers) -> list[dict[str, Any]]:
    for index in range(3):
        name = f"{new_imodel()}/render-{index}.png"
        containers.incoming.upload_blob(name, png_bytes(320, 200))
        run(name)
    return run.rows()


def test_a_clean_run_fires_no_alert(run, containers):
    rows = clean_run(run, containers)
    assert outcomes(rows) == [("uploaded", None)] * 3  # the run really happened, and arrived

    assert evaluate(query("deadletters"), rows) == []
    assert evaluate(query("retries-exhausted"), rows) == []
    assert evaluate(throttling_query(minimum=1), rows) == []
    assert evaluate(query("function-failures"), rows) == []


def dead_letter_run(run, containers, emulator) -> list[dict[str, Any]]:
    forbidden = new_imodel()
    emulator.state.forbid(forbidden)
    for name, data in [
        (f"{forbidden}/a.png", png_bytes(300, 200)),
        (f"{forbidden}/b.png", png_bytes(300, 200)),
        (f"{new_imodel()}/notes.png", b"this is not an image"),
        (f"{new_imodel()}/fine.png", png_bytes(300, 200)),
    ]:
        containers.incoming.upload_blob(name, data)
        run(name)
    return run.rows()


def test_dead_letters_fire_one_alert_row_per_code_with_its_count(run, containers, emulator):
    rows = dead_letter_run(run, containers, emulator)

    assert evaluate(query("deadletters"), rows) == [
        {"code": "InsufficientPermissions", "deadletters": 2},
        {"code": "UnsupportedImageFormat", "deadletters": 1},
    ]
    assert evaluate(query("retries-exhausted"), rows) == []


def test_a_sampled_dead_letter_counts_for_the_items_it_stands_for(run, containers, emulator):
    """A row kept at a 25 % sample rate stands for 4 items (itemCount = 100 / sampleRate): the rule
    must count them, where counting rows would say 1 and a lone dead-letter could be sampled away.
    The sampled envelope is a received one with ``sampleRate`` set, posted gzipped to the stand-in the
    way a sampling SDK sends it."""
    dead_letter_run(run, containers, emulator)
    received = run.envelopes()
    sampled = copy.deepcopy(
        next(e for e in received if e["data"]["baseData"]["properties"].get("td_code") == "UnsupportedImageFormat")
    )
    sampled["sampleRate"] = 25.0
    answer = requests.post(
        f"http://127.0.0.1:{run.endpoint.port}{ingestion.TRACK_PATH}",
        data=gzip.compress(json.dumps([sampled]).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["itemsAccepted"]) == (200, 1)

    fired = evaluate(query("deadletters"), run.rows())

    # The unsampled one (1) and the sampled one (4).
    assert {"code": "UnsupportedImageFormat", "deadletters": 5} in fired
    assert {"code": "InsufficientPermissions", "deadletters": 2} in fired


def test_a_blob_that_used_up_its_attempts_fires_the_retries_exhausted_alert(run, containers, emulator):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=10, retry_after=3600)  # longer than the cap: each attempt gives up

    run(name, times=2)  # MAX_DELIVERY_ATTEMPTS=2
    rows = run.rows()

    assert outcomes(rows) == [("retry", "TooManyRequests"), ("deadlettered", "RetriesExhausted")]
    assert evaluate(query("retries-exhausted"), rows) == [
        {"blob": f"{containers.incoming.container_name}/{name}", "events": 1}
    ]
    assert [row["code"] for row in evaluate(query("deadletters"), rows)] == ["RetriesExhausted"]


def test_the_host_moving_a_message_to_the_poison_queue_fires_it_too(telemetry):
    # A line of the host's own (not the app's): its exact wording is not pinned here, so the rule
    # matches any line that names the poison queue, and this stand-in line names it.  It goes through
    # the exporter like any record, so it arrives as a traces row without td_* dimensions.
    for message in (
        "Processing blob thumbnails/x/render.png",
        "Moving message to poison queue 'webjobs-blobtrigger-poison' after 5 failed attempts.",
    ):
        record = logging.LogRecord("Host.Triggers.Blob", logging.ERROR, "", 0, message, None, None)
        telemetry.handler.handle(record)
    quiet, poisoned = [ingestion.traces_row(e) for e in telemetry.flush()]

    assert evaluate(query("retries-exhausted"), [quiet]) == []
    assert evaluate(query("retries-exhausted"), [quiet, poisoned]) == [{"blob": "", "events": 1}]


def test_the_429_rule_fires_above_its_threshold_and_not_below(run, containers, emulator):
    throttled = f"{new_imodel()}/throttled.png"
    containers.incoming.upload_blob(throttled, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=1, retry_after=3600)
    run(throttled)
    rows = clean_run(run, containers)  # 1 of 4 outcomes throttled: 25 %

    fired = evaluate(throttling_query(percent=20, minimum=4), rows)
    assert len(fired) == 1
    assert (fired[0]["outcomes"], fired[0]["throttled"], fired[0]["percent"]) == (4, 1, 25.0)
    assert evaluate(throttling_query(percent=30, minimum=4), rows) == []  # below the threshold
    assert evaluate(throttling_query(percent=20, minimum=5), rows) == []  # too few outcomes to judge


def test_invocations_the_host_failed_beyond_the_apps_retries_fire_the_function_failures_alert(
    run, containers, emulator
):
    retried = f"{new_imodel()}/retried.png"
    containers.incoming.upload_blob(retried, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=1, retry_after=3600)  # past the cap: the app asks to be retried
    run(retried, times=2)
    rows = run.rows()
    assert outcomes(rows) == [("retry", "TooManyRequests"), ("uploaded", None)]
    assert evaluate(query("function-failures"), rows) == []  # the failure is the app's own retry

    unbound = f"{new_imodel()}/unbound.png"
    containers.incoming.upload_blob(unbound, png_bytes(300, 200))
    run(unbound, times=2, binding_fails=True)  # the host fails both before the code runs
    rows = run.rows()

    assert outcomes(rows) == [("retry", "TooManyRequests"), ("uploaded", None)]  # the app logged nothing new
    assert evaluate(query("function-failures"), rows) == [{"failed": 3, "retried": 1, "unexplained": 2}]


def test_the_rules_load_exactly_these_query_files():
    text = ALERTS.read_text(encoding="utf-8")
    loaded = set(re.findall(r"loadTextContent\('\.\./queries/([a-z-]+)\.kql'\)", text))
    assert loaded == {"deadletters", "retries-exhausted", "throttling", "function-failures"}
    assert loaded == {p.stem for p in QUERIES.glob("*.kql")}
    for placeholder in re.findall(r"\{(\w+)\}", (QUERIES / "throttling.kql").read_text(encoding="utf-8")):
        assert f"'{{{placeholder}}}'" in text, f"alerts.bicep does not fill {{{placeholder}}}"


def test_the_evaluator_refuses_what_it_does_not_support():
    with pytest.raises(kql.KqlError):
        kql.run("traces | where x matches regex 'a'", {"traces": []}, now=datetime.now(UTC))
    with pytest.raises(kql.KqlError):
        kql.run("traces | join (other) on a", {"traces": []}, now=datetime.now(UTC))


# -- the workbook's panels over the same rows ------------------------------------------------------


def panel(name: str) -> str:
    book = json.loads((QUERIES / "workbook.json").read_text(encoding="utf-8"))
    (item,) = [i for i in book["items"] if i.get("name") == name]
    query: str = item["content"]["query"]
    return query


def test_every_workbook_panel_shows_the_run(run, containers, emulator):
    rows = dead_letter_run(run, containers, emulator)  # 2 InsufficientPermissions, 1 not an image, 1 uploaded
    throttled = f"{new_imodel()}/throttled.png"
    containers.incoming.upload_blob(throttled, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=1, retry_after=3600)
    run(throttled, times=2)  # a retry, then uploaded
    rows = run.rows()
    forbidden = next(
        row["customDimensions"]["td_imodel_id"]
        for row in rows
        if row["customDimensions"].get("td_code") == "InsufficientPermissions"
    )

    per_series: dict[str, int] = {}
    for row in evaluate(panel("uploads-and-deadletters"), rows):
        per_series[row["series"]] = per_series.get(row["series"], 0) + row["blobs"]
    assert per_series == {
        "uploaded": 2,
        "dead-lettered: InsufficientPermissions": 2,
        "dead-lettered: UnsupportedImageFormat": 1,
    }

    stages = {row["stage"]: row for row in evaluate(panel("stage-times"), rows)}
    assert set(stages) >= {"read", "image", "upload"}  # td_timings arrived as JSON that parse_json reads
    for stage, row in stages.items():
        assert 0 <= row["p50"] <= row["p95"], stage
    timed = [
        json.loads(row["customDimensions"]["td_timings"]) for row in rows if "td_timings" in row["customDimensions"]
    ]
    assert {stage: row["blobs"] for stage, row in stages.items()} == {
        stage: sum(1 for timings in timed if stage in timings) for stage in stages
    }
    assert stages["upload"]["blobs"] == 5  # the 403s and the 429 reached the upload stage too

    (hour,) = evaluate(panel("throttling-and-retries"), rows)  # the run fits in one hour unless it straddles
    assert (hour["throttled"], hour["retried_deliveries"]) == (1, 1)

    top = evaluate(panel("top-imodels-by-failure"), rows)
    assert top[0]["imodel"] == forbidden
    assert (top[0]["failures"], top[0]["deadlettered"], top[0]["codes"]) == (2, 2, ["InsufficientPermissions"])

    latest = evaluate(panel("latest-deadletters"), rows)
    assert sorted(row["code"] for row in latest) == ["InsufficientPermissions"] * 2 + ["UnsupportedImageFormat"]
    for row in latest:
        assert row["hint"] == CODES[ErrorCode(row["code"])].hint
        assert row["invocation"].startswith("inv-")
        assert row["destination"]
