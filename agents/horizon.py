"""Up to which instant a partition's due thresholds may fire: the wall clock, or event time.

sla.md wants live and backtest to give the same alerts for the same events. The backtest
fires a threshold when a later event's ``occurred_at`` passes it; live, the wall clock
passes it too, and for events that happen now the two agree. They part when a worker
is fed *history* while it runs (``slawatch replay`` of last month, an upstream system
re-sending a backlog): every threshold of those tickets is long past by the wall clock,
so the timer would fire a ticket's breach between its ``ticket.created`` and its
``ticket.responded`` two lines later, whenever the worker drew level with a producer
still sending (the :class:`~slawatch.agents.barrier.CatchUpBarrier` waits only for what
Kafka already held). Measured before this: 1,420 alerts the backtest never gives on a
month of simulated tickets replayed into a running worker, besides the 1,422 right ones.

So each input partition fires on the clock its input runs on:

* **live** (its last event was at most ``live_lag`` old when it arrived, or in the
  future): the wall clock, so an alert comes within a timer interval of its instant;
* **history** (its last event was older than that when it arrived): that event's
  ``occurred_at``. The backtest fires, before each line, the thresholds before that
  line's time (a late line fires nothing between its time and the clock), so this is
  the backtest's firing instant restricted to the partition;
* **quiet** (no message for ``idle_seconds`` and none waiting in Kafka): the wall clock
  again, since nothing more arrives (sla.md: "a threshold already past when nothing
  more arrives fires at once"). A worker that merely stalled (a GC pause, a slow
  acknowledgement) while input waits is not quiet.

A partition just assigned (a start, a rebalance) fires nothing until its first event
says which clock it runs on, or until it has been quiet for ``idle_seconds``: the
previous owner's reading is gone, and a replay may be between two bursts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["FiringHorizon"]

#: What :meth:`FiringHorizon.horizon` gives a partition that may fire nothing yet.
NOTHING = float("-inf")


@dataclass(slots=True)
class _Input:
    event_at: float | None  # occurred_at of the last valid event applied (None: none yet)
    arrived_at: float  # wall time of the last input message, valid or not (or of the assignment)
    history: bool  # the last valid event was older than live_lag when it arrived


class FiringHorizon:
    """Per input partition: the instant before which due thresholds may fire now."""

    def __init__(self, *, idle_seconds: float = 2.0, live_lag_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self.live_lag_seconds = live_lag_seconds
        self._inputs: dict[int, _Input] = {}

    def assigned(self, partitions: Iterable[int], now: float) -> None:
        """Partitions this worker now owns; those new to it wait for their input."""
        for p in partitions:
            if p not in self._inputs:
                self._inputs[p] = _Input(None, now, False)

    def seen(self, partition: int, event_at: float | None, now: float) -> None:
        """An input message was handled at wall time ``now``; ``event_at`` is its
        ``occurred_at`` (None for a message that is not applied: invalid, or a
        duplicate; it still shows the partition is not quiet)."""
        entry = self._inputs.get(partition)
        if entry is None:
            entry = self._inputs[partition] = _Input(None, now, False)
        entry.arrived_at = now
        if event_at is not None:
            entry.event_at = event_at
            entry.history = event_at < now - self.live_lag_seconds

    def horizon(self, partition: int, now: float, input_waiting: Callable[[int], bool] | None = None) -> float:
        """Thresholds of ``partition`` strictly before this instant may fire.

        ``input_waiting(partition)`` says whether Kafka holds input of the partition not
        yet handled; asked only when the answer matters (a quiet partition that is
        replaying history or has applied nothing since its assignment).
        """
        entry = self._inputs.get(partition)
        if entry is None or (entry.event_at is not None and not entry.history):
            return now
        quiet = now - entry.arrived_at >= self.idle_seconds and not (
            input_waiting is not None and input_waiting(partition)
        )
        if quiet:
            return now
        return NOTHING if entry.event_at is None else entry.event_at

    def replaying(self, now: float, input_waiting: Callable[[int], bool] | None = None) -> int:
        """How many partitions fire on event time now (catching up with history); give
        the timer's ``input_waiting`` so that a partition stalled mid-replay counts."""
        return sum(1 for p in self._inputs if self.horizon(p, now, input_waiting) < now)

    def forget(self, partitions: Iterable[int]) -> None:
        """Revoked partitions: whoever owns them next judges from its own input."""
        for p in partitions:
            self._inputs.pop(p, None)
