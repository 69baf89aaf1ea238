"""Alerts and the workbook: wired to the Application Insights component, an action group with an
optional e-mail, and queries that only use custom dimensions the app really logs."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

from shared.core.errors import CODES
from shared.core.outcome import Outcome
from tests.infra import templates as t

RULE = "Microsoft.Insights/scheduledQueryRules"
METRIC_RULE = "Microsoft.Insights/metricAlerts"
QUERIES = t.INFRA / "queries"
# What shared/delivery/log.py puts on records: the Outcome's fields, plus the blob context's keys.
LOGGED = {f"td_{f.name}" for f in dataclasses.fields(Outcome)} | {"td_invocation_id", "td_blob", "td_imodel_id"}


def rules() -> dict[str, dict]:
    return t.resources(t.module("alerts"), RULE)


def test_four_log_rules_on_the_app_insights_component_every_5_minutes_over_15() -> None:
    assert set(rules()) == {"deadletters", "retriesExhausted", "throttling", "functionFailures"}
    for name, rule in rules().items():
        props = rule["properties"]
        assert rule["kind"] == "LogAlert", name
        assert props["scopes"] == ["applicationInsightsId"], name
        assert (props["evaluationFrequency"], props["windowSize"]) == ("PT5M", "PT15M"), name
        assert props["actions"]["actionGroups"], name
        (criterion,) = props["criteria"]["allOf"]
        assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0), name
    call = t.module_call("alerts")["config"]["params"]
    assert "monitoring" in set(t.leaves(call["applicationInsightsId"]))


def test_the_dead_letter_alert_splits_by_code_so_the_codes_are_in_the_alert() -> None:
    (criterion,) = rules()["deadletters"]["properties"]["criteria"]["allOf"]
    assert criterion["dimensions"] == [{"name": "code", "operator": "Include", "values": ["*"]}]
    assert criterion["metricMeasureColumn"] == "deadletters"
    assert "by code = tostring(customDimensions.td_code)" in (QUERIES / "deadletters.kql").read_text()


def test_the_action_group_e_mails_only_when_an_address_is_given() -> None:
    doc = t.module("alerts")
    group = t.only_resource(doc, "Microsoft.Insights/actionGroups")
    assert t.param_default(doc, "alertEmail") == ""
    receivers = group["properties"]["emailReceivers"]
    assert t.function_types(receivers) >= {"empty"}
    assert t.variable(doc, "emailReceiver")[0]["emailAddress"] == "alertEmail"
    assert len(group["properties"]["groupShortName"]) <= 12  # Azure's limit
    parameters = json.loads((t.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["alertEmail"] == {"value": "${ALERT_EMAIL}"}


def test_queries_use_only_dimensions_the_app_logs() -> None:
    texts = [p.read_text(encoding="utf-8") for p in QUERIES.glob("*.kql")]
    texts += [item["content"]["query"] for item in workbook()["items"] if item["type"] == 3]
    used = {name for text in texts for name in re.findall(r"customDimensions\.(td_\w+)", text)}
    assert used, "no td_* dimension found: has the query syntax changed?"
    assert used <= LOGGED, f"not logged by the app: {sorted(used - LOGGED)}"


def workbook() -> dict:
    data: dict = json.loads((QUERIES / "workbook.json").read_text(encoding="utf-8"))
    return data


def test_the_workbook_json_is_what_infra_workbook_py_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(t.INFRA / "workbook.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_workbook_has_the_panels_over_the_last_day() -> None:
    panels = {item["name"]: item["content"] for item in workbook()["items"] if item["type"] == 3}
    assert set(panels) == {
        "uploads-and-deadletters",
        "stage-times",
        "throttling-and-retries",
        "top-imodels-by-failure",
        "latest-deadletters",
    }
    for name, content in panels.items():
        assert content["timeContext"] == {"durationMs": 86_400_000}, name
        assert content["resourceType"] == "microsoft.insights/components", name
    assert "percentilew(seconds, itemCount, 50)" in panels["stage-times"]["query"]
    assert "percentilew(seconds, itemCount, 95)" in panels["stage-times"]["query"]
    assert "bin(timestamp, 1h)" in panels["uploads-and-deadletters"]["query"]


def test_the_latest_dead_letters_panel_knows_every_codes_hint() -> None:
    query = next(i["content"]["query"] for i in workbook()["items"] if i["name"] == "latest-deadletters")
    for code, info in CODES.items():
        assert f"{json.dumps(code.value)}, {json.dumps(info.hint)}" in query, code


def test_the_workbook_is_deployed_on_the_component_with_a_stable_guid_name() -> None:
    doc = t.module("workbook")
    book = t.only_resource(doc, "Microsoft.Insights/workbooks")
    assert t.function_types(book["name"]) == {"guid"}
    assert book["properties"]["sourceId"] == "applicationInsightsId"
    assert book["properties"]["category"] == "workbook"
    assert "load_json_content" in t.function_types(book["properties"]["serializedData"])


def test_no_query_counts_rows_where_a_row_may_stand_for_several_items() -> None:
    """Sampling keeps one row for ``itemCount`` items (Application Insights sampling docs: "use
    summarize sum(itemCount)"): a query that counts rows undercounts, and can lose a lone dead-letter."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in QUERIES.glob("*.kql")}
    texts |= {item["name"]: item["content"]["query"] for item in workbook()["items"] if item["type"] == 3}
    for name, text in texts.items():
        code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
        assert "summarize" not in code or "itemCount" in code, name
        for row_count in ("count()", "countif(", "percentile("):
            assert row_count not in code, f"{name} uses {row_count}"


def test_event_grid_metric_alerts_watch_the_system_topic_when_the_app_is_silent() -> None:
    """Metric names from learn.microsoft.com "Supported metrics - Microsoft.EventGrid/systemTopics"
    (all Count, aggregation Total); the rules need no telemetry from the app to fire."""
    doc = t.module("alerts")
    metric_rules = t.resources(doc, METRIC_RULE)
    watched = {}
    for name, rule in metric_rules.items():
        props = rule["properties"]
        assert rule["location"] == "global", name
        assert props["scopes"] == ["eventGridSystemTopicId"], name
        assert (props["evaluationFrequency"], props["windowSize"]) == ("PT5M", "PT15M"), name
        criteria = {key.strip("'"): value for key, value in props["criteria"].items()}  # 'odata.type' is quoted
        assert criteria["odata.type"] == "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", name
        (criterion,) = props["criteria"]["allOf"]
        assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics", name
        assert (criterion["timeAggregation"], criterion["operator"], criterion["threshold"]) == (
            "Total",
            "GreaterThan",
            0,
        )
        watched[criterion["metricName"]] = name
        assert [set(t.leaves(action["actionGroupId"])) & {"actionGroup"} for action in props["actions"]] == [
            {"actionGroup"}
        ], name
    assert set(watched) == {"DeliveryAttemptFailCount", "DeadLetteredCount", "DroppedEventCount"}
    call = t.module_call("alerts")["config"]["params"]
    assert "systemTopic" in set(t.leaves(call["eventGridSystemTopicId"]))


def test_every_rule_notifies_the_one_action_group() -> None:
    doc = t.module("alerts")
    for name, rule in {**t.resources(doc, RULE), **t.resources(doc, METRIC_RULE)}.items():
        assert "actionGroup" in set(t.leaves(rule["properties"]["actions"])), name
