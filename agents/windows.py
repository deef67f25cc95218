"""Tumbling-window totals of response time, resolution time and breaches.

The windows answer "how did the last minute / hour go" on the worker's web server
(``GET /sla/windows``); Prometheus histograms answer the same over any range, so these
are a convenience, not the source of truth. They are keyed by
``partition|priority|department|channel``:

* the partition is part of the key because a Faust table write goes to the changelog
  partition of the event being processed; the same ``priority|department|channel``
  written from two partitions would otherwise be two changelog records of one key, and
  recovery would keep only one of them;
* dimension values are bounded like metric labels (``other``/``unknown``), so the
  number of keys stays fixed whatever the input.

Windows are by processing (wall-clock) time: a replay of last week's events counts in
the current window. Event-time windows would drop late data (Faust skips closed
windows) and would not fit a live "last minute" view.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from slawatch.metrics.labels import LabelBounds
from slawatch.metrics.protocols import AlertLike, ObservationLike

__all__ = [
    "WINDOW_FIELDS",
    "Increments",
    "WindowSink",
    "aggregate",
    "increments",
    "window_key",
]

WINDOW_FIELDS = ("response_count", "response_sum", "resolution_count", "resolution_sum", "breaches")

Increments = dict[str, dict[str, float]]


class WindowSink(Protocol):
    """Where a message's increments go (Faust windowed tables, or a dict in tests)."""

    def add(self, incs: Increments) -> None: ...


def window_key(partition: int, priority: object, department: object, channel: object, bounds: LabelBounds) -> str:
    return "|".join(
        (
            str(partition),
            bounds.priority(priority),
            bounds.department(department),
            bounds.channel(channel),
        )
    )


def increments(
    partition: int,
    observations: Iterable[ObservationLike],
    alerts: Iterable[AlertLike],
    bounds: LabelBounds,
) -> Increments:
    """What one processed message adds to the current windows."""
    incs: Increments = defaultdict(lambda: defaultdict(float))
    for obs in observations:
        if obs.kind not in ("responded", "resolved") or obs.value is None:
            continue
        metric = "response" if obs.kind == "responded" else "resolution"
        d = obs.dims
        key = window_key(partition, d.priority, d.department, d.channel, bounds)
        incs[key][f"{metric}_count"] += 1
        incs[key][f"{metric}_sum"] += float(obs.value)
    for alert in alerts:
        if alert.kind != "sla.breached":
            continue
        channel = getattr(alert, "channel", None)
        key = window_key(partition, alert.priority, alert.department, channel, bounds)
        incs[key]["breaches"] += 1
    return {k: dict(v) for k, v in incs.items()}


def merge(current: Mapping[str, Any] | None, add: Mapping[str, float]) -> dict[str, float]:
    """``current`` plus ``add``, field by field (missing fields count as 0)."""
    out = {f: float((current or {}).get(f, 0)) for f in WINDOW_FIELDS}
    for field, amount in add.items():
        out[field] = out.get(field, 0.0) + amount
    return out


def aggregate(
    values: Iterable[tuple[str, Mapping[str, Any]]], owned: frozenset[int] | set[int]
) -> dict[str, dict[str, float]]:
    """Sum ``(window key, totals)`` pairs over the owned partitions, by
    ``priority|department|channel``, adding the mean times."""
    totals: dict[str, dict[str, float]] = {}
    for key, value in values:
        partition, _, dims = key.partition("|")
        if not partition.isdigit() or int(partition) not in owned:
            continue
        totals[dims] = merge(totals.get(dims), {f: float(value.get(f, 0)) for f in WINDOW_FIELDS})
    for t in totals.values():
        for metric in ("response", "resolution"):
            count = t[f"{metric}_count"]
            t[f"{metric}_mean_seconds"] = t[f"{metric}_sum"] / count if count else 0.0
    return dict(sorted(totals.items()))
