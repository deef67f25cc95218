"""Acceptance: invalid input lands in the dead-letter topic, never stops the worker.

Runs the worker through the real command line (``slawatch worker --config``), and
stops it with SIGTERM to check the clean shutdown path too.
"""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from integration.live_harness import (
    Producer,
    TopicReader,
    WorkerProcess,
    create_topics,
    live_settings,
)

from slawatch.settings import Settings

pytestmark = pytest.mark.integration

GOOD = {
    "event_id": "dlq-good-1", "type": "ticket.created", "ticket_id": "DLQ-1",
    "occurred_at": "2026-11-20T10:00:00+08:00", "priority": "urgent", "category": "service",
}  # fmt: skip

# (key, value, expected reason code)
BAD: list[tuple[bytes, bytes | None, str]] = [
    (b"DLQ-2", b'{"event_id": "x", "type": "ticket.created"', "invalid_json"),
    (b"DLQ-3", b"[1, 2, 3]", "not_object"),
    (b"DLQ-4", orjson.dumps({**GOOD, "event_id": "b4", "priority": "P1"}), "bad_value"),
    (b"DLQ-5", orjson.dumps({**GOOD, "event_id": "b5", "occurred_at": "2026-11-20T10:00:00"}), "bad_timestamp"),
    (b"DLQ-6", orjson.dumps({**GOOD, "event_id": "b6", "type": "ticket.deleted"}), "unknown_type"),
    (b"DLQ-7", orjson.dumps({k: v for k, v in GOOD.items() if k != "ticket_id"}), "missing_field"),
    (b"\xff\xfe", b"\xff\xfe\x00 not utf-8", "invalid_json"),
    (b"DLQ-9", None, "invalid_json"),  # a tombstone
]


def test_invalid_messages_are_dead_lettered_with_reason_and_original_bytes(
    test_settings: Settings, tmp_path: Path
) -> None:
    settings = live_settings(test_settings, tmp_path, "dlq")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path, "dlq", cli=True).start()
    dlq = TopicReader(settings, settings.topic_dlq)
    source = TopicReader(settings, settings.topic_events)
    producer = Producer(settings)
    try:
        worker.wait_ready(90)
        producer.send(GOOD)
        for key, value, _code in BAD:
            producer._producer.send(settings.topic_events, key=key, value=value)  # tombstone too
        producer.send({**GOOD, "event_id": "dlq-good-2", "type": "ticket.responded"})
        producer.flush()

        records = dlq.until(lambda rs: len(rs) >= len(BAD), timeout=60)
        assert len(records) == len(BAD), worker.log_tail()
        originals = {(r.partition, r.offset): r for r in source.until(lambda rs: len(rs) >= len(BAD) + 2, 30)}
        by_key = {}
        for r in records:
            doc = orjson.loads(r.value)
            source_msg = originals[(doc["partition"], doc["offset"])]
            assert doc["topic"] == settings.topic_events
            assert r.key == source_msg.key  # keyed like the input: per-ticket order holds
            raw = base64.b64decode(doc["original"]["base64"]) if doc["original"]["base64"] else None
            assert raw == source_msg.value
            assert doc["reason"]["message"]
            assert doc["dead_lettered_at"]
            by_key[source_msg.key] = doc
        for key, value, code in BAD:
            doc = by_key[key]
            assert doc["reason"]["code"] == code, doc
            if value is not None and code != "invalid_json":
                assert doc["original"]["text"] == value.decode()
        assert by_key[b"DLQ-7"]["reason"]["field"] == "ticket_id"
        assert by_key[b"\xff\xfe"]["original"]["text"] is None

        # The valid events around them were applied; the worker is alive and counting.
        health = worker.health()
        assert health is not None and health["tickets"] == 1
        metrics = worker.get("/metrics").decode()
        assert 'slawatch_events_dead_lettered_total{reason="invalid_json"} 3.0' in metrics
        assert 'slawatch_events_applied_total{type="ticket.responded"} 1.0' in metrics
    finally:
        producer.close()
        dlq.close()
        source.close()
        assert worker.stop() == 0, worker.log_tail()
