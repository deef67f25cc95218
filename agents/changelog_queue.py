"""The tables' changelog queue, whose clear on a flow resume can keep standby records.

Faust reads every table changelog through one queue, managed by the app's flow control:
each ``flow_control.resume()`` clears it. Recovery's last step, ``on_recovery_completed``,
ends with such a resume *after* the standby partitions were sought and resumed and
while their records were being fetched (its awaits: the tables' hooks, the stream
seek): the standby records queued by then were dropped, with the consumer's position
already past them and no seek to follow in that generation, so a standby store went on
with later records and recorded offsets past writes it never applied
(agents/table_recovery.py says when the records are kept, agents/active_partitions.py
has the other way they were lost). :class:`ChangelogQueue` keeps, on a resume, the
records of the partitions ``keep`` names; a clear while the flow is suspended (a
revocation, a shutdown: the next generation seeks every partition again) drops
everything, as Faust does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from faust.types import TP, EventT
from mode.utils.queues import ThrowableQueue

__all__ = ["ChangelogQueue"]


class ChangelogQueue(ThrowableQueue[EventT]):
    """Faust's changelog queue; a flow resume keeps the records of ``keep()``'s partitions."""

    def __init__(self, *args: Any, keep: Callable[[], Collection[TP]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep = keep

    def clear(self) -> None:
        # A resume clears the suspend flag before it clears the queues; a revocation or
        # a shutdown suspends the flow first.
        keep = self._keep() if self._flow_control.is_active() else ()
        if not keep:
            super().clear()
            return
        queued = self._queue  # type: ignore[attr-defined]
        kept = [event for event in queued if event.message.tp in keep]
        queued.clear()
        queued.extend(kept)
        self._errors.clear()
        # Not ThrowableQueue.clear's cancelling of the putters: each is a record of this
        # generation waiting for room (the conductor delivers one message at a time), so
        # it is woken, as a get would, for each slot the clear freed.
        putters = self._putters
        for _ in range(max(0, self.maxsize - len(queued)) if self.maxsize > 0 else 0):
            if not putters:
                break
            self._wakeup_next(putters)  # type: ignore[attr-defined]
