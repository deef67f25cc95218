"""A rebalance in the middle of table recovery starts recovery over (agents/table_recovery)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from faust.tables.recovery import RebalanceAgain, ServiceStopped
from faust.types import TP

from slawatch.agents.table_recovery import RebalanceSafeRecovery

STANDBY = TP("unit-recovery-tickets-changelog", 3)


class _Consumer:
    """The one call ``_seek_offsets`` makes, recorded, refusing what aiokafka's
    ``AIOKafkaConsumer.seek`` refuses (it raised the worker's crash)."""

    def __init__(self) -> None:
        self.seeks: list[dict[TP, int]] = []

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        if any(not isinstance(offset, int) or offset < 0 for offset in partitions.values()):
            raise ValueError("Offset must be a positive integer")
        self.seeks.append(dict(partitions))


def test_the_worker_recovers_its_tables_with_the_rebalance_safe_recovery(recovery: RebalanceSafeRecovery) -> None:
    assert isinstance(recovery, RebalanceSafeRecovery)


def test_a_seek_after_a_rebalance_started_restarts_recovery_instead_of_seeking(recovery: RebalanceSafeRecovery) -> None:
    consumer = _Consumer()
    # What on_rebalance leaves for a newly assigned standby with nothing persisted.
    offsets: Counter[TP] = Counter()
    offsets[STANDBY] = None  # type: ignore[assignment]
    recovery.signal_recovery_start.set()
    with pytest.raises(RebalanceAgain):
        asyncio.run(recovery._seek_offsets(consumer, {STANDBY}, offsets, "standby"))  # type: ignore[arg-type]
    assert consumer.seeks == []


def test_an_unknown_start_offset_without_a_rebalance_reads_the_changelog_from_its_start(
    recovery: RebalanceSafeRecovery,
) -> None:
    consumer = _Consumer()
    offsets: Counter[TP] = Counter({TP("unit-recovery-tickets-changelog", 1): 41})
    offsets[STANDBY] = None  # type: ignore[assignment]
    asyncio.run(recovery._seek_offsets(consumer, set(offsets), offsets, "standby"))  # type: ignore[arg-type]
    assert consumer.seeks == [{STANDBY: 0, TP("unit-recovery-tickets-changelog", 1): 41}]


def test_plain_faust_recovery_passes_the_unknown_offset_on_to_the_seek(recovery: RebalanceSafeRecovery) -> None:
    """The failure the subclass exists for: Faust 0.15 seeks to ``None``."""
    consumer = _Consumer()
    offsets: Counter[TP] = Counter()
    offsets[STANDBY] = None  # type: ignore[assignment]
    plain = super(RebalanceSafeRecovery, recovery)._seek_offsets
    with pytest.raises(ValueError, match="positive integer"):
        asyncio.run(plain(consumer, {STANDBY}, offsets, "standby"))  # type: ignore[arg-type]


def test_recovery_is_not_declared_complete_once_a_rebalance_started(recovery: RebalanceSafeRecovery) -> None:
    """With no standby partitions left the loop goes straight on to ``on_recovery_completed``,
    which would rebuild the deadline index from half-restored tables."""
    completed: list[int] = []

    async def on_rebalance_complete(*_args: object, **_kwargs: object) -> None:
        completed.append(1)

    recovery.app.on_rebalance_complete.connect(on_rebalance_complete)
    recovery.signal_recovery_start.set()
    with pytest.raises(RebalanceAgain):
        asyncio.run(recovery.on_recovery_completed(0))
    assert completed == []


INPUT = TP("tickets.events", 2)
TICKS = TP("slawatch.ticks", 2)
CHANGELOG = TP("unit-recovery-tickets-changelog", 2)


def _complete_recovery(
    recovery: RebalanceSafeRecovery,
    monkeypatch: pytest.MonkeyPatch,
    *,
    plain: bool = False,
    during_seek: Callable[[], None] = lambda: None,
) -> dict[str, set[TP]]:
    """Run ``on_recovery_completed`` to its end on a worker whose partitions recovery
    paused (as Faust's recovery leaves them); return which partitions were being fetched
    while the stream partitions were sought and when the flow resume cleared the queues."""
    app, consumer = recovery.app, recovery.app.consumer
    assignment = {INPUT, TICKS, CHANGELOG}
    seen: dict[str, set[TP]] = {}

    async def perform_seek() -> None:
        seen["fetched while seeking"] = set(consumer._get_active_partitions())
        during_seek()

    async def nothing() -> None:
        return None

    async def wait(coro: Awaitable[None], timeout: float | None = None) -> None:
        await coro  # Recovery._wait runs it on the service's own loop, not started here

    resume = app.flow_control.resume

    def flow_resume() -> None:
        seen["fetched when the queues were cleared"] = set(consumer._get_active_partitions())
        resume()

    monkeypatch.setattr(consumer, "assignment", lambda: assignment)
    monkeypatch.setattr(consumer, "perform_seek", perform_seek)
    monkeypatch.setattr(recovery, "_wait", wait)
    monkeypatch.setattr(app.flow_control, "resume", flow_resume)
    monkeypatch.setattr(app._fetcher, "maybe_start", nothing)  # type: ignore[attr-defined]
    monkeypatch.setattr(app.assignor, "assigned_standbys", set)
    consumer.pause_partitions(assignment)
    complete = super(RebalanceSafeRecovery, recovery).on_recovery_completed if plain else recovery.on_recovery_completed
    asyncio.run(complete(app.consumer_generation_id))
    seen["fetched afterwards"] = set(consumer._get_active_partitions())
    return seen


def test_plain_faust_recovery_fetches_the_stream_partitions_while_it_seeks_them(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cause of the input lost at every start: what a fetch queued during the seek
    was cleared by the flow resume, with the consumer's position already past it."""
    seen = _complete_recovery(recovery, monkeypatch, plain=True)
    assert {INPUT, TICKS} <= seen["fetched while seeking"]
    assert {INPUT, TICKS} <= seen["fetched when the queues were cleared"]


def test_stream_partitions_are_not_fetched_while_recovery_seeks_them(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _complete_recovery(recovery, monkeypatch)
    assert not {INPUT, TICKS} & seen["fetched while seeking"]


def test_stream_partitions_are_not_fetched_before_the_flow_resume_clears_the_queues(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _complete_recovery(recovery, monkeypatch)
    assert not {INPUT, TICKS} & seen["fetched when the queues were cleared"]


def test_stream_partitions_are_fetched_once_recovery_completed(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _complete_recovery(recovery, monkeypatch)
    assert {INPUT, TICKS} <= seen["fetched afterwards"]
    assert CHANGELOG not in seen["fetched afterwards"]  # Faust resumes changelogs itself, elsewhere


def test_stream_partitions_stay_paused_when_a_rebalance_begins_while_recovery_completes(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next generation's recovery resumes them once it has sought them."""

    def rebalance() -> None:
        recovery.app.consumer_generation_id += 1

    seen = _complete_recovery(recovery, monkeypatch, during_seek=rebalance)
    assert not {INPUT, TICKS} & seen["fetched afterwards"]


def test_stream_partitions_stay_paused_when_they_are_revoked_while_recovery_completes(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _complete_recovery(recovery, monkeypatch, during_seek=lambda: recovery.on_partitions_revoked({INPUT, TICKS}))
    assert not {INPUT, TICKS} & seen["fetched afterwards"]


def test_the_consumer_resumes_partitions_as_before_once_recovery_completed(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = recovery.app.consumer
    _complete_recovery(recovery, monkeypatch)
    assert "resume_partitions" not in vars(consumer)
    consumer.pause_partitions({INPUT})
    consumer.resume_partitions({INPUT})
    assert INPUT in consumer._get_active_partitions()


def test_the_consumer_resumes_partitions_as_before_after_a_rebalance_interrupted_recovery(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = recovery.app.consumer

    def interrupted() -> None:
        raise RebalanceAgain()

    with pytest.raises(RebalanceAgain):
        _complete_recovery(recovery, monkeypatch, during_seek=interrupted)
    assert "resume_partitions" not in vars(consumer)
    assert not {INPUT, TICKS} & consumer._get_active_partitions()


def test_stream_partitions_are_fetched_after_a_seek_that_timed_out(
    recovery: RebalanceSafeRecovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's ``_wait`` raises ServiceStopped when the seek outlasts its timeout, which
    ends Faust's recovery loop: nothing would resume the held partitions later."""
    consumer = recovery.app.consumer

    def timed_out() -> None:
        raise ServiceStopped()

    with pytest.raises(ServiceStopped):
        _complete_recovery(recovery, monkeypatch, during_seek=timed_out)
    assert "resume_partitions" not in vars(consumer)
    assert {INPUT, TICKS} <= consumer._get_active_partitions()
