"""replay and simulate against a real broker: what goes in comes back, keyed by ticket.

Uses the session broker fixtures of ``tests/integration/conftest.py`` and a fresh,
uuid-named topic per test, so runs never see each other's messages.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer

from slawatch import replay, simulate
from slawatch.cli import build_parser
from slawatch.settings import Settings

pytestmark = pytest.mark.integration


def consume(settings: Settings, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the start, once ``expected`` have arrived."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **settings.kafka_client_options(),
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # a little longer: nothing beyond what was expected may arrive
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    finally:
        consumer.close()
    return records


def for_topic(test_settings: Settings, topic: str) -> Settings:
    return test_settings.model_copy(update={"topic_events": topic})


def test_replayed_lines_come_back_byte_for_byte_keyed_by_ticket_id(
    tmp_path: Path,
    test_settings: Settings,
    topic_factory: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = topic_factory("replay", 3)
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    lines = [orjson.dumps(e) for e in simulate.generate_events(3, start, rate=0.5, tickets=12)]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join([*lines[:5], b"{broken", *lines[5:]]) + b"\n")

    args = build_parser().parse_args(["replay", str(path), "--no-progress", "--rate", "500"])
    assert replay.main(args, for_topic(test_settings, topic)) == 0
    assert "line 6: not JSON" in capsys.readouterr().err

    records = consume(test_settings, topic, len(lines))
    assert sorted(r.value for r in records) == sorted(lines)
    per_ticket: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key == orjson.loads(record.value)["ticket_id"].encode()
        per_ticket[record.key].append(record.value)
    for key, values in per_ticket.items():  # one partition per ticket, in file order
        assert values == [v for v in lines if orjson.loads(v)["ticket_id"].encode() == key]
        assert len({r.partition for r in records if r.key == key}) == 1


def test_simulated_tickets_reach_the_topic_complete_and_keyed(
    test_settings: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("simulate", 2)
    # A paced run, fast enough that weeks of lifecycles pass in well under a second.
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    argv = ["simulate", "--tickets", "15", "--rate", "0.5", "--seed", "5", "--speed", "1e7",
            "--start", start.isoformat(), "--duplicates", "0.05"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert simulate.main(args, for_topic(test_settings, topic)) == 0

    expected = list(simulate.generate_messages(5, start, rate=0.5, tickets=15, duplicates=0.05))
    records = consume(test_settings, topic, len(expected))
    assert sorted((r.key, r.value) for r in records) == sorted((m.key, m.value) for m in expected)
    created = {orjson.loads(r.value)["ticket_id"] for r in records
               if orjson.loads(r.value)["type"] == "ticket.created"}  # fmt: skip
    assert len(created) == 15
