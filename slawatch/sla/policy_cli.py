"""``slawatch policy check`` and ``slawatch policy explain``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from slawatch.exceptions import InvalidEvent, PolicyError, SlawatchError
from slawatch.sla.alerts import format_instant
from slawatch.sla.engine import SlaEngine, TicketState
from slawatch.sla.events import parse_timestamp
from slawatch.sla.policy import METRICS, Policy, load_policy

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
    department: str | None = None,
) -> list[str]:
    """Deadlines, warning and escalation instants of a new ticket, and why."""
    tz = policy.display_timezone
    state = TicketState(
        "explain", priority=priority, category=category, customer_tier=customer_tier, department=department
    )
    engine = SlaEngine(policy)

    def fmt(ts: float) -> str:
        return format_instant(ts, tz)

    lines = [f"ticket created {fmt(created)}, priority {priority}, category {category}, tier {customer_tier}"]
    for metric in METRICS:
        target = engine._target(state, metric)
        cal = policy.calendars[target.calendar]
        lines.append("")
        lines.append(f"{metric}: target {target.seconds:g} s ({target.source})")
        marks = [("warning", policy.warn_fraction * target.seconds)]
        marks.append(("deadline (breach, escalation level 1)", target.seconds))
        marks += [
            (f"escalation level {lv.level} ({lv.role})", lv.at * target.seconds)
            for lv in policy.escalation
            if lv.level != 1 or lv.at != 1.0
        ]
        last = created
        for label, secs in marks:
            at = cal.add(created, secs)
            last = max(last, at)
            hours = secs / 3600
            lines.append(f"  {label}: {fmt(at)}  (after {hours:g} business hour{'' if hours == 1 else 's'})")
        if not cal.always_open:
            lines.append(f"  why (calendar {cal.name}, {cal.timezone}):")
            lines += [f"    {line}" for line in cal.explain(created, last)]
        else:
            lines.append(f"  calendar {cal.name} counts every second (24x7)")
    for name, year in policy.calendar_warnings(
        datetime.fromtimestamp(created, UTC).year, datetime.fromtimestamp(created, UTC).year
    ):
        lines.append(f"warning: calendar {name}: no holiday data for {year}; plain weekdays assumed")
    return lines


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
        department=args.department,
    ):
        print(line)
    return 0
