"""Generate infra/queries/workbook.json, the "Thumbnail drop" Azure Monitor workbook.

The workbook's panels query the ``traces`` table of Application Insights through the ``td_*`` custom
dimensions that shared/delivery/log.py writes on every outcome line.  Every count sums ``itemCount``
and every percentile is weighted by it, so a sampled row counts for the items it stands for.  The
latest-dead-letters panel shows each code's hint, and the hints live in shared/core/errors.py, so
the JSON is generated from that table instead of being edited by hand: a new code or a reworded hint
changes the workbook the next time this runs, and tests/infra/test_workbook.py fails while the
committed file is stale.

Run: ``python infra/workbook.py`` (writes the file), ``python infra/workbook.py --check`` (exit 1 if stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "infra" / "queries" / "workbook.json"

DAY_MS = 24 * 60 * 60 * 1000

# The outcome lines only: every one carries td_status.
OUTCOMES = "traces\n| where isnotempty(tostring(customDimensions.td_status))\n"
FIELDS = (
    "| extend status = tostring(customDimensions.td_status), code = tostring(customDimensions.td_code),"
    " imodel = tostring(customDimensions.td_imodel_id), blob = tostring(customDimensions.td_blob)\n"
)


def _kql_string(text: str) -> str:
    return json.dumps(text)  # a double-quoted KQL string literal: the same escapes as JSON


def hints_table() -> str:
    sys.path.insert(0, str(ROOT))
    from shared.core.errors import CODES

    rows = ",\n    ".join(
        f"{_kql_string(code.value)}, {_kql_string(info.hint)}" for code, info in sorted(CODES.items())
    )
    return f"let hints = datatable(code: string, hint: string) [\n    {rows}\n];\n"


def panels() -> list[tuple[str, str, str, str]]:
    """(name, title, visualization, query) for each query panel, in order."""
    return [
        (
            "uploads-and-deadletters",
            "Uploads and dead-letters per hour, by code",
            "timechart",
            OUTCOMES
            + FIELDS
            + '| where status in ("uploaded", "deadlettered")\n'
            + '| extend series = iff(status == "uploaded", "uploaded", strcat("dead-lettered: ", code))\n'
            + "| summarize blobs = sum(itemCount) by bin(timestamp, 1h), series\n"
            + "| render timechart",
        ),
        (
            "stage-times",
            "Time per stage (seconds): p50 and p95",
            "table",
            OUTCOMES
            + "| extend timings = parse_json(tostring(customDimensions.td_timings))\n"
            + "| mv-expand stage = bag_keys(timings) to typeof(string)\n"
            + "| extend seconds = todouble(timings[stage])\n"
            + "| summarize p50 = percentilew(seconds, itemCount, 50), p95 = percentilew(seconds, itemCount, 95),"
            + " blobs = sum(itemCount) by stage\n"
            + "| order by p95 desc",
        ),
        (
            "throttling-and-retries",
            "429s and retries per hour",
            "timechart",
            OUTCOMES
            + FIELDS
            + "| extend calls = toint(customDimensions.td_api_calls), api = toint(customDimensions.td_api_status)\n"
            + '| summarize throttled = sumif(itemCount, code == "TooManyRequests" or api == 429),'
            + ' retried_deliveries = sumif(itemCount, status == "retry"),'
            + " extra_api_calls = sumif((calls - 1) * itemCount, calls > 1) by bin(timestamp, 1h)\n"
            + "| render timechart",
        ),
        (
            "top-imodels-by-failure",
            "Top iModels by failure",
            "table",
            OUTCOMES
            + FIELDS
            + '| where status in ("deadlettered", "retry")\n'
            + '| summarize failures = sum(itemCount), deadlettered = sumif(itemCount, status == "deadlettered"),'
            + " codes = make_set(code), last = max(timestamp) by imodel\n"
            + "| top 10 by failures desc",
        ),
        (
            "latest-deadletters",
            "Latest dead-letters, with their hints",
            "table",
            hints_table()
            + OUTCOMES
            + FIELDS
            + '| where status == "deadlettered"\n'
            + "| extend invocation = tostring(customDimensions.td_invocation_id),"
            + " destination = tostring(customDimensions.td_destination)\n"
            + "| join kind=leftouter hints on code\n"
            + "| project timestamp, code, hint, blob, destination, imodel, invocation,"
            + " message = tostring(customDimensions.td_message)\n"
            + "| top 50 by timestamp desc",
        ),
    ]


def workbook() -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "type": 1,
            "name": "title",
            "content": {
                "json": "## Thumbnail drop: the last day\n"
                "Outcome lines of the function (`td_*` custom dimensions). Dead-letters: "
                "`python -m shared.cli deadletter list`; one blob: `python -m shared.cli status <blob>`."
            },
        }
    ]
    for name, title, visualization, query in panels():
        items.append(
            {
                "type": 3,
                "name": name,
                "content": {
                    "version": "KqlItem/1.0",
                    "title": title,
                    "query": query,
                    "size": 0,
                    "timeContext": {"durationMs": DAY_MS},
                    "queryType": 0,
                    "resourceType": "microsoft.insights/components",
                    "visualization": visualization,
                },
            }
        )
    return {
        "version": "Notebook/1.0",
        "items": items,
        "fallbackResourceIds": [],
        "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json",
    }


def render() -> str:
    return json.dumps(workbook(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python infra/workbook.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
