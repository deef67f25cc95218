"""SLA policy files: targets per priority and metric, calendars, overrides, escalation
ladder and routing.

Loading collects *every* problem (file, key, what is wrong, how to fix it) before
raising, because a policy is usually written in one go and fixed in one go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from slawatch.exceptions import PolicyError, PolicyProblem
from slawatch.sla.alerts import Contact
from slawatch.sla.calendar import BusinessCalendar, CalendarError, not_place_zone

__all__ = [
    "METRICS",
    "PRIORITIES",
    "EscalationLevel",
    "Override",
    "Policy",
    "Target",
    "default_policy_text",
    "load_policy",
    "parse_duration",
]

PRIORITIES = ("normal", "urgent", "major")
METRICS = ("response", "resolution")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDE_KEYS = ("customer_tier", "category", "priority", "channel", "department")

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def parse_duration(text: Any) -> float | None:
    """``"4h"``, ``"30m"``, ``"1h30m"``, ``"2d"`` (24 h days), ``"90s"`` or a number of
    seconds; None when unparseable."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if text > 0 else None
    if not isinstance(text, str) or not text.strip():
        return None
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    total = d * 86400 + h * 3600 + mi * 60 + s
    return total if total > 0 else None


@dataclass(frozen=True, slots=True)
class Target:
    """A target: so many seconds measured on a named calendar."""

    seconds: float
    calendar: str
    source: str = ""  # how it was written, for `policy explain`


@dataclass(frozen=True, slots=True)
class Override:
    when: Mapping[str, str]
    factor: float | None
    targets: Mapping[str, Target]
    key: str  # position in the file, for explain

    def matches(self, attrs: Mapping[str, str | None]) -> bool:
        return all(attrs.get(k) == v for k, v in self.when.items())


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    level: int
    at: float  # fraction of the target
    role: str


@dataclass(slots=True)
class Policy:
    """A validated policy. Build it with :func:`load_policy`."""

    source: str
    display_timezone: ZoneInfo
    warn_fraction: float
    calendars: dict[str, BusinessCalendar]
    targets: dict[tuple[str, str], Target]
    complaint: Target
    overrides: list[Override]
    escalation: list[EscalationLevel]
    routing_default: dict[int, Contact]
    routing_departments: dict[str, dict[int, Contact]]
    _cache: dict[tuple[str, str, str | None, str | None, str | None, str | None], Target] = field(default_factory=dict)

    def target_for(
        self,
        metric: str,
        priority: str,
        *,
        customer_tier: str | None = None,
        category: str | None = None,
        channel: str | None = None,
        department: str | None = None,
    ) -> Target:
        """The target after overrides (applied in file order; a factor multiplies, an
        explicit target replaces). Its ``source`` names every override that changed it,
        so `policy explain` can say where a value came from."""
        key = (metric, priority, customer_tier, category, channel, department)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        target = self.targets[(priority, metric)]
        if self.overrides:
            attrs = {
                "priority": priority,
                "customer_tier": customer_tier or "standard",
                "category": category,
                "channel": channel,
                "department": department,
            }
            for ov in self.overrides:
                if not ov.matches(attrs):
                    continue
                if metric in ov.targets:
                    replaced = ov.targets[metric]
                    target = Target(replaced.seconds, replaced.calendar, f"{replaced.source} (set by {ov.key})")
                if ov.factor is not None:
                    target = Target(
                        round(target.seconds * ov.factor, 6),
                        target.calendar,
                        f"{target.source} x {ov.factor} ({ov.key})",
                    )
        self._cache[key] = target
        return target

    def route(self, department: str | None, level: int) -> Contact:
        role = next((e.role for e in self.escalation if e.level == level), f"level_{level}")
        by_dept = self.routing_departments.get(department or "", {})
        found = by_dept.get(level) or self.routing_default.get(level)
        if found is None:
            return Contact(level, role)
        return Contact(level, role, found.name, found.contact)

    def calendar_warnings(self, first_year: int, last_year: int) -> list[tuple[str, int]]:
        """(calendar, year) pairs a holiday preset lacks with no explicit list given."""
        return [
            (name, year) for name, cal in self.calendars.items() for year in cal.missing_years(first_year, last_year)
        ]


