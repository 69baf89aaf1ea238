"""infra/check.sh fails when checkov checks less than the recorded run did.

checkov leaves out what it cannot read without failing: a template it stops parsing, or a resource it
stops recognising, only lowers the passed count (30 became 25 once, unnoticed).  The reports below are
shaped as checkov 3.3.30 writes them with ``--output json`` (not ``--quiet``, which leaves out
``passed_checks``): ``summary`` with the counts, ``results`` with one entry per check, each with
``check_id``, ``file_path`` (relative to the scanned directory, with a leading slash) and ``resource``.
They are built from the committed record itself, so the test follows the record as it changes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from typing import Any

from tests.infra import templates as t


@cache
def checkov_report() -> Any:
    spec = importlib.util.spec_from_file_location("infra_checkov_report", t.INFRA / "checkov_report.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((t.INFRA / "checkov-expected.json").read_text(encoding="utf-8"))
    return data


def report(lines: list[str], resource_count: int, *, quiet: bool = False) -> list[dict[str, Any]]:
    checks = []
    for line in lines:
        check_id, file_path, resource = line.split(" ", 2)
        checks.append({"check_id": check_id, "file_path": file_path, "resource": resource, "check_result": {}})
    results: dict[str, Any] = {"failed_checks": []}
    if not quiet:
        results |= {"passed_checks": checks, "skipped_checks": [], "parsing_errors": []}
    summary = {"passed": len(checks), "failed": 0, "skipped": 11, "parsing_errors": 0, "resource_count": resource_count}
    return [{"check_type": "bicep", "results": results, "summary": summary}]


def test_the_recorded_run_passes() -> None:
    record = expected()
    assert checkov_report().judge(report(record["passed"], record["resource_count"]), 0, record) == []


def test_a_file_that_drops_out_of_the_scan_fails_and_is_named() -> None:
    record = expected()
    kept = [line for line in record["passed"] if line.split(" ")[1] != "/modules/storage.bicep"]
    assert len(kept) < len(record["passed"])

    problems = checkov_report().judge(report(kept, record["resource_count"] - 9), 0, record)

    assert len(problems) == 2
    assert "files no longer scanned: /modules/storage.bicep" in problems[0]
    assert f"{len(kept)} passed, {len(record['passed'])} recorded" in problems[0]
    assert "dropped out of the scan" in problems[1]


def test_one_check_fewer_fails() -> None:
    record = expected()
    dropped = record["passed"][0]
    problems = checkov_report().judge(report(record["passed"][1:], record["resource_count"]), 0, record)
    assert len(problems) == 1
    assert dropped in problems[0]


def test_fewer_resources_fail_even_with_the_same_checks() -> None:
    record = expected()
    problems = checkov_report().judge(report(record["passed"], record["resource_count"] - 1), 0, record)
    assert len(problems) == 1
    assert "dropped out of the scan" in problems[0]


def test_a_new_passing_check_must_be_recorded() -> None:
    record = expected()
    new = "CKV_AZURE_999 /modules/storage.bicep Microsoft.Storage/storageAccounts.storage"
    problems = checkov_report().judge(report([*record["passed"], new], record["resource_count"]), 0, record)
    assert len(problems) == 1
    assert new in problems[0]
    assert "--record-checkov" in problems[0]


def test_a_quiet_report_cannot_be_judged() -> None:
    record = expected()
    problems = checkov_report().judge(report(record["passed"], record["resource_count"], quiet=True), 0, record)
    assert any("--quiet" in problem for problem in problems)


def test_the_record_names_real_templates_and_check_sh_keeps_the_passed_checks() -> None:
    record = expected()
    assert record["passed"] == sorted(set(record["passed"]))
    for line in record["passed"]:
        assert (t.INFRA / line.split(" ")[1].lstrip("/")).is_file(), line
    script = (t.INFRA / "check.sh").read_text(encoding="utf-8")
    checkov_call = script[script.index('"$venv/bin/checkov"') :].split("|| checkov_status")[0]
    assert "--quiet" not in checkov_call
    assert "checkov_report.py" in script
