"""Policy files: the default policy of sla.md, overrides, and problem reports that
name the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sla_scenarios import ts

from slawatch.exceptions import PolicyError
from slawatch.sla.policy import default_policy_text, load_policy, parse_duration, parse_policy
from slawatch.sla.policy_cli import check, explain


def test_default_policy_has_the_targets_of_sla_md() -> None:
    p = load_policy(None)
    hours = {(prio, m): p.targets[(prio, m)].seconds / 3600 for prio, m in p.targets}
    assert hours == {
        ("normal", "response"): 4,
        ("normal", "resolution"): 45,
        ("urgent", "response"): 1,
        ("urgent", "resolution"): 27,
        ("major", "response"): 0.5,
        ("major", "resolution"): 63,
    }
    assert p.targets[("major", "response")].calendar == "24x7"
    assert p.complaint.seconds == 48 * 3600 and p.complaint.calendar == "24x7"
    assert p.warn_fraction == 0.8
    assert [(e.level, e.at) for e in p.escalation] == [(1, 1.0), (2, 1.5)]


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), (90, 90)])
def test_durations_are_parsed(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_vip_override_halves_the_targets() -> None:
    text = default_policy_text().replace("overrides: []", "overrides:\n  - {when: {customer_tier: vip}, factor: 0.5}")
    p = parse_policy(text, "vip.yaml")
    assert p.target_for("response", "normal", customer_tier="vip").seconds == 7200
    assert p.target_for("response", "normal", customer_tier="standard").seconds == 14400


def test_category_override_replaces_a_target() -> None:
    text = default_policy_text().replace(
        "overrides: []",
        "overrides:\n  - when: {category: quality}\n    targets: {resolution: {working_days: 2, calendar: business}}",
    )
    p = parse_policy(text, "q.yaml")
    assert p.target_for("resolution", "normal", category="quality").seconds == 2 * 9 * 3600


def test_every_problem_is_reported_with_file_key_and_fix() -> None:
    text = (
        default_policy_text()
        .replace("calendar: 24x7}   # 专项小组 within 30 minutes", "calendar: nightly}")
        .replace("warn_fraction: 0.8", "warn_fraction: 1.5")
        .replace('mon-fri: ["09:00-18:00"]', 'mon-fri: ["18:00-09:00"]')
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "bad.yaml")
    keys = {p.key for p in info.value.problems}
    assert {"warn_fraction", "targets.major.response.calendar", "calendars.business.hours.mon-fri[0]"} <= keys
    assert all(p.file == "bad.yaml" and p.fix for p in info.value.problems)


def test_unknown_keys_are_problems_not_silently_ignored() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(default_policy_text() + "\nescalations: []\n", "typo.yaml")
    assert any(p.key == "escalations" for p in info.value.problems)


def test_policy_check_command_lists_problems_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("targets: {}\n")
    code, lines = check(str(bad))
    assert code == 1 and any(str(bad) in line and "targets.normal" in line for line in lines)


def test_policy_check_accepts_the_default_policy() -> None:
    code, lines = check(None)
    assert code == 0 and lines[0].endswith("OK")


def test_policy_check_warns_about_a_year_the_holiday_preset_lacks() -> None:
    from datetime import UTC, datetime

    code, lines = check(None, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert code == 0 and any("2027" in line and "holiday" in line for line in lines)


def test_explain_gives_deadlines_and_the_reasons() -> None:
    lines = explain(load_policy(None), ts("2026-09-30 17:00"), "urgent")
    text = "\n".join(lines)
    assert "response" in text and "resolution" in text
    # urgent response 1 h from Wed 30 Sep 17:00 ends at 18:00 that day; level 2 (1.5 h)
    # skips the National Day holiday (1-7 Oct 2026) and lands on Thursday 8 Oct 09:30.
    assert "deadline (breach, escalation level 1): 2026-09-30T18:00:00+08:00" in text
    assert "escalation level 2 (after_sales_director): 2026-10-08T09:30:00+08:00" in text
    # resolution (27 h) counts the make-up Saturday 10 Oct (调休) as a working day.
    assert "deadline (breach, escalation level 1): 2026-10-10T17:00:00+08:00" in text
    assert "调休" in text


def test_default_policy_satisfies_the_shipped_json_schema() -> None:
    import json

    import jsonschema
    import yaml

    root = Path(__file__).parents[2] / "slawatch" / "data"
    schema = json.loads((root / "policy.schema.json").read_text())
    doc = yaml.safe_load(default_policy_text())
    # YAML gives int keys for routing levels; JSON Schema sees object keys as strings.
    doc = json.loads(json.dumps(doc, default=str))
    jsonschema.validate(doc, schema)


def test_overlapping_hours_are_a_policy_problem_not_a_crash() -> None:
    text = default_policy_text().replace(
        'mon-fri: ["09:00-18:00"]', 'mon-fri: ["09:00-18:00"]\n      mon: ["12:00-20:00"]'
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "overlap.yaml")
    [problem] = info.value.problems
    assert problem.key == "calendars.business.hours" and "overlap" in problem.problem
    assert problem.fix == "list each working period once"


def test_an_impossible_unquoted_date_is_a_problem_at_its_key_not_a_crash() -> None:
    text = default_policy_text().replace("holidays: []", "holidays: [2027-13-01, 2027-02-11]")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "dates.yaml")
    [problem] = info.value.problems
    assert (problem.file, problem.key) == ("dates.yaml", "calendars.business.holidays[0]")
    assert "2027-13-01" in problem.problem and "YYYY-MM-DD" in problem.fix


def test_a_broken_calendar_is_reported_once_not_again_by_every_target_naming_it() -> None:
    text = default_policy_text().replace("timezone: Asia/Shanghai\n    hours", "timezone: Asia/Shanghia\n    hours")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "tz.yaml")
    assert [p.key for p in info.value.problems] == ["calendars.business.timezone"]


def test_a_date_in_both_lists_names_the_workdays_key_and_the_fix() -> None:
    text = (
        default_policy_text()
        .replace("holidays: []", "holidays: [2027-02-13]")
        .replace("workdays: []", "workdays: [2027-02-13]")
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "both.yaml")
    [problem] = info.value.problems
    assert problem.key == "calendars.business.workdays" and problem.fix == "keep each date in one list"


def test_a_working_day_of_less_than_a_second_is_a_problem_at_its_key() -> None:
    text = default_policy_text().replace("holidays_preset: cn", "holidays_preset: cn\n    working_day_hours: 0.0001")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "wdh.yaml")
    [problem] = info.value.problems
    assert problem.key == "calendars.business.working_day_hours" and "working_day_hours" in problem.fix


@pytest.mark.parametrize(("hours", "seconds"), [(8.7, 31_320), (4.35, 15_660), (7.5, 27_000)])
def test_working_day_hours_become_the_nearest_whole_second(hours: float, seconds: int) -> None:
    """8.7 * 3600 is 31319.999999999996 in floats: truncated, every "N working days"
    target of such a policy came out N seconds short."""
    text = default_policy_text().replace("holidays_preset: cn", f"holidays_preset: cn\n    working_day_hours: {hours}")
    assert parse_policy(text).calendars["business"].working_day_seconds == seconds


def test_explain_into_a_pipe_closed_early_stops_quietly() -> None:
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "slawatch",
        "policy",
        "explain",
        "--created",
        "2026-09-30T17:00:00+08:00",
        "--priority",
        "normal",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head` does once it has its lines (here: before any)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as cat exits
    assert "Traceback" not in err


def test_the_policy_docs_example_adds_dates_only_in_years_the_preset_covers() -> None:
    """One explicit date in a year counts as covering that year (calendars.md), so an
    example listing a single date of a year the preset lacks would teach readers to
    silence the missing-year warning with a partial list."""
    import re

    import yaml

    from slawatch.sla.holidays import preset_years

    doc = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    block = re.search(r"## Format.*?```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    business = yaml.safe_load(block.group(1))["calendars"]["business"]
    dates = business["holidays"] + business["workdays"]
    assert dates and all(d.year in preset_years(business["holidays_preset"]) for d in dates)


def test_a_policy_zone_that_depends_on_the_host_is_a_problem_at_its_key() -> None:
    text = default_policy_text().replace("timezone: Asia/Shanghai", "timezone: localtime", 1)
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "tz.yaml")
    assert any("not an IANA place name" in str(p) for p in info.value.problems)
