"""Notice input partitions whose waiting messages the stream has stopped handing over.

The processor repairs a jump in the input offsets when the next message reveals it
(:meth:`~slawatch.agents.processor.TicketProcessor.on_event`). A skip at the tail of a
partition has no next message: faust-streaming 0.15 was seen dropping the first fetch
of a partition it had just taken over, the partition's only two messages, and nothing
ever came after them. The watchdog compares, per owned partition, the log end offset
with what the worker has applied; a partition that has input waiting and has not moved
for ``stall_seconds`` gets a catch-up request (at most ``max_batch`` offsets at a time).

A slow partition behind a backlog moves, so it is not stalled; if it were mistaken for
one, the catch-up would only apply early what the stream later hands over as
duplicates. Pure bookkeeping: the caller reads the end offsets and sends the requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["InputWatchdog"]


class InputWatchdog:
    """Per owned input partition: the applied offset seen lagging, and since when."""

    def __init__(self, stall_seconds: float = 5.0, *, max_batch: int = 500) -> None:
        self.stall_seconds = stall_seconds
        self.max_batch = max_batch
        #: False while partitions move (revoked until the next recovery is done).
        self.running = False
        self._lagging: dict[int, tuple[int, float]] = {}

    def pause(self) -> None:
        self.running = False
        self._lagging.clear()

    def resume(self) -> None:
        self.running = True
        self._lagging.clear()

    def stalled(
        self, ends: Mapping[int, int], applied: Callable[[int], int | None], now: float
    ) -> dict[int, tuple[int, int]]:
        """``{partition: (start, end)}`` of the offsets to catch up on now.

        ``ends`` are the log end offsets (next offset to be written) of the owned
        partitions; ``applied(p)`` is the last offset of ``p`` applied or committed
        (None: nothing yet, so everything from offset 0 is input). A partition is asked
        for again only after another ``stall_seconds`` without progress.
        """
        due: dict[int, tuple[int, int]] = {}
        for partition, end in ends.items():
            done = applied(partition)
            last = -1 if done is None else done
            if last >= end - 1:
                self._lagging.pop(partition, None)
                continue
            seen = self._lagging.get(partition)
            if seen is None or seen[0] != last:
                self._lagging[partition] = (last, now)
                continue
            if now - seen[1] >= self.stall_seconds:
                due[partition] = (last + 1, min(end, last + 1 + self.max_batch))
                self._lagging[partition] = (last, now)
        for partition in set(self._lagging) - set(ends):
            del self._lagging[partition]
        return due
