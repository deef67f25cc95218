"""Bounded label values for every slawatch metric.

Each distinct label value is a separate Prometheus time series, kept in memory by the
worker and by Prometheus. Free text from events (a department typed by hand, a new
vendor) must therefore never reach a label as is: a value outside the configured list
becomes ``other`` and a missing one ``unknown``, so the number of series stays fixed
whatever the input. Ticket ids, customer ids and assignee names are never labels.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slawatch.metrics.protocols import DimensionsLike

if TYPE_CHECKING:
    from slawatch.settings import Settings

__all__ = [
    "ALERT_KINDS",
    "ESCALATION_LEVELS",
    "EVENT_TYPES",
    "FOLLOWUP_KINDS",
    "FOLLOWUP_METHODS",
    "FOLLOWUP_STATES",
    "METRICS",
    "OPEN_STATUSES",
    "OTHER",
    "PRIORITIES",
    "UNKNOWN",
    "LabelBounds",
    "bool_label",
    "bound",
    "calendar_label",
    "code_label",
    "year_label",
]

OTHER = "other"
UNKNOWN = "unknown"

# The vocabularies of the contracts (events.md, sla.md). Kept here rather than imported
# from slawatch.sla so that metrics never depends on the engine at import time; a unit
# test checks they still agree with slawatch.sla.events.
PRIORITIES = ("normal", "urgent", "major")
METRICS = ("response", "resolution", "complaint")
ALERT_KINDS = ("sla.warning", "sla.breached", "sla.escalated")
EVENT_TYPES = (
    "ticket.created",
    "ticket.assigned",
    "ticket.responded",
    "ticket.status_changed",
    "ticket.priority_changed",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.closed",
    "ticket.complaint",
    "survey.submitted",
    "followup.completed",
)
# Statuses of a ticket still in the backlog; resolved and closed tickets stay in state
# for retention but are not open.
OPEN_STATUSES = ("open", "in_progress", "waiting_customer")
FOLLOWUP_METHODS = ("phone", "online", "visit")
FOLLOWUP_KINDS = ("survey", "visit")
FOLLOWUP_STATES = ("due", "overdue")
ESCALATION_LEVELS = ("1", "2")

# Machine codes (InvalidEvent.code, calendar names) are program or policy constants,
# not customer data, so any value of this shape is kept; anything else (a sentence, an
# id with spaces) is folded into "other".
_CODE = re.compile(r"[a-z][a-z0-9_.\-]{0,47}")


def bound(value: object, allowed: Collection[str]) -> str:
    """``value`` if it is one of ``allowed``; ``unknown`` if missing; else ``other``."""
    if value is None or value == "":
        return UNKNOWN
    text = str(value)
    return text if text in allowed else OTHER


def code_label(value: object) -> str:
    """A machine code kept as is when it looks like one (see ``_CODE``), else ``other``."""
    if value is None or value == "":
        return UNKNOWN
    text = str(value)
    return text if _CODE.fullmatch(text) else OTHER


# Calendar names come from the policy file only (never from events), so they are as
# bounded as the policy; unlike codes they may start with a digit, as `24x7` does.
_CALENDAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,47}")


def calendar_label(value: object) -> str:
    """A policy calendar name kept as is (``24x7``, ``business``), else ``other``."""
    if value is None or value == "":
        return UNKNOWN
    text = str(value)
    return text if _CALENDAR.fullmatch(text) else OTHER


#: Years this far from the current one keep their own ``year`` label; farther ones (a
#: mistyped 2206 in an event) fold into ``other``, so bad input cannot add series.
YEAR_LABEL_SPAN = 10


def year_label(year: int, current_year: int) -> str:
    """The ``year`` label of ``slawatch_calendar_year_missing``: bounded around ``current_year``."""
    return str(int(year)) if abs(int(year) - current_year) <= YEAR_LABEL_SPAN else OTHER


def bool_label(value: object) -> str:
    """``true``/``false`` for a bool, ``unknown`` for anything else (None: not reported)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class LabelBounds:
    """The allowed values of the open-ended dimension labels.

    Built once from :class:`~slawatch.settings.Settings` (``departments``, ``channels``,
    ``product_lines``, ``vendors``) so that operators widen a list in configuration,
    not in code.
    """

    departments: frozenset[str]
    channels: frozenset[str]
    product_lines: frozenset[str]
    vendors: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelBounds:
        """The bounds configured in ``settings``."""
        return cls(
            departments=frozenset(settings.departments),
            channels=frozenset(settings.channels),
            product_lines=frozenset(settings.product_lines),
            vendors=frozenset(settings.vendors),
        )

    def priority(self, value: object) -> str:
        return bound(value, PRIORITIES)

    def department(self, value: object) -> str:
        return bound(value, self.departments)

    def channel(self, value: object) -> str:
        return bound(value, self.channels)

    def product_line(self, value: object) -> str:
        return bound(value, self.product_lines)

    def vendor(self, value: object) -> str:
        return bound(value, self.vendors)

    def dimensions(self, dims: DimensionsLike) -> dict[str, str]:
        """The five dimension labels ``D`` of the catalogue for ``dims``."""
        return {
            "priority": self.priority(dims.priority),
            "department": self.department(dims.department),
            "channel": self.channel(dims.channel),
            "product_line": self.product_line(dims.product_line),
            "vendor": self.vendor(dims.vendor),
        }

    def owner(self, priority: object, department: object) -> dict[str, str]:
        """The ``priority`` and ``department`` labels most counters are sliced by."""
        return {"priority": self.priority(priority), "department": self.department(department)}
