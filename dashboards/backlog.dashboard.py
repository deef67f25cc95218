"""Backlog (工单积压): open tickets by status, age, department and vendor; follow-ups.

The open-ticket gauges are computed at scrape time from each worker's partitions and
summed across workers; they carry priority and department (the assignee group) only.
Vendors (第三方维修机构) are seen through the created/resolved counters instead.
"""

from slawatch.dashboards.common import *

OPEN = "slawatch_open_tickets"
BY_AGE = "slawatch_open_tickets_by_age"
CREATED = "slawatch_tickets_created_total"
RESOLVED = "slawatch_tickets_resolved_total"
FOLLOWUPS_DUE = "slawatch_followups_due"

AGES = [
    ("lt_1h", "< 1 h"),
    ("1h_4h", "1-4 h"),
    ("4h_1d", "4 h-1 d"),
    ("1d_3d", "1-3 d"),
    ("3d_7d", "3-7 d"),
    ("gt_7d", "> 7 d"),
]


def open_by_age() -> list[tuple[str, str]]:
    # One query per bucket keeps the buckets in age order in the legend and the bars.
    return [("sum(" + sel(BY_AGE, f'age="{age}"') + ")", label) for age, label in AGES]


def net_inflow(by: str) -> str:
    # created - resolved; a group with no resolution yet still shows (resolved = 0).
    created = inc(CREATED, by=by)
    return f"{created} - ({inc(RESOLVED, by=by)} or {created} * 0)"


panels = [
    row("Now 当前"),
    sized(
        stat(
            "Open tickets 未结工单",
            [(f"sum({sel(OPEN)})", "open")],
            description="Tickets not resolved or closed (open, in progress, waiting for the"
            " customer), summed across workers.",
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Open > 3 days 超过 3 天",
            [("sum(" + sel(BY_AGE, 'age=~"3d_7d|gt_7d"') + ")", "> 3 d")],
            description="Open tickets created more than 3 days ago (wall clock).",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "At risk 临近超时",
            [(f"sum by (metric) ({sel('slawatch_tickets_at_risk')})", "{{metric}}")],
            description="Warned, not breached, clock running.",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Follow-ups due 待回访",
            [(f'sum by (kind) ({FOLLOWUPS_DUE}{{state="due"}})', "{{kind}}")],
            description="Satisfaction surveys (24 h after resolution) and follow-up visits"
            " (3-5 working days after) that are due now. Not sliceable by dimension.",
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Follow-ups overdue 回访逾期",
            [(f'sum by (kind) ({FOLLOWUPS_DUE}{{state="overdue"}})', "{{kind}}")],
            description="Surveys and visits past their due window. Not sliceable by dimension.",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Net inflow 净增 (time range)",
            [(net_inflow(""), "created - resolved")],
            description="Tickets created minus tickets resolved in the time range; above 0 the backlog grows.",
        ),
        4,
        5,
    ),
    row("Status and age 状态与时长"),
    sized(
        timeseries(
            "Open by status 按状态",
            [(f"sum by (status) ({sel(OPEN)})", "{{status}}")],
            description="待处理 open / 处理中 in_progress / waiting_customer (resolution clock paused).",
            stacked=True,
        ),
        12,
        8,
    ),
    sized(
        bargauge(
            "Open by age 按时长",
            open_by_age(),
            description="Open tickets by time since creation (wall clock, not business time).",
        ),
        12,
        8,
    ),
    sized(
        timeseries(
            "Open by age over time",
            open_by_age(),
            stacked=True,
        ),
        12,
        8,
    ),
    sized(
        timeseries(
            "Open by priority 按紧急程度",
            [(f"sum by (priority) ({sel(OPEN)})", "{{priority}}")],
            stacked=True,
        ),
        12,
        8,
    ),
    row("Departments 部门 and vendors 维修机构"),
    sized(
        bargauge(
            "Open by department 按部门",
            [(f"sum by (department) ({sel(OPEN)})", "{{department}}")],
            description="The department is the assignee group; no per-person labels are kept.",
        ),
        8,
        9,
    ),
    sized(
        table(
            "Open: department x status",
            [(f"sum by (department, status) ({sel(OPEN)})", "")],
            description="Open tickets per department (rows) and status (columns).",
            matrix=("department", "status"),
            columns={"department\\status": ("Department 部门 \\ status", None)},
        ),
        16,
        9,
    ),
    sized(
        bargauge(
            "Net inflow by vendor (time range)",
            [(net_inflow("vendor"), "{{vendor}}")],
            description="Created minus resolved per vendor (第三方维修机构; in_house = own"
            " staff) in the time range: where the backlog builds up.",
        ),
        8,
        9,
    ),
    sized(
        table(
            "Flow by vendor (time range)",
            [
                (inc(CREATED, by="vendor"), ""),
                (inc(RESOLVED, by="vendor"), ""),
                (inc(RESOLVED, 'on_time="false"', by="vendor"), ""),
            ],
            columns={
                "vendor": ("Vendor 维修机构", None),
                "Value #A": ("Created 新建", "short"),
                "Value #B": ("Resolved 已解决", "short"),
                "Value #C": ("Resolved late 超时解决", "short"),
            },
        ),
        16,
        9,
    ),
    row("Follow-ups 回访"),
    sized(
        timeseries(
            "Follow-ups due and overdue 待回访 / 逾期",
            [(f"sum by (kind, state) ({FOLLOWUPS_DUE})", "{{kind}} {{state}}")],
            description="survey: 24 h after resolution; visit: 3-5 working days after.",
        ),
        12,
        8,
    ),
    sized(
        timeseries(
            "Follow-ups completed 已回访",
            [
                (
                    inc(
                        "slawatch_followups_total",
                        by="method, satisfied",
                        window="$__rate_interval",
                    ),
                    "{{method}} satisfied={{satisfied}}",
                )
            ],
            description="Completed follow-ups per $__rate_interval by method (phone, online,"
            " visit) and whether the customer was satisfied.",
            bars=True,
            stacked=True,
        ),
        12,
        8,
    ),
]

dashboard = make_dashboard(
    uid="slawatch-backlog",
    title="slawatch · Backlog (工单积压)",
    description=__doc__.strip().splitlines()[0],
    panels=panels,
)
