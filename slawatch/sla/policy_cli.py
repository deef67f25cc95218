"""``slawatch policy check`` and ``slawatch policy explain``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from slawatch.exceptions import InvalidEvent, PolicyError, SlawatchError
from slawatch.sla.alerts import format_instant
from slawatch.sla.calendar import BusinessCalendar
from slawatch.sla.engine import SlaEngine, TicketState
from slawatch.sla.events import parse_timestamp
from slawatch.sla.policy import METRICS, Policy, Target, load_policy

__all__ = ["check", "explain", "main"]


def check(path: str | None, now: datetime | None = None) -> tuple[int, list[str]]:
    """Validate a policy: (exit code, lines). Lists every problem, then calendar warnings
    for this year and next (a holiday preset that lacks a year is never silent)."""
    now = now or datetime.now(UTC)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        return 1, [str(p) for p in exc.problems]
    lines = [f"{policy.source}: OK"]
    for name, year in policy.calendar_warnings(now.year, now.year + 1):
        lines.append(
            f"warning: {policy.source}: calendars.{name}: the holiday preset has no data for "
            f"{year} (chinese-calendar covers only announced years); add {year}'s holidays and "
            f"make-up working days to calendars.{name}.holidays / .workdays"
        )
    return 0, lines


def explain(
    policy: Policy,
    created: float,
    priority: str,
    *,
    category: str = "other",
    customer_tier: str = "standard",
    channel: str | None = None,
    department: str | None = None,
) -> list[str]:
    """Deadlines, warning and escalation instants of a new ticket, who is to act at each
    escalation level, and why."""
    state = TicketState(
        "explain",
        priority=priority,
        category=category,
        customer_tier=customer_tier,
        channel=channel,
        department=department,
    )
    engine = SlaEngine(policy)
    lines = [_header(policy, created, state)]
    for metric in METRICS:
        lines.append("")
        lines += _explain_metric(policy, metric, engine._target(state, metric), created, department)
    year = datetime.fromtimestamp(created, UTC).year
    for name, missing in policy.calendar_warnings(year, year):
        lines.append(f"warning: calendar {name}: no holiday data for {missing}; plain weekdays assumed")
    return lines


def _header(policy: Policy, created: float, state: TicketState) -> str:
    """The ticket as explained, with every attribute given that the target lookup or the
    routing used, so the output says which ticket it is about."""
    text = (
        f"ticket created {format_instant(created, policy.display_timezone)}, priority {state.priority}, "
        f"category {state.category}, tier {state.customer_tier}"
    )
    if state.channel is not None:
        text += f", channel {state.channel}"
    if state.department is not None:
        text += f", department {state.department}"
    return text


def _explain_metric(policy: Policy, metric: str, target: Target, created: float, department: str | None) -> list[str]:
    """One metric: its target and where it came from, each threshold's instant (with who
    is to act at an escalation level), then the calendar's day-by-day account."""
    cal = policy.calendars[target.calendar]
    lines = [f"{metric}: target {target.seconds:g} s ({target.source})"]
    last = created
    for label, secs, level in _thresholds(policy, target.seconds):
        at = cal.add(created, secs)
        last = max(last, at)
        lines.append(f"  {label}: {format_instant(at, policy.display_timezone)}  (after {_hours(secs, cal)})")
        if level is not None:
            lines.append(f"    {_who_acts(policy, department, level)}")
    if cal.always_open:
        lines.append(f"  calendar {cal.name} counts every second (24x7)")
    else:
        lines.append(f"  why (calendar {cal.name}, {cal.timezone}):")
        lines += [f"    {line}" for line in cal.explain(created, last)]
    return lines


def _thresholds(policy: Policy, seconds: float) -> list[tuple[str, float, int | None]]:
    """The engine's thresholds as (label, business seconds after creation, escalation
    level or None). An escalation level at exactly the target shares the deadline line,
    as its alert fires with the breach."""
    at_breach = {lv.level for lv in policy.escalation if lv.at == 1.0}
    shared = min(at_breach) if at_breach else None
    breach = "deadline (breach)" if shared is None else f"deadline (breach, escalation level {shared})"
    marks: list[tuple[str, float, int | None]] = [
        ("warning", policy.warn_fraction * seconds, None),
        (breach, seconds, shared),
    ]
    marks += [
        (f"escalation level {lv.level} ({lv.role})", lv.at * seconds, lv.level)
        for lv in policy.escalation
        if lv.level != shared
    ]
    return marks


def _hours(seconds: float, cal: BusinessCalendar) -> str:
    """``4 business hours``; on a calendar that is always open every hour counts, so
    ``0.4 hours, 24x7``."""
    hours = seconds / 3600
    unit = "hour" if hours == 1 else "hours"
    return f"{hours:g} {unit}, 24x7" if cal.always_open else f"{hours:g} business {unit}"


def _who_acts(policy: Policy, department: str | None, level: int) -> str:
    """Who the level's escalation alert names (its ``escalate_to``), from the routing of
    the ticket's department or the default routing."""
    contact = policy.route(department, level)
    if contact.name is None and contact.contact is None:
        where = f"routing.default.{level}"
        if department is not None:
            where = f"routing.departments.{department}.{level} or {where}"
        return f"to act: nobody in routing for level {level} ({contact.role}) (fix: add {where})"
    who = ", ".join(part for part in (contact.name, contact.contact) if part)
    return f"to act: {who} ({contact.role})"


def main(args: argparse.Namespace) -> int:
    if args.policy_command == "check":
        code, lines = check(str(args.file) if args.file else None)
        for line in lines:
            print(line, file=sys.stdout if code == 0 else sys.stderr)
        return code
    policy = load_policy(args.policy)
    try:
        created = parse_timestamp(args.created, "--created")
    except InvalidEvent as exc:
        raise SlawatchError(str(exc)) from None
    for line in explain(
        policy,
        created,
        args.priority,
        category=args.category,
        customer_tier=args.customer_tier,
        channel=args.channel,
        department=args.department,
    ):
        print(line)
    return 0
