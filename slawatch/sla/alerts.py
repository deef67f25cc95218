"""The alert record of sla.md, shared by the backtest and the live worker.

``alert_id`` is a UUID5 of (ticket, metric, kind, level): a signal is sent at most once
per ticket, metric and level, so the id is the same however often a restart makes a
worker re-send it, and a consumer can drop repeats by id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson

__all__ = ["KIND_BREACHED", "KIND_ESCALATED", "KIND_WARNING", "Alert", "Contact", "alert_id_for", "format_instant"]

KIND_WARNING = "sla.warning"
KIND_BREACHED = "sla.breached"
KIND_ESCALATED = "sla.escalated"

_NAMESPACE = uuid.UUID("6f1c2b8e-5d0a-4c59-9a8e-3d5e7c1b2a90")


def alert_id_for(ticket_id: str, metric: str, kind: str, level: int | None) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{ticket_id}\x1f{metric}\x1f{kind}\x1f{level or ''}"))


def format_instant(ts: float, tz: tzinfo) -> str:
    """RFC 3339 in the policy's display zone; whole seconds stay whole."""
    dt = datetime.fromtimestamp(ts, tz)
    return dt.isoformat(timespec="seconds" if dt.microsecond == 0 else "microseconds")


@dataclass(frozen=True, slots=True)
class Contact:
    """Who acts on an escalation level (from the policy's routing by department)."""

    level: int
    role: str
    name: str | None = None
    contact: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"level": self.level, "role": self.role, "name": self.name, "contact": self.contact}


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    kind: str
    ticket_id: str
    metric: str
    level: int | None
    priority: str
    department: str | None
    assignee: str | None
    deadline: float | None
    fired_at: float
    elapsed_seconds: float
    target_seconds: float
    calendar: str
    category: str | None = None
    channel: str | None = None
    escalate_to: Contact | None = None
    tz: tzinfo | None = None

    def to_record(self) -> dict[str, Any]:
        from datetime import UTC

        tz = self.tz or UTC
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "ticket_id": self.ticket_id,
            "metric": self.metric,
            "level": self.level,
            "priority": self.priority,
            "department": self.department,
            "assignee": self.assignee,
            "deadline": format_instant(self.deadline, tz) if self.deadline is not None else None,
            "fired_at": format_instant(self.fired_at, tz),
            "elapsed_seconds": self.elapsed_seconds,
            "target_seconds": self.target_seconds,
            "calendar": self.calendar,
            "category": self.category,
            "channel": self.channel,
            "escalate_to": self.escalate_to.to_record() if self.escalate_to else None,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())
