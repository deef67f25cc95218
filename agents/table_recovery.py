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

**Standby records queued while recovery completes are kept.** ``on_recovery_completed``
ends with a flow resume, which clears the changelog queue with the standby records
fetched meanwhile, and nothing seeks those partitions again in that generation (see
agents/changelog_queue.py). While it runs, :meth:`RebalanceSafeRecovery.kept_on_resume`
names the standby partitions, whose records the queue then keeps; a revocation in the
middle (a rebalance, a shutdown) ends that at once, since the next generation seeks
every partition again and a kept record of a partition no longer assigned would reach
Faust's recovery loop as an "unknown topic" and be applied to the wrong table.

**Stream partitions resume once their queues were cleared.** ``on_recovery_completed``
resumes the stream partitions (input, ticks), then awaits ``perform_seek`` (one
committed-offset request per assigned partition, 20-60 ms here for 41 partitions), then
resumes the flow, which clears the agents' queues. Input fetched while the seek ran
(aiokafka seeks each partition right after its own committed-offset request, so one
sought early is fetched while the others are asked for) was partly processed and partly
queued and then dropped, with the consumer's position already past it; and the seek set
Faust's read offsets back to the committed ones, so its fetcher recorded the fetch that
followed as a gap from the committed offset, over offsets the stream had delivered too.
Measured after SIGTERM restarts under steady input (2026-12-06): in 6 of 47 restarts
the stream jumped up to 16 offsets per partition (the worker re-read them: 1-207
re-reads a restart), and Faust's consumer then held the offsets it had delivered twice
(``_acked`` plus its gap), so its commits advanced one offset per commit for 15-20 s; a
SIGTERM in that time committed only one more offset, and the next start read again
everything applied since (with the committed-offset lookup slowed by 1.5 s: 5 of 7
stops short by 3,965-11,906 messages, all read again as duplicates). The stop itself
always committed exactly what was applied. While ``on_recovery_completed`` runs,
:class:`RebalanceSafeRecovery` holds back Faust's resume of the stream partitions and
resumes them after it returned (unless a revocation or a new generation came meanwhile):
they are sought while nothing fetches them, and their first records arrive after the
clear. (Faust's ``_resume_streams``, the same steps, runs only for an app without tables.)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable

from faust.tables import TableManager
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.types import TP, EventT
from faust.types.transports import ConsumerT
from mode.utils.queues import ThrowableQueue

from slawatch.agents.changelog_queue import ChangelogQueue

__all__ = ["RebalanceSafeRecovery", "SlaTableManager"]

log = logging.getLogger(__name__)


class RebalanceSafeRecovery(Recovery):
    """Faust's recovery, restarted (not crashed) by a rebalance in the middle of a pass."""

    #: True while ``on_recovery_completed`` runs, until a revocation: its flow resume
    #: must not drop the standby partitions' queued records (module docstring).
    _completing: bool = False

    def kept_on_resume(self) -> Collection[TP]:
        """Changelog partitions whose queued records a flow resume must keep now."""
        return self.standby_tps if self._completing else ()

    def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._completing = False
        super().on_partitions_revoked(revoked)

    def _rebalance_pending(self, step: str) -> None:
        if self.signal_recovery_start.is_set():
            log.info("A rebalance started during %s: starting recovery over", step)
            raise RebalanceAgain()

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self._rebalance_pending("table recovery")
        self._completing = True
        consumer = self.app.consumer
        resume = consumer.resume_partitions
        held: set[TP] = set()

        def resume_changelogs_only(tps: Iterable[TP]) -> None:
            wanted = set(tps)
            streams = {tp for tp in wanted if not self._is_changelog_tp(tp)}
            held.update(streams)
            resume(wanted - streams)

        own = vars(consumer).get("resume_partitions")  # normally None: the class's method
        setattr(consumer, "resume_partitions", resume_changelogs_only)  # noqa: B010  # a method mypy won't let us assign
        rebalancing = False
        try:
            await super().on_recovery_completed(generation_id)
        except BaseException as exc:
            # A seek that timed out raises ServiceStopped and ends Faust's recovery loop:
            # held partitions would never flow again (before this hold they were already
            # resumed), unless a rebalance is about to run recovery anew.
            rebalancing = isinstance(exc, RebalanceAgain) or self.signal_recovery_start.is_set()
            raise
        finally:
            if own is None:
                del consumer.resume_partitions
            else:
                setattr(consumer, "resume_partitions", own)  # noqa: B010
            # Not after a revocation or a rebalance meanwhile, nor once the app stops: the
            # next generation's recovery resumes its own partitions once it has sought them.
            still_assigned = (
                self._completing
                and not rebalancing
                and self.app.consumer_generation_id == generation_id
                and not self.app.should_stop
            )
            self._completing = False
            if held and still_assigned:
                resume(held & consumer.assignment())

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
    def changelog_queue(self) -> ThrowableQueue[EventT]:
        if self._changelog_queue is None:
            self._changelog_queue = ChangelogQueue(
                maxsize=self.app.conf.stream_buffer_maxsize,
                flow_control=self.app.flow_control,
                clear_on_resume=True,
                keep=lambda: self.recovery.kept_on_resume(),
            )
        return self._changelog_queue
