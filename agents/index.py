"""The partition-local deadline index: which ticket needs its clocks advanced, and when.

Faust has no timers per key and a windowed table's close callback is driven by
wall-clock cleanup (faust #250, #385, #412), so on-time alerts need their own
mechanism. Each worker keeps, per partition it actively owns, a min-heap of
``(instant, ticket_id)``: the earliest unfired threshold of every ticket with a running
clock. The timer pops only the entries that are due, so its cost grows with the number
of due thresholds, not with the number of open tickets.

The index is derived state, never changelogged: it is rebuilt from the ticket table
after every recovery or rebalance, so a crash loses nothing. Entries are deleted
lazily: updating a ticket pushes a new entry and the old one is skipped when it
surfaces (the heap is compacted when stale entries outnumber live ones).

A popped entry is *in flight* until the tick the worker sent for it has been processed
(which re-indexes the ticket); it is not sent again meanwhile, unless the tick seems lost
(``resend_after`` seconds), e.g. because the partition moved to another worker and back.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["DeadlineIndex", "DueEntry"]


@dataclass(frozen=True, slots=True)
class DueEntry:
    partition: int
    ticket_id: str
    instant: float


@dataclass(slots=True)
class _InFlight:
    partition: int
    instant: float
    sent_at: float


class DeadlineIndex:
    """Min-heaps of ``(instant, ticket_id)`` per owned partition, with lazy deletion."""

    def __init__(
        self,
        *,
        resend_after: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = {}
        self._live: dict[int, dict[str, float]] = {}
        # Insertion-ordered by send time, so timed-out entries are found from the front.
        self._inflight: dict[str, _InFlight] = {}
        self._resend_after = resend_after
        self._monotonic = monotonic

    # --- ownership ---------------------------------------------------------------------
    @property
    def partitions(self) -> frozenset[int]:
        """Partitions this index covers (the worker's active partitions)."""
        return frozenset(self._live)

    def reset(
        self,
        partitions: Iterable[int],
        entries: Iterable[tuple[int, str, float | None]],
    ) -> None:
        """Rebuild from scratch: ``entries`` are ``(partition, ticket_id, next_due)``.

        Entries of partitions not in ``partitions`` are ignored: with standby replicas
        (and Faust's memory store, which keeps keys of revoked partitions) the table
        holds tickets this worker does not own, and their owner fires them.
        """
        owned = set(partitions)
        self._live = {p: {} for p in owned}
        for partition, ticket_id, instant in entries:
            if instant is not None and partition in owned:
                self._live[partition][ticket_id] = instant
        self._heaps = {p: [(instant, tid) for tid, instant in live.items()] for p, live in self._live.items()}
        for heap in self._heaps.values():
            heapq.heapify(heap)
        self._inflight.clear()

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions this worker no longer owns (their new owner rebuilds them)."""
        gone = set(partitions)
        for p in gone:
            self._heaps.pop(p, None)
            self._live.pop(p, None)
        for tid in [t for t, f in self._inflight.items() if f.partition in gone]:
            del self._inflight[tid]

    # --- updates from stream processing ------------------------------------------------
    def set(self, partition: int, ticket_id: str, instant: float | None) -> None:
        """Record ``ticket_id``'s next due instant (``None``: nothing due, e.g. stopped).

        Called after every event or tick of the ticket, so it also ends the ticket's
        in-flight state. A partition not yet known is adopted: the stream only hands
        this worker messages of partitions it owns.
        """
        self._inflight.pop(ticket_id, None)
        live = self._live.setdefault(partition, {})
        heap = self._heaps.setdefault(partition, [])
        if instant is None:
            live.pop(ticket_id, None)
            return
        if live.get(ticket_id) == instant:
            return
        live[ticket_id] = instant
        heapq.heappush(heap, (instant, ticket_id))
        if len(heap) > 2 * len(live) + 64:
            self._compact(partition)

    def discard(self, partition: int, ticket_id: str) -> None:
        self.set(partition, ticket_id, None)

    def _compact(self, partition: int) -> None:
        heap = [(instant, tid) for tid, instant in self._live[partition].items()]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    # --- the timer's side ----------------------------------------------------------------
    def pop_due(
        self,
        now: float | Callable[[int], float],
        ready: Callable[[int], bool] | None = None,
        may_resend: Callable[[int], bool] | None = None,
    ) -> list[DueEntry]:
        """Entries whose instant is before ``now``; they become in flight.

        ``now`` is one instant for every partition, or a function giving each
        partition's own (see :class:`~slawatch.agents.horizon.FiringHorizon`), asked
        once per partition and run.

        ``ready(partition)`` is asked only for partitions with something due; when it
        says no, that partition's entries wait for a later run (see
        :class:`~slawatch.agents.barrier.CatchUpBarrier`). Also returns in-flight entries
        whose tick has not come back within ``resend_after`` seconds, so a lost tick
        delays an alert but never drops it. ``may_resend(partition)`` (asked once per
        partition and run) says whether a tick still missing can be lost rather than
        queued: the worker answers no while that partition of the ticks topic has
        unprocessed messages, because resending ticks that wait behind a backlog
        multiplies them (each resend is one more message to process).
        """
        due: list[DueEntry] = []
        mono = self._monotonic()
        for partition, heap in self._heaps.items():
            live = self._live[partition]
            before = now(partition) if callable(now) else now
            if not self._has_due(partition, before) or (ready is not None and not ready(partition)):
                continue
            while heap and heap[0][0] < before:
                instant, tid = heapq.heappop(heap)
                if live.get(tid) != instant:
                    continue  # stale: the ticket was re-indexed since
                del live[tid]
                self._inflight[tid] = _InFlight(partition, instant, mono)
                due.append(DueEntry(partition, tid, instant))
        allowed: dict[int, bool] = {}
        for tid, flight in list(self._inflight.items()):
            if mono - flight.sent_at < self._resend_after:
                break
            if may_resend is not None:
                ok = allowed.get(flight.partition)
                if ok is None:
                    ok = allowed[flight.partition] = may_resend(flight.partition)
                if not ok:
                    continue
            del self._inflight[tid]
            self._inflight[tid] = _InFlight(flight.partition, flight.instant, mono)
            due.append(DueEntry(flight.partition, tid, flight.instant))
        return due

    def _has_due(self, partition: int, now: float) -> bool:
        heap, live = self._heaps[partition], self._live[partition]
        while heap and live.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # drop stale heads so they cannot hold up the barrier
        return bool(heap) and heap[0][0] < now

    # --- introspection ---------------------------------------------------------------------
    def __len__(self) -> int:
        """Live entries (due later or in flight): the ``deadline_index_size`` gauge."""
        return sum(len(live) for live in self._live.values()) + len(self._inflight)

    def in_flight(self, ticket_id: str) -> bool:
        return ticket_id in self._inflight

    def next_instant(self, partition: int, ticket_id: str) -> float | None:
        live = self._live.get(partition, {})
        if ticket_id in live:
            return live[ticket_id]
        flight = self._inflight.get(ticket_id)
        return flight.instant if flight is not None else None

    def soonest(self) -> float | None:
        """The earliest live instant over all partitions (for /sla/health)."""
        instants = [min(live.values()) for live in self._live.values() if live]
        instants += [f.instant for f in self._inflight.values()]
        return min(instants) if instants else None
