"""Acceptance: the live worker gives the backtest's alerts, on time.

Two streams, each compared alert by alert (ticket, metric, kind, level, alert_id;
``fired_at`` within 1 s) with :func:`slawatch.sla.backtest.run_backtest` on the same
events:

* a backlog of historical events (past days, default business-hours policy, with
  malformed and duplicate messages mixed in) that the worker catches up with: every
  threshold already past fires at once with its own instant, including a warning that
  falls between two events of one ticket;
* events produced in real time with deadlines seconds ahead (a 24x7 test policy),
  where thresholds that pass with no event must arrive within 1 s of their instant.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from integration.live_harness import (
    LIFECYCLES,
    Producer,
    TopicReader,
    WorkerProcess,
    backtest,
    compare,
    create_topics,
    last_instant,
    live_alerts,
    live_settings,
    play,
    realtime_plan,
    write_fast_policy,
)

from slawatch.settings import Settings
from slawatch.simulate import generate_messages
from slawatch.sla.engine import SlaEngine
from slawatch.sla.events import parse_event
from slawatch.sla.policy import load_policy

pytestmark = pytest.mark.integration


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _crossed_between_events(now: datetime, prefix: str) -> tuple[list[dict[str, Any]], float]:
    """An urgent ticket whose warning falls between its creation and a late response.

    Returns the events and the warning's instant (computed by the engine, so a holiday
    on the chosen day cannot break the test's premise).
    """
    engine = SlaEngine(load_policy(None))
    day = (now - timedelta(days=14)).astimezone(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    created = {
        "event_id": f"{prefix}-x-0", "type": "ticket.created", "ticket_id": f"{prefix}-crossed",
        "occurred_at": _iso(day.timestamp()), "priority": "urgent", "category": "quality",
        "department": "repair", "channel": "phone",
    }  # fmt: skip
    state = engine.apply(None, parse_event(created)).state
    warning = engine.next_due(state)
    assert warning is not None
    responded = {
        "event_id": f"{prefix}-x-1", "type": "ticket.responded", "ticket_id": f"{prefix}-crossed",
        "occurred_at": _iso(warning + 300),  # 5 min after the warning, before the breach
    }  # fmt: skip
    return [created, responded], warning


def _forgotten(now: datetime, prefix: str) -> dict[str, Any]:
    """Created a month ago and never touched: every threshold is past when it arrives."""
    return {
        "event_id": f"{prefix}-f-0", "type": "ticket.created", "ticket_id": f"{prefix}-forgotten",
        "occurred_at": _iso((now - timedelta(days=25)).timestamp()), "priority": "major",
        "category": "product", "department": "quality", "channel": "app",
    }  # fmt: skip


def _compare_when_settled(
    reader: TopicReader, worker: WorkerProcess, valid: list[Any], quiet: float
) -> tuple[list[Any], list[Any]]:
    """Wait for the backtest's alert count, then for quiet; assert live == backtest."""
    expected_all = backtest(valid, None, time.time())
    reader.until(lambda rs: len({r.value for r in rs}) >= len(expected_all), timeout=90)
    records = reader.quiet(quiet)
    checked_at = time.time()
    expected = backtest(valid, None, checked_at)
    alerts = live_alerts(records)
    problems = compare(alerts, expected, before=checked_at - 2)
    assert not problems, "\n".join(problems[:40]) + "\n" + worker.log_tail(30)
    return alerts, expected


def _assert_crossed_and_forgotten(alerts: list[Any], prefix: str, warning_at: float) -> None:
    """The premises held: the warning crossed between the two events fired with its own
    instant and the breach did not (the response came first); the forgotten ticket,
    past by the wall clock when nothing more arrives, fired its ladder all the same."""
    crossed = [
        (a.record["kind"], a.fired_at)
        for a in alerts
        if a.record["ticket_id"] == f"{prefix}-crossed" and a.record["metric"] == "response"
    ]
    assert crossed == [("sla.warning", warning_at)]
    forgotten = {a.record["kind"] for a in alerts if a.record["ticket_id"] == f"{prefix}-forgotten"}
    assert forgotten == {"sla.warning", "sla.breached", "sla.escalated"}


def test_past_days_backlog_live_equals_backtest(test_settings: Settings, tmp_path: Path) -> None:
    settings = live_settings(test_settings, tmp_path, "past")
    create_topics(settings)
    now = datetime.now(UTC)
    prefix = uuid.uuid4().hex[:6]
    messages = list(
        generate_messages(
            11, now - timedelta(days=9), rate=0.002, tickets=120, until=now - timedelta(hours=3),
            malformed=0.03, duplicates=0.03,
        )
    )  # fmt: skip
    crossed_events, warning_at = _crossed_between_events(now, prefix)
    extra = [*crossed_events, _forgotten(now, prefix)]
    valid = [m.value for m in messages if m.kind != "malformed"]

    # The whole backlog is in Kafka before the worker starts: it catches up, and the
    # catch-up barrier keeps the timer from firing a threshold that a queued event
    # (like the late response above) decides.
    producer = Producer(settings)
    for m in messages:
        producer.send(m.value, key=m.key)
    for event in extra:
        producer.send(event)
    producer.flush()
    producer.close()

    worker = WorkerProcess(settings, tmp_path, "past").start()
    reader = TopicReader(settings, settings.topic_alerts)
    try:
        worker.wait_ready(90)
        alerts, _ = _compare_when_settled(reader, worker, [*valid, *(orjson.dumps(e) for e in extra)], 2.0)
        _assert_crossed_and_forgotten(alerts, prefix, warning_at)

        metrics = worker.get("/metrics").decode()
        n_dup = sum(1 for m in messages if m.kind == "duplicate")
        assert f"slawatch_events_duplicate_total {float(n_dup)}" in metrics
        # ?name[]= renders only the families asked for (a cheap probe of one counter).
        probe = worker.get("/metrics?name[]=slawatch_events_duplicate_total").decode()
        assert f"slawatch_events_duplicate_total {float(n_dup)}" in probe
        assert "slawatch_open_tickets" not in probe and "slawatch_events_applied_total" not in probe
    finally:
        reader.close()
        assert worker.stop() == 0, worker.log_tail()


