"""Acceptance: offsets without a message in the input (transaction markers) lose nothing.

A transactional upstream (Kafka Connect, Flink, any exactly-once producer) leaves a
commit marker after each transaction: an offset the worker's stream never sees. The
worker treats every jump in its input offsets as a possible skip and reads the range
again from the broker (the defence against Faust dropping queued messages around a
rebalance); for a marker that read finds nothing, and every event is applied once. The
markers' offsets are acknowledged on Faust's consumer, so the group's commits reach the
end of the partition (they stopped at the first marker when nothing was told to Faust).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from integration.live_harness import TopicReader, WorkerProcess, create_topics, live_settings
from prometheus_client.parser import text_string_to_metric_families

from slawatch.settings import Settings
from slawatch.streams.clients import make_producer
from slawatch.streams.range_reader import RangeReader

pytestmark = pytest.mark.integration


def _samples(worker: WorkerProcess) -> dict[str, float]:
    text = worker.get("/metrics").decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("slawatch_input_") or s.name == "slawatch_events_applied_total":
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


async def _group_committed_when(settings: Settings, wanted: int, *, timeout: float) -> int | None:
    """The group's last committed offset of partition 0, polled until it is ``wanted``."""
    reader = RangeReader(settings)
    try:
        deadline = time.time() + timeout
        committed = await reader.group_committed(settings.app_id, settings.topic_events, 0)
        while committed != wanted and time.time() < deadline:
            await asyncio.sleep(0.5)
            committed = await reader.group_committed(settings.app_id, settings.topic_events, 0)
        return committed
    finally:
        await reader.close()


def test_transaction_markers_in_the_input_are_read_as_nothing_and_every_event_applies(
    test_settings: Settings, tmp_path: Path
) -> None:
    settings = live_settings(test_settings, tmp_path, "txn", partitions=1)
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path, "txn").start()
    source = TopicReader(settings, settings.topic_events)
    producer = make_producer(settings, transactional_id=f"txn-{uuid.uuid4().hex[:8]}", enable_idempotence=True)
    try:
        worker.wait_ready(90)
        producer.init_transactions()
        sent = 0
        for batch in range(5):  # five transactions of three events: a marker after each
            producer.begin_transaction()
            for n in range(3):
                ticket = f"TXN-{batch}-{n}"
                event = (
                    b'{"event_id":"%s","type":"ticket.created","ticket_id":"%s",'
                    b'"occurred_at":"2026-11-20T10:00:00+08:00","priority":"normal","category":"service"}'
                ) % (f"e-{ticket}".encode(), ticket.encode())
                producer.send(settings.topic_events, key=ticket.encode(), value=event)
                sent += 1
            producer.commit_transaction()
        records = source.until(lambda rs: len(rs) >= sent, timeout=30)
        assert max(r.offset for r in records) > sent - 1  # the markers took offsets

        deadline = time.time() + 60
        seen: dict[str, float] = {}
        while time.time() < deadline:
            seen = _samples(worker)
            if seen.get("slawatch_events_applied_total", 0) >= sent:
                break
            time.sleep(0.3)
        assert seen.get("slawatch_events_applied_total") == sent, worker.log_tail()
        assert seen.get("slawatch_input_offsets_skipped_total", 0) >= 4  # the markers between batches
        assert seen.get("slawatch_input_messages_reread_total") == 0  # nothing was there to re-read
        assert seen.get("slawatch_input_offsets_unrecovered_total") == 0
        assert "could not be read again" not in worker.log_tail(400)

        # The last marker, with no message after it, is caught up by the input watchdog (5 s).
        last_offset = sent + 5 - 1  # fifteen events and five markers, offsets 0-19
        committed = asyncio.run(_group_committed_when(settings, last_offset, timeout=45))
        assert committed == last_offset, worker.log_tail()
    finally:
        producer.close()
        source.close()
        worker.stop()
