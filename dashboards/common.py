"""Shared building blocks of the slawatch Grafana dashboards (grafanalib 0.7.1).

The ``*.dashboard.py`` files describe *what* each board shows; this module holds *how*:
the metric catalogue of ``docs/CONTRACTS-dev.md`` (which labels each metric has, so a
template filter is applied only where the label exists), the template variables, PromQL
helpers, panel constructors that emit the current Grafana JSON, and a grid layout.

Why the filters are per metric: ``priority=~"$priority"`` on a metric that has no
``priority`` label matches only while "All" (``.*``) is selected; pick one value and the
panel goes empty. Ratios are filtered on the labels numerator and denominator share,
so both sides always count the same tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attr
from grafanalib import core

__all__ = [
    "DASHBOARD_TAG",
    "DATASOURCE",
    "DIMENSIONS",
    "METRIC_LABELS",
    "NEUTRAL",
    "BarGauge",
    "Heatmap",
    "Stat",
    "Table",
    "TimeSeries",
    "bargauge",
    "dims_of",
    "family",
    "heatmap",
    "higher_is_better",
    "inc",
    "lower_is_better",
    "make_dashboard",
    "quantile",
    "rate",
    "ratio",
    "row",
    "sel",
    "sized",
    "stat",
    "table",
    "target",
    "templates",
    "timeseries",
]

DASHBOARD_TAG = "slawatch"

#: Every panel and query variable reads the data source picked in ``$datasource``.
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}

#: Dimension labels with a template variable of the same name (``D`` of the catalogue).
DIMENSIONS: tuple[str, ...] = ("priority", "department", "channel", "product_line", "vendor")

_D = frozenset(DIMENSIONS)
_PD = frozenset({"priority", "department"})

#: Metric family -> its labels, as ``docs/CONTRACTS-dev.md`` defines them.
METRIC_LABELS: dict[str, frozenset[str]] = {
    # counters
    "slawatch_events_applied_total": frozenset({"type"}),
    "slawatch_events_duplicate_total": frozenset(),
    "slawatch_events_miskeyed_total": frozenset(),
    "slawatch_events_mispartitioned_total": frozenset(),
    "slawatch_events_dead_lettered_total": frozenset({"reason"}),
    "slawatch_tickets_created_total": _D,
    "slawatch_tickets_resolved_total": _D | {"on_time", "first_contact"},
    "slawatch_tickets_closed_total": _PD,
    "slawatch_tickets_reopened_total": _PD,
    "slawatch_complaints_total": _PD | {"repeat"},
    "slawatch_surveys_total": _PD,
    "slawatch_followups_total": frozenset({"method", "satisfied"}),
    "slawatch_sla_clocks_stopped_total": _PD | {"metric", "within_target"},
    "slawatch_sla_warnings_total": _PD | {"metric"},
    "slawatch_sla_breaches_total": _PD | {"metric"},
    "slawatch_sla_escalations_total": _PD | {"metric", "level"},
    "slawatch_alerts_published_total": frozenset({"kind"}),
    "slawatch_timer_runs_total": frozenset(),
    "slawatch_ticks_deferred_total": frozenset(),
    "slawatch_input_offsets_skipped_total": frozenset(),
    "slawatch_input_messages_reread_total": frozenset(),
    "slawatch_input_offsets_unrecovered_total": frozenset(),
    # histograms (the family; _bucket/_sum/_count are accepted by sel())
    "slawatch_satisfaction_score": _PD,
    "slawatch_response_time_seconds": _PD | {"channel"},
    "slawatch_resolution_time_seconds": _PD | {"channel"},
    "slawatch_event_lag_seconds": frozenset(),
    "slawatch_alert_delay_seconds": frozenset(),
    "slawatch_timer_run_duration_seconds": frozenset(),
    # gauges
    "slawatch_open_tickets": _PD | {"status"},
    "slawatch_open_tickets_by_age": _PD | {"age"},
    "slawatch_tickets_at_risk": _PD | {"metric"},
    "slawatch_followups_due": frozenset({"kind", "state"}),
    "slawatch_tickets_awaiting_creation": frozenset({"waiting"}),
    "slawatch_last_event_processed_timestamp_seconds": frozenset(),
    "slawatch_owned_partitions": frozenset(),
    "slawatch_deadline_index_size": frozenset(),
    "slawatch_ticket_summaries_pending": frozenset(),
    "slawatch_calendar_year_missing": frozenset({"calendar", "year"}),
}

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def family(metric: str) -> str:
    """The catalogue family of a series name (strips histogram suffixes)."""
    if metric in METRIC_LABELS:
        return metric
    for suffix in _HISTOGRAM_SUFFIXES:
        base = metric.removesuffix(suffix)
        if base != metric and base in METRIC_LABELS:
            return base
    msg = f"metric {metric!r} is not in the catalogue of docs/CONTRACTS-dev.md"
    raise KeyError(msg)


def dims_of(*metrics: str) -> frozenset[str]:
    """Dimension labels that every one of ``metrics`` has (what a ratio may filter on)."""
    shared = set(DIMENSIONS)
    for metric in metrics:
        shared &= METRIC_LABELS[family(metric)]
    return frozenset(shared)


def sel(metric: str, match: str = "", dims: Iterable[str] | None = None) -> str:
    """A series selector: ``match`` plus a ``=~"$var"`` filter per applicable dimension.

    ``dims`` defaults to every dimension the metric has; pass :func:`dims_of` of both
    sides of a ratio so numerator and denominator are filtered alike.
    """
    labels = METRIC_LABELS[family(metric)]
    wanted = labels & _D if dims is None else frozenset(dims)
    extra = wanted - labels
    if extra:
        msg = f"{metric} has no label(s) {sorted(extra)}; it has {sorted(labels)}"
        raise ValueError(msg)
    parts = [match] if match else []
    parts += [f'{d}=~"${d}"' for d in DIMENSIONS if d in wanted]
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def _by(by: str) -> str:
    return f"sum by ({by}) " if by else "sum"


def inc(
    metric: str,
    match: str = "",
    *,
    by: str = "",
    window: str = "$__range",
    dims: Iterable[str] | None = None,
) -> str:
    """``sum by (by) (increase(metric{...}[window]))``: events counted in ``window``."""
    return f"{_by(by)}(increase({sel(metric, match, dims)}[{window}]))"


def rate(
    metric: str,
    match: str = "",
    *,
    by: str = "",
    window: str = "$__rate_interval",
    dims: Iterable[str] | None = None,
) -> str:
    """``sum by (by) (rate(metric{...}[window]))``: per second, summed over workers."""
    return f"{_by(by)}(rate({sel(metric, match, dims)}[{window}]))"


def ratio(
    num: tuple[str, str],
    den: tuple[str, str],
    *,
    by: str = "",
    window: str = "$__range",
    filtered: bool = True,
) -> str:
    """``increase(num) / increase(den)`` summed ``by``; no value when the denominator is 0.

    ``num``/``den`` are ``(metric, extra matcher)``. Both sides are filtered on the
    dimensions they share (none when ``filtered`` is false). A group whose numerator
    has no series (a department with no on-time resolution at all) reads 0, not
    "no data": the numerator falls back to ``denominator * 0``.
    """
    shared = dims_of(num[0], den[0]) if filtered else frozenset()
    top = inc(num[0], num[1], by=by, window=window, dims=shared)
    bottom = inc(den[0], den[1], by=by, window=window, dims=shared)
    return f"({top} or {bottom} * 0) / ({bottom} > 0)"


def quantile(q: float, histogram: str, *, by: str = "", window: str = "$__rate_interval") -> str:
    """``histogram_quantile`` of a catalogue histogram, summed across workers."""
    by_le = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, {rate(histogram + '_bucket', by=by_le, window=window)})"


# --- thresholds ---------------------------------------------------------------------------


def higher_is_better(target: float, warn: float | None = None) -> list[dict[str, Any]]:
    """Red below ``target`` (orange from ``warn``), green from the target up."""
    steps: list[dict[str, Any]] = [{"color": "red", "value": None}]
    if warn is not None:
        steps.append({"color": "orange", "value": warn})
    steps.append({"color": "green", "value": target})
    return steps


def lower_is_better(target: float, warn: float | None = None) -> list[dict[str, Any]]:
    """Green up to ``target`` (orange from ``warn``), red above it."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if warn is not None:
        steps.append({"color": "orange", "value": warn})
    steps.append({"color": "red", "value": target})
    return steps


