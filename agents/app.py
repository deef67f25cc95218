"""The Faust application: one ingest agent, the ticket table, the deadline timer.

Topology (all topics with ``settings.partitions`` partitions, so Faust's assignor
co-partitions them and partition *n* of every topic lands on the same worker)::

    tickets.events ─┐                      ┌─> sla.alerts          (alert records)
                    ├─> ingest agent ──────┼─> tickets.events.dlq  (rejected input)
    slawatch.ticks ─┘   │  ▲               └─> <app>-tickets-changelog, windows
                        │  └── ticks (same partition) ◄── deadline timer
                        └── tickets table (changelogged) ──> deadline index (memory)

A single agent consumes both the input and the ticks topic because only stream
processing can write a table: Faust sends each write to the changelog partition of the
event being processed, so the tick for a ticket must arrive on the ticket's partition.
See docs/architecture.md for why, and :mod:`~slawatch.agents.index` and
:mod:`~slawatch.agents.barrier` for the timer's rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP
from mode.types.signals import BaseSignalT
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from slawatch.agents.active_partitions import guard_fetches
from slawatch.agents.barrier import CatchUpBarrier
from slawatch.agents.changelog_writes import ChangelogWrites
from slawatch.agents.changelog_writes import install as install_changelog_flush
from slawatch.agents.consumer_acks import mark_acked
from slawatch.agents.horizon import NOTHING, FiringHorizon
from slawatch.agents.index import DeadlineIndex
from slawatch.agents.input_watchdog import InputWatchdog
from slawatch.agents.processor import TicketProcessor
from slawatch.agents.table_recovery import SlaTableManager
from slawatch.agents.views import register_views
from slawatch.agents.window_expiry import StaleWindowSweep
from slawatch.agents.windows import Increments, merge
from slawatch.metrics import LabelBounds, SlaMetrics, build_metrics
from slawatch.settings import Settings
from slawatch.sla.alerts import Alert
from slawatch.sla.engine import SlaEngine
from slawatch.sla.policy import Policy
from slawatch.streams.codecs import (
    MAX_TICK_TICKETS,
    TICK_ADVANCE,
    TICK_EXPIRE,
    CatchUp,
    Tick,
    TickKind,
    decode_catch_up,
    encode_catch_up,
    encode_tick,
)
from slawatch.streams.range_reader import RangeReader
from slawatch.streams.topics import TICKETS_TABLE, window_table_name

__all__ = ["SlaWorker", "broker_credentials", "create_app", "create_worker"]

log = logging.getLogger(__name__)

#: Ticket summaries read per slice after a rebuild (~15 us each: ~30 ms of the loop).
SUMMARY_SLICE = 2000


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust credentials for ``settings.security_protocol`` (None for PLAINTEXT)."""
    protocol = settings.security_protocol
    context = settings.ssl_context()
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
            ssl_context=context,
            mechanism=settings.sasl_mechanism or "PLAIN",
        )
    return None


class FaustWindows:
    """:class:`~slawatch.agents.windows.WindowSink` over Faust tumbling-window tables."""

    def __init__(self, tables: Sequence[tuple[int, Any]]) -> None:
        #: ``(size_seconds, window wrapper)``; the wrapper is relative to the wall clock.
        self.tables = list(tables)

    def add(self, incs: Increments) -> None:
        for _size, wrapper in self.tables:
            for key, add in incs.items():
                wrapper[key] = merge(wrapper[key].value(), add)


