"""Builders for readable SLA scenarios (events as dicts, times in Asia/Shanghai)."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slawatch.sla.alerts import Alert
from slawatch.sla.backtest import run_backtest
from slawatch.sla.events import parse_timestamp
from slawatch.sla.policy import Policy

SH = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def at(text: str) -> str:
    """'2026-11-16 10:00' (Shanghai) -> RFC 3339 with offset."""
    return datetime.fromisoformat(text).replace(tzinfo=SH).isoformat()


def ts(text: str) -> float:
    return parse_timestamp(at(text))


def ev(etype: str, when: str, ticket: str = "T1", **fields: Any) -> dict[str, Any]:
    return {"event_id": f"e{next(_ids)}", "type": etype, "ticket_id": ticket, "occurred_at": at(when), **fields}


def created(when: str, priority: str = "normal", ticket: str = "T1", **fields: Any) -> dict[str, Any]:
    fields.setdefault("category", "service")
    fields.setdefault("department", "repair")
    return ev("ticket.created", when, ticket, priority=priority, **fields)


def run(events: list[dict[str, Any]], until: str | None = None, policy: Policy | None = None) -> list[Alert]:
    alerts, _ = run_backtest(events, policy, ts(until) if until else None)
    return alerts


def signals(alerts: list[Alert]) -> list[tuple[str, str, int | None, str]]:
    """(kind, metric, level, fired_at as 'YYYY-MM-DD HH:MM[:SS]' Shanghai)."""
    out = []
    for a in alerts:
        dt = datetime.fromtimestamp(a.fired_at, SH)
        text = dt.strftime("%Y-%m-%d %H:%M" if dt.second == 0 else "%Y-%m-%d %H:%M:%S")
        out.append((a.kind.removeprefix("sla."), a.metric, a.level, text))
    return out
