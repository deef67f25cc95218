"""Acceptance: a worker's RocksDB store holds every changelog write up to the offset it records.

Recovery trusts that offset: a partition taken over from a standby store, or restored
from the local store after a restart, is read from there on. faust-streaming 0.15 lost
standby records while workers restarted (agents/active_partitions.py), and the stores
recorded offsets past writes they never applied: ticket states rolled back after the
next take-over (alerts repeated, extra or missing). Here three RocksDB workers restart in
turn while tickets are created, then every store of every worker is compared with the
changelog it was built from (the tickets table; the windows tables' changelogs also
delete expired windows).
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest
import rocksdict
from integration.live_harness import Producer, WorkerProcess, create_topics, free_port, live_settings, ticket_created

from slawatch.settings import Settings
from slawatch.streams.topics import TICKETS_TABLE

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, TopicPartition

pytestmark = pytest.mark.integration

#: Faust's key for the changelog offset a RocksDB store has applied (faust.stores.rocksdb).
OFFSET_KEY = b"__faust\x00offset__"


def _changelog(settings: Settings) -> dict[int, list[tuple[int, bytes, bytes | None]]]:
    """Every record of the tickets changelog, per partition, in offset order."""
    topic = f"{settings.app_id}-{TICKETS_TABLE}-changelog"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        **settings.kafka_client_options(),
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: dict[int, list[tuple[int, bytes, bytes | None]]] = {p: [] for p in range(settings.partitions)}
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records[tp.partition].extend((m.offset, m.key, m.value) for m in batch)
        assert all(consumer.position(tp) >= ends[tp] for tp in tps), "the changelog was not read to its end"
        return records
    finally:
        consumer.close()


def _partition(db: Path) -> int:
    return int(db.name.removesuffix(".db").rsplit("-", 1)[1])  # tickets-3.db


def _store_problems(db: Path, changelog: list[tuple[int, bytes, bytes | None]]) -> list[str]:
    """What the store lacks or holds stale, against the changelog up to its own offset.

    An active partition's store takes a write before the broker acknowledges it, and the
    acknowledgement moves the recorded offset: a value written later than that offset
    is not stale.
    """
    store = rocksdict.Rdict(
        str(db), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
    )
    try:
        raw = store.get(OFFSET_KEY)
        held = {k: v for k, v in store.items() if k != OFFSET_KEY}
    finally:
        store.close()
    if raw is None:
        return []
    applied = int(raw)
    expected: dict[bytes, tuple[int, bytes]] = {}
    for offset, key, value in changelog:
        if offset > applied:
            break
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = (offset, value)
    later = {(key, value) for offset, key, value in changelog if offset > applied}
    problems = []
    for key, (offset, value) in expected.items():
        if held.get(key) != value and (key, held.get(key)) not in later:
            state = "missing" if key not in held else "stale"
            worker = db.parent.parent.parent.name
            problems.append(f"{worker} p{_partition(db)} (offset {applied}): {key!r} {state}, written at {offset}")
    return problems


@pytest.mark.timeout(600)
def test_every_store_holds_the_changelog_up_to_the_offset_it_records(test_settings: Settings, tmp_path: Path) -> None:
    settings = live_settings(test_settings, tmp_path, "standby", partitions=8).model_copy(update={"store": "rocksdb"})
    create_topics(settings)
    workers = [
        WorkerProcess(settings.model_copy(update={"web_port": free_port()}), tmp_path, f"w{i}").start()
        for i in range(3)
    ]
    producer = Producer(settings)
    stop = threading.Event()
    prefix = uuid.uuid4().hex[:6]

    def create_tickets() -> None:
        n = 0
        while not stop.is_set():
            for _ in range(20):
                n += 1
                producer.send(ticket_created(f"{prefix}-{n}", f"{prefix}-{n}"))
            producer.flush()
            time.sleep(0.1)

    feeder = threading.Thread(target=create_tickets, daemon=True)
    try:
        for w in workers:
            w.wait_ready(90)
        feeder.start()
        time.sleep(3)
        for _round in range(2):
            for w in workers:  # rolling restarts: partitions and standbys move each time
                w.stop()
                time.sleep(4)  # the others take its partitions and write on: its stores fall behind
                w.start()
                w.wait_ready(90)
                time.sleep(3)
        stop.set()
        feeder.join(30)
        time.sleep(5)  # the last writes reach the standbys
    finally:
        stop.set()
        producer.close()
        for w in workers:
            w.stop()
    changelog = _changelog(settings)
    assert sum(len(records) for records in changelog.values()) > 500
    stores = sorted(settings.data_dir.glob(f"*/v1/tables/{TICKETS_TABLE}-*.db"))
    assert len(stores) >= 2 * settings.partitions  # actives and standbys on several workers
    problems = [problem for db in stores for problem in _store_problems(db, changelog[_partition(db)])]
    assert not problems, f"{len(problems)} writes the stores claim but lack:\n" + "\n".join(problems[:30])
