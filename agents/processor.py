"""What the ingest agent does with one message, kept free of Faust so it can be tested.

The Faust agent (:mod:`slawatch.agents.app`) iterates the input and ticks topics and
hands each message here. Everything that decides *what* happens lives in the pure
engine (:mod:`slawatch.sla.engine`); this module decides *in which order* the effects
leave the process, because that order is what makes at-least-once safe:

1. alerts are published and their delivery awaited;
2. only then is the ticket's state written to the changelogged table;
3. the consumer offset is committed later by Faust, after a producer flush.

A crash between 1 and 2 re-applies the message after restart and re-sends the same
alerts with the same deterministic ``alert_id`` (a duplicate a consumer can drop); a
crash after 2 finds the event's id in the restored state and ignores the replay as a
duplicate, which is safe because its alerts were already delivered. The reverse order
could lose alerts.

Input never crashes the worker: a message the contract rejects is dead-lettered with
its reason, and an exception inside the engine is dead-lettered as ``internal_error``
(logged with the ticket's partition and offset, never with customer data).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

from slawatch.agents.horizon import FiringHorizon
from slawatch.agents.index import DeadlineIndex
from slawatch.agents.input_offsets import (
    ApplyRecord,
    GapFilled,
    InputOffsets,
    LastCommitted,
    LogStart,
    RangeRereader,
)
from slawatch.agents.stored_state import pack_state, stored_fields, stored_head, unpack_state
from slawatch.agents.windows import WindowSink, increments
from slawatch.exceptions import InvalidEvent
from slawatch.metrics import LabelBounds, SlaMetrics
from slawatch.sla.alerts import Alert
from slawatch.sla.engine import Dimensions, Observation, SlaEngine, TicketState, at_risk_in
from slawatch.sla.events import parse_event
from slawatch.streams.codecs import (
    TICK_EXPIRE,
    InvalidTick,
    dead_letter_record,
    decode_tick,
    encode_dead_letter,
)
from slawatch.streams.range_reader import RereadRecord
from slawatch.streams.topics import default_partition

__all__ = [
    "AlertPublisher",
    "DeadLetterPublisher",
    "TicketProcessor",
    "TicketSummary",
    "pack_state",
    "unpack_state",
]

log = logging.getLogger(__name__)

#: Bound of ``TicketProcessor._past_due``: ticks clear entries within seconds, so older
#: ones are leftovers (the oldest go first past the cap).
_PAST_DUE_MAX = 100_000
_PAST_DUE_KEEP_SECONDS = 300.0

AlertPublisher = Callable[[Sequence[Alert]], Awaitable[None]]
"""Publish alerts to the alerts topic and return once the broker acknowledged them."""

DeadLetterPublisher = Callable[[bytes | None, bytes], Awaitable[None]]
"""Publish ``(key, record)`` to the dead-letter topic."""


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause the cycle collector while the summary cache only grows.

    It would traverse the growing cache again and again (a third of a rebuild's time
    at 300,000 tickets), and nothing a rebuild allocates forms cycles.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@dataclass(slots=True)
class TicketSummary:
    """What the worker keeps in memory per owned ticket, besides the table's bytes.

    The scrape-time gauges (it is a ``StateLike``), ``/sla/health``, the at-risk list
    and the expiry sweep read these instead of whole states: a deserialized
    ``TicketState`` costs ~1.3 KiB (clocks, strings, event ids), a summary ~0.2 KiB
    with ``dims`` shared between tickets. The table stays the only source of the state.
    """

    ticket_id: str
    partition: int | None
    dims: Dimensions
    status: str
    created_at: float | None
    at_risk_metrics: tuple[str, ...]
    resolved_at: float | None
    survey_done: bool
    followup_done: bool
    #: Whether ``engine.expired`` may hold: closed out (or never created) and nothing due.
    may_expire: bool
    #: The instant ``engine.expired`` measures retention from (done or last seen).
    since: float | None

    @property
    def awaiting_since(self) -> float | None:
        """As :attr:`TicketState.awaiting_since` (``since`` is the last event then)."""
        return self.since if self.created_at is None else None


class TicketProcessor:
    """Applies input events and ticks to the ticket table; one per worker process.

    ``tickets`` is the changelogged Faust table (a dict in unit tests) mapping
    ticket_id to :func:`pack_state` bytes, and the only copy of each state: a message
    deserializes its ticket's state (~5 us, next to Faust's ~500 us per message), and
    memory holds a small :class:`TicketSummary` per owned ticket, not the state. A
    failed apply leaves the table's copy untouched.
    """

    def __init__(
        self,
        *,
        engine: SlaEngine,
        tickets: MutableMapping[str, bytes],
        index: DeadlineIndex,
        windows: WindowSink,
        metrics: SlaMetrics,
        bounds: LabelBounds,
        publish_alerts: AlertPublisher,
        dead_letter: DeadLetterPublisher,
        clock: Callable[[], float] = time.time,
        reread: RangeRereader | None = None,
        on_gap_filled: GapFilled | None = None,
        log_start: LogStart | None = None,
        last_committed: LastCommitted | None = None,
        retain_closed: int = 0,
        horizon: FiringHorizon | None = None,
        input_partitions: int | None = None,
    ) -> None:
        self.engine = engine
        self.tickets = tickets
        self.index = index
        self.windows = windows
        self.metrics = metrics
        self.bounds = bounds
        self._publish_alerts = publish_alerts
        self._dead_letter = dead_letter
        self._clock = clock
        #: Closed-out tickets kept however old, the most recently closed first (the
        #: retention period forgets only beyond them; see ``RETAIN_CLOSED_TICKETS``).
        self.retain_closed = retain_closed
        #: Which clock each input partition's thresholds fire on (wall or event time).
        self.horizon = horizon if horizon is not None else FiringHorizon()
        #: What the stream handed over, per partition, and the repair of what it skipped.
        self.offsets = InputOffsets(
            metrics, reread=reread, on_gap_filled=on_gap_filled, log_start=log_start, last_committed=last_committed
        )
        self._cache: dict[str, TicketSummary] = {}
        #: The summary pass a deferred rebuild left to fill_summaries: the table items
        #: still to read, the owned partitions then, how many tickets are left, and the
        #: ids deleted since (the pass may be a snapshot that still holds them).
        self._summary_pass: Iterator[tuple[str, bytes | None]] | None = None
        self._summary_owned: frozenset[int] = frozenset()
        self._unsummarized = 0
        self._deleted: set[str] = set()
        self._dims: dict[tuple[str | None, ...], Dimensions] = {}
        self._reported_years: set[tuple[str, int]] = set()
        #: Input partitions where a message not keyed by its ticket_id was logged.
        self._miskeyed_logged: set[int] = set()
        #: The input topic's partition count, to check that a ticket's key is where
        #: murmur2 puts it (None: not checked).
        self.input_partitions = input_partitions
        self._mispartitioned_logged: set[int] = set()
        #: Wall-clock time of the last input message handled (for /sla/health).
        self.last_event_at: float | None = None
        #: Latest ``occurred_at`` this worker has applied (since it started): retention is
        #: measured on it (see :meth:`_retention_clock`).
        self._event_time: float | None = None
        #: Tickets whose event brought a threshold already past on arrival (a ticket
        #: created late, or history): ticket id -> (wall time of that arrival, partition).
        #: The timer fires such a threshold at once, but its delay is the input's
        #: lateness (slawatch_event_lag_seconds), not the timer's: it stays out of
        #: slawatch_alert_delay_seconds. Entries go once the ticket has nothing past due.
        self._past_due: dict[str, tuple[float, int]] = {}

    # ------------------------------------------------------------------ input events
    @property
    def processed_offsets(self) -> dict[int, int]:
        """Offset of the last input message handled, per partition (the timer's barrier)."""
        return self.offsets.processed

    async def on_event(
        self, value: bytes | None, *, key: bytes | None, topic: str, partition: int, offset: int
    ) -> None:
        """Apply one input message: dead-letter it, count it as a duplicate, or apply it.

        What the stream jumped over before it is read again and applied first
        (:class:`~slawatch.agents.input_offsets.InputOffsets`).
        """
        if self.offsets.redelivered(partition, offset):
            return
        now = self._clock()
        if not self.offsets.follows(partition, offset):
            await self.offsets.repair_before(topic, partition, offset, self._reread_applier(topic, partition, now))
        try:
            await self._on_event(value, key=key, topic=topic, partition=partition, offset=offset, now=now)
        finally:
            self.offsets.handled(partition, offset)
            self.last_event_at = now
            self.metrics.event_processed(now)

    async def catch_up(self, topic: str, partition: int, start: int, end: int) -> None:
        """Apply input offsets ``start <= offset < end`` of ``partition`` the stream never
        handed over (the input watchdog's request; see :meth:`InputOffsets.catch_up`)."""
        now = self._clock()
        if await self.offsets.catch_up(topic, partition, start, end, self._reread_applier(topic, partition, now)):
            self.last_event_at = now

    def _reread_applier(self, topic: str, partition: int, now: float) -> ApplyRecord:
        async def apply(record: RereadRecord) -> None:
            await self._on_event(record.value, key=record.key, topic=topic, partition=partition,
                                 offset=record.offset, now=now)  # fmt: skip
            self.metrics.event_processed(now)

        return apply

    async def _on_event(
        self, value: bytes | None, *, key: bytes | None, topic: str, partition: int, offset: int, now: float
    ) -> None:
        try:
            event = parse_event(value if value is not None else b"")
        except InvalidEvent as exc:
            self.horizon.seen(partition, None, now)
            await self._reject(exc.code, exc.message, exc.field, value, key, topic, partition, offset, now)
            return
        if key != event.ticket_id.encode():  # an unkeyed message (None) too
            self._miskeyed(partition, offset)
        elif self.input_partitions is not None and default_partition(key, self.input_partitions) != partition:
            self._mispartitioned(partition, offset)
        prior_due = self.index.next_instant(partition, event.ticket_id)
        try:
            out = self.engine.apply(self._load(event.ticket_id), event)
        except Exception as exc:  # the engine must never stop the stream
            log.exception(
                "engine failed on %s at %s[%d]@%d; dead-lettered as internal_error",
                event.type,
                topic,
                partition,
                offset,
            )
            msg = f"the SLA engine raised {type(exc).__name__} on this event; see the worker log"
            self.horizon.seen(partition, None, now)
            await self._reject("internal_error", msg, None, value, key, topic, partition, offset, now)
            return
        # A duplicate is ignored, its occurred_at too: it must not move the partition's
        # event time past lines that may still stop a clock.
        self.horizon.seen(partition, None if out.duplicate else event.at, now)
        if out.duplicate:
            self.metrics.duplicate()
            return
        if self._event_time is None or event.at > self._event_time:
            self._event_time = event.at  # the retention clock: applied events only
        await self._store(out.state, partition, out.alerts, live=False, now=now)
        self._note_past_due(out.state, partition, prior_due, now)
        self.metrics.event_applied(event.type, lag_seconds=now - event.at)
        self._record(partition, out.observations, out.alerts)

    def _note_past_due(self, state: TicketState, partition: int, prior_due: float | None, now: float) -> None:
        """Remember that this event brought the ticket a threshold already past.

        Not when one already was (``prior_due`` past too): the timer owed that alert
        since its instant, and its delay is the timer's.
        """
        if self._settle_past_due(state, now):
            return
        past = self._past_due
        if (prior_due is not None and prior_due < now) or state.ticket_id in past:
            return
        past[state.ticket_id] = (now, partition)
        # Insertion order is arrival order: leftovers (a ticket whose tick never came)
        # are at the front.
        while past:
            oldest = next(iter(past))
            if now - past[oldest][0] <= _PAST_DUE_KEEP_SECONDS and len(past) <= _PAST_DUE_MAX:
                break
            del past[oldest]

    def _settle_past_due(self, state: TicketState, now: float) -> bool:
        """Forget the ticket's past-due arrival once nothing of it is past due; True then."""
        due = self.engine.next_due(state)  # memoised: _write computes it too
        if due is None or due >= now:
            self._past_due.pop(state.ticket_id, None)
            return True
        return False

    def _miskeyed(self, partition: int, offset: int) -> None:
        """Count (and log once per partition) a message not keyed by its ticket_id.

        It is applied all the same, but the producer breaks the contract that keeps a
        ticket's events in one partition, in order, on one worker: they may be applied
        out of order, and with several workers a ticket's state may split.
        """
        self.metrics.miskeyed()
        if partition not in self._miskeyed_logged:
            self._miskeyed_logged.add(partition)
            log.warning(
                "input partition %d: the message at offset %d is not keyed by its ticket_id "
                "(docs/events.md); a ticket's events may spread over partitions and be applied "
                "out of order. Counted in slawatch_events_miskeyed_total; logged once per partition",
                partition, offset,
            )  # fmt: skip

    def _mispartitioned(self, partition: int, offset: int) -> None:
        """Count (and log once per partition) a rightly keyed message in another partition.

        Its producer does not partition with murmur2 (a librdkafka client's CRC32 default,
        a custom partitioner, an explicit partition). Alone it is consistent; beside a
        producer that does, one ticket's events land in two partitions, and with several
        workers its state splits (docs/events.md).
        """
        self.metrics.mispartitioned()
        if partition not in self._mispartitioned_logged:
            self._mispartitioned_logged.add(partition)
            log.warning(
                "input partition %d: the message at offset %d is keyed by its ticket_id but Kafka's "
                "default partitioner (murmur2) puts that key in another partition; a producer "
                "partitions otherwise (docs/events.md). Counted in slawatch_events_mispartitioned_total; "
                "logged once per partition",
                partition, offset,
            )  # fmt: skip

    async def _reject(
        self,
        code: str,
        message: str,
        field: str | None,
        value: bytes | None,
        key: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        now: float,
    ) -> None:
        record = dead_letter_record(
            code=code, message=message, field=field, original=value, topic=topic,
            partition=partition, offset=offset, key=key, at=now,
        )  # fmt: skip
        await self._dead_letter(key, encode_dead_letter(record))
        self.metrics.dead_lettered(code)

    # ------------------------------------------------------------------ ticks
    async def on_tick(self, value: bytes | None, *, partition: int, input_done: int | None = None) -> None:
        """Advance the tick's tickets to its instant (or expire them).

        All tickets of the tick are advanced first, then their alerts are published and
        their delivery awaited once, and only then are their states written: the same
        order as for one event, paid once per tick instead of once per ticket.

        ``input_done`` is the last input offset of ``partition`` this worker has applied
        (or committed). A tick sent by a worker that had applied more (one that crashed
        or lost the partition, its ticks replayed here in no common order with the
        input) would fire thresholds that input it has not seen yet may still stop; it
        is dropped and its tickets re-indexed, so the timer ticks them again once this
        worker has caught up (see :class:`~slawatch.agents.barrier.CatchUpBarrier`).
        """
        try:
            tick = decode_tick(value)
        except InvalidTick as exc:
            log.warning("ignoring a message on the ticks topic (partition %d): %s", partition, exc)
            return
        if tick.input_offset is not None and (input_done is None or input_done < tick.input_offset):
            self._reindex(partition, tick.ticket_ids)
            self.metrics.tick_deferred()
            return
        now = self._clock()
        advanced: list[tuple[TicketState, list[Observation], list[Alert]]] = []
        alerts: list[Alert] = []
        for ticket_id in tick.ticket_ids:
            try:
                state = self._load(ticket_id)
                if state is None:
                    self.index.discard(partition, ticket_id)
                    continue
                if tick.kind == TICK_EXPIRE:
                    at = self._retention_clock(now)
                    if at is not None and self.engine.expired(state, at):
                        self._delete(state.ticket_id, partition)
                    else:
                        self.index.set(partition, state.ticket_id, self.engine.next_due(state))
                    continue
                fired, observations = self.engine.advance(state, tick.now)
            except Exception:  # a bad state must not stop the stream
                self.index.discard(partition, ticket_id)
                log.exception("engine failed advancing a ticket in partition %d; not re-indexed", partition)
                continue
            alerts.extend(fired)
            advanced.append((state, list(observations), fired))
        if alerts:
            await self._publish(alerts, live=not tick.event_time, now=now)
        for state, observations, fired in advanced:
            if state.ticket_id in self._past_due:
                self._settle_past_due(state, now)
            self._write(state, partition)
            self._record(partition, observations, fired)
        if advanced:
            self._after_writes()

    def _reindex(self, partition: int, ticket_ids: Iterable[str]) -> None:
        for ticket_id in ticket_ids:
            try:
                state = self._load(ticket_id)
                due = self.engine.next_due(state) if state is not None else None
            except Exception:
                log.exception("unreadable ticket state in partition %d; not re-indexed", partition)
                due = None
            self.index.set(partition, ticket_id, due)

    # ------------------------------------------------------------------ state
    def _load(self, ticket_id: str) -> TicketState | None:
        raw = self.tickets.get(ticket_id)
        return unpack_state(raw) if raw is not None else None

    def _summarize(self, state: TicketState, next_due: float | None) -> TicketSummary:
        key = (state.priority, state.category, state.channel, state.department,
               state.product_line, state.vendor, state.customer_tier, state.assignee)  # fmt: skip
        return self._summary(
            state.ticket_id, state.partition, key, state.status, state.created_at, state.last_at,
            state.resolved_at, state.closed_at, tuple(state.at_risk_metrics),
            state.survey_done, state.followup_done, next_due,
        )  # fmt: skip

    def _summarize_fields(self, d: dict[str, Any], next_due: float | None) -> TicketSummary:
        """:meth:`_summarize` from a stored state's JSON object (rebuild's fast path)."""
        key = (d["p"], d["cat"], d["ch"], d["d"], d["pl"], d["v"], d["tier"], d["a"])
        return self._summary(
            d["t"], d.get("part"), key, d["s"], d["c"], d["l"], d["ra"], d["ca"],
            at_risk_in(d["k"]), d["sd"], d["fd"], next_due,
        )  # fmt: skip

    def _summary(
        self,
        ticket_id: str,
        partition: int | None,
        dims_key: tuple[str | None, ...],
        status: str,
        created_at: float | None,
        last_at: float | None,
        resolved_at: float | None,
        closed_at: float | None,
        at_risk_metrics: tuple[str, ...],
        survey_done: bool,
        followup_done: bool,
        next_due: float | None,
    ) -> TicketSummary:
        # One shared Dimensions per distinct combination (hashing the 8-field dataclass
        # per ticket would cost more than this tuple of its already-hashed strings).
        dims = self._dims.get(dims_key)
        if dims is None:
            dims = self._dims[dims_key] = Dimensions(*dims_key)  # type: ignore[arg-type]
        # The preconditions of engine.expired that do not depend on the wall clock.
        since: float | None
        if created_at is None:
            since, may_expire = last_at, True
        else:
            since = closed_at if status == "closed" else None
            since = resolved_at if status == "resolved" else since
            may_expire = since is not None and next_due is None
        return TicketSummary(
            ticket_id, partition, dims, status, created_at, at_risk_metrics, resolved_at,
            survey_done, followup_done, may_expire, since,
        )  # fmt: skip

    async def _store(
        self, state: TicketState, partition: int, alerts: Sequence[Alert], *, live: bool, now: float
    ) -> None:
        """Publish ``alerts`` (awaiting delivery), then write the state and re-index it."""
        if alerts:
            await self._publish(alerts, live=live, now=now)
        self._write(state, partition)
        self._after_writes()

    async def _publish(self, alerts: Sequence[Alert], *, live: bool, now: float) -> None:
        await self._publish_alerts(alerts)
        past_due = self._past_due
        for alert in alerts:
            arrived = past_due.get(alert.ticket_id)
            if live and (arrived is None or alert.fired_at >= arrived[0]):
                self.metrics.alert(alert, now - alert.fired_at)
            else:
                self.metrics.alert(alert, None)

    def _retention_clock(self, now: float) -> float | None:
        """The instant retention is judged at: the wall clock, but never past the latest
        event time this worker has applied (None before any event since it started).

        Live traffic has event time close to the wall clock, so this is the wall clock
        less the transport delay. A replay of old history has event time far behind it:
        judged on the wall clock, every ticket closed more than the retention ago would
        be deleted as it closes, and a later event of the history (a reopen, a
        duplicate of its creation) would find no ticket, unlike the backtest, whose
        clock is event time.
        """
        latest = self._event_time
        return None if latest is None else min(now, latest)

    def _write(self, state: TicketState, partition: int) -> None:
        # Never deleted here, even past retention: only the expiry sweep deletes, as the
        # backtest drops tickets only when its clock moves on. A replay of old history
        # would otherwise lose each ticket as it closes, before its later events come.
        state.partition = partition
        due = self.engine.next_due(state)
        self.tickets[state.ticket_id] = pack_state(state, next_due=due, fingerprint=self.engine.fingerprint)
        self._cache[state.ticket_id] = self._summarize(state, due)
        self.index.set(partition, state.ticket_id, due)

    def _after_writes(self) -> None:
        self.metrics.set_deadline_index_size(len(self.index))
        self._report_calendar_years()

    def _delete(self, ticket_id: str, partition: int) -> None:
        if ticket_id in self.tickets:
            del self.tickets[ticket_id]
        self._cache.pop(ticket_id, None)
        self._past_due.pop(ticket_id, None)
        if self._summary_pass is not None:
            self._deleted.add(ticket_id)
        self.index.discard(partition, ticket_id)

    def _record(self, partition: int, observations: Iterable[Observation], alerts: Sequence[Alert]) -> None:
        observations = list(observations)
        for obs in observations:
            self.metrics.observe(obs)
        incs = increments(partition, observations, alerts, self.bounds)
        if incs:
            self.windows.add(incs)

    def _report_calendar_years(self) -> None:
        if self.engine.missing_calendar_year_count == len(self._reported_years):
            return  # runs per event: the set is built only when a year was added
        missing = self.engine.missing_calendar_years
        for calendar, year in sorted(missing - self._reported_years):
            log.warning(
                "calendar %r has no holiday list for %d: counting it without holidays; "
                "add the year's holidays to the policy file",
                calendar,
                year,
            )
            self.metrics.calendar_year_missing(calendar, year)
        self._reported_years |= missing

    # ------------------------------------------------------------------ ownership
    def rebuild(
        self,
        partitions: Iterable[int],
        read: Callable[[], Iterable[tuple[str, bytes | None]]] | None = None,
        *,
        defer_summaries: bool = False,
    ) -> int:
        """Re-read the table after recovery: index (and summarise) the owned tickets.

        ``read()`` returns one pass over the table's ``(ticket_id, stored value)``
        pairs (default: all of them); the Faust app reads only the owned partitions'
        when its store can tell them apart. Returns the number of tickets indexed. Runs
        once per rebalance, before Faust resumes the streams, so nothing else touches
        the table meanwhile.

        This is most of a restart with a large table. A value written by this same
        engine has its partition and next due instant in its head (see
        :mod:`~slawatch.agents.stored_state`), so indexing it reads 21 bytes; its
        summary needs the whole state (~15 us). With ``defer_summaries`` those
        summaries are left to :meth:`fill_summaries`, a second pass that the worker
        runs in the background once the streams have resumed: deadlines fire again
        after one quick pass, and the state gauges come back (whole) when it is done.
        """
        if read is None:
            tickets = self.tickets
            read = lambda: list(tickets.items())  # noqa: E731
        with _cycle_collector_paused():
            n = self._rebuild(set(partitions), read())
            if self._unsummarized:
                self._summary_pass = iter(read())
            if not defer_summaries:
                self._fill_summaries(None)
            return n

    def _rebuild(self, owned: set[int], items: Iterable[tuple[str, bytes | None]]) -> int:
        self._cache = {}
        self._dims = {}
        self._end_summary_pass()  # a pass left by an earlier rebuild reads stale partitions
        entries: list[tuple[int, str, float | None]] = []
        fingerprint = self.engine.fingerprint
        for ticket_id, raw in items:
            if not raw:
                continue
            try:
                head = stored_head(raw, fingerprint)
                if head is not None:
                    partition, due = head
                    if partition is not None and partition in owned:
                        entries.append((partition, ticket_id, due))
                    continue
                state = unpack_state(raw)  # an older format, or another engine's instant
                if state.partition is None or state.partition not in owned:
                    continue
                due = self.engine.next_due(state)
                self._cache[ticket_id] = self._summarize(state, due)
                entries.append((state.partition, ticket_id, due))
            except Exception:  # one unreadable state must not block recovery
                log.exception("unreadable ticket state in the table; skipped")
        self.index.reset(owned, entries)
        self._unsummarized = len(entries) - len(self._cache)
        self._summary_owned = frozenset(owned)
        self.offsets.keep(owned)
        self.metrics.set_owned_partitions(len(owned))
        self.metrics.set_deadline_index_size(len(self.index))
        return len(entries)

    @property
    def summaries_pending(self) -> int:
        """Owned tickets indexed by the last rebuild but not summarised yet."""
        return self._unsummarized

    def fill_summaries(self, limit: int | None = 2000) -> int:
        """Read up to ``limit`` (None: all) more items of the summary pass; return how many
        tickets are left to summarise.

        The pass may be a snapshot taken at the rebuild (a list, or a RocksDB iterator):
        a ticket written since already has a fresh summary and is skipped, and one
        deleted since is remembered by :meth:`_delete` and skipped.
        """
        if self._summary_pass is None:
            return 0
        try:
            with _cycle_collector_paused():
                return self._fill_summaries(limit)
        except Exception:  # the store's iterator failed: keep what was read, stop the pass
            log.exception("reading ticket summaries failed; the state gauges count only those read")
            self._end_summary_pass()
            return 0

    def _fill_summaries(self, limit: int | None) -> int:
        source = self._summary_pass
        if source is None:
            return 0
        owned = self._summary_owned
        fingerprint = self.engine.fingerprint
        read = 0
        for ticket_id, raw in source if limit is None else islice(source, limit):
            read += 1
            if not raw:
                continue
            try:
                head = stored_head(raw, fingerprint)
                if head is None or head[0] not in owned:
                    continue  # summarised by the rebuild, or another worker's
                self._unsummarized -= 1
                if ticket_id in self._cache or ticket_id in self._deleted:
                    continue
                self._cache[ticket_id] = self._summarize_fields(stored_fields(raw), head[1])
            except Exception:
                log.exception("unreadable ticket state in the table; not summarised")
        if limit is None or read < limit or self._unsummarized <= 0:  # the pass is over
            self._end_summary_pass()
        return self._unsummarized

    def _end_summary_pass(self) -> None:
        self._summary_pass = None
        self._unsummarized = 0
        self._deleted = set()

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions handed to another worker.

        An unfinished summary pass is dropped: it may iterate a revoked partition's
        database, and the rebuild that follows the rebalance starts a new one.
        """
        gone = set(partitions)
        if self._summary_pass is not None:
            self._end_summary_pass()
        self.index.revoke(gone)
        self._cache = {t: s for t, s in self._cache.items() if s.partition not in gone}
        self._past_due = {t: v for t, v in self._past_due.items() if v[1] not in gone}
        self.offsets.forget(gone)
        self.horizon.forget(gone)
        self.metrics.set_owned_partitions(len(self.index.partitions))
        self.metrics.set_deadline_index_size(len(self.index))

    # ------------------------------------------------------------------ reading
    def owned_states(self) -> Iterator[TicketSummary]:
        """Summaries of the tickets of the actively owned partitions."""
        owned = self.index.partitions
        return (s for s in list(self._cache.values()) if s.partition in owned)

    def state_snapshot(self) -> Iterator[TicketSummary] | None:
        """The owned summaries, for the scrape-time gauges; safe from the scrape thread.

        None while a rebuild's summaries are still being filled in (the gauges then
        show nothing rather than a share of the tickets).

        ``/metrics`` is rendered in a thread so that a scrape (one pass over every owned
        ticket: ~1 us each, a second at a million tickets) never stalls the event loop.
        The two copies taken here are single C calls that hold the GIL throughout, so
        the loop cannot change the dict mid-copy; summaries are replaced, never mutated.
        The filtering runs lazily, in the scrape thread (:meth:`owned_states` takes both
        copies when called, before its generator runs).
        """
        if self._unsummarized:
            return None
        return self.owned_states()

    def followups(self, summary: TicketSummary, now: float) -> Iterable[tuple[str, str]]:
        """``engine.followups`` for a summary (it reads only the follow-up fields)."""
        if summary.resolved_at is None or (summary.survey_done and summary.followup_done):
            return ()
        return self.engine.followups(cast(TicketState, summary), now)

    def expired_tickets(self, now: float) -> list[tuple[int, str]]:
        """Owned tickets past retention, for the periodic expiry sweep: the longest
        closed first, and never the ``retain_closed`` most recently closed."""
        at = self._retention_clock(now)
        if at is None:
            return []
        keep = self.engine.retention_seconds
        closed = 0
        due: list[tuple[float, str, int]] = []  # past retention: few per sweep once sweeps keep up
        for s in self.owned_states():
            if not s.may_expire or s.since is None or s.partition is None:
                continue
            closed += 1
            if at - s.since > keep:
                due.append((s.since, s.ticket_id, s.partition))
        excess = closed - self.retain_closed
        out: list[tuple[int, str]] = []
        for _since, ticket_id, partition in sorted(due):
            if len(out) >= excess:
                break
            state = self._load(ticket_id)  # the summary only preselects; the engine decides
            if state is not None and self.engine.expired(state, at):
                out.append((partition, ticket_id))
        return out

    def at_risk(self) -> list[dict[str, object]]:
        """Tickets warned but not breached, soonest deadline first (``/sla/at-risk``)."""
        calendars = self.engine.policy.calendars
        rows: list[dict[str, object]] = []
        for summary in self.owned_states():
            if not summary.at_risk_metrics:
                continue
            s = self._load(summary.ticket_id)
            if s is None:
                continue
            for metric in s.at_risk_metrics:
                clock = s.clocks[metric]
                deadline = calendars[clock.calendar].add(clock.since, clock.target - clock.acc)
                rows.append(
                    {
                        "ticket_id": s.ticket_id, "metric": metric, "deadline": deadline,
                        "priority": s.priority, "department": s.department,
                        "partition": summary.partition,
                    }
                )  # fmt: skip
        rows.sort(key=lambda r: (r["deadline"], r["ticket_id"]))  # type: ignore[arg-type,return-value]
        return rows
