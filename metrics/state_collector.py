"""Gauges over ticket state, computed when Prometheus scrapes.

Backlog, age, at-risk, tickets awaiting their creation and due follow-ups are
functions of the current state table and of the wall clock, not of events: a ticket
ages while nothing happens to it. Keeping
them up to date with ``Gauge.inc``/``dec`` on every event would drift after a
rebalance, a restart or a missed transition; recomputing them from the states at
scrape time cannot (client_python's "custom collector" pattern). The cost is one pass
over the worker's owned tickets per scrape.

Each worker passes only the states of the partitions it owns, so each worker's
``/metrics`` covers its own share and dashboards ``sum`` across instances.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from slawatch.metrics.labels import (
    FOLLOWUP_KINDS,
    FOLLOWUP_STATES,
    METRICS,
    OPEN_STATUSES,
    LabelBounds,
    bound,
)
from slawatch.metrics.protocols import StateLike

__all__ = ["AGE_BANDS", "FollowupsFn", "StateCollector", "age_band", "register_state_source"]

S = TypeVar("S", bound=StateLike)
# ``SlaEngine.followups(state, now)``: (kind, "due"|"overdue") pairs a ticket still owes.
# Whether a follow-up is due or overdue depends on the wall clock, so it is asked at
# scrape time rather than stored in the state.
FollowupsFn = Callable[[S, float], Iterable[tuple[str, str]]]

HOUR = 3600.0
DAY = 86400.0
# (upper bound in wall-clock seconds since creation, label), youngest first.
AGE_BANDS: tuple[tuple[float, str], ...] = (
    (HOUR, "lt_1h"),
    (4 * HOUR, "1h_4h"),
    (DAY, "4h_1d"),
    (3 * DAY, "1d_3d"),
    (7 * DAY, "3d_7d"),
    (float("inf"), "gt_7d"),
)

_OWNER = ("priority", "department")
# age_band as a bisect: band i holds ages in [_UPPERS[i-1], _UPPERS[i]).
_UPPERS = tuple(upper for upper, _ in AGE_BANDS[:-1])
_BAND_LABELS = tuple(label for _, label in AGE_BANDS)
#: ``waiting`` label of ``slawatch_tickets_awaiting_creation``: since the ticket's latest
#: held event (an upstream that sends a creation late is normal for minutes, not hours).
AWAITING_LABELS = ("lt_1h", "gt_1h")


def age_band(age_seconds: float) -> str:
    """The ``age`` label for a ticket opened ``age_seconds`` ago (wall clock)."""
    for upper, label in AGE_BANDS:
        if age_seconds < upper:
            return label
    return AGE_BANDS[-1][1]  # only reached for NaN


class StateCollector(Collector, Generic[S]):
    """Yields the five state gauges from ``states()`` at each scrape.

    ``states`` must return a snapshot that may be iterated from the scrape thread (for
    example ``list(table.values())`` taken on the event loop, or a copy): the
    collector iterates it once and never mutates it. It returns None while the states
    are not all known (a worker still reading its table after a restart): the gauges
    then have no samples, so Prometheus shows a gap, not a drop. ``now`` gives the wall clock in
    epoch seconds; it is injected so tests and backtests control age. ``followups``
    is the engine's ``followups(state, now)``; without it ``slawatch_followups_due``
    has no samples.

    ``min_interval`` (seconds, on ``monotonic``) reuses the last pass for scrapes that
    come sooner: the pass costs ~1 us per owned ticket, a second at a million tickets,
    and several Prometheus servers (or a too-eager one) scraping every second would
    otherwise spend the worker's core on it. The gauges are then at most that old.
    """

    def __init__(
        self,
        bounds: LabelBounds,
        states: Callable[[], Iterable[S] | None],
        now: Callable[[], float],
        followups: FollowupsFn[S] | None = None,
        *,
        min_interval: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bounds = bounds
        self._states = states
        self._now = now
        self._followups = followups
        self._min_interval = min_interval
        self._monotonic = monotonic
        self._last: tuple[float, tuple[Tally[tuple[str, ...]], ...]] | None = None

    def describe(self) -> Iterable[Metric]:
        # Without describe() the registry would call collect() on register, reading
        # the state table before the worker has recovered it.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        at = self._monotonic()
        if self._last is None or at - self._last[0] >= self._min_interval:
            states = self._states()
            if states is None:  # not known yet: no samples rather than too-low ones
                self._last = None
                return self._families()
            self._last = (at, self._tally(states))
        families = self._families()
        for family, counts in zip(families, self._last[1], strict=True):
            for labels, value in sorted(counts.items()):
                family.add_metric(list(labels), value)
        return families

    def _tally(self, states: Iterable[S]) -> tuple[Tally[tuple[str, ...]], ...]:
        open_tickets: Tally[tuple[str, ...]] = Tally()
        by_age: Tally[tuple[str, ...]] = Tally()
        at_risk: Tally[tuple[str, ...]] = Tally()
        followups: Tally[tuple[str, ...]] = Tally()
        # Both series always, 0 when none: "> 0" then has a series to compare, and an
        # empty result means "not exported", as for slawatch_calendar_year_missing.
        awaiting: Tally[tuple[str, ...]] = Tally({(label,): 0 for label in AWAITING_LABELS})
        now = self._now()
        b = self._bounds
        # One pass over every owned ticket per scrape, so the loop only counts raw
        # (priority, department, status, age band index) keys; labels are bounded
        # afterwards, once per distinct key (~1 us per ticket instead of ~3).
        raw_open: dict[tuple[str | None, str | None, str, int], int] = {}
        raw_risk: dict[tuple[str | None, str | None, str], int] = {}
        uppers = _UPPERS
        follow = self._followups
        for state in states:
            dims = state.dims
            # Same rule as TicketState.is_open: a ticket known only from later events
            # (its ticket.created not seen yet) is not in the backlog.
            status = state.status
            created = state.created_at
            if created is None:
                since = state.awaiting_since
                if since is not None:
                    awaiting[(AWAITING_LABELS[now - since >= HOUR],)] += 1
            elif status not in ("resolved", "closed"):
                key = (dims.priority, dims.department, status, bisect_right(uppers, now - created))
                raw_open[key] = raw_open.get(key, 0) + 1
            for metric in state.at_risk_metrics:
                rkey = (dims.priority, dims.department, metric)
                raw_risk[rkey] = raw_risk.get(rkey, 0) + 1
            if follow is not None:
                for kind, due in follow(state, now):
                    followups[bound(kind, FOLLOWUP_KINDS), bound(due, FOLLOWUP_STATES)] += 1
        for (priority, department, status, band), n in raw_open.items():
            owner = (b.priority(priority), b.department(department))
            open_tickets[(bound(status, OPEN_STATUSES), *owner)] += n
            by_age[(_BAND_LABELS[min(band, len(_BAND_LABELS) - 1)], *owner)] += n
        for (priority, department, metric), n in raw_risk.items():
            at_risk[bound(metric, METRICS), b.priority(priority), b.department(department)] += n
        return (open_tickets, by_age, at_risk, followups, awaiting)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "slawatch_open_tickets",
                "Tickets not resolved or closed in this worker's partitions, by status.",
                labels=("status", *_OWNER),
            ),
            GaugeMetricFamily(
                "slawatch_open_tickets_by_age",
                "Open tickets by wall-clock time since creation.",
                labels=("age", *_OWNER),
            ),
            GaugeMetricFamily(
                "slawatch_tickets_at_risk",
                "Tickets warned but not breached whose clock still runs, by SLA metric.",
                labels=("metric", *_OWNER),
            ),
            GaugeMetricFamily(
                "slawatch_followups_due",
                "Follow-ups (survey, visit) due or overdue and not done.",
                labels=("kind", "state"),
            ),
            GaugeMetricFamily(
                "slawatch_tickets_awaiting_creation",
                "Tickets known only from events held until their ticket.created arrives, by wall-clock "
                "time since the latest of those events.",
                labels=("waiting",),
            ),
        ]


def register_state_source(
    registry: CollectorRegistry,
    bounds: LabelBounds,
    states: Callable[[], Iterable[S] | None],
    now: Callable[[], float],
    followups: FollowupsFn[S] | None = None,
    *,
    min_interval: float = 0.0,
) -> StateCollector[S]:
    """Register a :class:`StateCollector` over ``states`` on ``registry`` and return it.

    Call once per registry; ``registry.unregister(collector)`` removes it (e.g. when
    the app stops). Raises ``ValueError`` if the gauges are already registered.
    """
    collector = StateCollector(bounds, states, now, followups, min_interval=min_interval)
    registry.register(collector)
    return collector
