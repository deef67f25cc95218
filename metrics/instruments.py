"""The metric catalogue: every counter, histogram and gauge slawatch records itself.

Names, labels and buckets are exactly those of docs/CONTRACTS-dev.md, because the
dashboards and alert rules query them by name. Every metric is created on the registry
passed in (never the global one), so tests and several apps in one process each get
their own, as faust's Prometheus sensor does with its ``FaustMetrics`` NamedTuple.

The scrape-time gauges over ticket state are in :mod:`slawatch.metrics.state_collector`.
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ALERT_DELAY_BUCKETS",
    "BUSINESS_TIME_BUCKETS",
    "EVENT_LAG_BUCKETS",
    "SATISFACTION_BUCKETS",
    "TIMER_RUN_BUCKETS",
    "Instruments",
    "build_instruments",
]

DIMENSIONS = ("priority", "department", "channel", "product_line", "vendor")
OWNER = ("priority", "department")

# Business seconds. The edges include the SLA targets of the default policy, so
# "share within target" can be read off a bucket: 30 min, 1 h, 4 h, 1 working day
# (9 h = 32400 s), 3/5/7 working days (97200/162000/226800 s).
BUSINESS_TIME_BUCKETS = (
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 32400.0, 64800.0,
    97200.0, 162000.0, 226800.0, 324000.0, 648000.0, 1296000.0,
)  # fmt: skip
# Wall clock minus occurred_at: from a healthy pipeline (tens of ms) to a day of
# backlog replayed after an outage.
EVENT_LAG_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    14400.0, 86400.0,
)  # fmt: skip
# sla.md asks for an alert within 1 s of its instant, so the edges are dense below 1 s.
ALERT_DELAY_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
# A timer run is due every 0.2 s by default; it must stay well below that.
TIMER_RUN_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5,
)  # fmt: skip
# Survey scores are integers 0-10; one bucket per score (0 falls in le="1").
SATISFACTION_BUCKETS = tuple(float(score) for score in range(1, 11))


class Instruments(NamedTuple):
    """The metric objects, one field per catalogue entry."""

    events_applied: Counter
    events_duplicate: Counter
    events_miskeyed: Counter
    events_mispartitioned: Counter
    events_dead_lettered: Counter
    tickets_created: Counter
    tickets_resolved: Counter
    tickets_closed: Counter
    tickets_reopened: Counter
    complaints: Counter
    surveys: Counter
    satisfaction_score: Histogram
    followups: Counter
    clocks_stopped: Counter
    sla_warnings: Counter
    sla_breaches: Counter
    sla_escalations: Counter
    alerts_published: Counter
    timer_runs: Counter
    ticks_deferred: Counter
    input_offset_gaps: Counter
    input_reread: Counter
    input_unrecovered: Counter
    response_time: Histogram
    resolution_time: Histogram
    event_lag: Histogram
    alert_delay: Histogram
    timer_run_duration: Histogram
    last_event_processed: Gauge
    owned_partitions: Gauge
    deadline_index_size: Gauge
    summaries_pending: Gauge
    calendar_year_missing: Gauge


def build_instruments(registry: CollectorRegistry) -> Instruments:
    """Create every metric of the catalogue on ``registry``."""
    r = registry
    return Instruments(
        events_applied=Counter(
            "slawatch_events_applied_total",
            "Input events applied to a ticket, by event type.",
            ["type"],
            registry=r,
        ),
        events_duplicate=Counter(
            "slawatch_events_duplicate_total",
            "Input events ignored because their event_id was already applied.",
            registry=r,
        ),
        events_miskeyed=Counter(
            "slawatch_events_miskeyed_total",
            "Input events whose Kafka message key is not their ticket_id (applied all the same).",
            registry=r,
        ),
        events_mispartitioned=Counter(
            "slawatch_events_mispartitioned_total",
            "Input events keyed by their ticket_id but not in the partition Kafka's default "
            "(murmur2) partitioner gives that key (applied all the same).",
            registry=r,
        ),
        events_dead_lettered=Counter(
            "slawatch_events_dead_lettered_total",
            "Input events rejected and sent to the dead-letter topic, by reason code.",
            ["reason"],
            registry=r,
        ),
        tickets_created=Counter(
            "slawatch_tickets_created_total",
            "Tickets created.",
            DIMENSIONS,
            registry=r,
        ),
        tickets_resolved=Counter(
            "slawatch_tickets_resolved_total",
            "Tickets resolved, by whether within the resolution target and whether solved at first contact.",
            (*DIMENSIONS, "on_time", "first_contact"),
            registry=r,
        ),
        tickets_closed=Counter(
            "slawatch_tickets_closed_total",
            "Tickets closed.",
            OWNER,
            registry=r,
        ),
        tickets_reopened=Counter(
            "slawatch_tickets_reopened_total",
            "Tickets reopened.",
            OWNER,
            registry=r,
        ),
        complaints=Counter(
            "slawatch_complaints_total",
            "Customer complaints about ticket handling; repeat=false is a ticket's first.",
            (*OWNER, "repeat"),
            registry=r,
        ),
        surveys=Counter(
            "slawatch_surveys_total",
            "Satisfaction surveys submitted.",
            OWNER,
            registry=r,
        ),
        satisfaction_score=Histogram(
            "slawatch_satisfaction_score",
            "Satisfaction survey scores (0-10).",
            OWNER,
            buckets=SATISFACTION_BUCKETS,
            registry=r,
        ),
        followups=Counter(
            "slawatch_followups_total",
            "Follow-ups (回访) completed, by method and outcome.",
            ["method", "satisfied"],
            registry=r,
        ),
        clocks_stopped=Counter(
            "slawatch_sla_clocks_stopped_total",
            "SLA clocks stopped, by whether the target was met.",
            ("metric", *OWNER, "within_target"),
            registry=r,
        ),
        sla_warnings=Counter(
            "slawatch_sla_warnings_total",
            "sla.warning alerts published.",
            ("metric", *OWNER),
            registry=r,
        ),
        sla_breaches=Counter(
            "slawatch_sla_breaches_total",
            "sla.breached alerts published.",
            ("metric", *OWNER),
            registry=r,
        ),
        sla_escalations=Counter(
            "slawatch_sla_escalations_total",
            "sla.escalated alerts published, by level.",
            ("metric", "level", *OWNER),
            registry=r,
        ),
        alerts_published=Counter(
            "slawatch_alerts_published_total",
            "Alert records published, by kind.",
            ["kind"],
            registry=r,
        ),
        ticks_deferred=Counter(
            "slawatch_ticks_deferred_total",
            "Ticks not applied because their sender had applied more input than this worker "
            "(replayed after a crash or a rebalance); their tickets are ticked again later.",
            registry=r,
        ),
        input_offset_gaps=Counter(
            "slawatch_input_offsets_skipped_total",
            "Input offsets the stream jumped over: messages never handed to the worker "
            "(seen with Faust after a rebalance), or transaction markers of transactional "
            "producers.",
            registry=r,
        ),
        input_reread=Counter(
            "slawatch_input_messages_reread_total",
            "Input messages of skipped offsets read again from the broker and applied.",
            registry=r,
        ),
        input_unrecovered=Counter(
            "slawatch_input_offsets_unrecovered_total",
            "Skipped input offsets that could not be read again: their messages are not applied.",
            registry=r,
        ),
        timer_runs=Counter(
            "slawatch_timer_runs_total",
            "Runs of the deadline timer.",
            registry=r,
        ),
        response_time=Histogram(
            "slawatch_response_time_seconds",
            "Business seconds from creation to first response.",
            ("priority", "department", "channel"),
            buckets=BUSINESS_TIME_BUCKETS,
            registry=r,
        ),
        resolution_time=Histogram(
            "slawatch_resolution_time_seconds",
            "Business seconds on the resolution clock at resolution (pauses excluded).",
            ("priority", "department", "channel"),
            buckets=BUSINESS_TIME_BUCKETS,
            registry=r,
        ),
        event_lag=Histogram(
            "slawatch_event_lag_seconds",
            "Wall clock minus the event's occurred_at when it was processed.",
            buckets=EVENT_LAG_BUCKETS,
            registry=r,
        ),
        alert_delay=Histogram(
            "slawatch_alert_delay_seconds",
            "Publish wall time minus the threshold instant, for live alerts.",
            buckets=ALERT_DELAY_BUCKETS,
            registry=r,
        ),
        timer_run_duration=Histogram(
            "slawatch_timer_run_duration_seconds",
            "Wall time of one deadline timer run.",
            buckets=TIMER_RUN_BUCKETS,
            registry=r,
        ),
        last_event_processed=Gauge(
            "slawatch_last_event_processed_timestamp_seconds",
            "Unix time at which this worker last processed an input event.",
            registry=r,
        ),
        owned_partitions=Gauge(
            "slawatch_owned_partitions",
            "Input partitions currently assigned to this worker.",
            registry=r,
        ),
        deadline_index_size=Gauge(
            "slawatch_deadline_index_size",
            "Entries in this worker's deadline index (running clocks with a next threshold).",
            registry=r,
        ),
        summaries_pending=Gauge(
            "slawatch_ticket_summaries_pending",
            "Tickets indexed by the last restart or rebalance whose summaries are still being "
            "read; the ticket state gauges have no samples until it is 0.",
            registry=r,
        ),
        calendar_year_missing=Gauge(
            "slawatch_calendar_year_missing",
            "1 when a clock reached a year the calendar's holiday preset lacks and the "
            "policy lists no holidays for it.",
            ["calendar", "year"],
            registry=r,
        ),
    )
