"""slawatch.metrics: each recorder method, label bounding, scrape-time gauges, exposition.

Every test builds its own ``CollectorRegistry`` (never the global one) and reads values
back with ``registry.get_sample_value``. Engine objects are stand-in dataclasses with
the contract's attributes, so these tests do not depend on ``slawatch.sla.engine``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from slawatch.metrics import (
    AlertLike,
    CalendarLike,
    LabelBounds,
    ObservationLike,
    SlaMetrics,
    StateLike,
    build_metrics,
)
from slawatch.metrics.labels import bound, code_label
from slawatch.metrics.state_collector import StateCollector, age_band
from slawatch.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NOW = 1_763_700_000.0

# --- stand-ins for the engine's objects ------------------------------------------------


@dataclass(frozen=True)
class Dims:
    priority: str | None = "urgent"
    department: str | None = "repair"
    channel: str | None = "phone"
    product_line: str | None = "hvac"
    vendor: str | None = "vendor_a"
    category: str | None = "quality"
    customer_tier: str | None = "vip"
    assignee: str | None = "张三"


@dataclass(frozen=True)
class Obs:
    kind: str
    value: float | None = None
    ok: bool | None = None
    dims: Dims = field(default_factory=Dims)
    at: float = NOW - 60


@dataclass(frozen=True)
class ResolvedObs(Obs):
    first_contact: bool | None = None


@dataclass(frozen=True)
class FollowupObs(Obs):
    method: str | None = "phone"


@dataclass(frozen=True)
class FakeAlert:
    kind: str
    metric: str
    level: int | None = None
    priority: str | None = "urgent"
    department: str | None = "repair"
    ticket_id: str = "20261122007"
    assignee: str | None = "张三"


@dataclass
class FakeState:
    status: str = "open"
    dims: Dims = field(default_factory=Dims)
    created_at: float | None = NOW - 60
    at_risk_metrics: tuple[str, ...] = ()
    followups_due: tuple[tuple[str, str], ...] = ()  # what fake_followups answers
    ticket_id: str = "20261122007"
    awaiting_since: float | None = None


def fake_followups(state: FakeState, now: float) -> Iterable[tuple[str, str]]:
    """Stands in for ``SlaEngine.followups(state, now)``."""
    return state.followups_due


if TYPE_CHECKING:
    # Checked by mypy only (nothing is imported at run time): the engine's real objects
    # must keep fitting the shapes metrics reads.
    from slawatch.metrics.state_collector import FollowupsFn
    from slawatch.sla.alerts import Alert
    from slawatch.sla.engine import Observation, SlaEngine, TicketState
    from slawatch.sla.policy import Policy

    def _engine_objects_fit(
        state: TicketState, obs: Observation, alert: Alert, engine: SlaEngine
    ) -> tuple[StateLike, ObservationLike, AlertLike, FollowupsFn[TicketState]]:
        return state, obs, alert, engine.followups


BOUNDS = LabelBounds(
    departments=frozenset({"repair", "installation", "customer_service"}),
    channels=frozenset({"phone", "email", "app", "web", "wechat", "visit", "other"}),
    product_lines=frozenset({"appliance", "hvac", "kitchen", "smart_home", "other"}),
    vendors=frozenset({"in_house", "vendor_a", "vendor_b", "vendor_c"}),
)
D = {
    "priority": "urgent",
    "department": "repair",
    "channel": "phone",
    "product_line": "hvac",
    "vendor": "vendor_a",
}
OWNER = {"priority": "urgent", "department": "repair"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> SlaMetrics:
    return build_metrics(registry, BOUNDS)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def all_samples(registry: CollectorRegistry) -> dict[SampleKey, float]:
    """Every sample except ``_created`` timestamps, to check that nothing moved."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def exercise_everything(metrics: SlaMetrics) -> None:
    """Record at least one sample of every metric of the catalogue."""
    metrics.event_applied("ticket.created", lag_seconds=0.02)
    metrics.duplicate()
    metrics.dead_lettered("missing_field")
    metrics.event_processed(NOW)
    for obs in (
        Obs("created"),
        Obs("responded", value=1200, ok=True),
        ResolvedObs("resolved", value=90_000, ok=True, first_contact=True),
        Obs("closed"),
        Obs("reopened"),
        Obs("complaint", ok=True),
        Obs("complaint", ok=False),
        Obs("survey", value=9),
        FollowupObs("followup", ok=True, method="visit"),
    ):
        metrics.observe(obs)
    metrics.alert(FakeAlert("sla.warning", "response"), delay_seconds=0.1)
    metrics.alert(FakeAlert("sla.breached", "resolution"), delay_seconds=None)
    metrics.alert(FakeAlert("sla.escalated", "resolution", level=1), delay_seconds=0.3)
    metrics.timer_run(0.004)
    metrics.set_owned_partitions(4)
    metrics.set_deadline_index_size(17)
    metrics.calendar_year_missing("business", 2031)
    states = [
        FakeState(status="in_progress", created_at=NOW - 7200, at_risk_metrics=("response",)),
        FakeState(status="resolved", followups_due=(("survey", "due"),)),
        FakeState(created_at=None, awaiting_since=NOW - 60),
    ]
    metrics.register_state_source(lambda: states, lambda: NOW, fake_followups)