NEUTRAL: list[dict[str, Any]] = [{"color": "blue", "value": None}]


# --- targets and panels ---------------------------------------------------------------------


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    *,
    instant: bool = False,
    fmt: str = "time_series",
) -> core.Target:
    """A Prometheus query of the panel, on ``$datasource``."""
    return core.Target(
        expr=expr,
        legendFormat=legend,
        refId=ref,
        instant=instant,
        format=fmt,
        datasource=DATASOURCE,
        intervalFactor=1,
        step=None,
    )


def _targets(queries: Sequence[tuple[str, str] | core.Target], **kwargs: Any) -> list[Any]:
    out = []
    for i, query in enumerate(queries):
        if isinstance(query, core.Target):
            out.append(attr.evolve(query, refId=chr(ord("A") + i)))
        else:
            expr, legend = query
            out.append(target(expr, legend, chr(ord("A") + i), **kwargs))
    return out


TimeSeries = core.TimeSeries


class Stat(core.Stat):
    """grafanalib's Stat, coloured by its thresholds."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        data["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
        return data


class BarGauge(core.BarGauge):
    """grafanalib's BarGauge emitting the Grafana 8+ options.

    grafanalib 0.7.1 writes the Grafana 6 ``options.fieldOptions`` block, which newer
    Grafana versions only read through a migration; this writes ``fieldConfig`` and
    ``reduceOptions`` directly.
    """

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.panel_json(
            {
                "fieldConfig": {
                    "defaults": {
                        "color": {"mode": "thresholds"},
                        "decimals": self.decimals,
                        "links": self.dataLinks,
                        "mappings": self.valueMaps,
                        "max": self.max,
                        "min": self.min,
                        "unit": self.format,
                    },
                    "overrides": [],
                },
                "options": {
                    "displayMode": self.displayMode,
                    "orientation": self.orientation,
                    "reduceOptions": {
                        "calcs": [self.calc],
                        "fields": "",
                        "limit": self.limit,
                        "values": self.allValues,
                    },
                    "showUnfilled": True,
                    "valueMode": "color",
                },
                "type": core.BARGAUGE_TYPE,
            }
        )
        return data


Heatmap = core.Heatmap
Table = core.Table


def _common(title: str, description: str, queries: Sequence[Any], **target_kwargs: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": _targets(queries, **target_kwargs),
    }


def timeseries(
    title: str,
    queries: Sequence[tuple[str, str] | core.Target],
    *,
    description: str = "",
    unit: str = "short",
    thresholds: list[dict[str, Any]] | None = None,
    bars: bool = False,
    stacked: bool = False,
    value_min: int | None = None,
    value_max: int | None = None,
) -> core.TimeSeries:
    """A time series; ``thresholds`` are drawn as dashed lines (the documents' targets)."""
    return core.TimeSeries(
        **_common(title, description, queries),
        unit=unit,
        thresholds=thresholds or NEUTRAL,
        thresholdsStyleMode="dashed" if thresholds else "off",
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else (30 if stacked else 10),
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none"},
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        valueMin=value_min,
        valueMax=value_max,
    )


def stat(
    title: str,
    queries: Sequence[tuple[str, str] | core.Target],
    *,
    description: str = "",
    unit: str = "short",
    thresholds: list[dict[str, Any]] | None = None,
    decimals: int | None = None,
    graph: bool = False,
) -> Stat:
    """A single figure (instant query) coloured by the target thresholds."""
    return Stat(
        **_common(title, description, queries, instant=not graph),
        format=unit,
        thresholds=thresholds or NEUTRAL,
        decimals=decimals,
        graphMode="area" if graph else "none",
        reduceCalc="lastNotNull",
        colorMode="background" if thresholds else "value",
        noValue="0" if unit == "short" else "n/a",
        textMode="value_and_name",
    )


def bargauge(
    title: str,
    queries: Sequence[tuple[str, str] | core.Target],
    *,
    description: str = "",
    unit: str = "short",
    thresholds: list[dict[str, Any]] | None = None,
    value_max: float | None = None,
) -> BarGauge:
    """Horizontal bars, one per series of an instant query."""
    return BarGauge(
        **_common(title, description, queries, instant=True),
        format=unit,
        thresholds=thresholds or NEUTRAL,
        calc="lastNotNull",
        displayMode="gradient",
        orientation="horizontal",
        min=0,
        max=value_max,
    )


def heatmap(title: str, expr: str, *, description: str = "", unit: str = "s") -> core.Heatmap:
    """Distribution of a histogram's buckets over time (``le`` as the y axis)."""
    return core.Heatmap(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target(expr, "{{le}}", fmt="heatmap")],
        dataFormat="tsbuckets",
        yAxis=core.YAxis(format=unit, decimals=0),
        yBucketBound="upper",
        hideZeroBuckets=True,
        color=core.HeatmapColor(mode="scheme", colorScheme="interpolateOranges"),
        tooltip=core.Tooltip(shared=False),
    )


