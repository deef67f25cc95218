"""SLA clocks and signals, exactly as sla.md defines them.

The engine is a set of pure functions over a per-ticket :class:`TicketState`, written
in Rust (``native/src/engine.rs``; this module keeps the data types and the adapter): the
live worker keeps the states in a changelogged Faust table and the backtest in a dict,
and both call :meth:`SlaEngine.apply` for each event and :meth:`SlaEngine.advance` when
their clock (wall clock live, event time in backtest) passes a ticket's next threshold
(:meth:`SlaEngine.next_due`). So the two give the same alerts for the same events.

Rules that are easy to get wrong, and how they are implemented:

* Before an event at ``t`` is applied, the ticket's thresholds whose instant lies
  strictly before ``t`` fire with their own instant as ``fired_at``. A threshold at
  exactly ``t`` waits: the event is applied first (a response at the deadline meets it)
  and the threshold fires only if its clock still runs after ``t``.
* A threshold already exceeded when an event changes the target (priority change, or a
  paused clock resuming under a target lowered meanwhile) fires at once with the
  event's time as ``fired_at``. Elapsed time is kept across the change (sla.md): a
  target on another calendar counts on that calendar from the change on.
* A ticket's events never move its time backwards: an event older than the ticket's
  latest one is applied at the latest time, so durations are never negative.
* Events that arrive before their ticket's ``ticket.created`` are held in the state and
  applied, in ``occurred_at`` order, right after the creation (at no earlier instant than
  the creation); nothing is dropped and nothing fires for a ticket without a start.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from slawatch import __version__
from slawatch._native import NativeEngine, PanicException
from slawatch.exceptions import EngineFault
from slawatch.sla.alerts import Alert
from slawatch.sla.calendar import BusinessCalendar
from slawatch.sla.events import TicketEvent
from slawatch.sla.policy import Policy, Target

__all__ = [
    "RETAIN_CLOSED_TICKETS",
    "Clock",
    "Dimensions",
    "Observation",
    "Outcome",
    "SlaEngine",
    "TicketState",
    "at_risk_in",
]

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

# One bit per signal of a clock (as the native engine sets them): each is sent once per
# ticket, metric and level.
WARN, BREACH, ESC1, ESC2 = 1, 2, 4, 8
#: Part of :attr:`SlaEngine.fingerprint`: bump it with any change to how thresholds are
#: placed in time (the native engine's ``thresholds`` and ``next``), so that workers
#: recompute the next due instants stored with ticket states instead of trusting ones
#: placed by old rules.
THRESHOLD_RULES = 2  # 2: instants rounded to whole microseconds (fractional-second ties)


#: Closed-out tickets kept in any case, the most recently closed ones, however old: the
#: retention period forgets a ticket only beyond them. Bounds memory like the period
#: does, while a modest history (a test export, a small service desk) keeps every
#: ticket, so a reopen or a complaint months after closing still finds its ticket.
RETAIN_CLOSED_TICKETS = 50_000


class Dimensions(NamedTuple):
    """The bounded business attributes of a ticket (metric labels come from these).

    Immutable value types (``Dimensions``, ``Observation``, :class:`Alert`) are named
    tuples rather than frozen dataclasses: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, which made building them 8 % of a backtest
    (1.15 µs against 0.40 µs for seven fields).
    """

    priority: str
    category: str | None
    channel: str | None
    department: str | None
    product_line: str | None
    vendor: str | None
    customer_tier: str | None
    assignee: str | None


class Observation(NamedTuple):
    """Something the KPIs count (see docs/CONTRACTS-dev.md for the kinds)."""

    kind: str
    dims: Dimensions
    at: float
    value: float | None = None
    ok: bool | None = None
    first_contact: bool | None = None
    method: str | None = None


@dataclass(slots=True)
class Clock:
    """One SLA clock. ``acc`` is the business time elapsed up to ``since``; while
    running, elapsed(t) = acc + calendar.elapsed(since, t).

    ``runs`` holds the instants the clock started and stopped running (started,
    paused, resumed, stopped, reopened): [start, end, start, ...], odd in length
    while it runs. A target lowered below the elapsed time finds in them the instant
    it was reached, also before a pause or a stop (the alert's ``deadline``). Empty for
    a clock stored before they were kept.
    """

    metric: str
    state: str
    acc: float
    since: float
    target: float
    calendar: str
    fired: int = 0
    deadline: float | None = None  # where elapsed reached the target: recorded at the breach or a target change
    runs: list[float] = field(default_factory=list)
    # Memo of the next unfired threshold (instant, bit, kind, level, elapsed); None =
    # stale. Every change to the fields above resets it; it is never serialised.
    nx: tuple[float, int, str, int | None, float] | tuple[()] | None = field(default=None, compare=False, repr=False)

    def to_list(self) -> list[Any]:
        return [
            self.metric,
            self.state,
            self.acc,
            self.since,
            self.target,
            self.calendar,
            self.fired,
            self.deadline,
            self.runs,
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> Clock:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] if len(v) > 8 else [])


def at_risk_in(clock_lists: Iterable[list[Any]]) -> tuple[str, ...]:
    """:attr:`TicketState.at_risk_metrics` read from stored clocks (:meth:`Clock.to_list`)."""
    return tuple(c[0] for c in clock_lists if c[1] == RUNNING and c[6] & WARN and not c[6] & BREACH)


@dataclass(slots=True)
class TicketState:
    """Everything the engine knows about one ticket; serialisable for a changelog."""

    ticket_id: str
    created_at: float | None = None
    last_at: float | None = None
    priority: str = "normal"
    category: str | None = None
    channel: str | None = None
    department: str | None = None
    product_line: str | None = None
    vendor: str | None = None
    customer_tier: str | None = None
    assignee: str | None = None
    status: str = "open"
    clocks: dict[str, Clock] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    complaints: int = 0
    resolved_at: float | None = None
    closed_at: float | None = None
    survey_done: bool = False
    followup_done: bool = False
    partition: int | None = None
    dims_memo: Dimensions | None = field(default=None, compare=False, repr=False)

    @property
    def dims(self) -> Dimensions:
        dims = self.dims_memo
        if dims is None:
            dims = self.dims_memo = Dimensions(
                self.priority,
                self.category,
                self.channel,
                self.department,
                self.product_line,
                self.vendor,
                self.customer_tier,
                self.assignee,
            )
        return dims

    @property
    def at_risk_metrics(self) -> list[str]:
        """Metrics warned but not breached whose clock still runs (tickets at risk)."""
        return [
            c.metric for c in self.clocks.values() if c.state == RUNNING and c.fired & WARN and not c.fired & BREACH
        ]

    @property
    def awaiting_since(self) -> float | None:
        """Latest event time of a ticket whose ``ticket.created`` has not come (else None)."""
        return self.last_at if self.created_at is None else None

    @property
    def at_risk(self) -> bool:
        return bool(self.at_risk_metrics)

    @property
    def is_open(self) -> bool:
        return self.created_at is not None and self.status not in ("resolved", "closed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.ticket_id,
            "c": self.created_at,
            "l": self.last_at,
            "p": self.priority,
            "cat": self.category,
            "ch": self.channel,
            "d": self.department,
            "pl": self.product_line,
            "v": self.vendor,
            "tier": self.customer_tier,
            "a": self.assignee,
            "s": self.status,
            "k": [c.to_list() for c in self.clocks.values()],
            "seen": self.seen,
            "pend": self.pending,
            "n": self.complaints,
            "ra": self.resolved_at,
            "ca": self.closed_at,
            "sd": self.survey_done,
            "fd": self.followup_done,
            "part": self.partition,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TicketState:
        clocks = {c[0]: Clock.from_list(c) for c in d["k"]}
        return cls(
            d["t"],
            d["c"],
            d["l"],
            d["p"],
            d["cat"],
            d["ch"],
            d["d"],
            d["pl"],
            d["v"],
            d["tier"],
            d["a"],
            d["s"],
            clocks,
            d["seen"],
            d["pend"],
            d["n"],
            d["ra"],
            d["ca"],
            d["sd"],
            d["fd"],
            d.get("part"),
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, raw: bytes) -> TicketState:
        return cls.from_dict(orjson.loads(raw))


@dataclass(slots=True)
class Outcome:
    state: TicketState
    alerts: list[Alert] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    duplicate: bool = False
    held: bool = False  # held until the ticket's ticket.created arrives


_new_object = object.__new__


class SlaEngine:
    """Applies events and time to ticket states under one policy.

    The rules live in the native engine (``slawatch._native.NativeEngine``, the same one
    the backtest runs): each call hands it the Python state, which it reads, advances
    and writes back into the same object, so callers keep their references. A native
    engine (its memos of targets, thresholds and routes) belongs to the thread that made
    it, so each thread gets its own: the worker's ``/metrics`` scrape asks for
    ``followups`` from a thread of its own.
    """

    def __init__(self, policy: Policy, retention_seconds: float = 30 * 86400) -> None:
        self.policy = policy
        self.retention_seconds = retention_seconds
        self._cals: dict[str, BusinessCalendar] = policy.calendars
        esc = [(lv.level, lv.at) for lv in policy.escalation]
        self._per_thread = threading.local()
        #: 8 bytes naming how this engine places thresholds in time: the same value
        #: means ``next_due`` of a stored state is what an earlier process computed.
        self.fingerprint: bytes = hashlib.blake2b(
            repr(
                (
                    __version__,
                    THRESHOLD_RULES,
                    policy.warn_fraction,
                    esc,
                    sorted((name, cal.definition()) for name, cal in policy.calendars.items()),
                )
            ).encode(),
            digest_size=8,
        ).digest()

    @property
    def _native(self) -> NativeEngine:
        try:
            native: NativeEngine = self._per_thread.engine
        except AttributeError:
            native = self._per_thread.engine = NativeEngine(self.policy, self.retention_seconds)
        return native

    def _target(self, state: TicketState, metric: str) -> Target:
        return self.policy.target_for(
            metric,
            state.priority,
            customer_tier=state.customer_tier,
            category=state.category,
            channel=state.channel,
            department=state.department,
        )

    @property
    def missing_calendar_years(self) -> set[tuple[str, int]]:
        """(calendar, year) of every year a clock ran in that its calendar has no holiday data for.

        Any year a deadline or an elapsed time was counted in, so a ticket of late
        December whose deadline falls in an unannounced January is reported too.
        """
        return {(name, year) for name, cal in self._cals.items() for year in cal.years_without_data}

    @property
    def missing_calendar_year_count(self) -> int:
        """``len(missing_calendar_years)`` without building the set (a worker checks it per event)."""
        return sum([len(cal.years_without_data) for cal in self._cals.values()])

    def apply(self, state: TicketState | None, event: TicketEvent) -> Outcome:
        """Apply one validated event to its ticket's state (None for a new ticket)."""
        if state is None:
            state = TicketState(event.ticket_id)
        # = Outcome(state), without the dataclass's generated __init__ (tests check the
        # fields match).
        out = _new_object(Outcome)
        out.state = state
        try:
            out.alerts, out.observations, out.duplicate, out.held = self._native.apply(state, event)
        except PanicException as exc:
            raise EngineFault(f"native engine failed applying {event.type}: {exc}") from None
        return out

    def next_due(self, state: TicketState) -> float | None:
        """The earliest instant of an unfired threshold of a running clock."""
        try:
            return self._native.next_due(state)
        except PanicException as exc:
            raise EngineFault(f"native engine failed in next_due: {exc}") from None

    def advance(self, state: TicketState, now: float, inclusive: bool = False) -> tuple[list[Alert], list[Observation]]:
        """Fire the ticket's thresholds whose instant is before ``now`` (or at it, when
        ``inclusive``), each with its own instant as ``fired_at``."""
        try:
            return self._native.advance(state, now, inclusive), []
        except PanicException as exc:
            raise EngineFault(f"native engine failed in advance: {exc}") from None

    def expired(self, state: TicketState, now: float) -> bool:
        """A closed-out ticket past retention (its state may be deleted)."""
        try:
            return self._native.expired(state, now)
        except PanicException as exc:
            raise EngineFault(f"native engine failed in expired: {exc}") from None

    def followups(self, state: TicketState, now: float) -> Iterable[tuple[str, str]]:
        """(kind, "due"|"overdue") for the follow-ups a resolved ticket still owes."""
        if state.resolved_at is None:
            return
        try:
            due = self._native.followups(state.resolved_at, state.survey_done, state.followup_done, now)
        except PanicException as exc:
            raise EngineFault(f"native engine failed in followups: {exc}") from None
        yield from due