@dataclass
class SlaWorker:
    """Everything one worker process runs; ``app`` is what Faust's Worker starts."""

    app: faust.App
    settings: Settings
    engine: SlaEngine
    processor: TicketProcessor
    index: DeadlineIndex
    barrier: CatchUpBarrier
    registry: CollectorRegistry
    metrics: SlaMetrics
    windows: FaustWindows
    #: Deletes expired windows from every local store of the windows tables.
    window_sweep: StaleWindowSweep
    #: Changelog records not yet acknowledged; commits wait for them.
    changelog_writes: ChangelogWrites = field(default_factory=ChangelogWrites)
    clock: Callable[[], float] = time.time
    #: Wall time of the last rebuild of the index (for /sla/health).
    rebuilt_at: float | None = None
    started_at: float = field(default_factory=time.time)
    #: Whether Kafka holds input of a partition not yet handled (set with the timers).
    input_waiting: Callable[[int], bool] | None = None
    #: Log end offsets of the owned input partitions as the broker gave them to the input
    #: watchdog (about every second) since the last assignment.
    input_ends: dict[int, int] = field(default_factory=dict)

    def events_tp(self, partition: int) -> TP:
        return TP(self.settings.topic_events, partition)

    def active_partitions(self) -> set[int]:
        """Input partitions this worker actively owns (not standbys)."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.settings.topic_events}


def stored_items(table: Any, partitions: Iterable[int]) -> Iterable[tuple[str, bytes | None]]:
    """``(ticket_id, stored value)`` of ``table``, limited to ``partitions`` where the store can.

    Faust's RocksDB store keeps one database per partition: reading only the owned
    ones, straight from the store, skips the standby partitions' tickets and Faust's
    per-item value decoding and bookkeeping. It uses three of the store's private
    members (``_dbs``, ``_visible_items``, ``_decode_key``; stable since
    faust-streaming 0.9). Without them, e.g. on the memory store, every item is read
    and the processor keeps its owned partitions' tickets.
    """
    store = table.data
    dbs = getattr(store, "_dbs", None)
    visible_items = getattr(store, "_visible_items", None)
    decode_key = getattr(store, "_decode_key", None)
    if isinstance(dbs, dict) and callable(visible_items) and callable(decode_key):
        return ((decode_key(key), value) for p in partitions if p in dbs for key, value in visible_items(dbs[p]))
    plain = getattr(store, "data", None)
    if isinstance(plain, dict):  # the memory store: keys and values as set, no decoding
        return list(plain.items())
    return list(table.items())


def _faust_options(settings: Settings) -> dict[str, Any]:
    store = "memory://" if settings.store == "memory" else "rocksdb://"
    return {
        "broker": [f"kafka://{server}" for server in settings.bootstrap_servers],
        "broker_credentials": broker_credentials(settings),
        "store": store,
        # One directory per worker: RocksDB locks its files, and several workers may
        # share a host (they are told apart by their web port).
        "datadir": str(settings.data_dir / f"{settings.app_id}-{settings.web_port}"),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": settings.session_timeout_seconds,
        "autodiscover": False,
        # Our own sends are awaited where order matters; never defer them to commit.
        "stream_publish_on_commit": False,
        "consumer_auto_offset_reset": "earliest",
    }


def create_worker(
    settings: Settings,
    policy: Policy,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    expire_sweep_seconds: float | None = None,
    catch_up_max_wait: float = 30.0,
    input_stall_seconds: float = 5.0,
    **faust_options: Any,
) -> SlaWorker:
    """Build the Faust app and the objects around it.

    ``faust_options`` override Faust settings (tests lower ``broker_session_timeout``
    and friends so that a killed worker's partitions move within seconds).
    """
    registry = registry if registry is not None else CollectorRegistry()
    if expire_sweep_seconds is None:
        expire_sweep_seconds = settings.expire_sweep_seconds
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    bounds = LabelBounds.from_settings(settings)
    metrics = build_metrics(registry, bounds)
    engine = SlaEngine(policy, retention_seconds=settings.retention_seconds)
    metrics.watch_calendars(policy.calendars, clock())

    options = {**_faust_options(settings), **faust_options}
    # Faust creates its datadir but not the parents (a fresh ~/.local/share/slawatch).
    Path(options["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    changelog_writes = ChangelogWrites()
    app = faust.App(
        settings.app_id,
        Table=changelog_writes.table_class(),
        TableManager=SlaTableManager,
        **options,
    )
    install_changelog_flush(app.producer, changelog_writes)
    guard_fetches(app.consumer)

    source = app.topic(settings.topic_events, settings.topic_ticks, key_serializer="raw", value_serializer="raw")
    ticks = app.topic(settings.topic_ticks, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.topic_alerts, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.topic_dlq, key_serializer="raw", value_serializer="raw")

    tickets = app.Table(
        TICKETS_TABLE,
        partitions=settings.partitions,
        # value_type=bytes makes the changelog serializer "raw": the state is already
        # stored_state.pack_state(), and recovery must hand back the same bytes.
        key_type=str,
        value_type=bytes,
        help="Ticket states (stored_state.pack_state: next due instant and zlib-compressed JSON) by ticket_id.",
    )
    window_tables = [
        (
            size,
            cast(
                Any,
                app.Table(
                    window_table_name(size),
                    default=dict,
                    partitions=settings.partitions,
                    help=f"Response/resolution/breach totals per {size} s window.",
                ).tumbling(timedelta(seconds=size), expires=timedelta(seconds=settings.window_expires_seconds)),
            )
            # Processing time (see windows.py); Faust's relative_to_now() would use the
            # newest Kafka timestamp of the partition instead of the wall clock.
            .relative_to(lambda _event: clock()),
        )
        for size in settings.window_sizes_seconds
    ]
    windows = FaustWindows(window_tables)
    window_sweep = StaleWindowSweep(
        [wrapper.table for _size, wrapper in window_tables],
        clock=clock,
        # Not while partitions move or actives restore, nor once the app stops (its stores
        # forget their databases then, which the sweep would take for dormant ones).
        busy=lambda: bool(app.rebalancing or app.in_recovery or app.should_stop),
    )
    index = DeadlineIndex()

    async def publish_alerts(batch: Sequence[Alert]) -> None:
        # Await delivery before the state write: see processor's module docstring.
        futures = [await alerts.send(key=a.ticket_id.encode(), value=a.to_json(), force=True) for a in batch]
        await asyncio.gather(*futures)

    async def dead_letter(key: bytes | None, record: bytes) -> None:
        await dlq.send(key=key, value=record, force=True)

    range_reader = RangeReader(settings)

    async def gap_filled(topic: str, partition: int, start: int, end: int) -> None:
        """Let Faust's consumer commit past offsets applied without its stream."""
        mark_acked(app.consumer, TP(topic, partition), start, end)

    processor = TicketProcessor(
        engine=engine, tickets=tickets, index=index, windows=windows, metrics=metrics,
        bounds=bounds, publish_alerts=publish_alerts, dead_letter=dead_letter, clock=clock,
        reread=range_reader.read, on_gap_filled=gap_filled, log_start=range_reader.log_start,
        last_committed=lambda partition: group_committed(worker.events_tp(partition)),
        retain_closed=settings.retain_closed_tickets, input_partitions=settings.partitions,
        horizon=FiringHorizon(idle_seconds=settings.history_idle_seconds,
                              live_lag_seconds=settings.history_lag_seconds),
    )  # fmt: skip

    worker: SlaWorker  # bound below; the closures read it at run time

    def highwater(partition: int) -> int | None:
        hw = app.consumer.highwater(worker.events_tp(partition))
        return int(hw) if hw is not None else None

    def last_committed(tp: TP) -> int | None:
        """Offset of the last message committed on ``tp`` (None before any commit)."""
        committed = getattr(app.consumer, "_committed_offset", {}).get(tp)
        return committed - 1 if committed is not None else None

    async def group_committed(tp: TP) -> int | None:
        """The consumer group's last committed offset of ``tp``: this consumer's own record
        when it committed there, else the broker's (a partition taken over was committed
        by its previous owner)."""
        local = last_committed(tp)
        if local is not None:
            return local
        return await range_reader.group_committed(app.conf.id, tp.topic, tp.partition)

    def done(partition: int) -> int | None:
        seen = processor.processed_offsets.get(partition)
        if seen is not None:
            return seen
        # Nothing processed since the assignment: what was committed is done.
        return last_committed(worker.events_tp(partition))

    barrier = CatchUpBarrier(highwater, done, max_wait=catch_up_max_wait)
    #: Offset of the last tick processed, per partition of the ticks topic.
    ticks_done: dict[int, int] = {}

    def input_waiting(partition: int) -> bool:
        """Kafka holds input of ``partition`` this worker has not handled.

        Judged on the later of the consumer's high watermark and the log end the input
        watchdog last read from the broker: right after an assignment the consumer may
        know no watermark yet (no fetch answered) or a stale one, and a partition taken
        for quiet then fired a replay's thresholds on the wall clock (an operations
        walkthrough with RocksDB and rolling restarts: 276 alerts the backtest does not
        give). With neither known, input counts as waiting for ``catch_up_max_wait``
        after the assignment, as the catch-up barrier waits, and no longer.
        """
        try:
            hw = highwater(partition)
        except Exception:  # the consumer (re)starting: unknown
            hw = None
        end = worker.input_ends.get(partition)
        known = max((x for x in (hw, end) if x is not None), default=None)
        if known is None:
            rebuilt = worker.rebuilt_at
            return rebuilt is not None and clock() - rebuilt < catch_up_max_wait
        seen = done(partition)
        return (seen if seen is not None else -1) < known - 1

    def ticks_drained(partition: int) -> bool:
        """No tick waits in this partition of the ticks topic (so a missing one is lost)."""
        tp = TP(settings.topic_ticks, partition)
        hw = app.consumer.highwater(tp)
        if hw is None:
            return True  # unknown: resend as before rather than risk never resending
        seen = ticks_done.get(partition)
        if seen is None:
            seen = last_committed(tp)
        return (seen if seen is not None else -1) >= int(hw) - 1

    worker = SlaWorker(
        app=app, settings=settings, engine=engine, processor=processor, index=index,
        barrier=barrier, registry=registry, metrics=metrics, windows=windows,
        window_sweep=window_sweep, changelog_writes=changelog_writes, clock=clock,
        input_waiting=input_waiting,
    )  # fmt: skip
    metrics.register_state_source(
        processor.state_snapshot, clock, processor.followups, min_interval=settings.state_gauges_interval_seconds
    )

    @app.agent(source, name="ingest")
    async def ingest(stream: Any) -> None:
        """Apply input events and ticks; all the logic is in TicketProcessor."""
        async for event in stream.events():
            message = event.message
            if message.topic == settings.topic_ticks:
                catch_up = decode_catch_up(event.value)
                if catch_up is not None:
                    await processor.catch_up(settings.topic_events, message.partition, catch_up.start, catch_up.end)
                else:
                    await processor.on_tick(
                        event.value, partition=message.partition, input_done=done(message.partition)
                    )
                ticks_done[message.partition] = message.offset
            else:
                await processor.on_event(
                    event.value, key=event.key, topic=message.topic,
                    partition=message.partition, offset=message.offset,
                )  # fmt: skip

    @tickets.on_recover
    async def rebuild_index() -> None:
        """After every recovery: cache and index the tickets of the owned partitions."""
        owned = worker.active_partitions()
        started = time.perf_counter()
        n = processor.rebuild(owned, lambda: stored_items(tickets, owned), defer_summaries=True)
        processor.horizon.assigned(owned, clock())
        barrier.reset()
        worker.input_ends.clear()
        watchdog.resume()
        metrics.set_summaries_pending(processor.summaries_pending)
        worker.rebuilt_at = clock()
        log.info(
            "deadline index rebuilt: %d partitions, %d tickets, %d entries in %.3f s",
            len(owned),
            n,
            len(index),
            time.perf_counter() - started,
        )

    @app.task
    async def fill_summaries() -> None:
        """Summarise the tickets a rebuild indexed, a slice at a time, between messages."""
        while True:
            if processor.summaries_pending:
                left = processor.fill_summaries(SUMMARY_SLICE)  # never raises
                metrics.set_summaries_pending(left)
                if not left:
                    log.info("ticket summaries read: the state gauges are whole again")
                await asyncio.sleep(0)  # let the streams run between slices
            else:
                await asyncio.sleep(0.2)

    @app.on_before_shutdown.connect
    async def close_range_reader(_sender: Any, /, *_args: Any, signal: BaseSignalT[Any], **_kwargs: Any) -> None:
        await range_reader.close()

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, /, *args: Any, signal: BaseSignalT[Any], **_kwargs: Any) -> None:
        revoked: set[TP] = args[0]
        watchdog.pause()  # partitions are moving: nothing stalls until the next recovery
        worker.input_ends.clear()
        gone = {tp.partition for tp in revoked if tp.topic == settings.topic_events}
        if gone:
            processor.revoke(gone)
            barrier.forget(frozenset(gone))
            for p in gone:
                ticks_done.pop(p, None)

    async def send_ticks(
        kind: TickKind,
        now: float,
        due: Iterable[tuple[int, str]],
        horizon: Callable[[int], float] | None = None,
    ) -> None:
        """One tick per partition (and per MAX_TICK_TICKETS) for ``(partition, ticket_id)``;
        its instant is ``now`` (the wall clock), or the partition's ``horizon``."""
        by_partition: dict[int, dict[str, None]] = {}  # ordered, without repeats
        for partition, ticket_id in due:
            by_partition.setdefault(partition, {})[ticket_id] = None
        for partition, unique in by_partition.items():
            ids, applied = list(unique), done(partition)
            at = horizon(partition) if horizon is not None else now
            if at == NOTHING:
                continue  # just assigned, no input yet: in-flight entries are resent later
            for i in range(0, len(ids), MAX_TICK_TICKETS):
                tick = Tick(tuple(ids[i : i + MAX_TICK_TICKETS]), at, kind, applied, event_time=at < now)
                await ticks.send(key=None, value=encode_tick(tick), partition=partition, force=True)

    @app.timer(settings.timer_interval_seconds, name="slawatch.fire_due")
    async def fire_due() -> None:
        """Send ticks for the due deadline-index entries (cost: due entries only)."""
        started = time.perf_counter()
        try:
            now = clock()
            horizons: dict[int, float] = {}

            def horizon(partition: int) -> float:
                """The partition's firing instant, the same for the whole run."""
                at = horizons.get(partition)
                if at is None:
                    at = horizons[partition] = processor.horizon.horizon(partition, now, input_waiting)
                return at

            due = index.pop_due(horizon, ready=barrier.ready, may_resend=ticks_drained)
            await send_ticks(TICK_ADVANCE, now, ((e.partition, e.ticket_id) for e in due), horizon)
        except Exception:  # the timer must survive a broker hiccup
            log.exception("deadline timer run failed; due entries are retried")
        metrics.timer_run(time.perf_counter() - started)

    watchdog = InputWatchdog(stall_seconds=input_stall_seconds)

    @app.timer(max(0.2, input_stall_seconds / 5), name="slawatch.input_watchdog")
    async def watch_input() -> None:
        """Ask for a catch-up where input waits that the stream has stopped handing over."""
        if not watchdog.running:
            return
        owned = worker.active_partitions()
        try:
            ends = await range_reader.end_offsets(settings.topic_events, owned)
            if watchdog.running:  # not revoked meanwhile
                worker.input_ends.update(ends)
            for partition, (start, end) in watchdog.stalled(ends, done, time.monotonic()).items():
                log.info("input partition %d: offsets %d..%d not delivered for %.0f s; catching up",
                         partition, start, end - 1, input_stall_seconds)  # fmt: skip
                catch_up = encode_catch_up(CatchUp(start, end))
                await ticks.send(key=None, value=catch_up, partition=partition, force=True)
        except Exception:  # like the deadline timer: survive a broker hiccup, look again
            log.warning("input watchdog run failed; retried at the next run", exc_info=True)

    @app.timer(expire_sweep_seconds, name="slawatch.expire_sweep")
    async def expire_sweep() -> None:
        """Ask the owning stream to delete closed-out tickets past retention."""
        try:
            now = clock()
            await send_ticks(TICK_EXPIRE, now, processor.expired_tickets(now))
        except Exception:
            log.exception("expiry sweep failed; retried at the next sweep")

    @app.timer(expire_sweep_seconds, name="slawatch.window_expiry")
    async def expire_windows() -> None:
        """Delete stale windows from every local store, standbys included (Faust's own
        cleanup knows only the windows this process wrote). On the tickets' expiry
        cadence (10 min), not Faust's 30 s: the sweep reads every key of every windows
        store (~5-8 us a key), and what it deletes only bounds the stores' growth."""
        try:
            await window_sweep.sweep()
        except Exception:  # a store closing under it (shutdown): look again next time
            log.warning("window expiry sweep failed; retried at the next run", exc_info=True)

    register_views(worker)
    return worker


def create_app(settings: Settings, policy: Policy, **kwargs: Any) -> faust.App:
    """The Faust app of :func:`create_worker` (for ``faust -A``-style tooling)."""
    return create_worker(settings, policy, **kwargs).app
