"""Prometheus metrics of slawatch (installed as ``slawatch.metrics``).

The worker builds one recorder per process and calls it as things happen::

    bounds = LabelBounds.from_settings(settings)
    metrics = build_metrics(registry, bounds)
    metrics.event_applied("ticket.created", lag_seconds=0.03)
    metrics.register_state_source(lambda: owned_states, time.time)

The catalogue (names, labels, buckets) is docs/CONTRACTS-dev.md; docs/metrics.md is
the user-facing reference with the KPI queries.
"""

from slawatch.metrics.instruments import Instruments, build_instruments
from slawatch.metrics.labels import LabelBounds
from slawatch.metrics.protocols import AlertLike, CalendarLike, DimensionsLike, ObservationLike, StateLike
from slawatch.metrics.sla_metrics import SlaMetrics, build_metrics
from slawatch.metrics.state_collector import StateCollector, register_state_source

__all__ = [
    "AlertLike",
    "CalendarLike",
    "DimensionsLike",
    "Instruments",
    "LabelBounds",
    "ObservationLike",
    "SlaMetrics",
    "StateCollector",
    "StateLike",
    "build_instruments",
    "build_metrics",
    "register_state_source",
]
