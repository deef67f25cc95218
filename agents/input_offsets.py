"""Which input offsets a worker has handled, and the repair of those its stream skipped.

faust-streaming 0.15 was seen handing a worker fewer messages than its partitions hold:
queued messages dropped around a rebalance while the read position had passed them, the
first fetch of a just-taken-over partition lost, a take-over stream that began after
the take-over (see :mod:`~slawatch.streams.range_reader`). Every input message must be
applied, counted as a duplicate or dead-lettered, so the offsets are checked here: a
jump is read again from the broker and applied, in offset order, before the message
that revealed it; a skip at the tail of a partition is caught up on the input
watchdog's request. A range that cannot be read is logged and counted, never silent.

Pure bookkeeping around three callables (read a range again, the log start offset, the
last committed offset): the processor applies what comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from slawatch.metrics import SlaMetrics
from slawatch.streams.range_reader import RereadRecord

__all__ = ["ApplyRecord", "GapFilled", "InputOffsets", "LastCommitted", "LogStart", "RangeRereader"]

log = logging.getLogger(__name__)

RangeRereader = Callable[[str, int, int, int], Awaitable[Sequence[RereadRecord]]]
"""Read ``(topic, partition, start, end)`` again from the broker: the messages ``start <= offset < end``."""

GapFilled = Callable[[str, int, int, int], Awaitable[None]]
"""Told ``(topic, partition, start, end)`` once a gap was read again and its messages (maybe none) applied,
so that the consumer may commit past it."""

LogStart = Callable[[str, int], Awaitable[int]]
"""The first offset ``(topic, partition)`` still holds (the log start offset)."""

LastCommitted = Callable[[int], Awaitable[int | None]]
"""The last input offset of ``partition`` the consumer group committed (None: nothing).

