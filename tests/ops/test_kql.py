"""tests/ops/kql.py against what the alert queries mean, over generated log rows (seeded).  A row's
itemCount is how many items it stands for after sampling, so every count below is a sum of it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ops import kql
from tests.repo import ROOT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUERIES = ROOT / "infra" / "queries"

STATUSES = ["uploaded", "deadlettered", "retry", "skipped", "superseded"]
CODES = ["InsufficientPermissions", "CorruptImage", "TooManyRequests", "RetriesExhausted"]

row = st.fixed_dictionaries(
    {
        "minutes_ago": st.integers(min_value=0, max_value=30),
        "status": st.sampled_from([*STATUSES, None]),  # None: not an outcome line
        "code": st.sampled_from([*CODES, None]),
        "api_status": st.sampled_from([201, 403, 429, 503, None]),
        "message": st.sampled_from(["thumbnail ...", "moved to webjobs-blobtrigger-poison", "poisoned"]),
        "item_count": st.sampled_from([1, 1, 1, 4, 20]),
    }
)


def traces(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        dims = {"td_blob": f"thumbnails/m/{len(out)}.png"}
        if r["status"] is not None:
            dims["td_status"] = r["status"]
        if r["code"] is not None:
            dims["td_code"] = r["code"]
        if r["api_status"] is not None:
            dims["td_api_status"] = str(r["api_status"])
        out.append(
            {
                "timestamp": NOW - timedelta(minutes=r["minutes_ago"]),
                "message": r["message"],
                "customDimensions": dims,
                "itemCount": r["item_count"],
            }
        )
    return out


def recent(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["minutes_ago"] < 15]


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(row, max_size=40))
def test_the_dead_letter_query_counts_dead_letters_per_code_in_the_window(rows):
    result = kql.run((QUERIES / "deadletters.kql").read_text(), {"traces": traces(rows)}, now=NOW)

    expected: Counter[str] = Counter()
    for r in recent(rows):
        if r["status"] == "deadlettered":
            expected[r["code"] or ""] += r["item_count"]
    assert {(r["code"], r["deadletters"]) for r in result} == set(expected.items())
    assert [r["deadletters"] for r in result] == sorted((r["deadletters"] for r in result), reverse=True)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(row, max_size=40), st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=10))
def test_the_throttling_query_fires_exactly_above_its_threshold(rows, percent, minimum):
    text = (QUERIES / "throttling.kql").read_text()
    text = text.replace("{thresholdPercent}", str(percent)).replace("{minimumOutcomes}", str(minimum))

    result = kql.run(text, {"traces": traces(rows)}, now=NOW)

    outcomes = [r for r in recent(rows) if r["status"] is not None]
    throttled = [r for r in outcomes if r["code"] == "TooManyRequests" or r["api_status"] == 429]
    total, total_throttled = sum(r["item_count"] for r in outcomes), sum(r["item_count"] for r in throttled)
    fires = total >= minimum and 100.0 * total_throttled / total > percent
    assert bool(result) == fires
    if fires:
        assert (result[0]["outcomes"], result[0]["throttled"]) == (total, total_throttled)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(row, max_size=40))
def test_the_retries_exhausted_query_takes_the_code_or_the_poison_queue_name(rows):
    result = kql.run((QUERIES / "retries-exhausted.kql").read_text(), {"traces": traces(rows)}, now=NOW)

    hits = [r for r in recent(rows) if r["code"] == "RetriesExhausted" or "webjobs-blobtrigger-poison" in r["message"]]
    assert sum(r["events"] for r in result) == sum(
        r["item_count"] for r in hits
    )  # "poisoned" alone is not the queue's name


host_line = st.fixed_dictionaries(
    {
        "minutes_ago": st.integers(min_value=0, max_value=30),
        "kind": st.sampled_from(["failed", "succeeded", "retry", "other"]),
        "item_count": st.sampled_from([1, 1, 4]),
    }
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(host_line, max_size=30))
def test_the_function_failures_query_counts_failures_beyond_the_apps_retries(lines):
    messages = {
        "failed": "Executed 'Functions.thumbnail_drop' (Failed, Id=1, Duration=3ms)",
        "succeeded": "Executed 'Functions.thumbnail_drop' (Succeeded, Id=1, Duration=3ms)",
        "retry": "thumbnail retry thumbnails/m/a.png code=TooManyRequests",
        "other": "Executing 'Functions.thumbnail_drop' (Reason='New blob detected', Id=1)",
    }
    rows = [
        {
            "timestamp": NOW - timedelta(minutes=line["minutes_ago"]),
            "message": messages[line["kind"]],
            "customDimensions": {"td_status": "retry"} if line["kind"] == "retry" else {},
            "itemCount": line["item_count"],
        }
        for line in lines
    ]

    result = kql.run((QUERIES / "function-failures.kql").read_text(), {"traces": rows}, now=NOW)

    window = [line for line in lines if line["minutes_ago"] < 15]
    failed = sum(line["item_count"] for line in window if line["kind"] == "failed")
    retried = sum(line["item_count"] for line in window if line["kind"] == "retry")
    assert result == (
        [{"failed": failed, "retried": retried, "unexplained": failed - retried}] if failed > retried else []
    )
