"""The alert rules' queries (infra/queries/*.kql, loaded as they are by modules/alerts.bicep) over
the log records of real runs: the function's own code against Azurite and the iTwin emulator.

Each record is turned into a ``traces`` row the way Application Insights keeps it (the ``td_*``
attributes as string custom dimensions), and tests/ops/kql.py runs the deployed query text over them.
A run with dead-letters must make each relevant rule return rows (= fire); a clean run must not.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.delivery import host
from shared.delivery.log import LOGGER_NAME
from tests.conftest import new_imodel, png_bytes
from tests.ops import kql
from tests.repo import ROOT

QUERIES = ROOT / "infra" / "queries"
ALERTS = ROOT / "infra" / "modules" / "alerts.bicep"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def as_trace(record: logging.LogRecord) -> dict[str, Any]:
    """A ``traces`` row: custom dimensions are strings (objects as JSON), as Application Insights stores them."""
    dims = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in vars(record).items()
        if key.startswith("td_") and value is not None
    }
    return {
        "timestamp": datetime.fromtimestamp(record.created, UTC),
        "message": record.getMessage(),
        "severityLevel": {10: 0, 20: 1, 30: 2, 40: 3, 50: 4}[record.levelno],
        "customDimensions": dims,
    }


@pytest.fixture
def run(env, containers, emulator) -> Iterator[Any]:
    """Deliver blobs to the function's handler the way the host does (again after a failure)."""
    handler = Captured()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    host.reset()
    host.start({**env, "MAX_DELIVERY_ATTEMPTS": "2"})

    def deliver(name: str, times: int = 1) -> None:
        for attempt in range(times):
            try:
                host.handle_blob(containers.incoming.get_blob_client(name), invocation_id=f"inv-{name}-{attempt}")
            except host.RetryLaterError:
                continue

    deliver.records = handler.records  # type: ignore[attr-defined]
    yield deliver
    logger.removeHandler(handler)
    logger.setLevel(previous)
    host.reset()


def query(name: str, **placeholders: Any) -> str:
    text = (QUERIES / f"{name}.kql").read_text(encoding="utf-8")
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", str(value))
    assert "{" not in text, f"{name}.kql has a placeholder left: {text}"
    return text


def evaluate(text: str, records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    return kql.run(text, {"traces": [as_trace(r) for r in records]}, now=datetime.now(UTC))


def throttling_query(percent: int = 10, minimum: int = 20) -> str:
    return query("throttling", thresholdPercent=percent, minimumOutcomes=minimum)


def clean_run(run, containers) -> list[logging.LogRecord]:
    for index in range(3):
        name = f"{new_imodel()}/render-{index}.png"
        containers.incoming.upload_blob(name, png_bytes(320, 200))
        run(name)
    return run.records


def test_a_clean_run_fires_no_alert(run, containers):
    records = clean_run(run, containers)
    assert [r.td_status for r in records] == ["uploaded"] * 3  # the run really happened

    assert evaluate(query("deadletters"), records) == []
    assert evaluate(query("retries-exhausted"), records) == []
    assert evaluate(throttling_query(minimum=1), records) == []


def test_dead_letters_fire_one_alert_row_per_code_with_its_count(run, containers, emulator):
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

    rows = evaluate(query("deadletters"), run.records)

    assert rows == [
        {"code": "InsufficientPermissions", "deadletters": 2},
        {"code": "UnsupportedImageFormat", "deadletters": 1},
    ]
    assert evaluate(query("retries-exhausted"), run.records) == []


def test_a_blob_that_used_up_its_attempts_fires_the_retries_exhausted_alert(run, containers, emulator):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=10, retry_after=3600)  # longer than the cap: each attempt gives up

    run(name, times=2)  # MAX_DELIVERY_ATTEMPTS=2

    statuses = [(r.td_status, getattr(r, "td_code", None)) for r in run.records]
    assert statuses == [("retry", "TooManyRequests"), ("deadlettered", "RetriesExhausted")]
    rows = evaluate(query("retries-exhausted"), run.records)
    assert rows == [{"blob": f"{containers.incoming.container_name}/{name}", "events": 1}]
    assert [row["code"] for row in evaluate(query("deadletters"), run.records)] == ["RetriesExhausted"]


def test_the_host_moving_a_message_to_the_poison_queue_fires_it_too():
    # A line of the host's own (not the app's): its exact wording is not pinned here, so the rule
    # matches any line that names the poison queue, and this stand-in line names it.
    record = logging.LogRecord("Host.Triggers.Blob", logging.ERROR, "", 0, "", None, None)
    record.msg = "Moving message to poison queue 'webjobs-blobtrigger-poison' after 5 failed attempts."
    assert len(evaluate(query("retries-exhausted"), [record])) == 1
    record.msg = "Processing blob thumbnails/x/render.png"
    assert evaluate(query("retries-exhausted"), [record]) == []


def test_the_429_rule_fires_above_its_threshold_and_not_below(run, containers, emulator):
    throttled = f"{new_imodel()}/throttled.png"
    containers.incoming.upload_blob(throttled, png_bytes(300, 200))
    emulator.state.rate_limit_next(count=1, retry_after=3600)
    run(throttled)
    clean_run(run, containers)  # 1 of 4 outcomes throttled: 25 %

    fired = evaluate(throttling_query(percent=20, minimum=4), run.records)
    assert len(fired) == 1
    assert (fired[0]["outcomes"], fired[0]["throttled"], fired[0]["percent"]) == (4, 1, 25.0)
    assert evaluate(throttling_query(percent=30, minimum=4), run.records) == []  # below the threshold
    assert evaluate(throttling_query(percent=20, minimum=5), run.records) == []  # too few outcomes to judge


def test_the_rules_load_exactly_these_query_files():
    text = ALERTS.read_text(encoding="utf-8")
    loaded = set(re.findall(r"loadTextContent\('\.\./queries/([a-z-]+)\.kql'\)", text))
    assert loaded == {"deadletters", "retries-exhausted", "throttling"}
    assert loaded == {p.stem for p in QUERIES.glob("*.kql")}
    for placeholder in re.findall(r"\{(\w+)\}", (QUERIES / "throttling.kql").read_text(encoding="utf-8")):
        assert f"'{{{placeholder}}}'" in text, f"alerts.bicep does not fill {{{placeholder}}}"


def test_the_evaluator_refuses_what_it_does_not_support():
    with pytest.raises(kql.KqlError):
        kql.run("traces | where x matches regex 'a'", {"traces": []}, now=datetime.now(UTC))
    with pytest.raises(kql.KqlError):
        kql.run("traces | join (other) on a", {"traces": []}, now=datetime.now(UTC))