def default_policy_text() -> str:
    return resources.files("slawatch").joinpath("data/default-policy.yaml").read_text("utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and validate a policy file (None: the built-in default of sla.md)."""
    if path is None:
        return parse_policy(default_policy_text(), "<default policy>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(str(p), "(file)", f"cannot read the file ({exc.strerror})", "check the path")]
        ) from exc
    return parse_policy(text, str(p))


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[PolicyProblem] = []
        #: Every calendar the file defines, valid or not (in file order): a target naming
        #: an invalid one is not reported again as naming an unknown calendar, and a
        #: misspelt name is told all the names it could have meant.
        self.calendar_names: list[str] = []

    def add(self, key: str, problem: str, fix: str) -> None:
        self.items.append(PolicyProblem(self.source, key, problem, fix))


class _PolicyLoader(yaml.SafeLoader):
    """YAML's safe loader, but an impossible date (``2027-13-01``, ``2027-02-30``) stays
    text instead of raising from deep inside PyYAML: the date check then names the key."""


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_PolicyLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    problems = _Problems(source)
    try:
        doc = yaml.load(text, Loader=_PolicyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyProblem(source, "(file)", f"not valid YAML: {exc}", "fix the YAML syntax")]) from None
    if not isinstance(doc, dict):
        raise PolicyError(
            [
                PolicyProblem(
                    source,
                    "(top level)",
                    "must be a mapping",
                    "start from `slawatch policy check` of the default policy",
                )
            ]
        )

    known = {
        "version",
        "display_timezone",
        "warn_fraction",
        "calendars",
        "targets",
        "complaint",
        "overrides",
        "escalation",
        "routing",
    }
    for k in doc:
        if k not in known:
            problems.add(str(k), "unknown key", f"remove it; known keys: {', '.join(sorted(known))}")
    if doc.get("version", 1) != 1:
        problems.add("version", f"unsupported version {doc.get('version')!r}", "set version: 1")

    tz_name = doc.get("display_timezone", "Asia/Shanghai")
    display_tz = _zone(tz_name, "display_timezone", problems) or ZoneInfo("Asia/Shanghai")

    warn = doc.get("warn_fraction", 0.8)
    if isinstance(warn, bool) or not isinstance(warn, int | float) or not 0 < warn < 1:
        problems.add("warn_fraction", f"must be a number between 0 and 1, got {warn!r}", "e.g. warn_fraction: 0.8")
        warn = 0.8

    calendars = _calendars(doc.get("calendars"), problems)
    targets: dict[tuple[str, str], Target] = {}
    raw_targets = doc.get("targets")
    if not isinstance(raw_targets, dict):
        problems.add("targets", "missing or not a mapping", "add targets for normal, urgent and major")
        raw_targets = {}
    for prio in PRIORITIES:
        per = raw_targets.get(prio)
        if not isinstance(per, dict):
            problems.add(f"targets.{prio}", "missing", f"add response and resolution targets for {prio}")
            continue
        for metric in METRICS:
            t = _target(per.get(metric), f"targets.{prio}.{metric}", calendars, problems)
            if t:
                targets[(prio, metric)] = t
        for extra in per:
            if extra not in METRICS:
                problems.add(f"targets.{prio}.{extra}", "unknown metric", "use response or resolution")
    for prio in raw_targets:
        if prio not in PRIORITIES:
            problems.add(f"targets.{prio}", "unknown priority", f"use one of {', '.join(PRIORITIES)}")

    complaint_raw = doc.get("complaint", {"target": {"duration": "48h", "calendar": "24x7"}})
    complaint = None
    if isinstance(complaint_raw, dict):
        complaint = _target(complaint_raw.get("target"), "complaint.target", calendars, problems)
    else:
        problems.add(
            "complaint", "must be a mapping with a target", "complaint: {target: {duration: 48h, calendar: 24x7}}"
        )

    overrides = _overrides(doc.get("overrides") or [], calendars, problems)
    escalation = _escalation(doc.get("escalation"), problems)
    routing_default, routing_departments = _routing(doc.get("routing") or {}, escalation, problems)

    if problems.items:
        raise PolicyError(problems.items)
    assert complaint is not None
    return Policy(
        source=source,
        display_timezone=display_tz,
        warn_fraction=float(warn),
        calendars=calendars,
        targets=targets,
        complaint=complaint,
        overrides=overrides,
        escalation=escalation,
        routing_default=routing_default,
        routing_departments=routing_departments,
    )


