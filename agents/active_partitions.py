"""Fetches ask aiokafka only for the partitions Faust reads now, even when that is none.

Faust's fetcher hands aiokafka its *live* set of active (not paused) partitions and
waits up to a second for records of those. aiokafka reads an empty set as "every
assigned partition" (``if partitions and tp not in partitions`` in
``Fetcher.fetched_records``). The set does go empty while a fetch waits: once the active
tables are restored their changelogs are paused, and the standby partitions are resumed
only after they were sought and their high watermarks read (``_restart_recovery``). A
fetch waiting then returns whatever aiokafka prefetched, the standby changelog records
from the offset recovery just sought to among them; Faust drops the records of
partitions it does not read, and the consumer's position has moved past them. Nothing
seeks back within the generation: the standby store applies the later records and
records their offset, so it claims writes it never received. When that partition comes
back to the worker (a take-over, a restart from the local RocksDB store), recovery reads
on from that offset and those ticket states are never restored. Seen with
instrumentation in the rolling-restart runs of 2026-12-06: a standby missing exactly
the range from its seek offset to the high watermark (offsets 1353-2090 of one
partition), then alerts repeated, extra or missing after the take-over. (At a
revocation the flow is stopped first, and the records a fetch brings back then are
sought again by the next generation.)

:func:`guard_fetches` hands aiokafka a view of the same live set that is never falsy:
with nothing active, a fetch returns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from typing import Any, TypeVar

from faust.types import TP
from faust.types.transports import ConsumerT

__all__ = ["ActivePartitions", "guard_fetches"]

_S = TypeVar("_S")


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
        """True even when no partition is active (``len()`` 0): the point of the view."""
        return True

    @classmethod
    def _from_iterable(cls, it: Iterable[_S], /) -> frozenset[_S]:
        """Set operations (``&``, ``|``, ``-``) give plain frozensets, not views."""
        return frozenset(it)


def guard_fetches(consumer: ConsumerT) -> None:
    """Make ``consumer`` fetch with :class:`ActivePartitions` (module docstring)."""
    getmany = consumer._getmany  # type: ignore[attr-defined]

    async def _getmany(active_partitions: Set[TP] | None, timeout: float) -> Any:
        if active_partitions is not None:
            active_partitions = ActivePartitions(active_partitions)
        return await getmany(active_partitions=active_partitions, timeout=timeout)

    consumer._getmany = _getmany  # type: ignore[attr-defined]