# --- labels -----------------------------------------------------------------------------


def test_label_bounds_come_from_settings() -> None:
    settings = Settings.model_validate({"departments": ["repair"], "vendors": ["vendor_a"]})
    bounds = LabelBounds.from_settings(settings)
    assert bounds.department("repair") == "repair"
    assert bounds.department("维修部") == "other"
    assert bounds.department(None) == "unknown"
    assert bounds.department("") == "unknown"
    assert bounds.vendor("vendor_b") == "other"
    assert bounds.channel("wechat") == "wechat"


def test_priority_is_bounded_to_the_contract_set() -> None:
    assert [BOUNDS.priority(p) for p in ("normal", "urgent", "major")] == [
        "normal",
        "urgent",
        "major",
    ]
    assert BOUNDS.priority("critical") == "other"
    assert BOUNDS.priority(None) == "unknown"


def test_code_label_keeps_codes_and_folds_free_text() -> None:
    assert code_label("bad_timestamp") == "bad_timestamp"
    assert code_label("required field 'priority' is missing") == "other"
    assert code_label("x" * 200) == "other"
    assert code_label(None) == "unknown"
    assert bound("ticket.created", ("ticket.created",)) == "ticket.created"


def test_vocabularies_agree_with_the_event_contract() -> None:
    """metrics keeps its own copies so as not to import the engine; they must not drift."""
    events = pytest.importorskip("slawatch.sla.events")
    from slawatch.metrics import labels

    assert set(labels.EVENT_TYPES) == set(events.EVENT_TYPES)
    assert set(labels.PRIORITIES) == set(events.PRIORITIES)
    assert set(labels.FOLLOWUP_METHODS) == set(events.FOLLOWUP_METHODS)
    assert set(labels.OPEN_STATUSES) | {"resolved", "closed"} == set(events.STATUSES)


# --- input events -------------------------------------------------------------------------


