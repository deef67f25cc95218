"""Table recovery that starts over when a rebalance interrupts it, instead of crashing.

faust-streaming 0.15's recovery loop waits for the active changelogs to be read with
``except Exception`` around the wait, which swallows its own ``RebalanceAgain``: a
rebalance that lands while a worker restores its tables (rolling restarts under load,
a worker added mid-restore) lets the loop run on to "Starting standby partitions" with
the *new* assignment's standby offsets. A standby partition with nothing persisted is
recorded as ``None`` until the next pass reads the changelog's start, so the seek that
follows raises ``ValueError('Offset must be a positive integer')`` from aiokafka, the
recovery service crashes and takes the worker down (seen in the operations walkthrough
of 2026-12-06: ``[^---Recovery]: Crashed reason=ValueError(...)`` 0.02 s after the
rebalance).

When the new assignment has no standby partitions (one worker left), the loop runs on
instead into ``on_recovery_completed``, which declares recovery over and lets the tables'
recovery hooks (slawatch rebuilds its deadline index there) run on half-restored tables
before the next pass.

:class:`RebalanceSafeRecovery` checks, before every ``_seek_offsets`` and before
``on_recovery_completed``, whether a rebalance has started since the pass began; if so
it raises the ``RebalanceAgain`` the loop already handles ("start over with the new
assignment"), which is what upstream meant to happen. An offset still unknown without a
rebalance pending (it should not be) is read from the changelog's start, as Faust does
for a partition never read.

**Standby records dropped when recovery completes.** Faust reads the standby partitions
in the background: ``_restart_recovery`` seeks them, resumes them and goes on to
``on_recovery_completed``, which awaits the tables' hooks and the stream seek and then
resumes the flow control, and every queue managed by it is *cleared* on resume: the
changelog queue too, with the standby records fetched meanwhile. The consumer's position
is past them and nothing seeks back, so the standby goes on with later records and its
RocksDB store records an offset past writes it never applied. When that partition comes
back to the worker (a take-over, a restart from the local store), recovery reads on from
that offset and the ticket states written in the gap are never restored: old states
served as current, missing alerts, rolled-back states written back to the changelog
(the helpers' rolling-restart runs of 2026-12-06 found 4-13 such writes per partition in
the affected stores; the memory store reads every changelog from its start at each
assignment and so repaired itself). :class:`ChangelogQueue` keeps the standby
partitions' records through that one clear; every other clear is followed by a seek of
the partitions it concerns, and stays as it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from faust.tables import TableManager
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.types import TP
from faust.types.transports import ConsumerT
from mode.utils.queues import ThrowableQueue

__all__ = ["ChangelogQueue", "RebalanceSafeRecovery", "SlaTableManager"]

log = logging.getLogger(__name__)


class ChangelogQueue(ThrowableQueue):  # type: ignore[type-arg]
    """Faust's changelog queue, whose clear on resume can keep some partitions' records.

    ``keep`` names the changelog partitions whose queued records survive a clear (see
    the module's docstring: the standby partitions while recovery completes).
    """

    def __init__(self, *args: Any, keep: Callable[[], Collection[TP]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep = keep

    def clear(self) -> None:
        keep = self._keep()
        if not keep:
            super().clear()
            return
        # Not super().clear(): it also cancels the putters, each a record fetched in this
        # generation and waiting for room in the full queue (lost with its put).
        queued = self._queue  # type: ignore[attr-defined]
        kept = [event for event in queued if event.message.tp in keep]
        queued.clear()
        queued.extend(kept)
        self._errors.clear()


class RebalanceSafeRecovery(Recovery):
    """Faust's recovery, restarted (not crashed) by a rebalance in the middle of a pass."""

    #: True while ``on_recovery_completed`` runs: its flow resume must not drop the
    #: standby partitions' queued records (module docstring).
    _completing: bool = False

    def kept_on_resume(self) -> Collection[TP]:
        """Changelog partitions whose queued records a flow resume must keep now."""
        return self.standby_tps if self._completing else ()

    def _rebalance_pending(self, step: str) -> None:
        if self.signal_recovery_start.is_set():
            log.info("A rebalance started during %s: starting recovery over", step)
            raise RebalanceAgain()

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self._rebalance_pending("table recovery")
        self._completing = True
        try:
            await super().on_recovery_completed(generation_id)
        finally:
            self._completing = False

    async def _seek_offsets(
        self,
        consumer: ConsumerT,
        tps: set[TP],
        offsets: Counter[TP],
        title: str,
    ) -> None:
        self._rebalance_pending(f"{title} table recovery")
        unknown = [tp for tp in tps if offsets.get(tp) is None]
        if unknown:
            log.warning(
                "No start offset for %d %s changelog partition(s): reading them from the start",
                len(unknown),
                title,
            )
            for tp in unknown:
                offsets[tp] = -1  # Faust's "never read": seeks to the first offset
        await super()._seek_offsets(consumer, tps, offsets, title)


class SlaTableManager(TableManager):
    """Faust's table manager with :class:`RebalanceSafeRecovery` and :class:`ChangelogQueue`
    (``App(TableManager=...)``)."""

    @property
    def recovery(self) -> RebalanceSafeRecovery:
        if self._recovery is None:
            self._recovery = RebalanceSafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        assert isinstance(self._recovery, RebalanceSafeRecovery)
        return self._recovery

    @property
    def changelog_queue(self) -> ThrowableQueue:  # type: ignore[type-arg]
        if self._changelog_queue is None:
            self._changelog_queue = ChangelogQueue(
                maxsize=self.app.conf.stream_buffer_maxsize,
                flow_control=self.app.flow_control,
                clear_on_resume=True,
                keep=lambda: self.recovery.kept_on_resume(),
            )
        return self._changelog_queue
