"""Pipeline health (流水线健康): throughput, duplicates, dead letters, lag, timers, state.

For operators of the slawatch workers. Rates are summed across worker instances;
per-instance panels show how partitions and the deadline index are spread. These
metrics carry no ticket dimensions, so the priority/department/... filters do not apply.
``up{job="slawatch"}`` is Prometheus' own scrape health of the worker targets.
"""

from slawatch.dashboards.common import *

APPLIED = "slawatch_events_applied_total"
DUPLICATES = "slawatch_events_duplicate_total"
MISKEYED = "slawatch_events_miskeyed_total"
MISPARTITIONED = "slawatch_events_mispartitioned_total"
DEAD = "slawatch_events_dead_lettered_total"
LAST_EVENT = "slawatch_last_event_processed_timestamp_seconds"
UP = 'up{job="slawatch"}'

LAST_EVENT_AGE = f"time() - max({LAST_EVENT})"

panels = [
    row("Now 当前"),
    sized(
        stat(
            "Workers up",
            [(f"sum({UP})", "up"), (f"count({UP} == 0) or vector(0)", "down")],
            description="Worker targets Prometheus scrapes successfully / fails to scrape.",
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Events applied / s",
            [(rate(APPLIED), "events/s")],
            unit="ops",
            graph=True,
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Last event age",
            [(LAST_EVENT_AGE, "age")],
            description="Seconds since the most recent event any worker processed.",
            unit="s",
            thresholds=lower_is_better(900, 300),
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Event lag p99",
            [(quantile(0.99, "slawatch_event_lag_seconds"), "p99")],
            description="Wall clock minus occurred_at when the event was processed.",
            unit="s",
            thresholds=lower_is_better(60, 10),
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Alert delay p99",
            [(quantile(0.99, "slawatch_alert_delay_seconds"), "p99")],
            description="Publish time minus threshold instant of live alerts; the SLA semantics ask for < 1 s.",
            unit="s",
            thresholds=lower_is_better(2, 1),
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Dead-lettered (time range)",
            [(inc(DEAD), "DLQ")],
            description="Rejected events sent to the dead-letter topic in the time range.",
            thresholds=lower_is_better(1),
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Owned partitions",
            [("sum(slawatch_owned_partitions)", "partitions")],
            description="Input partitions assigned to the workers (should equal the topic's).",
        ),
        3,
        5,
    ),
    sized(
        stat(
            "Calendar years missing",
            [("count(slawatch_calendar_year_missing == 1) or vector(0)", "missing")],
            description="A clock reached a year the holiday preset lacks; add that year's holidays to the policy.",
            thresholds=lower_is_better(1),
        ),
        3,
        5,
    ),
    row("Throughput 吞吐"),
    sized(
        timeseries(
            "Events applied / s by type",
            [(rate(APPLIED, by="type"), "{{type}}")],
            unit="ops",
            stacked=True,
        ),
        12,
        8,
    ),
    sized(
        timeseries(
            "Duplicates, dead letters and miskeyed events / s",
            [
                (rate(DUPLICATES), "duplicates"),
                (rate(DEAD, by="reason"), "DLQ {{reason}}"),
                (rate(MISKEYED), "not keyed by ticket_id"),
                (rate(MISPARTITIONED), "not in murmur2's partition"),
            ],
            description="Duplicates: repeated event_id, ignored. DLQ: rejected events by reason"
            " code (InvalidEvent.code). Not keyed by ticket_id, or keyed by it but not in the"
            " partition murmur2 gives the key: applied, but the producer breaks the contract"
            " (docs/events.md).",
            unit="ops",
        ),
        12,
        8,
    ),
    row("Latency 延迟"),
    sized(
        timeseries(
            "Event lag 事件延迟",
            [
                (quantile(0.5, "slawatch_event_lag_seconds"), "p50"),
                (quantile(0.99, "slawatch_event_lag_seconds"), "p99"),
            ],
            unit="s",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 60}],
        ),
        8,
        8,
    ),
    sized(
        timeseries(
            "Alert delay 告警延迟",
            [
                (quantile(0.5, "slawatch_alert_delay_seconds"), "p50"),
                (quantile(0.99, "slawatch_alert_delay_seconds"), "p99"),
            ],
            unit="s",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        8,
        8,
    ),
    sized(
        heatmap(
            "Event lag distribution",
            inc("slawatch_event_lag_seconds_bucket", by="le", window="$__rate_interval"),
        ),
        8,
        8,
    ),
    row("Timers, alerts and state 定时器、告警与状态"),
    sized(
        timeseries(
            "Timer runs / s, ticks deferred / s",
            [
                (rate("slawatch_timer_runs_total"), "runs/s"),
                (rate("slawatch_ticks_deferred_total"), "ticks deferred/s"),
                (rate("slawatch_input_offsets_skipped_total"), "input offsets skipped/s"),
                (rate("slawatch_input_messages_reread_total"), "skipped messages re-read/s"),
                (rate("slawatch_input_offsets_unrecovered_total"), "skipped offsets not recovered/s"),
            ],
            description=(
                "Deadline-index sweeps that fire due thresholds. Deferred ticks come after a "
                "crash or a rebalance (replayed ticks wait until the input is caught up). "
                "Skipped input offsets: messages the consumer never delivered, re-read from the "
                "broker and applied; 'not recovered' must stay 0 (those events are not applied)."
            ),
            unit="ops",
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Timer run duration",
            [
                (quantile(0.5, "slawatch_timer_run_duration_seconds"), "p50"),
                (quantile(0.99, "slawatch_timer_run_duration_seconds"), "p99"),
            ],
            unit="s",
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Last event age",
            [(LAST_EVENT_AGE, "seconds since last event")],
            unit="s",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 900}],
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Alerts published / s by kind",
            [(rate("slawatch_alerts_published_total", by="kind"), "{{kind}}")],
            unit="ops",
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Owned partitions by worker",
            [("sum by (instance) (slawatch_owned_partitions)", "{{instance}}")],
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Deadline index size by worker",
            [
                ("sum by (instance) (slawatch_deadline_index_size)", "{{instance}}"),
                ("sum by (instance) (slawatch_ticket_summaries_pending)", "{{instance}} summaries pending"),
            ],
            description=(
                "Running clocks waiting for their next threshold. After a restart or "
                "rebalance, 'summaries pending' counts tickets already indexed whose "
                "summaries are still being read: the ticket gauges are blank until it is 0."
            ),
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Worker up by instance",
            [(f"sum by (instance) ({UP})", "{{instance}}")],
            value_min=0,
            value_max=1,
        ),
        6,
        8,
    ),
    sized(
        table(
            "Calendar years missing",
            [("max by (calendar, year) (slawatch_calendar_year_missing) == 1", "")],
            description="Holiday calendars and years a clock needed but the preset lacks.",
            columns={
                "calendar": ("Calendar", None),
                "year": ("Year", None),
                "Value": ("Missing", "short"),
            },
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Tickets awaiting ticket.created 待创建",
            [("sum by (waiting) (slawatch_tickets_awaiting_creation)", "waiting {{waiting}}")],
            description="Tickets known only from events held until their ticket.created arrives (no SLA"
            " clock runs for them yet), by time since their latest event. gt_1h above 0: an upstream"
            " system has probably lost creations (alert SlawatchTicketsAwaitingCreation).",
            stacked=True,
        ),
        12,
        8,
    ),
]

dashboard = make_dashboard(
    uid="slawatch-pipeline-health",
    title="slawatch · Pipeline health (流水线健康)",
    description=__doc__.strip().splitlines()[0],
    panels=panels,
)
