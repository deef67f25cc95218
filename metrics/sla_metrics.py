"""What the worker calls to record events, engine observations and alerts.

The worker knows what happened (an event applied, an alert published, a timer run);
this module knows which metrics that moves and how labels are bounded, so the worker
never builds label sets itself and the catalogue stays in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from slawatch.metrics.instruments import Instruments, build_instruments
from slawatch.metrics.labels import (
    ALERT_KINDS,
    ESCALATION_LEVELS,
    EVENT_TYPES,
    FOLLOWUP_METHODS,
    METRICS,
    PRIORITIES,
    LabelBounds,
    bool_label,
    bound,
    calendar_label,
    code_label,
    year_label,
)
from slawatch.metrics.protocols import AlertLike, CalendarLike, ObservationLike
from slawatch.metrics.state_collector import (
    FollowupsFn,
    S,
    StateCollector,
    register_state_source,
)

__all__ = ["SlaMetrics", "build_metrics"]


class SlaMetrics:
    """Recorder over one registry's :class:`Instruments`; one per worker process."""

    __slots__ = ("bounds", "instruments", "registry")

    def __init__(self, registry: CollectorRegistry, bounds: LabelBounds, instruments: Instruments) -> None:
        self.registry = registry
        self.bounds = bounds
        self.instruments = instruments

    # --- input -------------------------------------------------------------------------

    def event_applied(self, event_type: str, lag_seconds: float | None) -> None:
        """An input event was applied; ``lag_seconds`` = wall clock - occurred_at.

        Pass ``None`` for the lag in backtest, where wall clock means nothing. A
        negative lag (the source's clock ahead of ours) is recorded as 0 so it cannot
        pull the histogram's sum below what was really waited.
        """
        self.instruments.events_applied.labels(type=bound(event_type, EVENT_TYPES)).inc()
        if lag_seconds is not None:
            self.instruments.event_lag.observe(max(0.0, lag_seconds))

    def duplicate(self) -> None:
        """An input event was ignored because its event_id was already applied."""
        self.instruments.events_duplicate.inc()

    def miskeyed(self) -> None:
        """An input event's message key was not its ticket_id (events.md keys by ticket)."""
        self.instruments.events_miskeyed.inc()

    def mispartitioned(self) -> None:
        """An input event keyed by its ticket_id sat in another partition than murmur2 gives."""
        self.instruments.events_mispartitioned.inc()

    def dead_lettered(self, reason: str) -> None:
        """An input event was rejected; ``reason`` is ``InvalidEvent.code``."""
        self.instruments.events_dead_lettered.labels(reason=code_label(reason)).inc()

    def event_processed(self, now: float) -> None:
        """Wall-clock time (epoch s) at which an input message was last handled."""
        self.instruments.last_event_processed.set(now)

    # --- engine observations -----------------------------------------------------------

    def observe(self, obs: ObservationLike) -> None:
        """Record one engine Observation; kinds without a metric are ignored.

        ``priority_changed`` and ``status_changed`` (and kinds a newer engine may add)
        move no counter: the backlog they change is read from state at scrape time.
        """
        handler = _OBSERVERS.get(obs.kind)
        if handler is not None:
            handler(self, obs)

    def _created(self, obs: ObservationLike) -> None:
        self.instruments.tickets_created.labels(**self.bounds.dimensions(obs.dims)).inc()

    def _responded(self, obs: ObservationLike) -> None:
        self._clock_stopped("response", obs)

    def _resolved(self, obs: ObservationLike) -> None:
        # on_time has no "unknown" in the catalogue: a resolution without a verdict
        # counts as not on time, so the on-time rate is never flattered.
        labels = self.bounds.dimensions(obs.dims)
        self.instruments.tickets_resolved.labels(
            **labels,
            on_time="true" if obs.ok else "false",
            first_contact=bool_label(getattr(obs, "first_contact", None)),
        ).inc()
        self._clock_stopped("resolution", obs)

    def _clock_stopped(self, metric: str, obs: ObservationLike) -> None:
        # A clock that never started (a provisional ticket without ticket.created) has
        # no duration and no verdict: it is left out of the distributions and of
        # compliance rather than counted as met or missed.
        if obs.value is None or obs.ok is None:
            return
        owner = self.bounds.owner(obs.dims.priority, obs.dims.department)
        histogram = (
            self.instruments.response_time if metric == "response"
            else self.instruments.resolution_time
        )  # fmt: skip
        histogram.labels(**owner, channel=self.bounds.channel(obs.dims.channel)).observe(obs.value)
        self.instruments.clocks_stopped.labels(metric=metric, **owner, within_target=bool_label(obs.ok)).inc()

    def _closed(self, obs: ObservationLike) -> None:
        owner = self.bounds.owner(obs.dims.priority, obs.dims.department)
        self.instruments.tickets_closed.labels(**owner).inc()

    def _reopened(self, obs: ObservationLike) -> None:
        owner = self.bounds.owner(obs.dims.priority, obs.dims.department)
        self.instruments.tickets_reopened.labels(**owner).inc()

    def _complaint(self, obs: ObservationLike) -> None:
        # ok=False marks a repeat (second or later) complaint; anything else is a first.
        repeat = "true" if obs.ok is False else "false"
        owner = self.bounds.owner(obs.dims.priority, obs.dims.department)
        self.instruments.complaints.labels(**owner, repeat=repeat).inc()

    def _survey(self, obs: ObservationLike) -> None:
        owner = self.bounds.owner(obs.dims.priority, obs.dims.department)
        self.instruments.surveys.labels(**owner).inc()
        if obs.value is not None:
            self.instruments.satisfaction_score.labels(**owner).observe(obs.value)

    def _followup(self, obs: ObservationLike) -> None:
        self.instruments.followups.labels(
            method=bound(getattr(obs, "method", None), FOLLOWUP_METHODS),
            satisfied=bool_label(obs.ok),
        ).inc()

    # --- alerts and timer --------------------------------------------------------------

    def alert(self, alert: AlertLike, delay_seconds: float | None) -> None:
        """An alert record was published.

        ``delay_seconds`` = publish wall time - threshold instant, for live alerts only;
        ``None`` for alerts replayed in backtest or caused by an event (their instant is
        the event's time, so the delay would measure input lag, not the timer).
        """
        i = self.instruments
        kind = bound(alert.kind, ALERT_KINDS)
        metric = bound(alert.metric, METRICS)
        owner = self.bounds.owner(alert.priority, alert.department)
        i.alerts_published.labels(kind=kind).inc()
        if kind == "sla.warning":
            i.sla_warnings.labels(metric=metric, **owner).inc()
        elif kind == "sla.breached":
            i.sla_breaches.labels(metric=metric, **owner).inc()
        elif kind == "sla.escalated":
            level = bound(None if alert.level is None else str(alert.level), ESCALATION_LEVELS)
            i.sla_escalations.labels(metric=metric, level=level, **owner).inc()
        if delay_seconds is not None:
            i.alert_delay.observe(max(0.0, delay_seconds))

    def tick_deferred(self) -> None:
        """A tick was dropped until this worker has applied the input its sender had."""
        self.instruments.ticks_deferred.inc()

    def input_offsets_skipped(self, count: int) -> None:
        """The stream jumped over ``count`` offsets of an input partition."""
        self.instruments.input_offset_gaps.inc(count)

    def input_messages_reread(self, count: int) -> None:
        """``count`` messages of skipped offsets were read again and applied."""
        self.instruments.input_reread.inc(count)

    def input_offsets_unrecovered(self, count: int) -> None:
        """``count`` skipped offsets could not be read again (not applied)."""
        self.instruments.input_unrecovered.inc(count)

    def timer_run(self, duration_seconds: float) -> None:
        """One run of the deadline timer finished after ``duration_seconds`` (wall)."""
        self.instruments.timer_runs.inc()
        self.instruments.timer_run_duration.observe(duration_seconds)

    # --- worker gauges -----------------------------------------------------------------

    def set_owned_partitions(self, n: int) -> None:
        """Partitions assigned to this worker after a rebalance."""
        self.instruments.owned_partitions.set(n)

    def set_deadline_index_size(self, n: int) -> None:
        """Entries in this worker's deadline index."""
        self.instruments.deadline_index_size.set(n)

    def set_summaries_pending(self, n: int) -> None:
        """Tickets a rebuild indexed whose summaries are not read yet."""
        self.instruments.summaries_pending.set(n)

    def calendar_year_missing(self, calendar: str, year: int) -> None:
        """A clock reached ``year``, which ``calendar``'s holiday preset does not cover.

        Set to 1 and left there: the process keeps counting that year without holidays
        until the policy lists them or the preset is upgraded, and a restart is needed
        either way.
        """
        current = datetime.now(UTC).year
        label = year_label(year, current)
        self.instruments.calendar_year_missing.labels(calendar=calendar_label(calendar), year=label).set(1)

    def watch_calendars(self, calendars: Mapping[str, CalendarLike], now: float) -> None:
        """Export the current year of every policy calendar: 1 if its preset lacks it, else 0.

        Without this, ``slawatch_calendar_year_missing`` would exist only once a year is
        missing, so ``max by (calendar, year) (slawatch_calendar_year_missing) == 1`` (the
        alert and the pipeline board) would compare against nothing, and "no calendar
        runs out" could not be told from "the gauge is not exported". Called once at
        start-up with the wall clock (the year is taken in UTC, as the engine does);
        :meth:`calendar_year_missing` still sets any other year a clock reaches. Names
        folded into one label (``other``) are 1 if any of them lacks the year.
        """
        year = datetime.fromtimestamp(now, UTC).year
        missing: dict[str, bool] = {}
        for name, calendar in calendars.items():
            label = calendar_label(name)
            missing[label] = missing.get(label, False) or year in set(calendar.missing_years(year, year))
        for label, lacks in missing.items():
            self.instruments.calendar_year_missing.labels(calendar=label, year=str(year)).set(1 if lacks else 0)

    def register_state_source(
        self,
        states: Callable[[], Iterable[S] | None],
        now: Callable[[], float],
        followups: FollowupsFn[S] | None = None,
        *,
        min_interval: float = 0.0,
    ) -> StateCollector[S]:
        """Expose the scrape-time state gauges over ``states()`` (owned partitions only).

        Pass ``followups=engine.followups`` for ``slawatch_followups_due``. See
        :class:`~slawatch.metrics.state_collector.StateCollector`.
        """
        return register_state_source(self.registry, self.bounds, states, now, followups, min_interval=min_interval)


