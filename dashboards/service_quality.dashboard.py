"""Service quality (服务质量): the KPIs of the service documents, with their targets.

问题解决率 resolution rate >= 90%, 服务完成及时率 on-time completion >= 95%,
一次性解决率 first-contact resolution = 100%, 客户满意度 satisfaction mean >= 8 (0-10),
投诉率 complaint rate <= 5%; plus survey response rate, reopen rate, 回访率 follow-ups.
Each ratio is filtered on the dimension labels its numerator and denominator share.
"""

from slawatch.dashboards.common import *

CREATED = "slawatch_tickets_created_total"
RESOLVED = "slawatch_tickets_resolved_total"
COMPLAINTS = "slawatch_complaints_total"


def resolution_rate(by: str = "", window: str = "$__range") -> str:
    return ratio((RESOLVED, ""), (CREATED, ""), by=by, window=window)


def on_time_rate(by: str = "", window: str = "$__range") -> str:
    return ratio((RESOLVED, 'on_time="true"'), (RESOLVED, ""), by=by, window=window)


def first_contact_rate(by: str = "", window: str = "$__range") -> str:
    return ratio((RESOLVED, 'first_contact="true"'), (RESOLVED, ""), by=by, window=window)


def satisfaction_mean(by: str = "", window: str = "$__range") -> str:
    return ratio(
        ("slawatch_satisfaction_score_sum", ""),
        ("slawatch_satisfaction_score_count", ""),
        by=by,
        window=window,
    )


def survey_rate(by: str = "", window: str = "$__range") -> str:
    return ratio(("slawatch_surveys_total", ""), (RESOLVED, ""), by=by, window=window)


def complaint_rate(by: str = "", window: str = "$__range") -> str:
    return ratio((COMPLAINTS, 'repeat="false"'), (CREATED, ""), by=by, window=window)


def reopen_rate(by: str = "", window: str = "$__range") -> str:
    return ratio(("slawatch_tickets_reopened_total", ""), (RESOLVED, ""), by=by, window=window)


def followup_rate(window: str = "$__range") -> str:
    # Follow-ups carry no dimension labels: both sides unfiltered so they count alike.
    return ratio(("slawatch_followups_total", ""), (RESOLVED, ""), window=window, filtered=False)


RESOLUTION_TARGET = higher_is_better(0.9, 0.8)
ON_TIME_TARGET = higher_is_better(0.95, 0.9)
FCR_TARGET = higher_is_better(1.0, 0.9)
SATISFACTION_TARGET = higher_is_better(8, 7)
COMPLAINT_TARGET = lower_is_better(0.05, 0.03)