def test_event_applied_counts_by_type_and_observes_lag(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.event_applied("ticket.created", lag_seconds=0.03)
    metrics.event_applied("ticket.created", lag_seconds=None)
    metrics.event_applied("ticket.merged", lag_seconds=-2.0)
    assert value(registry, "slawatch_events_applied_total", type="ticket.created") == 2
    assert value(registry, "slawatch_events_applied_total", type="other") == 1
    assert value(registry, "slawatch_events_applied_total", type="ticket.closed") == 0
    # None is not observed; a negative lag (clock skew) is observed as 0.
    assert value(registry, "slawatch_event_lag_seconds_count") == 2
    assert value(registry, "slawatch_event_lag_seconds_sum") == pytest.approx(0.03)
    assert value(registry, "slawatch_event_lag_seconds_bucket", le="0.01") == 1
    assert value(registry, "slawatch_event_lag_seconds_bucket", le="86400.0") == 2


def test_duplicate_and_dead_lettered(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.duplicate()
    metrics.duplicate()
    metrics.dead_lettered("missing_field")
    metrics.dead_lettered("Something went wrong with customer 13800138000")
    assert value(registry, "slawatch_events_duplicate_total") == 2
    assert value(registry, "slawatch_events_dead_lettered_total", reason="missing_field") == 1
    assert value(registry, "slawatch_events_dead_lettered_total", reason="other") == 1


def test_event_processed_sets_the_timestamp(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.event_processed(NOW)
    assert value(registry, "slawatch_last_event_processed_timestamp_seconds") == NOW


# --- observations ---------------------------------------------------------------------------


def test_created_counts_with_all_dimensions(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.observe(Obs("created"))
    metrics.observe(Obs("created", dims=Dims(department="维修部", vendor=None, channel="fax")))
    assert value(registry, "slawatch_tickets_created_total", **D) == 1
    bounded = {**D, "department": "other", "vendor": "unknown", "channel": "other"}
    assert value(registry, "slawatch_tickets_created_total", **bounded) == 1


def test_responded_feeds_response_time_and_compliance(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.observe(Obs("responded", value=1200, ok=True))
    metrics.observe(Obs("responded", value=5000, ok=False))
    hist = {"priority": "urgent", "department": "repair", "channel": "phone"}
    assert value(registry, "slawatch_response_time_seconds_count", **hist) == 2
    assert value(registry, "slawatch_response_time_seconds_sum", **hist) == 6200
    assert value(registry, "slawatch_response_time_seconds_bucket", **hist, le="1800.0") == 1
    assert value(registry, "slawatch_response_time_seconds_bucket", **hist, le="7200.0") == 2
    stopped = "slawatch_sla_clocks_stopped_total"
    assert value(registry, stopped, metric="response", **OWNER, within_target="true") == 1
    assert value(registry, stopped, metric="response", **OWNER, within_target="false") == 1
    assert value(registry, "slawatch_resolution_time_seconds_count", **hist) is None


def test_resolved_feeds_resolution_time_counts_and_compliance(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.observe(ResolvedObs("resolved", value=90_000, ok=True, first_contact=True))
    metrics.observe(ResolvedObs("resolved", value=200_000, ok=False, first_contact=None))
    metrics.observe(Obs("resolved", value=3600, ok=True))  # no first_contact attribute at all
    hist = {"priority": "urgent", "department": "repair", "channel": "phone"}
    assert value(registry, "slawatch_resolution_time_seconds_count", **hist) == 3
    assert value(registry, "slawatch_resolution_time_seconds_bucket", **hist, le="97200.0") == 2
    resolved = "slawatch_tickets_resolved_total"
    assert value(registry, resolved, **D, on_time="true", first_contact="true") == 1
    assert value(registry, resolved, **D, on_time="false", first_contact="unknown") == 1
    assert value(registry, resolved, **D, on_time="true", first_contact="unknown") == 1
    stopped = "slawatch_sla_clocks_stopped_total"
    assert value(registry, stopped, metric="resolution", **OWNER, within_target="true") == 2
    assert value(registry, stopped, metric="resolution", **OWNER, within_target="false") == 1


def test_clock_without_duration_counts_the_ticket_but_not_compliance(
    registry: CollectorRegistry, metrics: SlaMetrics
) -> None:
    metrics.observe(ResolvedObs("resolved", value=None, ok=None, first_contact=False))
    resolved = "slawatch_tickets_resolved_total"
    assert value(registry, resolved, **D, on_time="false", first_contact="false") == 1
    hist = {"priority": "urgent", "department": "repair", "channel": "phone"}
    assert value(registry, "slawatch_resolution_time_seconds_count", **hist) is None
    stopped = "slawatch_sla_clocks_stopped_total"
    assert value(registry, stopped, metric="resolution", **OWNER, within_target="false") is None


def test_closed_reopened_and_complaints(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.observe(Obs("closed"))
    metrics.observe(Obs("reopened"))
    metrics.observe(Obs("reopened", dims=Dims(priority=None, department="sales")))
    metrics.observe(Obs("complaint", ok=True))
    metrics.observe(Obs("complaint", ok=False))
    metrics.observe(Obs("complaint", ok=False))
    assert value(registry, "slawatch_tickets_closed_total", **OWNER) == 1
    assert value(registry, "slawatch_tickets_reopened_total", **OWNER) == 1
    other = {"priority": "unknown", "department": "other"}
    assert value(registry, "slawatch_tickets_reopened_total", **other) == 1
    assert value(registry, "slawatch_complaints_total", **OWNER, repeat="false") == 1
    assert value(registry, "slawatch_complaints_total", **OWNER, repeat="true") == 2


def test_survey_counts_and_scores(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    for score in (10, 7, 0):
        metrics.observe(Obs("survey", value=score))
    assert value(registry, "slawatch_surveys_total", **OWNER) == 3
    assert value(registry, "slawatch_satisfaction_score_count", **OWNER) == 3
    assert value(registry, "slawatch_satisfaction_score_sum", **OWNER) == 17
    assert value(registry, "slawatch_satisfaction_score_bucket", **OWNER, le="1.0") == 1
    assert value(registry, "slawatch_satisfaction_score_bucket", **OWNER, le="7.0") == 2
    assert value(registry, "slawatch_satisfaction_score_bucket", **OWNER, le="10.0") == 3


def test_followups_by_method_and_outcome(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.observe(FollowupObs("followup", ok=True, method="phone"))
    metrics.observe(FollowupObs("followup", ok=None, method="visit"))
    metrics.observe(FollowupObs("followup", ok=False, method="carrier pigeon"))
    metrics.observe(Obs("followup", ok=True))  # no method attribute
    name = "slawatch_followups_total"
    assert value(registry, name, method="phone", satisfied="true") == 1
    assert value(registry, name, method="visit", satisfied="unknown") == 1
    assert value(registry, name, method="other", satisfied="false") == 1
    assert value(registry, name, method="unknown", satisfied="true") == 1


@pytest.mark.parametrize("kind", ["priority_changed", "status_changed", "kind_from_the_future"])
def test_observations_without_a_metric_move_nothing(
    registry: CollectorRegistry, metrics: SlaMetrics, kind: str
) -> None:
    before = all_samples(registry)
    metrics.observe(Obs(kind, value=1.0, ok=True))
    assert all_samples(registry) == before


# --- alerts, timer, worker gauges -------------------------------------------------------------


def test_alerts_count_by_kind_metric_level_and_owner(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.alert(FakeAlert("sla.warning", "response"), delay_seconds=0.2)
    metrics.alert(FakeAlert("sla.breached", "response"), delay_seconds=0.4)
    metrics.alert(FakeAlert("sla.escalated", "response", level=1), delay_seconds=None)
    metrics.alert(FakeAlert("sla.escalated", "complaint", level=2, department="售后"), None)
    assert value(registry, "slawatch_sla_warnings_total", metric="response", **OWNER) == 1
    assert value(registry, "slawatch_sla_breaches_total", metric="response", **OWNER) == 1
    esc = "slawatch_sla_escalations_total"
    assert value(registry, esc, metric="response", level="1", **OWNER) == 1
    assert value(registry, esc, metric="complaint", level="2", priority="urgent", department="other") == 1
    assert value(registry, "slawatch_alerts_published_total", kind="sla.warning") == 1
    assert value(registry, "slawatch_alerts_published_total", kind="sla.breached") == 1
    assert value(registry, "slawatch_alerts_published_total", kind="sla.escalated") == 2
    assert value(registry, "slawatch_alert_delay_seconds_count") == 2
    assert value(registry, "slawatch_alert_delay_seconds_sum") == pytest.approx(0.6)
    assert value(registry, "slawatch_alert_delay_seconds_bucket", le="0.25") == 1


def test_alert_series_exist_at_zero_before_the_first_alert(registry: CollectorRegistry) -> None:
    build_metrics(registry, BOUNDS)
    for kind in ("sla.warning", "sla.breached", "sla.escalated"):
        assert value(registry, "slawatch_alerts_published_total", kind=kind) == 0


def test_sla_signal_series_exist_at_zero_per_configured_department(registry: CollectorRegistry) -> None:
    """So increase() over a breach-burst rule sees a department's first breach."""
    build_metrics(registry, BOUNDS)
    department = sorted(BOUNDS.departments)[0]
    labels = {"priority": "urgent", "department": department}
    assert value(registry, "slawatch_sla_warnings_total", metric="response", **labels) == 0
    assert value(registry, "slawatch_sla_breaches_total", metric="resolution", **labels) == 0
    assert value(registry, "slawatch_sla_escalations_total", metric="resolution", level="1", **labels) == 0
    assert value(registry, "slawatch_sla_escalations_total", metric="complaint", level="2", **labels) == 0
    # Bounded: no series for folded values, and no level-1 complaint escalation (never fired).
    folded = {"priority": "urgent", "department": "other"}
    assert value(registry, "slawatch_sla_breaches_total", metric="response", **folded) is None
    assert value(registry, "slawatch_sla_escalations_total", metric="complaint", level="1", **labels) is None


def test_timer_run(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.timer_run(0.003)
    metrics.timer_run(0.3)
    assert value(registry, "slawatch_timer_runs_total") == 2
    assert value(registry, "slawatch_timer_run_duration_seconds_count") == 2
    assert value(registry, "slawatch_timer_run_duration_seconds_bucket", le="0.005") == 1


def test_worker_gauges(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.set_owned_partitions(3)
    metrics.set_owned_partitions(2)
    metrics.set_deadline_index_size(1234)
    soon = datetime.now(UTC).year + 5
    metrics.calendar_year_missing("business", soon)
    metrics.calendar_year_missing("business", soon)
    assert value(registry, "slawatch_owned_partitions") == 2
    assert value(registry, "slawatch_deadline_index_size") == 1234
    assert value(registry, "slawatch_calendar_year_missing", calendar="business", year=str(soon)) == 1


def test_a_year_far_from_now_is_labelled_other(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    """A mistyped year in an event (2206 for 2026) must not add a series per typo."""
    for far in (datetime.now(UTC).year + 180, datetime.now(UTC).year + 300, 1950):
        metrics.calendar_year_missing("business", far)
    assert value(registry, "slawatch_calendar_year_missing", calendar="business", year="other") == 1
    years = {
        s.labels["year"] for m in registry.collect() for s in m.samples if m.name == "slawatch_calendar_year_missing"
    }
    assert years == {"other"}


@dataclass(frozen=True)
class FakeCalendar:
    lacks: frozenset[int] = frozenset()

    def missing_years(self, first_year: int, last_year: int) -> list[int]:
        return [y for y in range(first_year, last_year + 1) if y in self.lacks]


if TYPE_CHECKING:

    def _calendars_fit(policy: Policy) -> Mapping[str, CalendarLike]:
        return policy.calendars


def test_watch_calendars_exports_every_calendars_current_year(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    """The gauge exists from start-up (0 when covered), so ``== 1`` has something to test."""
    year = str(datetime.fromtimestamp(NOW, UTC).year)
    calendars = {
        "business": FakeCalendar(),
        "field_service": FakeCalendar(lacks=frozenset({int(year)})),
        "24x7": FakeCalendar(),  # a policy name: kept, although it starts with a digit
    }
    metrics.watch_calendars(calendars, NOW)
    name = "slawatch_calendar_year_missing"
    assert value(registry, name, calendar="business", year=year) == 0
    assert value(registry, name, calendar="field_service", year=year) == 1
    assert value(registry, name, calendar="24x7", year=year) == 0
    # A later year a clock reaches is still reported by calendar_year_missing.
    metrics.calendar_year_missing("business", int(year) + 1)
    assert value(registry, name, calendar="business", year=str(int(year) + 1)) == 1
    assert value(registry, name, calendar="business", year=year) == 0


def test_watch_calendars_keeps_a_missing_year_when_names_fold_together(
    registry: CollectorRegistry, metrics: SlaMetrics
) -> None:
    year = str(datetime.fromtimestamp(NOW, UTC).year)
    lacking = FakeCalendar(lacks=frozenset({int(year)}))
    metrics.watch_calendars({"1st shift": lacking, "2nd shift": FakeCalendar()}, NOW)
    assert value(registry, "slawatch_calendar_year_missing", calendar="other", year=year) == 1


def test_each_registry_is_independent() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    build_metrics(first, BOUNDS).duplicate()
    build_metrics(second, BOUNDS)
    assert value(first, "slawatch_events_duplicate_total") == 1
    assert value(second, "slawatch_events_duplicate_total") == 0


# --- scrape-time state gauges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "lt_1h"),
        (3599.9, "lt_1h"),
        (3600, "1h_4h"),
        (4 * 3600, "4h_1d"),
        (86400, "1d_3d"),
        (3 * 86400, "3d_7d"),
        (7 * 86400, "gt_7d"),
        (400 * 86400, "gt_7d"),
        (-5, "lt_1h"),
    ],
)
def test_age_band(age: float, band: str) -> None:
    assert age_band(age) == band


def test_state_gauges_at_scrape_time(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    states: list[FakeState] = [
        FakeState(status="open", created_at=NOW - 600),
        FakeState(status="in_progress", created_at=NOW - 5 * 3600, at_risk_metrics=("response",)),
        FakeState(
            status="waiting_customer",
            created_at=NOW - 10 * 86400,
            at_risk_metrics=("resolution", "complaint"),
        ),
        FakeState(status="open", created_at=NOW - 120, dims=Dims(department="维修部")),
        FakeState(status="open", created_at=None),  # ticket.created not seen yet: no backlog
        FakeState(status="resolved", followups_due=(("survey", "due"),)),
        FakeState(status="closed", followups_due=(("visit", "overdue"), ("survey", "overdue"))),
    ]
    clock = [NOW]
    metrics.register_state_source(lambda: states, lambda: clock[0], fake_followups)
    open_ = "slawatch_open_tickets"
    assert value(registry, open_, status="open", **OWNER) == 1
    assert value(registry, open_, status="in_progress", **OWNER) == 1
    assert value(registry, open_, status="waiting_customer", **OWNER) == 1
    assert value(registry, open_, status="open", priority="urgent", department="other") == 1
    assert value(registry, open_, status="resolved", **OWNER) is None
    age = "slawatch_open_tickets_by_age"
    assert value(registry, age, age="lt_1h", **OWNER) == 1
    assert value(registry, age, age="4h_1d", **OWNER) == 1
    assert value(registry, age, age="gt_7d", **OWNER) == 1
    assert value(registry, age, age="lt_1h", priority="urgent", department="other") == 1
    risk = "slawatch_tickets_at_risk"
    assert value(registry, risk, metric="response", **OWNER) == 1
    assert value(registry, risk, metric="resolution", **OWNER) == 1
    assert value(registry, risk, metric="complaint", **OWNER) == 1
    due = "slawatch_followups_due"
    assert value(registry, due, kind="survey", state="due") == 1
    assert value(registry, due, kind="survey", state="overdue") == 1
    assert value(registry, due, kind="visit", state="overdue") == 1

    # Recomputed at each scrape: time passes and tickets change without any event.
    clock[0] = NOW + 3600
    states[0].status = "resolved"
    assert value(registry, open_, status="open", **OWNER) is None
    assert value(registry, age, age="lt_1h", **OWNER) is None
    assert value(registry, age, age="1h_4h", priority="urgent", department="other") == 1
    assert value(registry, age, age="4h_1d", **OWNER) == 1


def test_tickets_awaiting_their_creation_are_counted_by_time_since_their_latest_event(
    registry: CollectorRegistry, metrics: SlaMetrics
) -> None:
    states = [
        FakeState(created_at=None, awaiting_since=NOW - 300),
        FakeState(created_at=None, awaiting_since=NOW - 2 * 3600),
        FakeState(created_at=None, awaiting_since=NOW - 5 * 3600),
        FakeState(created_at=NOW - 60),  # created: in the backlog, not awaiting
    ]
    clock = [NOW]
    metrics.register_state_source(lambda: states, lambda: clock[0])
    name = "slawatch_tickets_awaiting_creation"
    assert (value(registry, name, waiting="lt_1h"), value(registry, name, waiting="gt_1h")) == (1, 2)
    clock[0] = NOW + 3600  # no creation came: the first one is overdue too
    assert (value(registry, name, waiting="lt_1h"), value(registry, name, waiting="gt_1h")) == (0, 3)


class _FreshDims:
    """A state whose ``dims`` is a new object at every read (ids may be reused)."""

    status = "open"
    created_at = NOW - 60
    at_risk_metrics: tuple[str, ...] = ()

    def __init__(self, department: str) -> None:
        self.department = department

    @property
    def dims(self) -> Dims:
        return Dims(department=self.department)


def test_state_gauges_label_memo_survives_dims_objects_that_come_and_go(
    registry: CollectorRegistry, metrics: SlaMetrics
) -> None:
    states = [_FreshDims("repair" if (i // 3) % 2 else "维修部") for i in range(300)]
    metrics.register_state_source(lambda: states, lambda: NOW)
    assert value(registry, "slawatch_open_tickets", status="open", priority="urgent", department="repair") == 150
    assert value(registry, "slawatch_open_tickets", status="open", priority="urgent", department="other") == 150


@pytest.mark.parametrize("age", [-5, 0, 3599.9, 3600, 14400, 86399, 86400, 3 * 86400, 7 * 86400 - 1, 7 * 86400, 1e9])
def test_state_gauges_put_each_age_in_the_band_age_band_names(
    registry: CollectorRegistry, metrics: SlaMetrics, age: float
) -> None:
    metrics.register_state_source(lambda: [FakeState(created_at=NOW - age)], lambda: NOW)
    assert value(registry, "slawatch_open_tickets_by_age", age=age_band(age), **OWNER) == 1


def test_state_source_is_not_read_at_registration(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    def not_ready() -> Iterable[StateLike]:
        raise AssertionError("state table read before the first scrape")

    collector = metrics.register_state_source(not_ready, lambda: NOW)
    registry.unregister(collector)


def test_scrapes_within_min_interval_reuse_the_last_pass_over_the_states() -> None:
    registry = CollectorRegistry()
    mono = [100.0]
    passes: list[int] = []
    states = [FakeState(created_at=NOW - 60)]

    def source() -> list[StateLike]:
        passes.append(1)
        return list(states)

    collector = StateCollector(
        LabelBounds.from_settings(Settings()), source, lambda: NOW, min_interval=5.0, monotonic=lambda: mono[0]
    )
    registry.register(collector)
    assert value(registry, "slawatch_open_tickets", status="open", **OWNER) == 1
    states.append(FakeState(created_at=NOW - 60))
    mono[0] += 4.9
    assert value(registry, "slawatch_open_tickets", status="open", **OWNER) == 1
    mono[0] += 0.1
    assert value(registry, "slawatch_open_tickets", status="open", **OWNER) == 2
    assert len(passes) == 2


def test_empty_state_exposes_the_families_without_samples(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.register_state_source(list, lambda: NOW)
    text = generate_latest(registry).decode()
    for name in ("open_tickets", "open_tickets_by_age", "tickets_at_risk", "followups_due"):
        assert f"# TYPE slawatch_{name} gauge" in text


def test_registering_a_second_state_source_is_refused(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    metrics.register_state_source(list, lambda: NOW)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metrics.register_state_source(list, lambda: NOW)


# --- the catalogue as a whole ------------------------------------------------------------------


def contract_catalogue() -> dict[str, set[str]]:
    """Metric name -> label names, read from docs/CONTRACTS-dev.md."""
    text = (REPO / "docs" / "CONTRACTS-dev.md").read_text(encoding="utf-8")
    section = text.split("## Metric names", 1)[1]
    dims = {"priority", "department", "channel", "product_line", "vendor"}
    catalogue: dict[str, set[str]] = {}
    for name, labels in re.findall(r"`(slawatch_[a-z_]+)(?:\{([^}]*)\})?`", section):
        names: set[str] = set()
        for part in filter(None, (p.strip() for p in labels.split(","))):
            label = part.split("=", 1)[0]
            names |= dims if label == "D" else {label}
        catalogue[name] = names
    return catalogue


def exposed_catalogue(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Metric name (with ``_total`` for counters) -> label names seen in its samples."""
    exposed: dict[str, set[str]] = {}
    for family in registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {k for s in family.samples if not s.name.endswith("_created") for k in s.labels}
        exposed[name] = labels - {"le"}
    return exposed


def test_catalogue_matches_the_contract(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    exercise_everything(metrics)
    assert exposed_catalogue(registry) == contract_catalogue()


def test_docs_list_every_metric() -> None:
    docs = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    missing = [name for name in contract_catalogue() if name not in docs]
    assert not missing, f"docs/metrics.md does not describe {missing}"


def test_no_customer_data_in_labels(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    exercise_everything(metrics)
    text = generate_latest(registry).decode()
    assert "20261122007" not in text
    assert "张三" not in text
    assert "vip" not in text


@pytest.mark.prometheus
def test_exposition_passes_promtool(registry: CollectorRegistry, metrics: SlaMetrics) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        msg = "promtool not found: apt-get install prometheus (Debian's package ships it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    exercise_everything(metrics)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    report = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, report
    assert report.strip() == "", report


def test_state_gauges_have_no_samples_while_the_states_are_not_all_known() -> None:
    # After a restart the worker indexes first and reads ticket summaries in the
    # background: a partial count would look like a drop in the backlog.
    registry = CollectorRegistry()
    ready = [False]
    states = [FakeState(created_at=NOW - 60)]
    metrics = build_metrics(registry, LabelBounds.from_settings(Settings()))
    metrics.register_state_source(lambda: states if ready[0] else None, lambda: NOW)
    assert registry.get_sample_value("slawatch_open_tickets", {"status": "open", **OWNER}) is None
    ready[0] = True
    assert registry.get_sample_value("slawatch_open_tickets", {"status": "open", **OWNER}) == 1
