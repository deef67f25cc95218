"""The worker's gap re-reader against the real broker (see slawatch.streams.range_reader)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from slawatch.settings import Settings
from slawatch.streams.clients import make_producer
from slawatch.streams.range_reader import RangeReader

pytestmark = pytest.mark.integration


def _fill(settings: Settings, topic: str, count: int) -> None:
    producer = make_producer(settings)
    for n in range(count):
        producer.send(topic, key=f"T-{n}".encode(), value=f"v{n}".encode(), partition=0)
    producer.flush()
    producer.close()


def test_a_range_reads_back_exactly_its_offsets_in_order(
    test_settings: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("range", partitions=1)
    _fill(test_settings, topic, 20)

    async def read() -> list[tuple[int, bytes | None, bytes | None]]:
        reader = RangeReader(test_settings, timeout=20)
        try:
            first = await reader.read(topic, 0, 5, 9)
            again = await reader.read(topic, 0, 17, 20)  # the same consumer, reassigned
            return [(r.offset, r.key, r.value) for r in first + again]
        finally:
            await reader.close()

    got = asyncio.run(read())
    assert got == [(n, f"T-{n}".encode(), f"v{n}".encode()) for n in (5, 6, 7, 8, 17, 18, 19)]


def test_offsets_holding_transaction_markers_read_as_nothing(
    test_settings: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("txn", partitions=1)
    producer = make_producer(test_settings, transactional_id=f"test-{uuid.uuid4().hex[:8]}", enable_idempotence=True)
    producer.init_transactions()
    for n in range(3):  # three transactions of two messages: a commit marker after each
        producer.begin_transaction()
        for m in range(2):
            producer.send(topic, value=f"{n}.{m}".encode(), partition=0)
        producer.commit_transaction()
    producer.close()

    async def read() -> list[tuple[int, bytes | None]]:
        reader = RangeReader(test_settings, timeout=20)
        try:
            return [(r.offset, r.value) for r in await reader.read(topic, 0, 0, 9)]
        finally:
            await reader.close()

    got = asyncio.run(read())
    # offsets 2, 5 and 8 are the markers: a gap of one offset each, and no message there
    assert got == [(0, b"0.0"), (1, b"0.1"), (3, b"1.0"), (4, b"1.1"), (6, b"2.0"), (7, b"2.1")]


def test_the_log_start_is_the_first_offset_the_partition_still_holds(
    test_settings: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("start", partitions=1)
    _fill(test_settings, topic, 10)

    async def starts() -> tuple[int, int]:
        reader = RangeReader(test_settings, timeout=20)
        admin = AIOKafkaAdminClient(bootstrap_servers=list(test_settings.bootstrap_servers))
        await admin.start()
        try:
            before = await reader.log_start(topic, 0)
            await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(6)})  # what retention would do
            return before, await reader.log_start(topic, 0)
        finally:
            await admin.close()
            await reader.close()

    assert asyncio.run(starts()) == (0, 6)


def test_the_group_committed_offset_is_the_one_another_member_committed(
    test_settings: Settings, topic_factory: Callable[..., str]
) -> None:
    """A partition taken over from another worker was committed by that worker: the new
    owner must see the group's commit, or it takes the partition for never committed and
    reads it all again from offset 0."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata

    topic = topic_factory("committed", partitions=2)
    _fill(test_settings, topic, 10)
    group = f"slawatch-test-{uuid.uuid4().hex[:8]}"

    async def committed() -> tuple[int | None, int | None]:
        other = AIOKafkaConsumer(
            bootstrap_servers=list(test_settings.bootstrap_servers), group_id=group, enable_auto_commit=False
        )
        await other.start()
        try:
            tp = TopicPartition(topic, 0)
            other.assign([tp])
            await other.commit({tp: OffsetAndMetadata(7, "")})  # messages 0..6 done
        finally:
            await other.stop()
        reader = RangeReader(test_settings, timeout=20)
        try:
            first = await reader.group_committed(group, topic, 0)
            admin = reader._admin
            second = await reader.group_committed(group, topic, 1)
            assert admin is not None and reader._admin is admin  # one admin connection for both
            return first, second
        finally:
            await reader.close()
            assert reader._admin is None

    assert asyncio.run(committed()) == (6, None)