panels = [
    row("Targets 监控指标 (selected time range)"),
    sized(
        stat(
            "问题解决率 Resolution rate",
            [(resolution_rate(), "resolved / created")],
            description="Tickets resolved / tickets created in the time range. Target >= 90%.",
            unit="percentunit",
            thresholds=RESOLUTION_TARGET,
            decimals=1,
        ),
        6,
        5,
    ),
    sized(
        stat(
            "服务完成及时率 On-time completion",
            [(on_time_rate(), "on time / resolved")],
            description="Resolved within the resolution target / resolved. Target >= 95%.",
            unit="percentunit",
            thresholds=ON_TIME_TARGET,
            decimals=1,
        ),
        6,
        5,
    ),
    sized(
        stat(
            "一次性解决率 First-contact resolution",
            [(first_contact_rate(), "first contact / resolved")],
            description="Resolved in the first interaction (first_contact=true) / resolved."
            " Target 100%; resolutions that did not say count against it.",
            unit="percentunit",
            thresholds=FCR_TARGET,
            decimals=1,
        ),
        6,
        5,
    ),
    sized(
        stat(
            "客户满意度 Satisfaction (mean 0-10)",
            [(satisfaction_mean(), "survey mean")],
            description="Mean survey score (0-10) in the time range. Target >= 8.",
            unit="none",
            thresholds=SATISFACTION_TARGET,
            decimals=2,
        ),
        6,
        5,
    ),
    sized(
        stat(
            "Survey response rate 满意度调查回收率",
            [(survey_rate(), "surveys / resolved")],
            description="Surveys submitted / tickets resolved (priority and department filters).",
            unit="percentunit",
            decimals=1,
        ),
        5,
        5,
    ),
    sized(
        stat(
            "投诉率 Complaint rate",
            [(complaint_rate(), "complained / created")],
            description="Tickets with a (first) complaint / tickets created. Target <= 5%.",
            unit="percentunit",
            thresholds=COMPLAINT_TARGET,
            decimals=1,
        ),
        5,
        5,
    ),
    sized(
        stat(
            "二次投诉 Repeat complaints",
            [(inc(COMPLAINTS, 'repeat="true"'), "repeat")],
            description="Second or later complaints of a ticket (escalated to the after-sales"
            " director 售后总监, who owes a plan within 48 h).",
            thresholds=lower_is_better(1),
        ),
        4,
        5,
    ),
    sized(
        stat(
            "Reopen rate 重开率",
            [(reopen_rate(), "reopened / resolved")],
            description="Reopens / tickets resolved in the time range.",
            unit="percentunit",
            thresholds=lower_is_better(0.1, 0.05),
            decimals=1,
        ),
        5,
        5,
    ),
    sized(
        stat(
            "回访率 Follow-up rate",
            [(followup_rate(), "follow-ups / resolved")],
            description="Follow-ups completed (phone, online, visit) / tickets resolved. Not"
            " sliceable: follow-up metrics carry no dimension labels.",
            unit="percentunit",
            decimals=1,
        ),
        5,
        5,
    ),
    row("Trends 趋势 (rolling $window)"),
    sized(
        timeseries(
            "问题解决率 Resolution rate",
            [(resolution_rate(window="$window"), "resolution rate")],
            description="Resolved / created over the rolling window; dashed line = 90%.",
            unit="percentunit",
            thresholds=RESOLUTION_TARGET[:1] + RESOLUTION_TARGET[2:],
            value_min=0,
        ),
        8,
        8,
    ),
    sized(
        timeseries(
            "服务完成及时率 On-time completion",
            [(on_time_rate(window="$window"), "on-time rate")],
            description="On time / resolved over the rolling window; dashed line = 95%.",
            unit="percentunit",
            thresholds=ON_TIME_TARGET[:1] + ON_TIME_TARGET[2:],
            value_min=0,
            value_max=1,
        ),
        8,
        8,
    ),
    sized(
        timeseries(
            "一次性解决率 First-contact resolution",
            [(first_contact_rate(window="$window"), "first-contact rate")],
            description="First contact / resolved over the rolling window; dashed line = 100%.",
            unit="percentunit",
            thresholds=FCR_TARGET[:1] + FCR_TARGET[2:],
            value_min=0,
            value_max=1,
        ),
        8,
        8,
    ),
    sized(
        timeseries(
            "客户满意度 Satisfaction mean",
            [(satisfaction_mean(window="$window"), "mean score")],
            description="Survey mean (0-10) over the rolling window; dashed line = 8.",
            thresholds=SATISFACTION_TARGET[:1] + SATISFACTION_TARGET[2:],
            value_min=0,
            value_max=10,
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "投诉率 Complaint rate",
            [(complaint_rate(window="$window"), "complaint rate")],
            description="Complained / created over the rolling window; dashed line = 5%.",
            unit="percentunit",
            thresholds=COMPLAINT_TARGET[:1] + COMPLAINT_TARGET[2:],
            value_min=0,
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Complaints 投诉 (first / repeat)",
            [
                (
                    inc(COMPLAINTS, by="repeat", window="$__rate_interval"),
                    "repeat={{repeat}}",
                ),
            ],
            description="Complaints per $__rate_interval; repeat=true are 二次投诉.",
            bars=True,
        ),
        6,
        8,
    ),
    sized(
        timeseries(
            "Survey, reopen and follow-up rates",
            [
                (survey_rate(window="$window"), "survey response rate"),
                (reopen_rate(window="$window"), "reopen rate"),
                (followup_rate(window="$window"), "follow-up rate (unfiltered)"),
            ],
            unit="percentunit",
            value_min=0,
        ),
        6,
        8,
    ),
    row("By department 按部门"),
    sized(
        table(
            "KPIs by department (time range)",
            [
                (resolution_rate("department"), ""),
                (on_time_rate("department"), ""),
                (first_contact_rate("department"), ""),
                (satisfaction_mean("department"), ""),
                (complaint_rate("department"), ""),
                (reopen_rate("department"), ""),
                (inc(CREATED, by="department"), ""),
            ],
            description="One row per department; click a column header to sort.",
            columns={
                "department": ("Department 部门", None),
                "Value #A": ("问题解决率", "percentunit"),
                "Value #B": ("服务完成及时率", "percentunit"),
                "Value #C": ("一次性解决率", "percentunit"),
                "Value #D": ("客户满意度", "none"),
                "Value #E": ("投诉率", "percentunit"),
                "Value #F": ("重开率", "percentunit"),
                "Value #G": ("Created 新建", "short"),
            },
        ),
        24,
        8,
    ),
    row("Vendors 第三方维修机构, channels 渠道, product lines 产品线"),
    sized(
        table(
            "Vendor scorecard 维修机构考核 (time range)",
            [
                (inc(CREATED, by="vendor"), ""),
                (resolution_rate("vendor"), ""),
                (on_time_rate("vendor"), ""),
                (first_contact_rate("vendor"), ""),
            ],
            description="Third-party repair agencies are scored on the same measures as in-house service (in_house).",
            columns={
                "vendor": ("Vendor 维修机构", None),
                "Value #A": ("Created 新建", "short"),
                "Value #B": ("问题解决率", "percentunit"),
                "Value #C": ("服务完成及时率", "percentunit"),
                "Value #D": ("一次性解决率", "percentunit"),
            },
        ),
        12,
        8,
    ),
    sized(
        bargauge(
            "服务完成及时率 by channel",
            [(on_time_rate("channel"), "{{channel}}")],
            unit="percentunit",
            thresholds=ON_TIME_TARGET,
            value_max=1,
        ),
        6,
        8,
    ),
    sized(
        bargauge(
            "问题解决率 by product line",
            [(resolution_rate("product_line"), "{{product_line}}")],
            unit="percentunit",
            thresholds=RESOLUTION_TARGET,
            value_max=1,
        ),
        6,
        8,
    ),
]

dashboard = make_dashboard(
    uid="slawatch-service-quality",
    title="slawatch · Service quality (服务质量)",
    description=__doc__.strip().splitlines()[0],
    panels=panels,
)
