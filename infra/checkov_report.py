"""Judge checkov's JSON report of infra/ against the record of the last accepted run.

checkov skips what it cannot read without failing: a file it can no longer parse, or a resource it no
longer recognises, just has fewer checks, and "30 passed" silently becomes "25 passed".  So a run must
also keep every passed check of the record in ``infra/checkov-expected.json`` (each as check id, file
and resource) and scan at least as many resources as the record says; a file that drops out of the scan
loses its entries, and fails.  A check that newly passes fails too, until it is recorded, so the record
stays the previous run's.  Record the current run after a deliberate change:
``bash infra/check.sh --record-checkov``.

Run by infra/check.sh: ``python infra/checkov_report.py REPORT.json STATUS [--record]``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EXPECTED = Path(__file__).resolve().parent / "checkov-expected.json"
_COUNTS = ("passed", "failed", "skipped", "parsing_errors", "resource_count")


def load_reports(path: Path) -> list[dict[str, Any]]:
    """checkov writes one report object, or a list of them (one per framework)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else [data]


def summary(reports: Iterable[dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(_COUNTS, 0)
    for report in reports:
        for key in _COUNTS:
            totals[key] += int(report["summary"].get(key, 0))
    return totals


def passed_entries(reports: Iterable[dict[str, Any]]) -> set[str]:
    """One line per passed check: check id, file (relative to infra/) and resource."""
    return {
        f"{check['check_id']} {check['file_path']} {check['resource']}"
        for report in reports
        for check in report["results"].get("passed_checks") or []
    }


def record(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resource_count": summary(reports)["resource_count"], "passed": sorted(passed_entries(reports))}


def judge(reports: list[dict[str, Any]], status: int, expected: dict[str, Any]) -> list[str]:
    """What is wrong with a run, in words (empty: nothing)."""
    totals = summary(reports)
    problems = []
    if totals["failed"] or status:
        problems.append(f"{totals['failed']} failed checks (exit status {status})")
    if totals["parsing_errors"]:
        problems.append(f"{totals['parsing_errors']} files checkov could not parse (so did not check)")
    if not totals["passed"]:
        problems.append("no check passed: did checkov find the templates?")
    if not reports or any("passed_checks" not in report["results"] for report in reports):
        problems.append("the report lists no passed checks (was checkov run with --quiet?)")
        return problems
    found = passed_entries(reports)
    wanted = set(expected["passed"])
    missing, new = sorted(wanted - found), sorted(found - wanted)
    if missing:
        files = sorted({line.split(" ")[1] for line in missing} - {line.split(" ")[1] for line in found})
        gone = f"; files no longer scanned: {', '.join(files)}" if files else ""
        problems.append(
            f"{len(missing)} checks passed in the recorded run and not now ({len(found)} passed, "
            f"{len(wanted)} recorded){gone}: " + "; ".join(missing)
        )
    if new:
        problems.append(
            f"{len(new)} checks pass that the record lacks: " + "; ".join(new) + " (if that is right, record "
            "this run: bash infra/check.sh --record-checkov)"
        )
    if totals["resource_count"] < int(expected["resource_count"]):
        problems.append(
            f"checkov read {totals['resource_count']} resources, the recorded run {expected['resource_count']}: "
            "a template or resource dropped out of the scan"
        )
    return problems


def main(argv: list[str]) -> int:
    path, status = Path(argv[0]), int(argv[1])
    try:
        reports = load_reports(path)
    except (OSError, ValueError) as error:
        print(f"infra/check.sh: checkov wrote no readable report ({error}); exit status {status}", file=sys.stderr)
        return 1
    totals = summary(reports)
    print(
        "checkov (bicep): {passed} passed, {failed} failed, {skipped} skipped (reasons inline), "
        "{parsing_errors} parsing errors, {resource_count} resources".format(**totals)
    )
    if "--record" in argv[2:]:
        EXPECTED.write_text(json.dumps(record(reports), indent=2) + "\n", encoding="utf-8")
        print(f"infra/check.sh: recorded this run in {EXPECTED.name}")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    problems = judge(reports, status, expected)
    if problems:
        print("infra/check.sh: " + "\ninfra/check.sh: ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
