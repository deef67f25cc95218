"""The engine against a naive, independent reading of sla.md (tests/reference_sla.py)
on simulated ticket streams: every alert's kind, metric, level, ticket and fired_at
must agree. Streams span weekends, the 2026 National Day holiday and its make-up days,
priority changes, pauses, reopenings and repeat complaints."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from reference_sla import reference_alerts

from slawatch.simulate import generate_events
from slawatch.sla.backtest import run_backtest

SH = ZoneInfo("Asia/Shanghai")


def stream(seed: int, start: datetime, tickets: int) -> list[bytes]:
    import json

    return [json.dumps(e).encode() for e in generate_events(seed=seed, start=start, tickets=tickets, rate=0.002)]


@pytest.mark.parametrize(
    ("seed", "start"),
    [
        (1, datetime(2026, 11, 16, 8, 0, tzinfo=SH)),
        (2, datetime(2026, 9, 28, 8, 0, tzinfo=SH)),  # across National Day 2026
        (3, datetime(2026, 2, 12, 8, 0, tzinfo=SH)),  # across Spring Festival 2026
    ],
)
def test_engine_agrees_with_the_naive_reference(seed: int, start: datetime) -> None:
    lines = stream(seed, start, 60)
    until = int(start.timestamp()) + 40 * 86400
    ours, _ = run_backtest(lines, None, until)
    got = sorted(
        ((a.kind, a.metric, a.level, a.ticket_id, int(a.fired_at)) for a in ours), key=lambda a: (a[4], a[3], a[1])
    )
    want = reference_alerts(lines, until)
    assert got == want


def chaos_stream(seed: int, tickets: int = 40) -> list[bytes]:
    """Random lifecycles with the awkward cases: events before ticket.created, out-of-order
    times, duplicates, pauses, priority changes both ways, closes without resolution,
    reopenings and several complaints; times fall on any second of any day."""
    import json
    import random

    rng = random.Random(seed)
    base = int(datetime(2026, 9, 20, tzinfo=SH).timestamp())
    events: list[tuple[int, dict[str, object]]] = []
    n = 0

    def add(t: int, tid: str, typ: str, **kw: object) -> None:
        nonlocal n
        n += 1
        iso = datetime.fromtimestamp(t, SH).isoformat()
        events.append((t, {"event_id": f"{seed}-{n}", "type": typ, "ticket_id": tid, "occurred_at": iso, **kw}))

    kinds = [
        ("ticket.responded", {}),
        ("ticket.assigned", {"assignee": "a"}),
        ("ticket.status_changed", {"status": "waiting_customer"}),
        ("ticket.status_changed", {"status": "in_progress"}),
        ("ticket.status_changed", {"status": "open"}),
        ("ticket.priority_changed", {"priority": "urgent"}),
        ("ticket.priority_changed", {"priority": "normal"}),
        ("ticket.priority_changed", {"priority": "major"}),
        ("ticket.resolved", {"first_contact": False}),
        ("ticket.status_changed", {"status": "resolved"}),
        ("ticket.reopened", {}),
        ("ticket.closed", {}),
        ("ticket.status_changed", {"status": "closed"}),
        ("ticket.complaint", {}),
        ("ticket.complaint", {}),
        ("survey.submitted", {"score": 7}),
    ]
    for i in range(tickets):
        tid = f"C{seed}-{i}"
        t0 = base + rng.randrange(0, 25 * 86400)
        add(t0, tid, "ticket.created", priority=rng.choice(["normal", "urgent", "major"]), category="quality")
        t = t0
        for _ in range(rng.randrange(0, 9)):
            t += rng.choice([rng.randrange(1, 900), rng.randrange(600, 6 * 3600), rng.randrange(3600, 4 * 86400)])
            typ, kw = rng.choice(kinds)
            when = t if rng.random() > 0.1 else t0 - rng.randrange(1, 3600)  # some before creation
            add(when, tid, typ, **kw)
    events.sort(key=lambda e: e[0])
    for _ in range(len(events) // 15):  # a little disorder
        j = rng.randrange(len(events) - 1)
        events[j], events[j + 1] = events[j + 1], events[j]
    out = [json.dumps(e).encode() for _, e in events]
    for _ in range(len(out) // 20):  # duplicates
        out.insert(rng.randrange(len(out)), out[rng.randrange(len(out))])
    return out


@pytest.mark.parametrize("seed", range(8))
def test_engine_agrees_with_the_naive_reference_on_chaotic_streams(seed: int) -> None:
    lines = chaos_stream(seed)
    until = int(datetime(2026, 11, 30, tzinfo=SH).timestamp())
    ours, _ = run_backtest(lines, None, until)
    got = sorted(
        ((a.kind, a.metric, a.level, a.ticket_id, int(a.fired_at)) for a in ours),
        key=lambda a: (a[4], a[3], a[1], a[0], a[2] or 0),
    )
    want = sorted(reference_alerts(lines, until), key=lambda a: (a[4], a[3], a[1], a[0], a[2] or 0))
    assert got == want
