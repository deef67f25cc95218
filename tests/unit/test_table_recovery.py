"""A rebalance in the middle of table recovery starts recovery over (agents/table_recovery)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from faust.tables.recovery import RebalanceAgain
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