Asked of the broker when this worker has not committed there itself: a partition taken
over from another worker was committed by that worker, and this consumer's own record of
commits knows nothing of it (taken for "nothing committed", a whole partition was read
again from its first offset)."""

ApplyRecord = Callable[[RereadRecord], Awaitable[None]]
"""Apply one message read again (the processor's path for any input message)."""


class InputOffsets:
    """Per owned input partition: the last offset handled, and what was read again."""

    def __init__(
        self,
        metrics: SlaMetrics,
        *,
        reread: RangeRereader | None = None,
        on_gap_filled: GapFilled | None = None,
        log_start: LogStart | None = None,
        last_committed: LastCommitted | None = None,
    ) -> None:
        self.metrics = metrics
        self._reread = reread
        self._on_gap_filled = on_gap_filled
        self._log_start = log_start
        self._last_committed = last_committed
        #: Offset of the last input message handled, per partition (the timer's barrier).
        self.processed: dict[int, int] = {}
        #: Per partition, the end (exclusive) of the skipped offsets already counted: the
        #: watchdog asks for an unreadable range again and again, each offset counts once.
        self._gaps_counted: dict[int, int] = {}
        #: Per partition, the offsets ``[start, end)`` last applied from a re-read that the
        #: stream has not handed over yet: a catch-up of a slow (not a stuck) partition
        #: reads messages the stream delivers later after all, and those are skipped
        #: rather than applied, counted or dead-lettered a second time.
        self._reread_spans: dict[int, tuple[int, int]] = {}

    # ------------------------------------------------------------------ the stream
    def redelivered(self, partition: int, offset: int) -> bool:
        """True for a message already applied from a re-read (skip it)."""
        span = self._reread_spans.get(partition)
        if span is None or not span[0] <= offset < span[1]:
            return False
        if offset + 1 < span[1]:
            self._reread_spans[partition] = (offset + 1, span[1])
        else:
            del self._reread_spans[partition]
        log.debug("input partition %d: offset %d was applied from a re-read; skipped", partition, offset)
        return True

    async def repair_before(self, topic: str, partition: int, offset: int, apply: ApplyRecord) -> None:
        """Apply what the stream jumped over before ``offset``.

        The first message since the assignment should follow the committed offset (or,
        with nothing committed, the log start), so a jump from there is a gap as well.
        """
        last = self.processed.get(partition)
        why = ""
        if last is None:
            last = await self._committed(partition)
            if last is None:
                last = await self._before_log_start(topic, partition)
                why = f"nothing was committed, yet the stream began at offset {offset}"
        if last is not None and offset > last + 1:
            await self._fill_gap(topic, partition, last + 1, offset, apply, why=why)

    def handled(self, partition: int, offset: int) -> None:
        self.processed[partition] = offset

    def follows(self, partition: int, offset: int) -> bool:
        """Whether ``offset`` comes right after the last one handled: nothing to repair.

        Checked per message before :meth:`repair_before`, which the common case then
        skips (with the re-read callback built for it).
        """
        return self.processed.get(partition) == offset - 1

    async def catch_up(self, topic: str, partition: int, start: int, end: int, apply: ApplyRecord) -> bool:
        """Apply offsets ``start <= offset < end`` not handled yet; True when any were read.

        The input watchdog asks for this (through the ticks topic) when a partition has
        had input the stream did not deliver for a while: a skip at the tail of a
        partition, with nothing after it to reveal the jump. What was applied since
        the request was sent is left out.
        """
        last = self.processed.get(partition)
        begin = start if last is None else max(start, last + 1)
        if begin >= end:
            return False
        if await self._fill_gap(topic, partition, begin, end, apply, why="had input the stream did not deliver"):
            self.processed[partition] = end - 1
            return True
        return False

    # ------------------------------------------------------------------ ownership
    def keep(self, owned: Iterable[int]) -> None:
        """Forget every partition but ``owned`` (after a rebuild)."""
        mine = set(owned)
        self.processed = {p: o for p, o in self.processed.items() if p in mine}
        self._gaps_counted = {p: o for p, o in self._gaps_counted.items() if p in mine}
        self._reread_spans = {p: o for p, o in self._reread_spans.items() if p in mine}

    def forget(self, partitions: Iterable[int]) -> None:
        """Forget partitions handed to another worker."""
        for p in partitions:
            self.processed.pop(p, None)
            self._gaps_counted.pop(p, None)
            self._reread_spans.pop(p, None)

    # ------------------------------------------------------------------ repair
    async def _committed(self, partition: int) -> int | None:
        """The group's last committed offset of ``partition``; None when there is none, or
        when it cannot be had (then the log start stands in: re-reading too much loses
        nothing, trusting too little could)."""
        if self._last_committed is None:
            return None
        try:
            return await self._last_committed(partition)
        except Exception as exc:
            log.warning("input partition %d: could not read the committed offset (%s); checking from the log start",
                        partition, exc)  # fmt: skip
            return None

    async def _before_log_start(self, topic: str, partition: int) -> int | None:
        """The offset before the first one ``partition`` holds, or None when unknown.

        With nothing committed, a partition's input starts at the log start (the group
        reads from the earliest offset). faust-streaming 0.15 was seen handing a worker
        that had just taken over such a partition only what arrived after the take-over
        (the dead worker had committed nothing there yet): the messages before were never
        delivered, and without a committed offset to compare with, nothing revealed it.
        """
        if self._log_start is None:
            return None
        try:
            return await self._log_start(topic, partition) - 1
        except Exception:
            log.warning("input partition %d: reading its log start offset failed", partition, exc_info=True)
            return None

    async def _fill_gap(
        self, topic: str, partition: int, start: int, end: int, apply: ApplyRecord, *, why: str = ""
    ) -> bool:
        """Apply the input messages ``start <= offset < end`` the stream never handed over.

        They are read again from the broker and applied in offset order. Offsets
        without a message (transaction markers) just read as nothing.
        """
        counted = self._gaps_counted.get(partition, start)
        skipped = end - max(start, counted)  # offsets not counted by an earlier attempt
        if skipped > 0:
            self.metrics.input_offsets_skipped(skipped)
            self._gaps_counted[partition] = end
        records: Sequence[RereadRecord] | None = None
        if self._reread is not None:
            try:
                records = await self._reread(topic, partition, start, end)
            except Exception:
                log.exception("input partition %d: reading offsets %d..%d again failed", partition, start, end - 1)
        what = why or f"the stream jumped from offset {start - 1} to {end}"
        if records is None:
            log.error(
                "input partition %d: %s; offsets %d..%d were never handed to the worker and "
                "could not be read again: not applied",
                partition, what, start, end - 1,
            )  # fmt: skip
            if skipped > 0:
                self.metrics.input_offsets_unrecovered(skipped)
            return False
        if records:
            log.warning(
                "input partition %d: %s; read the %d message(s) of offsets %d..%d again from the "
                "broker and applied them",
                partition, what, len(records), start, end - 1,
            )  # fmt: skip
        for record in records:
            await apply(record)
        self.metrics.input_messages_reread(len(records))
        if records:
            span = self._reread_spans.get(partition)
            if span is not None and span[0] <= start <= span[1]:
                self._reread_spans[partition] = (span[0], max(span[1], end))
            else:
                self._reread_spans[partition] = (start, end)
        # Read as nothing (transaction markers) counts as done too: a marker at the tail
        # of a partition otherwise held its committed offset one short until more input.
        if self._on_gap_filled is not None:
            await self._on_gap_filled(topic, partition, start, end)
        return True