def _zone(name: Any, key: str, problems: _Problems) -> ZoneInfo | None:
    if not isinstance(name, str):
        problems.add(key, f"must be an IANA time zone name, got {name!r}", "e.g. Asia/Shanghai")
        return None
    if not_place_zone(name):
        problems.add(key, f"{name!r} is not an IANA place name", "use one such as Asia/Shanghai")
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(key, f"unknown time zone {name!r}", "use an IANA name such as Asia/Shanghai")
        return None


def _weekday_keys(spec: str) -> list[int] | None:
    spec = spec.strip().lower()
    if spec in ("weekdays", "mon-fri"):
        return [0, 1, 2, 3, 4]
    if spec in ("daily", "every day", "mon-sun"):
        return list(range(7))
    if "-" in spec:
        a, _, b = spec.partition("-")
        if a in WEEKDAYS and b in WEEKDAYS:
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            return list(range(i, j + 1)) if i <= j else None
        return None
    return [WEEKDAYS.index(spec)] if spec in WEEKDAYS else None


def _dates(raw: Any, key: str, problems: _Problems) -> list[date]:
    out: list[date] = []
    if raw in (None, []):
        return out
    if not isinstance(raw, list):
        problems.add(key, "must be a list of dates", "e.g. [2027-01-01, 2027-02-10]")
        return out
    for i, item in enumerate(raw):
        if isinstance(item, date):
            out.append(item)
            continue
        try:
            out.append(date.fromisoformat(str(item)))
        except ValueError:
            problems.add(f"{key}[{i}]", f"not a date: {item!r}", "write YYYY-MM-DD")
    return out


def _calendars(raw: Any, problems: _Problems) -> dict[str, BusinessCalendar]:
    cals: dict[str, BusinessCalendar] = {}
    if not isinstance(raw, dict) or not raw:
        problems.add("calendars", "missing or empty", "define at least one calendar, e.g. business and 24x7")
        return cals
    for name in raw:
        problems.calendar_names.append(str(name))
    for name, spec in raw.items():
        cal = _calendar(str(name), spec, problems)
        if cal is not None:
            cals[str(name)] = cal
    return cals


_CALENDAR_KEYS = ("always_open", "holidays", "holidays_preset", "hours", "timezone", "workdays", "working_day_hours")