def table(
    title: str,
    queries: Sequence[tuple[str, str] | core.Target],
    *,
    description: str = "",
    columns: dict[str, tuple[str, str | None]] | None = None,
    hide: Sequence[str] = ("Time",),
    matrix: tuple[str, str] | None = None,
) -> core.Table:
    """Instant queries as one table, merged on their labels.

    ``columns`` maps fields (labels, ``Value #A``...) to (display name, unit or None). ``matrix``
    (row field, column field) pivots one query into a grid (Grafana "grouping to matrix").
    """
    transformations: list[dict[str, Any]] = [{"id": "merge", "options": {}}]
    if matrix:
        row_field, column_field = matrix
        transformations.append(
            {
                "id": "groupingToMatrix",
                "options": {
                    "rowField": row_field,
                    "columnField": column_field,
                    "valueField": "Value",
                },
            }
        )
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": dict.fromkeys(hide, True),
                "renameByName": {k: v[0] for k, v in (columns or {}).items()},
            },
        }
    )
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "unit", "value": unit}],
        }
        for name, unit in (columns or {}).values()
        if unit
    ]
    return core.Table(
        **_common(title, description, queries, instant=True, fmt="table"),
        transformations=transformations,
        overrides=overrides,
        filterable=True,
        displayMode="color-text",
        thresholds=NEUTRAL,
    )


