"""HTTP views on the worker's web server (Faust's aiohttp server, ``settings.web_port``).

* ``GET /metrics``: this worker's Prometheus registry (content negotiated, so
  Prometheus may ask for OpenMetrics). Faust has no ``/metrics`` of its own unless its
  optional Prometheus sensor is installed, which slawatch does not use.
* ``GET /sla/windows``: current and previous tumbling-window totals, per window size and
  ``priority|department|channel``, summed over this worker's partitions.
* ``GET /sla/at-risk``: tickets warned but not breached, soonest deadline first.
* ``GET /sla/health``: owned partitions, index size, last event, last rebuild.

Each worker answers for the partitions it owns; a dashboard or script sums across
workers, exactly as Prometheus does with ``/metrics``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder

from slawatch.agents.windows import aggregate

if TYPE_CHECKING:
    from slawatch.agents.app import SlaWorker

__all__ = ["health", "register_views", "window_totals"]


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts is not None else None


def window_totals(worker: SlaWorker, now: float) -> dict[str, Any]:
    """The ``/sla/windows`` document."""
    owned = worker.index.partitions
    out: list[dict[str, Any]] = []
    for size, wrapper in worker.windows.tables:
        table = wrapper.table
        window = table.window
        current = window.current(now)
        previous = window.delta(now, size)
        by_range: dict[tuple[float, float], list[tuple[str, Any]]] = {current: [], previous: []}
        for raw_key, value in list(table.data.items()):
            key, rng = raw_key
            rng = tuple(rng)
            if rng in by_range and isinstance(value, dict):
                by_range[rng].append((key, value))
        out.append(
            {
                "size_seconds": size,
                # "end" is exclusive, start + size (Faust's range ends 0.1 s earlier).
                "current": {
                    "start": _iso(current[0]), "end": _iso(current[0] + size),
                    "totals": aggregate(by_range[current], owned),
                },
                "previous": {
                    "start": _iso(previous[0]), "end": _iso(previous[0] + size),
                    "totals": aggregate(by_range[previous], owned),
                },
            }
        )  # fmt: skip
    return {"now": _iso(now), "partitions": sorted(owned), "windows": out}


def at_risk(worker: SlaWorker, limit: int) -> dict[str, Any]:
    rows = worker.processor.at_risk()
    shown = rows[:limit]
    for row in shown:
        row["deadline"] = _iso(row["deadline"])  # type: ignore[arg-type]
    return {"count": len(rows), "tickets": shown, "partitions": sorted(worker.index.partitions)}


def health(worker: SlaWorker) -> dict[str, Any]:
    """The ``/sla/health`` document."""
    p = worker.processor
    now = worker.clock()
    return {
        "app_id": worker.settings.app_id,
        "partitions": sorted(worker.index.partitions),
        "owned_partitions": len(worker.index.partitions),
        "tickets": sum(1 for _ in p.owned_states()),
        "deadline_index_size": len(worker.index),
        # After a restart: indexed tickets whose summaries are still being read
        # ("tickets" counts only the summarised ones until this is 0).
        "summaries_pending": p.summaries_pending,
        "next_due": _iso(worker.index.soonest()),
        # Partitions fed history (a replay): their thresholds fire on event time.
        "partitions_on_event_time": p.horizon.replaying(now, worker.input_waiting),
        "last_event_processed_at": _iso(p.last_event_at),
        "seconds_since_last_event": round(now - p.last_event_at, 3) if p.last_event_at else None,
        "index_rebuilt_at": _iso(worker.rebuilt_at),
        "uptime_seconds": round(now - worker.started_at, 3),
        # The last expiry sweep of each windows table (agents/window_expiry.py).
        "window_sweeps": {
            name: {**report.as_dict(), "at": _iso(report.at)} for name, report in worker.window_sweep.last.items()
        },
    }


def register_views(worker: SlaWorker) -> None:
    """Add the views to ``worker.app``'s web server."""
    app = worker.app

    @app.page("/metrics")
    async def metrics(self: Any, request: Any) -> Any:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # ``?name[]=family`` (repeatable) renders only those families, as client_python's
        # own handler does: a cheap probe for one counter needs no full exposition.
        names = request.query.getall("name[]", [])
        registry = worker.registry.restricted_registry(names) if names else worker.registry
        # In a thread: the state gauges walk every owned ticket (see state_snapshot).
        body = await asyncio.to_thread(encoder, registry)
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page("/sla/windows")
    async def sla_windows(self: Any, request: Any) -> Any:
        return self.json(window_totals(worker, worker.clock()))

    @app.page("/sla/at-risk")
    async def sla_at_risk(self: Any, request: Any) -> Any:
        try:
            limit = max(1, int(request.query.get("limit", "100")))
        except ValueError:
            return self.json({"error": "limit must be a positive integer"}, status=400)
        return self.json(at_risk(worker, limit))

    @app.page("/sla/health")
    async def sla_health(self: Any, request: Any) -> Any:
        return self.json(health(worker))