def _calendar(name: str, spec: Any, problems: _Problems) -> BusinessCalendar | None:
    """One calendar, or None when it has problems. Each part (zone, hours, preset,
    working day, dates) is checked even when another part is wrong, so one check run
    lists every problem of the calendar, not just the first."""
    key = f"calendars.{name}"
    if not isinstance(spec, dict):
        problems.add(key, "must be a mapping", "give timezone and hours (or always_open: true)")
        return None
    reported = len(problems.items)
    for k in spec:
        if k not in _CALENDAR_KEYS:
            problems.add(f"{key}.{k}", "unknown key", f"known keys: {', '.join(_CALENDAR_KEYS)}")
    tz = spec.get("timezone", "Asia/Shanghai")
    tz_ok = _zone(tz, f"{key}.timezone", problems) is not None
    if spec.get("always_open"):
        for k in ("hours", "holidays", "holidays_preset", "workdays", "working_day_hours"):
            if k in spec:
                problems.add(
                    f"{key}.{k}", "ignored by an always_open calendar (it counts every second)",
                    f"remove {k}, or always_open for a calendar of working hours",
                )  # fmt: skip
        return BusinessCalendar.twenty_four_seven(name, tz) if len(problems.items) == reported else None
    weekly, hours_complete = _weekly(spec.get("hours", {"mon-fri": ["09:00-18:00"]}), f"{key}.hours", problems)
    preset = _preset(spec.get("holidays_preset"), f"{key}.holidays_preset", problems)
    wdh = _working_day_hours(spec.get("working_day_hours"), f"{key}.working_day_hours", problems)
    holidays = _dates(spec.get("holidays"), f"{key}.holidays", problems)
    workdays = _dates(spec.get("workdays"), f"{key}.workdays", problems)
    # "No working hours at all" after dropping a malformed period would only repeat that problem.
    rule_weekly = weekly if weekly is not None and (hours_complete or any(weekly.values())) else None
    for exc in _calendar_rule_errors(name, rule_weekly, holidays, workdays):
        _add_calendar_error(key, exc, problems)
    if len(problems.items) > reported or not tz_ok or weekly is None:
        return None
    try:
        return BusinessCalendar(
            name,
            tz,
            weekly={d: sorted(v) for d, v in weekly.items()},
            holidays=holidays,
            workdays=workdays,
            preset=preset,
            working_day_seconds=round(wdh * 3600) if wdh else None,
        )
    except CalendarError as exc:  # a rule of the calendar the checks above do not know yet
        _add_calendar_error(key, exc, problems)
        return None


def _weekly(hours: Any, key: str, problems: _Problems) -> tuple[dict[int, list[tuple[str, str]]] | None, bool]:
    """The ``hours`` block as weekday -> periods, and whether every entry was usable
    (malformed keys and periods are reported and left out); None when it is no mapping."""
    if not isinstance(hours, dict) or not hours:
        problems.add(key, "must map weekdays to intervals", 'e.g. hours: {mon-fri: ["09:00-12:00", "13:00-18:00"]}')
        return None, False
    weekly: dict[int, list[tuple[str, str]]] = {}
    complete = True
    for days, intervals in hours.items():
        idx = _weekday_keys(str(days))
        if idx is None:
            problems.add(f"{key}.{days}", "unknown weekday or range", "use mon..sun, a range like mon-fri, or weekdays")
            complete = False
            continue
        if not isinstance(intervals, list):
            problems.add(f"{key}.{days}", "must be a list of HH:MM-HH:MM", 'e.g. ["09:00-18:00"]')
            complete = False
            continue
        parsed = [_interval(iv, f"{key}.{days}[{j}]", problems) for j, iv in enumerate(intervals)]
        complete = complete and None not in parsed
        for d in idx:
            weekly.setdefault(d, []).extend(iv for iv in parsed if iv is not None)
    return weekly, complete


def _interval(raw: Any, key: str, problems: _Problems) -> tuple[str, str] | None:
    m = _INTERVAL.match(str(raw).strip())
    if not m:
        problems.add(key, f"not an interval: {raw!r}", "write HH:MM-HH:MM, e.g. 09:00-18:00")
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if not (0 <= h1 * 60 + m1 < h2 * 60 + m2 <= 24 * 60) or m1 >= 60 or m2 >= 60:
        problems.add(
            key, f"interval {raw!r} is empty or out of the day", "start must be before end, within 00:00-24:00"
        )
        return None
    return f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"


def _preset(raw: Any, key: str, problems: _Problems) -> str | None:
    if raw is None:
        return None
    if raw != "cn":
        problems.add(key, f"unknown preset {raw!r}", "use cn (mainland China) or remove it")
        return None
    return "cn"


def _working_day_hours(raw: Any, key: str, problems: _Problems) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 24 or round(raw * 3600) < 1:
        problems.add(key, f"must be hours in (0, 24], got {raw!r}", "e.g. working_day_hours: 9")
        return None
    return float(raw)


