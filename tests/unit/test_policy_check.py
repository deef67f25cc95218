"""`slawatch policy check` lists each real problem once: an invalid part of a policy
is reported at its own key and causes no follow-on problems elsewhere (docs/policy.md,
"Checking"). The worker refuses to start with the same list."""

from __future__ import annotations

from pathlib import Path

import pytest

from slawatch.exceptions import PolicyError
from slawatch.sla.policy import default_policy_text, load_policy, parse_policy
from slawatch.sla.policy_cli import check

WORKDAY_HOURS = 'mon-fri: ["09:00-18:00"]'
OVERRIDES = """overrides:
  - {when: {customer_tier: vip}, factor: 0.5}
  - when: {category: quality, priority: major}
    targets: {resolution: {working_days: 5, calendar: business}}"""


def _policy(*replacements: tuple[str, str]) -> str:
    """The default policy with the docs' two overrides, then each (old, new) replaced once."""
    text = default_policy_text().replace("overrides: []", OVERRIDES)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [f"{p.key}: {p.problem}" for p in info.value.problems]


BAD_WEEKDAY = (WORKDAY_HOURS, WORKDAY_HOURS + '\n      mnd: ["09:00-10:00"]')
OVERLAP = (WORKDAY_HOURS, WORKDAY_HOURS + '\n      mon: ["12:00-20:00"]')
BAD_PRESET = ("holidays_preset: cn", "holidays_preset: us")


@pytest.mark.parametrize("breakage", [BAD_WEEKDAY, OVERLAP, BAD_PRESET], ids=["weekday key", "overlap", "preset"])
def test_a_broken_calendar_is_its_only_problem_not_also_the_overrides_naming_it(breakage: tuple[str, str]) -> None:
    [problem] = _problems(_policy(breakage))
    assert problem.startswith("calendars.business.")


def test_an_invalid_factor_is_reported_once_not_also_as_an_override_changing_nothing() -> None:
    assert _problems(_policy(("factor: 0.5", "factor: -1"))) == [
        "overrides[0].factor: must be a positive number, got -1"
    ]


def test_targets_that_are_no_mapping_are_not_also_an_override_changing_nothing() -> None:
    text = _policy(("targets: {resolution: {working_days: 5, calendar: business}}", "targets: [resolution]"))
    assert _problems(text) == ["overrides[1].targets: must map metric to target"]


def test_an_override_with_neither_factor_nor_targets_changes_nothing() -> None:
    assert _problems(_policy(("factor: 0.5", "factor: null"))) == ["overrides[0]: changes nothing"]


def test_a_misspelt_calendar_is_offered_every_defined_name_including_a_broken_one() -> None:
    text = _policy(BAD_WEEKDAY, ("calendar: business}}", "calendar: busines}}"))
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    [misspelt] = [p for p in info.value.problems if p.key == "overrides[1].targets.resolution.calendar"]
    assert misspelt.problem == "unknown calendar 'busines'"
    assert misspelt.fix == "use one of: business, 24x7"


def test_a_calendar_reports_every_independent_problem_not_only_the_first() -> None:
    text = _policy(
        ("timezone: Asia/Shanghai\n    hours", "timezone: Asia/Shanghia\n    hours"),
        (WORKDAY_HOURS, WORKDAY_HOURS + '\n      mon: ["12:00-20:00"]\n      sat: ["09:00-25:00"]'),
        BAD_PRESET,
        ("holidays: []", "holidays: [2026-02-13]"),
        ("workdays: []", "workdays: [2026-02-13]"),
    )
    assert _problems(text) == [
        "calendars.business.timezone: unknown time zone 'Asia/Shanghia'",
        "calendars.business.hours.sat[0]: interval '09:00-25:00' is empty or out of the day",
        "calendars.business.holidays_preset: unknown preset 'us'",
        "calendars.business.hours: weekday 0 (Mon): ranges overlap",
        "calendars.business.workdays: 2026-02-13 listed both as holiday and as workday",
    ]


def test_hours_left_empty_by_malformed_periods_are_not_also_reported_as_no_working_hours() -> None:
    assert _problems(_policy((WORKDAY_HOURS, 'mon-fri: ["18:00-09:00"]'))) == [
        "calendars.business.hours.mon-fri[0]: interval '18:00-09:00' is empty or out of the day"
    ]


def test_a_calendar_without_any_working_hours_is_still_a_problem() -> None:
    assert _problems(_policy((WORKDAY_HOURS, "mon: []"))) == [
        "calendars.business.hours: no working hours on any weekday, so no deadline could ever be reached"
    ]


def test_policy_check_prints_each_real_problem_once_with_its_fix(tmp_path: Path) -> None:
    path = tmp_path / "several.yaml"
    path.write_text(
        _policy(("warn_fraction: 0.8", "warn_fraction: 2"), BAD_WEEKDAY, OVERLAP, ("factor: 0.5", "factor: -1"))
    )
    code, lines = check(str(path))
    assert code == 1
    assert [line.removeprefix(f"{path}: ").partition(" (fix: ")[0] for line in lines] == [
        "warn_fraction: must be a number between 0 and 1, got 2",
        "calendars.business.hours.mnd: unknown weekday or range",
        "calendars.business.hours: weekday 0 (Mon): ranges overlap",
        "overrides[0].factor: must be a positive number, got -1",
    ]


def test_the_worker_refuses_a_broken_policy_with_the_same_list_as_policy_check(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(_policy(BAD_WEEKDAY, ("factor: 0.5", "factor: -1")))
    with pytest.raises(PolicyError) as info:
        load_policy(path)  # what the worker does at start-up
    _, lines = check(str(path))
    assert str(info.value).splitlines()[1:] == [f"  - {line}" for line in lines]


def test_keys_an_always_open_calendar_would_ignore_are_each_a_problem() -> None:
    text = default_policy_text().replace(
        "always_open: true",
        'always_open: true\n    hours:\n      mon-fri: ["09:00-18:00"]\n    holidays: [2026-10-01]',
        1,
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    keys = sorted(p.key for p in info.value.problems)
    assert keys == ["calendars.24x7.holidays", "calendars.24x7.hours"]
    assert all("always_open" in p.fix for p in info.value.problems)
