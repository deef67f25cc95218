"""The alert record of sla.md, shared by the backtest and the live worker.

``alert_id`` is a UUID5 of (ticket, metric, kind, level): a signal is sent at most once
per ticket, metric and level, so the id is the same however often a restart makes a
worker re-send it, and a consumer can drop repeats by id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from hashlib import sha1
from typing import Any, NamedTuple

import orjson

__all__ = ["KIND_BREACHED", "KIND_ESCALATED", "KIND_WARNING", "Alert", "Contact", "alert_id_for", "format_instant"]

KIND_WARNING = "sla.warning"
KIND_BREACHED = "sla.breached"
KIND_ESCALATED = "sla.escalated"

_NAMESPACE = uuid.UUID("6f1c2b8e-5d0a-4c59-9a8e-3d5e7c1b2a90")
_NAMESPACE_BYTES = _NAMESPACE.bytes
# RFC 4122 variant: the top two bits of hex digit 16 become 10 (so 8, 9, a or b).
_VARIANT = {f"{i:x}": f"{8 | (i & 3):x}" for i in range(16)}


def alert_id_for(ticket_id: str, metric: str, kind: str, level: int | None) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, spelled out on the SHA-1 hex digest: the
    ``uuid.UUID`` object round trip cost more than the hash (a test checks equality)."""
    h = sha1(_NAMESPACE_BYTES + f"{ticket_id}\x1f{metric}\x1f{kind}\x1f{level or ''}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def format_instant(ts: float, tz: tzinfo) -> str:
    """RFC 3339 in the policy's display zone; whole seconds stay whole.

    A whole second (nearly every instant) is spelled from its zone's offset in that UTC
    hour and the local date, both memoised: ``datetime.fromtimestamp`` and ``isoformat``
    cost ~12,000 instructions a call, 7 % of a backtest (two calls an alert). Any other
    instant, and an hour whose offset changes, go through ``datetime``, as the fast
    spelling is checked to be (tests/unit/test_alert_ids.py).
    """
    if type(ts) is int:
        hour = _hour_offsets.get((tz, ts // 3600))
        if hour is None:
            hour = _hour_offset(tz, ts // 3600)
        if hour:
            offset, suffix = hour
            day, second = divmod(ts + offset, 86400)
            day_text = _day_texts.get(day)
            if day_text is None:
                if len(_day_texts) >= _MEMO_MAX:
                    _day_texts.clear()
                day_text = _day_texts[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
            hours, second = divmod(second, 3600)
            minutes, second = divmod(second, 60)
            return f"{day_text}T{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minutes]}:{_TWO_DIGITS[second]}{suffix}"
    dt = datetime.fromtimestamp(ts, tz)
    return dt.isoformat(timespec="seconds" if dt.microsecond == 0 else "microseconds")


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(60))
_MEMO_MAX = 65_536
#: (zone, UTC hour since the epoch) -> (offset in seconds, its ISO spelling), or () when
#: the hour cannot be spelled that way (see :func:`_hour_offset`).
_hour_offsets: dict[tuple[tzinfo, int], tuple[int, str] | tuple[()]] = {}
#: Days since the epoch -> "YYYY-MM-DD".
_day_texts: dict[int, str] = {}


def _hour_offset(tz: tzinfo, hour: int) -> tuple[int, str] | tuple[()]:
    """The zone's UTC offset during a UTC hour and its spelling in ``isoformat``, when it
    is the same whole number of seconds at the hour's first and last second (no zone
    changes its offset twice within an hour); else ``()``. Raises as ``datetime`` does
    for an instant out of its range."""
    first = datetime.fromtimestamp(hour * 3600, tz)
    last = datetime.fromtimestamp(hour * 3600 + 3599, tz)
    offset = first.utcoffset()
    found: tuple[int, str] | tuple[()] = ()
    if offset is not None and offset == last.utcoffset() and not offset.microseconds:
        found = (offset.days * 86400 + offset.seconds, first.isoformat(timespec="seconds")[19:])
    if len(_hour_offsets) >= _MEMO_MAX:
        _hour_offsets.clear()
    _hour_offsets[(tz, hour)] = found
    return found


@dataclass(frozen=True, slots=True)
class Contact:
    """Who acts on an escalation level (from the policy's routing by department)."""

    level: int
    role: str
    name: str | None = None
    contact: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"level": self.level, "role": self.role, "name": self.name, "contact": self.contact}


class Alert(NamedTuple):
    """One warning, breach or escalation (a named tuple: see ``engine.Dimensions``)."""

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
        tz = self.tz or UTC
        fired_at = format_instant(self.fired_at, tz)
        deadline = self.deadline
        deadline_text = (  # a breach's deadline is its fired_at: format it once
            None if deadline is None else fired_at if deadline == self.fired_at else format_instant(deadline, tz)
        )
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "ticket_id": self.ticket_id,
            "metric": self.metric,
            "level": self.level,
            "priority": self.priority,
            "department": self.department,
            "assignee": self.assignee,
            "deadline": deadline_text,
            "fired_at": fired_at,
            "elapsed_seconds": _whole(self.elapsed_seconds),
            "target_seconds": _whole(self.target_seconds),
            "calendar": self.calendar,
            "category": self.category,
            "channel": self.channel,
            "escalate_to": self.escalate_to.to_record() if self.escalate_to else None,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())


def _whole(seconds: float) -> float:
    """A whole number of seconds is written as an integer (``1440``, not ``1440.0``),
    however it was computed: the same duration spelled the same way in every alert."""
    return int(seconds) if type(seconds) is float and seconds.is_integer() else seconds