def _calendar_rule_errors(
    name: str, weekly: dict[int, list[tuple[str, str]]] | None, holidays: list[date], workdays: list[date]
) -> list[CalendarError]:
    """The calendar's own rules (overlapping periods, no working hours at all, a date
    both holiday and workday), tried one part at a time: the constructor stops at the
    first rule broken, and the hours and the dates are independent of each other.
    Zone and preset are left out here; they are checked on their own."""
    trials: list[Callable[[], BusinessCalendar]] = [
        lambda: BusinessCalendar(name, "UTC", holidays=holidays, workdays=workdays)
    ]
    if weekly is not None:
        trials.insert(0, lambda: BusinessCalendar(name, "UTC", weekly={d: sorted(v) for d, v in weekly.items()}))
    errors: list[CalendarError] = []
    for trial in trials:
        try:
            trial()
        except CalendarError as exc:
            errors.append(exc)
    return errors


def _add_calendar_error(key: str, exc: CalendarError, problems: _Problems) -> None:
    problems.add(f"{key}.{exc.field}" if exc.field else key, exc.problem, exc.fix)


def _target(raw: Any, key: str, cals: Mapping[str, BusinessCalendar], problems: _Problems) -> Target | None:
    fix = "write {duration: 4h, calendar: business} or {working_days: 5, calendar: business}"
    if not isinstance(raw, dict):
        problems.add(key, "missing or not a mapping", fix)
        return None
    cal_name = raw.get("calendar")
    cal = cals.get(str(cal_name)) if cal_name is not None else None
    names = ", ".join(problems.calendar_names) or "(none defined)"
    if cal_name is None:
        problems.add(f"{key}.calendar", "missing", f"name one of the calendars: {names}")
    elif str(cal_name) not in problems.calendar_names:
        problems.add(f"{key}.calendar", f"unknown calendar {cal_name!r}", f"use one of: {names}")
    for k in raw:
        if k not in ("duration", "working_days", "calendar"):
            problems.add(f"{key}.{k}", "unknown key", fix)
    if ("duration" in raw) == ("working_days" in raw):
        problems.add(key, "needs exactly one of duration or working_days", fix)
        return None
    if "duration" in raw:
        secs = parse_duration(raw["duration"])
        if secs is None:
            problems.add(
                f"{key}.duration", f"not a duration: {raw['duration']!r}", "e.g. 30m, 4h, 1h30m, 2d or seconds"
            )
            return None
        source = f"{raw['duration']}"
    else:
        wd = raw["working_days"]
        if isinstance(wd, bool) or not isinstance(wd, int | float) or wd <= 0:
            problems.add(f"{key}.working_days", f"must be a positive number, got {wd!r}", "e.g. working_days: 5")
            return None
        if cal is None:
            return None
        secs = wd * cal.working_day_seconds
        source = f"{wd} working days x {cal.working_day_seconds / 3600:g} h"
    if cal is None:
        return None
    seconds: float = int(secs) if float(secs).is_integer() else secs
    return Target(seconds, cal.name, f"{source} on calendar {cal.name}")


def _overrides(raw: Any, cals: Mapping[str, BusinessCalendar], problems: _Problems) -> list[Override]:
    out: list[Override] = []
    if not isinstance(raw, list):
        problems.add("overrides", "must be a list", "e.g. overrides: [{when: {customer_tier: vip}, factor: 0.5}]")
        return out
    for i, item in enumerate(raw):
        key = f"overrides[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("when"), dict) or not item["when"]:
            problems.add(key, "needs a non-empty `when` mapping", f"when keys: {', '.join(OVERRIDE_KEYS)}")
            continue
        when = {}
        for k, v in item["when"].items():
            if k not in OVERRIDE_KEYS:
                problems.add(f"{key}.when.{k}", "unknown condition", f"use one of {', '.join(OVERRIDE_KEYS)}")
            when[str(k)] = str(v)
        factor = item.get("factor")
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0):
            problems.add(
                f"{key}.factor", f"must be a positive number, got {factor!r}", "e.g. factor: 0.5 halves the targets"
            )
            factor = None
        targets: dict[str, Target] = {}
        raw_t = item.get("targets") or {}
        if not isinstance(raw_t, dict):
            problems.add(
                f"{key}.targets",
                "must map metric to target",
                "e.g. targets: {resolution: {working_days: 2, calendar: business}}",
            )
            raw_t = {}
        for metric, spec in raw_t.items():
            if metric not in METRICS:
                problems.add(f"{key}.targets.{metric}", "unknown metric", "use response or resolution")
                continue
            t = _target(spec, f"{key}.targets.{metric}", cals, problems)
            if t:
                targets[metric] = t
        if item.get("factor") is None and not item.get("targets"):
            # Only when neither is written: an invalid factor or target is reported at its
            # own key, and calling that override "changes nothing" would mislead.
            problems.add(key, "changes nothing", "give a factor or targets")
        out.append(Override(when, float(factor) if factor is not None else None, targets, key))
    return out


