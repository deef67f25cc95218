"""Up to which instant a partition's due thresholds may fire: the wall clock, or event time.

sla.md wants live and backtest to give the same alerts for the same events. The backtest
fires a threshold when a later event's ``occurred_at`` passes it; live, the wall clock
passes it too, and for events that happen now the two agree. They part when a worker
is fed *history* while it runs (``slawatch replay`` of last month, an upstream system
re-sending a backlog): every threshold of those tickets is long past by the wall clock,
so the timer would fire a ticket's breach between its ``ticket.created`` and its
``ticket.responded`` two lines later, whenever the worker drew level with a producer
still sending (the :class:`~slawatch.agents.barrier.CatchUpBarrier` waits only for what
Kafka already held). Measured before this: 2,096 alerts the backtest never gives on a
month of simulated tickets replayed into a running worker, against 1,438 right ones.

So each input partition fires on the clock its input runs on:

* **live** (its last event is at most ``live_lag`` old, or in the future): the wall
  clock, so an alert comes within a timer interval of its instant;
* **history** (its last event is older than that): that event's ``occurred_at``, the
  backtest's event-time clock restricted to the partition, so a threshold fires only
  once a later event of the partition has passed it;
* **idle** (no message for ``idle_seconds``): the wall clock again, since nothing more
  arrives (sla.md: "a threshold already past when nothing more arrives fires at once").

A partition this worker has applied nothing on yet (a start, a new assignment) fires on
the wall clock; the catch-up barrier holds it until the input then in Kafka is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FiringHorizon"]


@dataclass(slots=True)
class _Input:
    event_at: float | None  # occurred_at of the last valid event applied (None: none yet)
    arrived_at: float  # wall-clock time of the last input message, valid or not


class FiringHorizon:
    """Per input partition: the instant before which due thresholds may fire now."""

    def __init__(self, *, idle_seconds: float = 2.0, live_lag_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self.live_lag_seconds = live_lag_seconds
        self._inputs: dict[int, _Input] = {}

    def seen(self, partition: int, event_at: float | None, now: float) -> None:
        """An input message was handled at wall time ``now``; ``event_at`` is its
        ``occurred_at`` (None for a message that is not a valid event: it still shows
        the partition is not idle, but says nothing of its event time)."""
        entry = self._inputs.get(partition)
        if entry is None:
            self._inputs[partition] = _Input(event_at, now)
            return
        entry.arrived_at = now
        if event_at is not None:
            entry.event_at = event_at

    def horizon(self, partition: int, now: float) -> float:
        """Thresholds of ``partition`` strictly before this instant may fire."""
        entry = self._inputs.get(partition)
        if entry is None or entry.event_at is None:
            return now
        if now - entry.arrived_at >= self.idle_seconds or entry.event_at >= now - self.live_lag_seconds:
            return now
        return entry.event_at

    def replaying(self, now: float) -> int:
        """How many partitions fire on event time now (catching up with history)."""
        return sum(1 for p in self._inputs if self.horizon(p, now) < now)

    def forget(self, partitions: Iterable[int]) -> None:
        """Revoked partitions: whoever owns them next judges from its own input."""
        for p in partitions:
            self._inputs.pop(p, None)

    def reset(self) -> None:
        self._inputs.clear()