_OBSERVERS: dict[str, Callable[[SlaMetrics, ObservationLike], None]] = {
    "created": SlaMetrics._created,
    "responded": SlaMetrics._responded,
    "resolved": SlaMetrics._resolved,
    "closed": SlaMetrics._closed,
    "reopened": SlaMetrics._reopened,
    "complaint": SlaMetrics._complaint,
    "survey": SlaMetrics._survey,
    "followup": SlaMetrics._followup,
}


def build_metrics(registry: CollectorRegistry, bounds: LabelBounds) -> SlaMetrics:
    """Create the catalogue's metrics on ``registry`` and return their recorder.

    Alert kinds and event types are few and fixed, so their series are created at 0
    here: ``increase()`` over a series that appears with its first increment misses
    that increment.
    """
    instruments = build_instruments(registry)
    for kind in ALERT_KINDS:
        instruments.alerts_published.labels(kind=kind)
    for event_type in EVENT_TYPES:
        instruments.events_applied.labels(type=event_type)
    # The SLA signals per configured department too (a few hundred series): a breach
    # burst rule or an escalation panel over increase() must see the first breach of a
    # department, not only the second.
    for priority in PRIORITIES:
        for department in sorted(bounds.departments):
            for metric in METRICS:
                instruments.sla_warnings.labels(metric=metric, priority=priority, department=department)
                instruments.sla_breaches.labels(metric=metric, priority=priority, department=department)
                for level in ESCALATION_LEVELS if metric != "complaint" else ("2",):
                    instruments.sla_escalations.labels(
                        metric=metric, level=level, priority=priority, department=department
                    )
    return SlaMetrics(registry, bounds, instruments)
