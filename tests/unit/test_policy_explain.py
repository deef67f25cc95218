"""`slawatch policy explain` says where each target came from (the override that set or
scaled it), who is to act at each escalation level, and in which hours it counts
(docs/policy.md, "Explaining")."""

from __future__ import annotations

import pytest
from sla_scenarios import ts

from slawatch.cli import main
from slawatch.sla.policy import Policy, default_policy_text, parse_policy
from slawatch.sla.policy_cli import explain

CREATED = "2026-09-29 15:00"  # a Tuesday, before the National Day holiday
OVERRIDES = """overrides:
  - {when: {customer_tier: vip}, factor: 0.5}
  - when: {category: quality, priority: major}
    targets: {resolution: {working_days: 5, calendar: business}}
  - {when: {channel: phone}, factor: 0.75}"""
ROUTING = """departments:
    repair:
      1: {name: 维修部主管 张工, contact: "repair-lead@example.com"}"""


def _policy() -> Policy:
    text = default_policy_text().replace("overrides: []", OVERRIDES).replace("departments: {}", ROUTING)
    return parse_policy(text, "explain.yaml")


def _section(lines: list[str], metric: str) -> list[str]:
    """The lines of one metric's section, from its `metric: target` line to the blank line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{metric}: target"))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def _line_after(section: list[str], prefix: str) -> str:
    return section[next(i for i, line in enumerate(section) if line.startswith(prefix)) + 1]


def test_explain_names_the_override_that_replaced_a_target() -> None:
    lines = explain(_policy(), ts(CREATED), "major", category="quality")
    assert _section(lines, "resolution")[0] == (
        "resolution: target 162000 s (5 working days x 9 h on calendar business (set by overrides[1]))"
    )


def test_explain_names_the_override_whose_factor_scaled_a_target() -> None:
    lines = explain(_policy(), ts(CREATED), "normal", customer_tier="vip")
    assert _section(lines, "response")[0] == "response: target 7200 s (4h on calendar business x 0.5 (overrides[0]))"


def test_explain_looks_the_target_up_with_the_channel() -> None:
    lines = explain(_policy(), ts(CREATED), "normal", channel="phone")
    assert _section(lines, "response")[0] == "response: target 10800 s (4h on calendar business x 0.75 (overrides[2]))"


def test_explain_header_echoes_the_channel_and_department_given() -> None:
    lines = explain(_policy(), ts(CREATED), "normal", channel="phone", department="repair")
    assert lines[0] == (
        "ticket created 2026-09-29T15:00:00+08:00, priority normal, category other, tier standard, "
        "channel phone, department repair"
    )


def test_explain_header_leaves_out_channel_and_department_not_given() -> None:
    lines = explain(_policy(), ts(CREATED), "normal")
    assert lines[0] == "ticket created 2026-09-29T15:00:00+08:00, priority normal, category other, tier standard"


def test_explain_names_who_acts_at_each_escalation_level_for_the_department() -> None:
    section = _section(explain(_policy(), ts(CREATED), "normal", department="repair"), "response")
    assert _line_after(section, "  deadline (breach, escalation level 1)") == (
        "    to act: 维修部主管 张工, repair-lead@example.com (department_supervisor)"
    )
    assert _line_after(section, "  escalation level 2") == (
        "    to act: After-sales director, after-sales-director (after_sales_director)"
    )


def test_explain_names_the_default_routing_for_a_department_without_its_own() -> None:
    section = _section(explain(_policy(), ts(CREATED), "normal", department="sales"), "response")
    assert "    to act: Department supervisor on duty, oncall-supervisor (department_supervisor)" in section


def test_explain_says_how_to_fix_a_level_nobody_is_routed_to() -> None:
    text = default_policy_text().replace("    2: {name: After-sales director", "    # 2: {name: After-sales director")
    section = _section(explain(parse_policy(text), ts(CREATED), "normal", department="repair"), "response")
    assert (
        "    to act: nobody in routing for level 2 (after_sales_director) "
        "(fix: add routing.departments.repair.2 or routing.default.2)"
    ) in section


def test_explain_counts_plain_hours_on_a_calendar_that_is_always_open() -> None:
    section = _section(explain(_policy(), ts(CREATED), "major"), "response")  # 30m on 24x7
    assert section[1] == "  warning: 2026-09-29T15:24:00+08:00  (after 0.4 hours, 24x7)"
    assert all("business hour" not in line for line in section)


def test_explain_counts_business_hours_on_a_working_calendar() -> None:
    section = _section(explain(_policy(), ts(CREATED), "normal"), "response")  # 4h on business
    assert section[2] == "  deadline (breach, escalation level 1): 2026-09-30T10:00:00+08:00  (after 4 business hours)"


def test_explain_gives_a_level_1_later_than_the_breach_its_own_line() -> None:
    text = default_policy_text().replace("{level: 1, at: 1.0,", "{level: 1, at: 1.25,")
    section = _section(explain(parse_policy(text), ts(CREATED), "normal"), "response")  # 4h on business
    assert section[2] == "  deadline (breach): 2026-09-30T10:00:00+08:00  (after 4 business hours)"
    assert (
        section[3]
        == "  escalation level 1 (department_supervisor): 2026-09-30T11:00:00+08:00  (after 5 business hours)"
    )
    assert section[4] == "    to act: Department supervisor on duty, oncall-supervisor (department_supervisor)"


def test_explain_command_takes_a_channel_and_a_department(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["policy", "explain", "--created", "2026-09-29T15:00:00+08:00", "--priority", "normal"]
    assert main([*argv, "--channel", "phone", "--department", "repair"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("channel phone, department repair")
