"""Prometheus rules and Alertmanager routing.

The ``prometheus`` tests run Debian's promtool/amtool (packages ``prometheus`` and
``prometheus-alertmanager``): skipped where they are missing, failed under ``CI=true``.
The rest reads the YAML directly and needs nothing installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slawatch.dashboards.common import METRIC_LABELS
from slawatch.dashboards.promql import referenced_metrics, selectors

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules" / "slawatch.rules.yml"
RULE_TESTS = sorted((REPO / "deploy" / "prometheus" / "rules" / "tests").glob("*.yml"))
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS_COMPOSE_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.compose.yml"
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTING_DOC = REPO / "docs" / "alerting.md"

#: Alerts the rules must define (the brief's list), by what they watch.
REQUIRED_ALERTS = {
    "SlawatchSlaComplianceLow",  # SLA compliance below target
    "SlawatchResolutionRateLow",  # 问题解决率 < 90%
    "SlawatchOnTimeRateLow",  # 服务完成及时率 < 95%
    "SlawatchSatisfactionLow",  # 客户满意度 < 8
    "SlawatchComplaintRateHigh",  # 投诉率 > 5%
    "SlawatchSlaBreachBurst",  # breaches per 10 min high
    "SlawatchEscalationLevel2",  # level-2 escalation (售后总监)
    "SlawatchNoEventsProcessed",
    "SlawatchEventLagHigh",
    "SlawatchDeadLetterSpike",
    "SlawatchWorkerDown",
    "SlawatchCalendarYearMissing",
}

#: (labels of an alert, receivers it must reach), checked with `amtool config routes test`.
ROUTES = [
    (
        ["alertname=SlawatchSlaComplianceLow", "team=service", "severity=warning", "department=repair"],
        "supervisor-repair",
    ),
    (
        ["alertname=SlawatchOnTimeRateLow", "team=service", "severity=warning", "department=customer_service"],
        "supervisor-customer-service",
    ),
    (
        [
            "alertname=SlawatchEscalationLevel2",
            "team=service",
            "severity=critical",
            "notify=director",
            "department=quality",
        ],
        "director,supervisor-quality",
    ),
    (
        [
            "alertname=SlawatchEscalationLevel2",
            "team=service",
            "severity=critical",
            "notify=director",
            "department=other",
        ],
        "director,service-oncall",
    ),
    (
        ["alertname=SlawatchComplaintRateHigh", "team=service", "severity=warning", "department=unknown"],
        "service-oncall",
    ),
    (["alertname=SlawatchWorkerDown", "team=platform", "severity=critical", "instance=w1:6066"], "platform-oncall"),
    (["alertname=SlawatchEventLagHigh", "team=platform", "severity=warning"], "platform-oncall"),
    (["alertname=SomethingElse"], "service-oncall"),
]


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not found: apt-get install {package} (Debian's package ships it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, cwd=REPO)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in all_rules() if "alert" in rule}


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub gives the headings of a Markdown page."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", markdown, flags=re.MULTILINE):
        text = re.sub(r"`", "", heading).strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


# --- promtool / amtool ----------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    result = run(binary("promtool", "prometheus"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.prometheus
def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS, "no promtool tests in deploy/prometheus/rules/tests"
    result = run(binary("promtool", "prometheus"), "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


@pytest.mark.prometheus
def test_promtool_check_configs() -> None:
    promtool = binary("promtool", "prometheus")
    # The host config resolves its rule files (relative to the config file).
    result = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
    # The compose config names container paths: syntax only.
    result = run(promtool, "check", "config", "--syntax-only", str(PROMETHEUS_COMPOSE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_amtool_check_config() -> None:
    result = run(binary("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.prometheus
@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[r for _, r in ROUTES])
def test_amtool_routes(labels: list[str], receivers: str) -> None:
    amtool = binary("amtool", "prometheus-alertmanager")
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        f"--verify.receivers={receivers}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


# --- the rules' content ------------------------------------------------------------------------


def test_required_alerts_exist() -> None:
    assert set(alerts()) >= REQUIRED_ALERTS


def test_alerts_have_severity_team_and_annotations() -> None:
    anchors = github_anchors(ALERTING_DOC.read_text(encoding="utf-8"))
    for name, rule in alerts().items():
        labels, notes = rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in {"critical", "warning"}, name
        assert labels.get("team") in {"service", "platform"}, name
        assert notes.get("summary") and notes.get("description"), name
        url = notes.get("runbook_url", "")
        assert url == f"docs/alerting.md#{name.lower()}", f"{name}: runbook_url {url!r}"
        assert name.lower() in anchors, f"docs/alerting.md has no section '{name}'"


def test_service_alerts_keep_the_department_label() -> None:
    for name, rule in alerts().items():
        if rule["labels"]["team"] != "service":
            continue
        expr = rule["expr"]
        grouped = "department" in expr and ("by (department" in expr or rule["expr"].lstrip().startswith("department"))
        assert grouped, f"{name} must keep the department label for routing"


def test_level_2_escalations_go_to_the_director() -> None:
    rule = alerts()["SlawatchEscalationLevel2"]
    assert rule["labels"] == {"severity": "critical", "team": "service", "notify": "director"}
    assert 'level="2"' in rule["expr"]


def test_rules_use_catalogue_metrics_and_recorded_series() -> None:
    series: dict[str, set[str]] = {}
    for name, labels in METRIC_LABELS.items():
        series[name] = set(labels)
        for suffix in ("_bucket", "_sum", "_count"):
            series[name + suffix] = set(labels)
    series["up"] = set()
    recorded = {rule["record"] for rule in all_rules() if "record" in rule}
    for rule in all_rules():
        name = rule.get("record") or rule.get("alert")
        unknown = referenced_metrics(rule["expr"]) - set(series) - recorded
        assert not unknown, f"{name} uses {sorted(unknown)}: not in docs/CONTRACTS-dev.md"
        for metric, labels in selectors(rule["expr"]):
            if metric in series:
                extra = labels - series[metric] - {"instance", "job", "le"}
                assert not extra, f"{name}: {metric} has no label(s) {sorted(extra)}"


def test_recording_rules_follow_the_naming_convention() -> None:
    for rule in all_rules():
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        doc = load(path)
        assert doc["rule_files"] == ["../slawatch.rules.yml"], path
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert set(alerts()) - firing == set(), "alerts never tested firing"
    assert set(alerts()) - silent == set(), "alerts never tested not firing"


def test_prometheus_configs_load_the_rules_and_scrape_the_workers() -> None:
    host = load(PROMETHEUS_CONFIG)
    assert host["rule_files"] == ["rules/*.yml"]
    jobs = {job["job_name"]: job for job in host["scrape_configs"]}
    assert jobs["slawatch"]["static_configs"][0]["targets"] == ["127.0.0.1:6066"]
    compose = load(PROMETHEUS_COMPOSE_CONFIG)
    assert compose["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    jobs = {job["job_name"]: job for job in compose["scrape_configs"]}
    assert jobs["slawatch"]["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": 6066,
        "refresh_interval": "15s",
    }
    assert compose["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    # The alerts' `up{job="slawatch"}` needs this job name in both configs.
    assert 'up{job="slawatch"}' in alerts()["SlawatchWorkerDown"]["expr"]


def test_alertmanager_receivers_are_all_used_and_inhibitions_name_real_alerts() -> None:
    config = load(ALERTMANAGER)
    names = {r["name"] for r in config["receivers"]}

    def used(route: dict[str, Any]) -> set[str]:
        out = {route["receiver"]} if "receiver" in route else set()
        for child in route.get("routes", []):
            out |= used(child)
        return out

    assert used(config["route"]) == names
    known = set(alerts())
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            m = re.fullmatch(r'alertname(=~?)"(.*)"', matcher)
            if m:
                pattern = m.group(2) if m.group(1) == "=~" else re.escape(m.group(2))
                assert any(re.fullmatch(pattern, a) for a in known), matcher
