"""Acceptance: an adversarial history replayed through the live worker gives the backtest's alerts.

Last winter's tickets (so months older than the 30-day retention by the wall clock),
one ticket's events after another as an export lists them, each ticket's own events
partly out of order, at instants that land exactly on business-time thresholds, with
odd UTC offsets, fractions of seconds, reopens of closed tickets, pauses, priority
changes both ways, repeat complaints, events before the creation and duplicates.
Replaying such a file live found two differences from the backtest (a reopen while
paused, tickets deleted as they closed); this keeps both away.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from integration.live_harness import (
    Producer,
    TopicReader,
    WorkerProcess,
    backtest,
    compare,
    create_topics,
    live_alerts,
    live_settings,
)

from slawatch.settings import Settings
from slawatch.sla.policy import load_policy

pytestmark = pytest.mark.integration

TYPES = [
    ("ticket.responded", {}), ("ticket.assigned", {"assignee": "a.2"}), ("ticket.resolved", {}),
    ("ticket.closed", {}), ("ticket.reopened", {}), ("ticket.complaint", {}),
    ("ticket.status_changed", {"status": "waiting_customer"}), ("ticket.status_changed", {"status": "in_progress"}),
    ("ticket.status_changed", {"status": "resolved"}), ("ticket.priority_changed", {"priority": "major"}),
    ("ticket.priority_changed", {"priority": "normal"}), ("survey.submitted", {"score": 7}),
]  # fmt: skip
OFFSETS = [timezone(timedelta(hours=h, minutes=m)) for h, m in ((8, 0), (0, 0), (-5, 0), (5, 45), (14, 0), (-12, 0))]
STEPS_MINUTES = [6, 12, 48, 60, 192, 240, 540, 1620, 2160, 3240]


def _stamp(rng: random.Random, at: float) -> str:
    text = datetime.fromtimestamp(at, rng.choice(OFFSETS)).isoformat()
    return text.replace("+00:00", "Z") if rng.random() < 0.5 else text


def adversarial_history(seed: int, tickets: int) -> list[bytes]:
    rng = random.Random(seed)
    business = load_policy(None).calendars["business"]
    start = datetime(2025, 12, 29, 9, tzinfo=UTC).timestamp()
    lines: list[bytes] = []
    for n in range(tickets):
        tid = f"ADV-{seed}-{n:04d}"
        t = start + rng.randrange(0, 70 * 86400)
        events: list[dict[str, Any]] = [
            {"type": "ticket.created", "priority": rng.choice(["normal", "urgent", "major"]), "category": "quality"}
        ]
        times = [t]
        for _ in range(rng.randrange(1, 9)):
            step = rng.choice(STEPS_MINUTES) * 60
            t = business.add(t, step) if rng.random() < 0.6 else t + step + rng.choice([0, 0, 0.25])
            etype, body = rng.choice(TYPES)
            events.append({"type": etype, **body})
            times.append(t)
        for i, (event, at) in enumerate(zip(events, times, strict=True)):
            event.update(event_id=f"{tid}-{i}", ticket_id=tid, occurred_at=_stamp(rng, at))
        if rng.random() < 0.15:  # out of order within the ticket
            i = rng.randrange(len(events))
            j = rng.randrange(len(events))
            events[i], events[j] = events[j], events[i]
        if rng.random() < 0.1:  # a duplicate, late
            events.append(dict(rng.choice(events)))
        lines.extend(orjson.dumps(e) for e in events)
    return lines


def test_an_adversarial_history_replayed_live_gives_the_backtests_alerts(
    test_settings: Settings, tmp_path: Path
) -> None:
    settings = live_settings(test_settings, tmp_path, "adv")
    create_topics(settings)
    lines = adversarial_history(seed=5, tickets=300)
    producer = Producer(settings)
    for raw in lines:
        producer.send(raw, key=orjson.loads(raw)["ticket_id"].encode())
    producer.flush()
    producer.close()
    worker = WorkerProcess(settings, tmp_path, "adv").start()
    reader = TopicReader(settings, settings.topic_alerts)
    try:
        worker.wait_ready(90)
        expected_all = backtest(lines, None, time.time())
        signals = {(a.ticket_id, a.metric, a.kind, a.level) for a in expected_all}
        assert len(signals) >= 500  # the history really exercises the ladder
        reader.until(lambda rs: len({r.value for r in rs}) >= len(signals), timeout=120)
        records = reader.quiet(3.0)
        checked_at = time.time()
        problems = compare(live_alerts(records), backtest(lines, None, checked_at), before=checked_at - 2)
        assert not problems, "\n".join(problems[:40]) + "\n" + worker.log_tail(30)
    finally:
        reader.close()
        worker.stop()
