"""Fetches ask aiokafka only for the partitions Faust reads now, even when that is none.

Faust's fetcher hands aiokafka its *live* set of active (not paused) partitions and
waits up to a second for records of those. aiokafka reads an empty set as "every
assigned partition" (``if partitions and tp not in partitions`` in
``Fetcher.fetched_records``). The set does go empty while a fetch waits: a rebalance
pauses every partition, and after the active tables are restored their changelogs are
paused before the standby partitions are resumed. The waiting fetch then returns
whatever aiokafka prefetched, standby changelog records among them, from the offset
recovery just seeked to; Faust drops the records of partitions it does not read, and
the consumer's position has moved past them. Nothing seeks back within the
generation: the standby store applies the later records and records their offset, so it
claims writes it never received. When that partition comes back to the worker (a
take-over, a restart from the local RocksDB store), recovery reads on from that offset
and those ticket states are never restored (the rolling-restart runs of 2026-12-06: the
whole range from the seek to the high watermark missing from a standby, e.g. offsets
4541-5128 of one partition; alerts repeated, extra or missing after the take-over).

:func:`guard_fetches` hands aiokafka a view of the same live set that is never falsy:
with nothing active, a fetch returns nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

from faust.types import TP
from faust.types.transports import ConsumerT

__all__ = ["ActivePartitions", "guard_fetches"]


class ActivePartitions(Set[TP]):
    """Faust's live active-partition set, read-only and truthy even when empty."""

    __slots__ = ("_live",)

    def __init__(self, live: Set[TP]) -> None:
        self._live = live

    def __contains__(self, tp: object) -> bool:
        return tp in self._live

    def __iter__(self) -> Iterator[TP]:
        return iter(tuple(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def __bool__(self) -> bool:
        return True


def guard_fetches(consumer: ConsumerT) -> None:
    """Make ``consumer`` fetch with :class:`ActivePartitions` (module docstring)."""
    getmany = consumer._getmany  # type: ignore[attr-defined]

    async def _getmany(active_partitions: Set[TP] | None, timeout: float) -> Any:
        if active_partitions is not None:
            active_partitions = ActivePartitions(active_partitions)
        return await getmany(active_partitions=active_partitions, timeout=timeout)

    consumer._getmany = _getmany  # type: ignore[attr-defined]