def _escalation(raw: Any, problems: _Problems) -> list[EscalationLevel]:
    if raw is None:
        return [EscalationLevel(1, 1.0, "department_supervisor"), EscalationLevel(2, 1.5, "after_sales_director")]
    levels: list[EscalationLevel] = []
    if not isinstance(raw, list) or not raw:
        problems.add(
            "escalation",
            "must be a non-empty list of levels",
            "e.g. - {level: 1, at: 1.0, role: department_supervisor}",
        )
        return levels
    for i, item in enumerate(raw):
        key = f"escalation[{i}]"
        if not isinstance(item, dict):
            problems.add(key, "must be a mapping", "{level: 1, at: 1.0, role: department_supervisor}")
            continue
        lvl, at, role = item.get("level"), item.get("at"), item.get("role")
        if lvl not in (1, 2):
            problems.add(f"{key}.level", f"must be 1 or 2, got {lvl!r}", "the ladder has two levels")
            continue
        if isinstance(at, bool) or not isinstance(at, int | float) or at < 1:
            problems.add(
                f"{key}.at",
                f"must be a fraction of the target >= 1.0, got {at!r}",
                "level 1 at 1.0 (breach), level 2 at 1.5",
            )
            continue
        if not isinstance(role, str) or not role:
            problems.add(f"{key}.role", "missing", "e.g. role: department_supervisor")
            continue
        levels.append(EscalationLevel(int(lvl), float(at), role))
    if len({lv.level for lv in levels}) != len(levels):
        problems.add("escalation", "a level is listed twice", "list level 1 and level 2 once each")
    return sorted(levels, key=lambda e: e.level)


def _contacts(raw: Any, key: str, escalation: list[EscalationLevel], problems: _Problems) -> dict[int, Contact]:
    out: dict[int, Contact] = {}
    if not isinstance(raw, dict):
        problems.add(
            key, "must map level (1, 2) to {name, contact}", "e.g. 1: {name: 张三, contact: zhangsan@example.com}"
        )
        return out
    roles = {e.level: e.role for e in escalation}
    for lvl, spec in raw.items():
        try:
            n = int(lvl)
        except (TypeError, ValueError):
            n = 0
        if n not in (1, 2):
            problems.add(f"{key}.{lvl}", "level must be 1 or 2", "use keys 1 and 2")
            continue
        if not isinstance(spec, dict):
            problems.add(f"{key}.{lvl}", "must be {name, contact}", "e.g. {name: 张三, contact: zhangsan@example.com}")
            continue
        out[n] = Contact(n, roles.get(n, f"level_{n}"), spec.get("name"), spec.get("contact"))
    return out


def _routing(
    raw: Any, escalation: list[EscalationLevel], problems: _Problems
) -> tuple[dict[int, Contact], dict[str, dict[int, Contact]]]:
    if not isinstance(raw, dict):
        problems.add("routing", "must be a mapping with default and departments", "see the default policy")
        return {}, {}
    default = _contacts(raw.get("default") or {}, "routing.default", escalation, problems)
    depts: dict[str, dict[int, Contact]] = {}
    raw_d = raw.get("departments") or {}
    if not isinstance(raw_d, dict):
        problems.add("routing.departments", "must map department to levels", "e.g. departments: {repair: {1: {...}}}")
        raw_d = {}
    for dept, spec in raw_d.items():
        depts[str(dept)] = _contacts(spec, f"routing.departments.{dept}", escalation, problems)
    return default, depts
