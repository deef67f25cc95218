"""The shapes of the engine objects that metrics reads.

Structural types (``typing.Protocol``) rather than imports of ``slawatch.sla.engine``:
metrics depends only on the attributes the contract (docs/CONTRACTS-dev.md) names, so
it can be imported, type-checked and tested without the engine, and the engine stays
free to change everything else. Members are read-only properties so that named
tuples (the engine's value types) and plain attributes both satisfy them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

__all__ = ["AlertLike", "CalendarLike", "DimensionsLike", "ObservationLike", "StateLike"]


class DimensionsLike(Protocol):
    """``slawatch.sla.engine.Dimensions``: the ticket's slicing dimensions."""

    @property
    def priority(self) -> str | None: ...
    @property
    def department(self) -> str | None: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def product_line(self) -> str | None: ...
    @property
    def vendor(self) -> str | None: ...


class ObservationLike(Protocol):
    """``slawatch.sla.engine.Observation``: one measurable thing an event caused.

    Kind-specific extras are read with ``getattr`` because the contract puts them on
    some kinds only: ``first_contact`` (``resolved``) and ``method`` (``followup``).
    """

    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def ok(self) -> bool | None: ...
    @property
    def dims(self) -> DimensionsLike: ...
    @property
    def at(self) -> float: ...


class AlertLike(Protocol):
    """``slawatch.sla.alerts.Alert``: a warning, breach or escalation as published."""

    @property
    def kind(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def level(self) -> int | None: ...
    @property
    def priority(self) -> str | None: ...
    @property
    def department(self) -> str | None: ...


class StateLike(Protocol):
    """``slawatch.sla.engine.TicketState`` as the scrape-time gauges read it.

    ``at_risk_metrics``: the metrics (``response``/``resolution``/``complaint``) warned
    but not breached whose clock runs. ``awaiting_since``: for a ticket known only from
    events held until its ``ticket.created`` arrives, the latest ``occurred_at`` among
    them (None once created). Due follow-ups depend on the wall clock, so they come
    from the engine's ``followups(state, now)``, not from the state.
    """

    @property
    def status(self) -> str: ...
    @property
    def dims(self) -> DimensionsLike: ...
    @property
    def created_at(self) -> float | None: ...
    @property
    def at_risk_metrics(self) -> Iterable[str]: ...
    @property
    def awaiting_since(self) -> float | None: ...


class CalendarLike(Protocol):
    """``slawatch.sla.calendar.BusinessCalendar``: the years its holiday list lacks.

    ``missing_years(y, y)`` is ``[y]`` when the calendar's holiday preset has no data for
    ``y`` and the policy lists no holidays for it, else empty (always empty for a
    calendar without a preset).
    """

    def missing_years(self, first_year: int, last_year: int) -> Iterable[int]: ...
