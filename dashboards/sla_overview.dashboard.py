"""SLA overview (SLA 总览): compliance, breaches, response/resolution time, escalations.

Compliance % = clocks stopped within target / all clocks stopped, per metric
(``response``, ``resolution``, ``complaint``). SLA counters carry priority and
department only, so the channel / product line / vendor filters do not apply to them;
the time histograms also honour the channel filter.
"""

from typing import Any

from slawatch.dashboards.common import *

STOPPED = "slawatch_sla_clocks_stopped_total"
BREACHES = "slawatch_sla_breaches_total"
WARNINGS = "slawatch_sla_warnings_total"
ESCALATIONS = "slawatch_sla_escalations_total"
AT_RISK = "slawatch_tickets_at_risk"

#: Compliance target drawn on the boards (the 95% of 服务完成及时率 applied per clock).
COMPLIANCE_TARGET = 0.95


def compliance(by: str, window: str) -> str:
    return ratio((STOPPED, 'within_target="true"'), (STOPPED, ""), by=by, window=window)


def percentiles(histogram: str) -> list[tuple[str, str]]:
    return [
        (
            quantile(q, histogram, by="priority", window="$window"),
            f"p{round(q * 100)} {{{{priority}}}}",
        )
        for q in (0.5, 0.9, 0.99)
    ]


# Targets of the default policy (sla.md), in business seconds.
RESPONSE_TARGET_LINES: list[dict[str, Any]] = [
    {"color": "green", "value": None},
    {"color": "purple", "value": 1800},  # major 30 min
    {"color": "orange", "value": 3600},  # urgent 1 h
    {"color": "red", "value": 14400},  # normal 4 h
]
RESOLUTION_TARGET_LINES: list[dict[str, Any]] = [
    {"color": "green", "value": None},
    {"color": "orange", "value": 97200},  # urgent 3 working days (3 x 9 h)
    {"color": "red", "value": 162000},  # normal 5 working days
    {"color": "purple", "value": 226800},  # major 7 working days
]

panels = [
    row("Compliance 达标率 (selected time range)"),
    sized(
        stat(
            "SLA compliance 达标率",
            [(compliance("metric", "$__range"), "{{metric}}")],
            description="Clocks stopped within target / all clocks stopped in the time range,"
            " per SLA metric. Target 95%.",
            unit="percentunit",
            thresholds=higher_is_better(COMPLIANCE_TARGET, 0.9),
            decimals=1,
        ),
        8,
        5,
    ),
    sized(
        stat(
            "Breaches 超时",
            [(inc(BREACHES, by="metric"), "{{metric}}")],
            description="SLA breaches (sla.breached) in the time range, per metric.",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Warnings 超时预警",
            [(inc(WARNINGS, by="metric"), "{{metric}}")],
            description="Warnings (80% of the target elapsed) in the time range, per metric.",
        ),
        4,
        5,
    ),
    sized(
        stat(
            "At risk now 临近超时",
            [(f"sum by (metric) ({sel(AT_RISK)})", "{{metric}}")],
            description="Open tickets warned but not breached whose clock runs, per metric.",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Level-2 escalations 升级至售后总监",
            [(inc(ESCALATIONS, 'level="2"'), "level 2")],
            description="Escalations to the after-sales director (1.5 x target, or a repeat"
            " complaint 二次投诉) in the time range.",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    row("Trends 趋势"),
    sized(
        timeseries(
            "SLA compliance 达标率 (rolling $window)",
            [(compliance("metric", "$window"), "{{metric}}")],
            description="Compliance per SLA metric over the rolling window; dashed line = 95%.",
            unit="percentunit",
            thresholds=higher_is_better(COMPLIANCE_TARGET),
            value_min=0,
            value_max=1,
        ),
        12,
        8,
    ),
    sized(
        timeseries(
            "Breaches and warnings 超时与预警",
            [
                (inc(BREACHES, by="metric", window="$__rate_interval"), "breached {{metric}}"),
                (inc(WARNINGS, by="metric", window="$__rate_interval"), "warning {{metric}}"),
            ],
            description="Breaches and warnings per $__rate_interval, per metric.",
            bars=True,
        ),
        12,
        8,
    ),
    row("Response and resolution time 响应 / 解决时长 (business time)"),
    sized(
        timeseries(
            "Response time 服务响应时间 p50 / p90 / p99 by priority",
            percentiles("slawatch_response_time_seconds"),
            description="Business seconds from creation to first response (histogram_quantile"
            " over the rolling window). Dashed lines: major 30 min, urgent 1 h, normal 4 h.",
            unit="s",
            thresholds=RESPONSE_TARGET_LINES,
        ),
        12,
        9,
    ),
    sized(
        timeseries(
            "Resolution time 解决时长 p50 / p90 / p99 by priority",
            percentiles("slawatch_resolution_time_seconds"),
            description="Business seconds of the resolution clock (pauses excluded). Dashed"
            " lines: urgent 3, normal 5, major 7 working days of 9 h.",
            unit="s",
            thresholds=RESOLUTION_TARGET_LINES,
        ),
        12,
        9,
    ),
    sized(
        heatmap(
            "Response time distribution 响应时长分布",
            inc("slawatch_response_time_seconds_bucket", by="le", window="$__rate_interval"),
            description="Responses per histogram bucket (upper bound, business seconds).",
        ),
        12,
        8,
    ),
    sized(
        heatmap(
            "Resolution time distribution 解决时长分布",
            inc("slawatch_resolution_time_seconds_bucket", by="le", window="$__rate_interval"),
            description="Resolutions per histogram bucket (upper bound, business seconds).",
        ),
        12,
        8,
    ),
    row("Risk and escalation 风险与升级"),
    sized(
        timeseries(
            "Tickets at risk 临近超时工单",
            [(f"sum by (metric) ({sel(AT_RISK)})", "{{metric}}")],
            description="Warned, not breached, clock running; summed across workers.",
        ),
        8,
        8,
    ),
    sized(
        timeseries(
            "Escalations by level 升级",
            [(inc(ESCALATIONS, by="level", window="$__rate_interval"), "level {{level}}")],
            description="Level 1: department supervisor 部门主管 (at breach). Level 2: after-sales"
            " director 售后总监 (1.5 x target, or a repeat complaint).",
            bars=True,
        ),
        8,
        8,
    ),
    sized(
        bargauge(
            "Escalations by department and level (time range)",
            [(inc(ESCALATIONS, by="department, level"), "{{department}} L{{level}}")],
            description="Escalations in the selected time range.",
        ),
        8,
        8,
    ),
    sized(
        table(
            "By department and metric 按部门",
            [
                (compliance("department, metric", "$__range"), ""),
                (inc(BREACHES, by="department, metric"), ""),
                (inc(WARNINGS, by="department, metric"), ""),
                (f"sum by (department, metric) ({sel(AT_RISK)})", ""),
            ],
            description="Compliance, breaches and warnings in the time range; at risk now.",
            columns={
                "department": ("Department 部门", None),
                "metric": ("Metric 指标", None),
                "Value #A": ("Compliance 达标率", "percentunit"),
                "Value #B": ("Breaches 超时", "short"),
                "Value #C": ("Warnings 预警", "short"),
                "Value #D": ("At risk 临近超时", "short"),
            },
        ),
        24,
        9,
    ),
]

dashboard = make_dashboard(
    uid="slawatch-sla-overview",
    title="slawatch · SLA overview (SLA 总览)",
    description=__doc__.strip().splitlines()[0],
    panels=panels,
)