def test_history_replayed_into_a_running_worker_live_equals_backtest(test_settings: Settings, tmp_path: Path) -> None:
    """A worker already running is fed past days in bursts (a replay, a re-sent backlog).

    Between two bursts the worker has applied all that Kafka holds, so the catch-up
    barrier alone would let the timer fire, by the wall clock, every threshold of those
    tickets, though their responses and resolutions are in the next burst (measured
    on a month of simulated tickets: 1,420 alerts the backtest never gives). A partition
    fed history fires on its event time instead, and on the wall clock once nothing
    more arrives.
    """
    settings = live_settings(test_settings, tmp_path, "hist")
    create_topics(settings)
    now = datetime.now(UTC)
    prefix = uuid.uuid4().hex[:6]
    messages = list(
        generate_messages(
            17, now - timedelta(days=12), rate=0.003, tickets=250, until=now - timedelta(hours=3),
            malformed=0.02, duplicates=0.02,
        )
    )  # fmt: skip
    crossed_events, warning_at = _crossed_between_events(now, prefix)
    extra = [*crossed_events, _forgotten(now, prefix)]
    history = [(m.value, m.key, m.kind != "malformed") for m in messages]
    history += [(orjson.dumps(e), str(e["ticket_id"]).encode(), True) for e in extra]
    valid = [value for value, _, ok in history if ok]

    worker = WorkerProcess(settings, tmp_path, "hist").start()
    reader = TopicReader(settings, settings.topic_alerts)
    producer = Producer(settings)
    try:
        worker.wait_ready(90)
        # Bursts with pauses shorter than history_idle_seconds (2 s): the worker draws
        # level with the producer in each pause.
        for i in range(0, len(history), 150):
            for value, key, _ in history[i : i + 150]:
                producer.send(value, key=key)
            producer.flush()
            time.sleep(0.6)
        alerts, expected = _compare_when_settled(reader, worker, valid, 3.0)
        assert len(expected) >= 100  # the history really has thresholds to get wrong
        # Nothing more arrives after the last burst: the forgotten ticket fires all the same.
        _assert_crossed_and_forgotten(alerts, prefix, warning_at)
    finally:
        producer.close()
        reader.close()
        assert worker.stop() == 0, worker.log_tail()


def test_realtime_stream_live_equals_backtest_and_fires_on_time(test_settings: Settings, tmp_path: Path) -> None:
    policy = write_fast_policy(tmp_path)
    settings = live_settings(test_settings, tmp_path, "rt", policy_file=policy)
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path, "rt").start()
    reader = TopicReader(settings, settings.topic_alerts)
    producer = Producer(settings)
    try:
        worker.wait_ready(90)
        prefix = uuid.uuid4().hex[:6]
        plan = realtime_plan(time.time() + 1.0, list(LIFECYCLES), copies=2, spread=0.37, prefix=prefix)
        events = [e for _, e in plan]
        # Every ladder ends: the backtest run to the far future gives the last instant.
        horizon = max(a.fired_at for a in backtest(events, policy, time.time() + 3600))
        play(producer, plan)
        end = max(horizon, last_instant(plan)) + 1.5
        while time.time() < end:
            reader.poll(0.3)
        records = reader.quiet(1.5)
        checked_at = time.time()
        expected = backtest(events, policy, checked_at)
        alerts = live_alerts(records)
        problems = compare(alerts, expected, before=checked_at - 1)
        assert not problems, "\n".join(problems[:40]) + "\n" + worker.log_tail(30)
        assert len(expected) >= 40  # the lifecycles really exercise the timer

        # (b) Thresholds that passed with no event arrive within 1 s of their instant.
        event_times = {e["ticket_id"]: set() for _, e in plan}
        for _, e in plan:
            event_times[e["ticket_id"]].add(round(datetime.fromisoformat(e["occurred_at"]).timestamp(), 3))
        timer_fired = [a for a in alerts if round(a.fired_at, 3) not in event_times[a.record["ticket_id"]]]
        assert len(timer_fired) >= 30
        late = [
            (a.signature, round(a.published_at - a.fired_at, 3))
            for a in timer_fired
            if a.published_at - a.fired_at > 1.0
        ]
        assert not late, late
        silent = [a for a in timer_fired if "silent_major" in a.record["ticket_id"]]
        assert len(silent) == 2 * 8  # 4 response + 4 resolution signals, no event involved
    finally:
        producer.close()
        reader.close()
        assert worker.stop() == 0, worker.log_tail()
