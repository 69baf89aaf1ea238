"""Each log alert rule declares, as dimensions, exactly the columns its query groups by.

Azure Monitor's log search alerts (scheduledQueryRules, criteria.allOf[].dimensions) split the query's
result into one time series per value of each declared dimension and alert on each; a column the query
groups by but the rule does not declare is aggregated away (timeAggregation 'Total' over all rows), so a
rule that says "one row per blob" fires once, for the sum, and names no blob.  Read: the
scheduledQueryRules 2023-12-01 type (infra/bicep-types, monitor: Dimension name/operator/values) and
learn.microsoft.com azure-monitor/alerts/alerts-create-log-alert-rule, "Split by dimensions".
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import templates as t

RULE = "Microsoft.Insights/scheduledQueryRules"


def rules() -> dict[str, dict[str, Any]]:
    return t.resources(t.module("alerts"), RULE)


def query_file(criterion: dict[str, Any]) -> str | None:
    """The .kql file a rule's query loads, directly or through a variable of the module."""
    query = criterion["query"]
    variables = t.module("alerts").get("variables") or {}
    if isinstance(query, str) and query in variables:
        query = variables[query]["value"]
    files = [leaf for leaf in t.leaves(query) if isinstance(leaf, str) and leaf.endswith(".kql")]
    return files[0] if files else None


def grouped_by(kql: str) -> set[str]:
    """The columns of the last ``summarize ... by a = ..., b`` of a query (none without ``by``)."""
    statements = [s.strip() for s in re.split(r"^\s*\|", kql, flags=re.MULTILINE)]
    summarize = [s for s in statements if s.startswith("summarize ")][-1]
    if " by " not in summarize:
        return set()
    columns = summarize.split(" by ", 1)[1]
    return {part.split("=", 1)[0].strip() for part in columns.split(",")}


@pytest.mark.parametrize("rule", sorted(rules()))
def test_a_rule_declares_the_columns_its_query_groups_by_as_dimensions(rule: str) -> None:
    for criterion in rules()[rule]["properties"]["criteria"]["allOf"]:
        path = query_file(criterion)
        assert path is not None, f"{rule}: its query is not a file under infra/queries"
        kql = (t.MODULES / path).resolve().read_text(encoding="utf-8")
        declared = {d["name"] for d in criterion.get("dimensions") or []}
        assert declared == grouped_by(kql), f"{rule}: dimensions {sorted(declared)}, query groups by {path}"
        for dimension in criterion.get("dimensions") or []:
            assert (dimension["operator"], dimension["values"]) == ("Include", ["*"]), f"{rule}: every value"


def test_the_retries_exhausted_rule_alerts_per_blob() -> None:
    dimensions = rules()["retriesExhausted"]["properties"]["criteria"]["allOf"][0].get("dimensions") or []
    assert [d["name"] for d in dimensions] == ["blob"]
