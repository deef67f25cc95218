"""Acceptance: crashes and rebalances lose no alert and invent none.

The worker is at-least-once: after a ``kill -9`` it re-reads what it had not committed,
so an alert may be published twice, but only ever with the same ``alert_id`` and the
same content, and the set of signals is exactly the backtest's.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from integration.live_harness import (
    LIFECYCLES,
    Producer,
    TopicReader,
    WorkerProcess,
    backtest,
    compare,
    create_topics,
    free_port,
    last_instant,
    live_alerts,
    live_settings,
    play,
    realtime_plan,
    wait_partitions_settled,
    write_fast_policy,
)

from slawatch.settings import Settings

pytestmark = pytest.mark.integration


def _run_and_compare(
    settings: Settings,
    policy: Path,
    plan: list[tuple[float, dict[str, object]]],
    reader: TopicReader,
    survivors: list[WorkerProcess],
) -> list[str]:
    events = [e for _, e in plan]
    horizon = max(a.fired_at for a in backtest(events, policy, time.time() + 3600))
    end = max(horizon, last_instant(plan)) + 1.5
    while time.time() < end:
        reader.poll(0.3)
    # Alerts of thresholds that passed while a worker was down come after recovery.
    records = reader.quiet(2.0, timeout=60)
    checked_at = time.time()
    expected = backtest(events, policy, checked_at)
    problems = compare(live_alerts(records), expected, before=checked_at - 1)
    if problems:
        problems.extend(w.log_tail(25) for w in survivors)
    return problems


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_kill_9_mid_stream_restart_loses_nothing(test_settings: Settings, tmp_path: Path, store: str) -> None:
    """Memory: the table comes back from the changelog alone. RocksDB: from the local
    store (kept in the data dir across the restart) plus the changelog's tail."""
    policy = write_fast_policy(tmp_path)
    settings = live_settings(test_settings, tmp_path, "crash", policy_file=policy)
    settings = settings.model_copy(update={"store": store})
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path, "crash").start()
    reader = TopicReader(settings, settings.topic_alerts)
    producer = Producer(settings)
    try:
        worker.wait_ready(90)
        prefix = uuid.uuid4().hex[:6]
        start = time.time() + 1.0
        plan = realtime_plan(start, list(LIFECYCLES), copies=2, spread=0.3, prefix=prefix)
        killed: list[float] = []

        def crash(send_at: float) -> None:
            if not killed and send_at >= start + 4.0:
                worker.kill()
                killed.append(time.time())
                worker.start()  # at once: the backlog builds while it recovers

        play(producer, plan, on_tick=crash)
        assert killed, "the plan ended before the crash point"
        worker.wait_ready(90)
        problems = _run_and_compare(settings, policy, plan, reader, [worker])
        assert not problems, "\n".join(problems[:60])

        # State restored: every ticket (none is past retention) is back in the table,
        # and tickets created before the crash went on firing after it.
        tickets = {e["ticket_id"] for _, e in plan}
        assert worker.health() is not None
        assert worker.health()["tickets"] == len(tickets)  # type: ignore[index]
        before_crash = {e["ticket_id"] for t, e in plan if t < killed[0] and e["type"] == "ticket.created"}
        after = [a for a in live_alerts(reader.records) if a.fired_at > killed[0] + 1]
        assert {a.record["ticket_id"] for a in after} & before_crash
        if store == "rocksdb":
            assert list(settings.data_dir.glob("*/v1/tables/tickets-*.db/rocksdict-config.json"))
    finally:
        producer.close()
        reader.close()
        worker.stop()


def test_killed_workers_partitions_keep_firing_on_the_survivor(test_settings: Settings, tmp_path: Path) -> None:
    policy = write_fast_policy(tmp_path)
    settings = live_settings(test_settings, tmp_path, "pair", policy_file=policy)
    create_topics(settings)
    a = WorkerProcess(settings, tmp_path, "a").start()
    b = WorkerProcess(settings.model_copy(update={"web_port": free_port()}), tmp_path, "b").start()
    reader = TopicReader(settings, settings.topic_alerts)
    producer = Producer(settings)
    try:
        wait_partitions_settled([a, b], settings.partitions, timeout=90)
        victim_partitions = set(a.health()["partitions"])  # type: ignore[index]
        assert victim_partitions and len(victim_partitions) < settings.partitions
        prefix = uuid.uuid4().hex[:6]
        start = time.time() + 1.0
        plan = realtime_plan(start, list(LIFECYCLES), copies=2, spread=0.3, prefix=prefix)
        killed: list[float] = []

        def crash(send_at: float) -> None:
            if not killed and send_at >= start + 3.0:
                a.kill()
                killed.append(time.time())

        play(producer, plan, on_tick=crash)
        wait_partitions_settled([b], settings.partitions, timeout=60)
        problems = _run_and_compare(settings, policy, plan, reader, [b])
        assert not problems, "\n".join(problems[:60])

        # Alerts and tickets are keyed by ticket_id with the same partitioner and count,
        # so an alert's partition is its ticket's: the victim's share kept firing.
        victims_later = [
            x for x in live_alerts(reader.records) if x.partition in victim_partitions and x.fired_at > killed[0] + 1
        ]
        assert victims_later
    finally:
        producer.close()
        reader.close()
        a.kill()
        b.stop()
