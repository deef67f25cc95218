"""Standby records queued while recovery completes survive its flow resume
(agents/changelog_queue.py, agents/table_recovery.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from slawatch.agents.changelog_queue import ChangelogQueue
from slawatch.agents.table_recovery import RebalanceSafeRecovery

STANDBY = TP("unit-queue-tickets-changelog", 3)
ACTIVE = TP("unit-queue-tickets-changelog", 0)


def _record(tp: TP, offset: int) -> SimpleNamespace:
    """What the changelog queue holds, as far as its clear looks: an event's message's tp."""
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def _queued(queue: Any) -> list[tuple[int, int]]:
    return [(e.message.tp.partition, e.message.offset) for e in queue._queue]


def test_the_worker_reads_changelogs_through_a_queue_a_flow_resume_clears(recovery: RebalanceSafeRecovery) -> None:
    queue = recovery.tables.changelog_queue
    assert isinstance(queue, ChangelogQueue)
    queue.put_nowait(_record(STANDBY, 7))
    recovery.app.flow_control.resume()
    assert _queued(queue) == []


def test_a_flow_resume_keeps_the_records_of_the_partitions_the_queue_is_told_to_keep(
    recovery: RebalanceSafeRecovery,
) -> None:
    queue: ChangelogQueue[Any] = ChangelogQueue(
        flow_control=recovery.app.flow_control, clear_on_resume=True, keep=lambda: {STANDBY}
    )
    for record in (_record(STANDBY, 7), _record(ACTIVE, 3), _record(STANDBY, 8)):
        queue.put_nowait(record)
    recovery.app.flow_control.resume()
    assert _queued(queue) == [(3, 7), (3, 8)]
    assert queue.get_nowait().message.offset == 7


def test_a_clear_while_the_flow_is_suspended_drops_everything(recovery: RebalanceSafeRecovery) -> None:
    """A revocation or a shutdown suspends the flow, then clears the queues: the next
    generation seeks every partition again, and a kept record of a partition no longer
    assigned would reach Faust's recovery loop as an unknown topic."""
    queue: ChangelogQueue[Any] = ChangelogQueue(
        flow_control=recovery.app.flow_control, clear_on_resume=True, keep=lambda: {STANDBY}
    )
    recovery.app.flow_control.resume()
    queue.put_nowait(_record(STANDBY, 7))
    recovery.app.flow_control.suspend()
    recovery.app.flow_control.clear()
    assert _queued(queue) == []


def test_a_record_waiting_for_room_is_queued_once_a_resume_frees_some(recovery: RebalanceSafeRecovery) -> None:
    """The conductor waits on a full queue with one record at a time; Faust's clear cancels
    that wait (the record is lost), the kept clear wakes it."""

    async def scenario() -> list[tuple[int, int]]:
        queue: ChangelogQueue[Any] = ChangelogQueue(
            maxsize=2, flow_control=recovery.app.flow_control, clear_on_resume=True, keep=lambda: {STANDBY}
        )
        recovery.app.flow_control.resume()
        queue.put_nowait(_record(STANDBY, 7))
        queue.put_nowait(_record(ACTIVE, 3))
        waiting = asyncio.ensure_future(queue.put(_record(STANDBY, 8)))
        await asyncio.sleep(0)
        assert not waiting.done()
        recovery.app.flow_control.resume()
        await asyncio.wait_for(waiting, timeout=1.0)
        return _queued(queue)

    assert asyncio.run(scenario()) == [(3, 7), (3, 8)]


def test_standby_records_queued_while_recovery_completes_survive_its_flow_resume(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's own ``on_recovery_completed``, to its end: its flow resume cleared the
    changelog queue, and standby records fetched meanwhile were lost for good (nothing
    seeks back), so RocksDB standbys recorded offsets past writes they never applied."""
    app = recovery.app
    queue = recovery.tables.changelog_queue
    recovery.standby_tps.add(STANDBY)
    recovery.active_tps.add(ACTIVE)

    async def fetched_meanwhile(*_args: object, **_kwargs: object) -> None:
        queue.put_nowait(_record(STANDBY, 41))
        queue.put_nowait(_record(ACTIVE, 12))

    async def nothing() -> None:
        return None

    app.on_rebalance_complete.connect(fetched_meanwhile)
    monkeypatch.setattr(app.consumer, "assignment", set)
    monkeypatch.setattr(app.consumer, "perform_seek", nothing)
    monkeypatch.setattr(app._fetcher, "maybe_start", nothing)  # type: ignore[attr-defined]
    monkeypatch.setattr(app.assignor, "assigned_standbys", lambda: {STANDBY})
    asyncio.run(recovery.on_recovery_completed(generation_id=app.consumer_generation_id))
    assert recovery.completed.is_set()  # it ran to its end, flow resume included
    assert _queued(queue) == [(3, 41)]
    app.flow_control.resume()  # any later resume: a seek of its partitions follows
    assert _queued(queue) == []


def test_a_revocation_while_recovery_completes_ends_the_keeping(recovery: RebalanceSafeRecovery) -> None:
    recovery.standby_tps.add(STANDBY)
    recovery._completing = True
    assert recovery.kept_on_resume() == {STANDBY}
    recovery.on_partitions_revoked({STANDBY})
    assert not recovery.kept_on_resume()