def row(title: str) -> core.RowPanel:
    """A section header."""
    return core.RowPanel(title=title)


# --- template variables and the dashboard -------------------------------------------------

_LABEL_SOURCE = "slawatch_tickets_created_total"  # carries every dimension label

_DIMENSION_LABELS = {
    "priority": "Priority 紧急程度",
    "department": "Department 部门",
    "channel": "Channel 渠道",
    "product_line": "Product line 产品线",
    "vendor": "Vendor 维修机构",
}

WINDOW_DEFAULT = "1d"


def templates() -> list[core.Template]:
    """``$datasource``, one multi-value filter per dimension, and the rolling ``$window``."""
    out = [
        core.Template(
            name="datasource",
            label="Data source",
            query="prometheus",
            type="datasource",
            default="Prometheus",
        )
    ]
    for dim in DIMENSIONS:
        variable = core.Template(
            name=dim,
            label=_DIMENSION_LABELS[dim],
            query=f"label_values({_LABEL_SOURCE}, {dim})",
            dataSource=DATASOURCE,
            includeAll=True,
            multi=True,
            allValue=".*",
            refresh=core.REFRESH_ON_TIME_RANGE_CHANGE,
            sort=core.SORT_ALPHA_ASC,
        )
        # grafanalib can only preset a literal value; "All" is Grafana's $__all.
        variable._current = {"selected": True, "text": ["All"], "value": ["$__all"]}
        out.append(variable)
    out.append(
        core.Template(
            name="window",
            label="Rolling window 统计窗口",
            query="1h,6h,1d,7d,30d",
            type="interval",
            default=WINDOW_DEFAULT,
        )
    )
    return out


def _place(panels: Sequence[Any]) -> list[Any]:
    """Give every panel a gridPos: rows span the width, others flow left to right.

    Each panel's (w, h) comes from its ``gridPos`` if set, else a default by type.
    """
    x = y = 0
    line_height = 0
    placed = []
    for panel in panels:
        if isinstance(panel, core.RowPanel):
            y += line_height
            x, line_height = 0, 0
            placed.append(attr.evolve(panel, gridPos=core.GridPos(h=1, w=24, x=0, y=y)))
            y += 1
            continue
        w, h = panel.gridPos or (6, 8)
        if x + w > 24:
            y += line_height
            x, line_height = 0, 0
        placed.append(attr.evolve(panel, gridPos=core.GridPos(h=h, w=w, x=x, y=y)))
        x += w
        line_height = max(line_height, h)
    return placed


def sized(panel: Any, w: int, h: int) -> Any:
    """Set a panel's width (of 24) and height before :func:`dashboard` lays it out."""
    return attr.evolve(panel, gridPos=(w, h))


def make_dashboard(uid: str, title: str, description: str, panels: Sequence[Any]) -> core.Dashboard:
    """A slawatch dashboard: shared variables, links to the other boards, stable ids."""
    return core.Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=[DASHBOARD_TAG],
        timezone="browser",
        refresh="30s",
        time=core.Time("now-24h", "now"),
        graphTooltip=core.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        templating=core.Templating(list=templates()),
        links=[
            core.DashboardLink(
                title="slawatch boards",
                tags=[DASHBOARD_TAG],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
            )
        ],
        panels=_place(panels),
    ).auto_panel_ids()
