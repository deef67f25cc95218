"""The event contract's field names, enum values and offset spelling, for tests that
generate and mutate messages (the Python fast pass's and the native reader's)."""

from __future__ import annotations

from slawatch.sla import events
from slawatch.sla.events import EVENT_TYPES

#: Every field any event type names, and the envelope's.
FIELDS = sorted(
    {"event_id", "type", "ticket_id", "occurred_at", "schema"}
    | {f for required, optional in EVENT_TYPES.values() for f in (*required, *optional)}
)
#: Every value of every enumerated field.
ENUM_VALUES = sorted(
    {
        *events.PRIORITIES,
        *events.CATEGORIES,
        *events.CHANNELS,
        *events.TIERS,
        *events.STATUSES,
        *events.FOLLOWUP_METHODS,
    }
)


def offset(minutes: int) -> str:
    """A UTC offset as RFC 3339 spells it ("Z", "+05:45", "-03:30")."""
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
