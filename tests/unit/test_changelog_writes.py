"""Commits wait for the changelog writes of the offsets they commit (agents/changelog_writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sla_scenarios import created, ts

from slawatch.agents.app import create_worker
from slawatch.agents.changelog_writes import ChangelogWrites, install
from slawatch.settings import Settings
from slawatch.sla.policy import load_policy


class _Producer:
    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


def test_the_producer_flush_waits_for_unacknowledged_changelog_records_first() -> None:
    async def run() -> None:
        writes = ChangelogWrites()
        record: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        writes.track(record)
        producer = _Producer()
        install(producer, writes)
        flushing = asyncio.create_task(producer.flush())
        await asyncio.sleep(0.2)  # longer than Faust's own flush would wait
        assert not flushing.done() and producer.flushes == 0
        record.set_result(None)  # the broker acknowledged it
        await asyncio.wait_for(flushing, 1)
        assert producer.flushes == 1 and len(writes) == 0

    asyncio.run(run())


def test_a_failed_record_is_settled_and_no_longer_waited_for() -> None:
    async def run() -> None:
        writes = ChangelogWrites()
        record: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        writes.track(record)
        record.set_exception(TimeoutError("delivery timed out"))  # aiokafka gave up
        assert await writes.wait(timeout=1)
        await asyncio.sleep(0)  # done callbacks run on the next loop pass
        assert len(writes) == 0
        record.exception()  # retrieved: no "never retrieved" warning

    asyncio.run(run())


def test_waiting_gives_up_after_its_timeout_and_says_so() -> None:
    async def run() -> None:
        writes = ChangelogWrites()
        writes.track(asyncio.get_running_loop().create_future())  # a stopped producer never sends it
        assert await writes.wait(timeout=0.05) is False

    asyncio.run(run())


def test_every_table_of_the_worker_tracks_its_changelog_sends() -> None:
    w = create_worker(
        Settings(app_id="unit-writes", partitions=4), load_policy(None), clock=lambda: ts("2026-11-16 11:00")
    )
    w.processor.offsets._log_start = None  # nothing committed in a test context: do not ask a broker
    agent = w.app.agents["ingest"]

    async def run() -> None:
        async with agent.test_context() as ctx:
            await ctx.put(orjson.dumps(created("2026-11-16 10:00", ticket="T1")), key=b"T1")

    asyncio.run(run())
    # No broker here, so nothing is acknowledged: the ticket's state write is still
    # pending, which is exactly what a commit would now wait for.
    assert len(w.changelog_writes) >= 1
    assert all(type(t).__name__ == "TrackedTable" for t in w.app.tables.values())


def test_records_sent_while_waiting_are_left_to_the_next_commit() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        writes = ChangelogWrites()
        first: asyncio.Future[Any] = loop.create_future()
        writes.track(first)
        waiting = asyncio.create_task(writes.wait(timeout=5))
        await asyncio.sleep(0.05)
        writes.track(loop.create_future())  # the stream goes on writing meanwhile
        first.set_result(None)
        assert await asyncio.wait_for(waiting, 1) is True
        assert len(writes) == 1

    asyncio.run(run())
