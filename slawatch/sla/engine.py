"""SLA clocks and signals, exactly as sla.md defines them.

The engine is a set of pure functions over a per-ticket :class:`TicketState`: the
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from slawatch import __version__
from slawatch.sla.alerts import (
    KIND_BREACHED,
    KIND_ESCALATED,
    KIND_WARNING,
    Alert,
    Contact,
    alert_id_for,
)
from slawatch.sla.calendar import BusinessCalendar
from slawatch.sla.events import TicketEvent, parse_event
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

RESPONSE = "response"
RESOLUTION = "resolution"
COMPLAINT = "complaint"

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

# One bit per signal of a clock: each is sent once per ticket, metric and level.
WARN, BREACH, ESC1, ESC2 = 1, 2, 4, 8
#: Part of :attr:`SlaEngine.fingerprint`: bump it with any change to how thresholds are
#: placed in time (``_make_thresholds``, ``_next``), so that workers recompute the next
#: due instants stored with ticket states instead of trusting ones placed by old rules.
THRESHOLD_RULES = 2  # 2: instants rounded to whole microseconds (fractional-second ties)
REPEAT_COMPLAINT_ESCALATED = 16  # on the complaint clock: the level-2 escalation of the 2nd complaint

SURVEY_DUE_SECONDS = 24 * 3600
SURVEY_OVERDUE_SECONDS = 7 * 86400
VISIT_DUE_WORKING_DAYS = 5


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
    """Applies events and time to ticket states under one policy."""

    def __init__(self, policy: Policy, retention_seconds: float = 30 * 86400) -> None:
        self.policy = policy
        self.retention_seconds = retention_seconds
        self._cals: dict[str, BusinessCalendar] = policy.calendars
        self._tz = policy.display_timezone
        esc = [(lv.level, lv.at) for lv in policy.escalation]
        self._ladder = esc
        # Years a clock touched that a holiday preset lacks (the worker turns these into
        # a log line and a metric; `policy check` lists them up front).
        self._threshold_cache: dict[tuple[str, float], list[tuple[int, str, int | None, float]]] = {}
        # Escalation contacts per (department, level): Policy.route builds a new Contact
        # each call; the policy is immutable (its target_for memoises the same way).
        self._routes: dict[tuple[str | None, int], Contact] = {}
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

    # ------------------------------------------------------------------ thresholds
    def _thresholds(self, clock: Clock) -> list[tuple[int, str, int | None, float]]:
        # Called for every clock on every event and tick: memoised per (metric, target).
        key = (clock.metric, clock.target)
        cached = self._threshold_cache.get(key)
        if cached is None:
            cached = self._threshold_cache[key] = self._make_thresholds(clock.metric, clock.target)
        return cached

    def _make_thresholds(self, metric: str, t: float) -> list[tuple[int, str, int | None, float]]:
        out: list[tuple[int, str, int | None, float]] = [
            (WARN, KIND_WARNING, None, _num(self.policy.warn_fraction * t)),
            (BREACH, KIND_BREACHED, None, t),
        ]
        if metric != COMPLAINT:
            for level, at in self._ladder:
                out.append((ESC1 if level == 1 else ESC2, KIND_ESCALATED, level, _num(at * t)))
        out.sort(key=lambda x: x[3])  # stable: warning, breach, level 1, level 2 on ties
        return out

    def _target(self, state: TicketState, metric: str) -> Target:
        return self.policy.target_for(
            metric,
            state.priority,
            customer_tier=state.customer_tier,
            category=state.category,
            channel=state.channel,
            department=state.department,
        )

    def _alert(
        self, state: TicketState, clock: Clock, kind: str, level: int | None, fired_at: float, elapsed: float
    ) -> Alert:
        deadline = clock.deadline
        if deadline is None and clock.state == RUNNING and clock.acc < clock.target:
            deadline = self._cals[clock.calendar].add(clock.since, clock.target - clock.acc)
        escalate_to = None
        if level:
            route = (state.department, level)
            escalate_to = self._routes.get(route)
            if escalate_to is None:
                escalate_to = self._routes[route] = self.policy.route(state.department, level)
        # Positionally, in Alert's field order: seventeen keywords through the named
        # tuple's Python __new__ cost 1.0 µs an alert, _make 0.2 µs.
        return Alert._make(
            (
                alert_id_for(state.ticket_id, clock.metric, kind, level),
                kind,
                state.ticket_id,
                clock.metric,
                level,
                state.priority,
                state.department,
                state.assignee,
                deadline,
                fired_at,
                elapsed,  # elapsed_seconds
                clock.target,  # target_seconds
                clock.calendar,
                state.category,
                state.channel,
                escalate_to,
                self._tz,
            )
        )

    def _fire(
        self,
        state: TicketState,
        clock: Clock,
        bit: int,
        kind: str,
        level: int | None,
        fired_at: float,
        elapsed: float,
        alerts: list[Alert],
    ) -> None:
        clock.fired |= bit
        clock.nx = None
        if bit == BREACH and clock.deadline is None:
            clock.deadline = fired_at  # reached while running: a target change may have set it
        alerts.append(self._alert(state, clock, kind, level, fired_at, elapsed))

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

    # ------------------------------------------------------------------ time
    def _next(self, clock: Clock) -> tuple[float, int, str, int | None, float] | tuple[()]:
        """The clock's next unfired threshold as (instant, bit, kind, level, elapsed), or ()."""
        nx = clock.nx
        if nx is None:
            nx = ()
            if clock.state == RUNNING:
                for bit, kind, level, thr in self._thresholds(clock):
                    if clock.fired & bit:
                        continue
                    need = thr - clock.acc
                    at = clock.since if need <= 0 else self._cals[clock.calendar].add(clock.since, need)
                    if type(at) is float:
                        # Whole microseconds, as event times are parsed: float sums of
                        # fractional seconds could land one ulp before an event at the
                        # very instant and turn a tie (event first) into a fired alert.
                        at = round(at, 6)
                    nx = (at, bit, kind, level, thr)
                    break
            clock.nx = nx
        return nx

    def next_due(self, state: TicketState) -> float | None:
        """The earliest instant of an unfired threshold of a running clock."""
        best: float | None = None
        for clock in state.clocks.values():
            if clock.state == RUNNING:
                nx = clock.nx
                if nx is None:  # memo stale (the hit is inlined: this runs after every event)
                    nx = self._next(clock)
                if nx and (best is None or nx[0] < best):
                    best = nx[0]
        return best

    def advance(self, state: TicketState, now: float, inclusive: bool = False) -> tuple[list[Alert], list[Observation]]:
        """Fire the ticket's thresholds whose instant is before ``now`` (or at it, when
        ``inclusive``), each with its own instant as ``fired_at``."""
        alerts: list[Alert] = []
        self._advance(state, now, inclusive, alerts)
        return alerts, []

    def _advance(self, state: TicketState, now: float, inclusive: bool, alerts: list[Alert]) -> None:
        fired = False
        for clock in state.clocks.values():
            if clock.state != RUNNING:
                continue
            while True:
                nx = clock.nx
                if nx is None:  # memo stale (the hit is inlined: this runs before every event)
                    nx = self._next(clock)
                if not nx:
                    break
                at = nx[0]
                if at < now or (inclusive and at <= now):
                    self._fire(state, clock, nx[1], nx[2], nx[3], at, max(nx[4], clock.acc), alerts)
                    fired = True
                else:
                    break
        if fired and len(alerts) > 1:
            alerts.sort(key=lambda a: a.fired_at)

    def _fire_exceeded(self, state: TicketState, clock: Clock, t: float, alerts: list[Alert]) -> None:
        """Thresholds a target change left behind fire at once, at the event's time.

        Only for the clock whose target this event changed. Also on a clock paused while
        waiting on the customer: sla.md has "if the new target is already exceeded the
        breach fires at once", and waiting for the resume would lose the breach of a
        ticket resolved while still paused. A stopped clock fires nothing; if a reopen
        restarts it, such thresholds fall due at the restart instant like any other (so
        a pause at that same instant keeps them unfired until the clock runs again,
        whatever events without a target change come meanwhile).
        """
        if clock.state == STOPPED:
            return
        for bit, kind, level, thr in self._thresholds(clock):  # in threshold order
            if not clock.fired & bit and thr < clock.acc:
                self._fire(state, clock, bit, kind, level, t, clock.acc, alerts)

    # ------------------------------------------------------------------ clocks
    def _catch_up(self, clock: Clock, t: float) -> None:
        if clock.state == RUNNING and t > clock.since:
            cal = self._cals[clock.calendar]
            acc = clock.acc + cal.elapsed(clock.since, t)
            if type(acc) is float:
                acc = round(acc, 6)  # whole microseconds, like the instants it is measured between
            if clock.deadline is None and clock.acc < clock.target <= acc:
                # Passed the target in this run without a breach to record it (a target
                # just changed, or raised after the breach fired under a lower one).
                clock.deadline = cal.add(clock.since, clock.target - clock.acc)
            clock.acc = acc
            clock.since = t
            clock.nx = None

    def _stop(self, clock: Clock, t: float) -> None:
        self._halt(clock, t, STOPPED)

    def _halt(self, clock: Clock, t: float, state: str) -> None:
        """The clock pauses or stops at ``t``: a running one ends its run there."""
        self._catch_up(clock, t)
        if clock.state == RUNNING and len(clock.runs) % 2:
            clock.runs.append(clock.since)  # _catch_up moved it to t (never back)
        clock.state = state
        clock.since = max(clock.since, t)
        clock.nx = None

    @staticmethod
    def _resume(clock: Clock, t: float) -> None:
        """A paused or stopped clock runs again from ``t``."""
        clock.state = RUNNING
        clock.since = t
        clock.nx = None
        if clock.runs and not len(clock.runs) % 2:
            clock.runs.append(t)

    def _start(self, state: TicketState, metric: str, t: float, target: Target) -> Clock:
        clock = Clock(metric, RUNNING, 0, t, target.seconds, target.calendar, 0, None, [t])
        state.clocks[metric] = clock
        return clock

    def _retarget(self, state: TicketState, t: float, out: Outcome) -> None:
        for metric in (RESPONSE, RESOLUTION):
            clock = state.clocks.get(metric)
            if clock is None:
                continue
            target = self._target(state, metric)
            if target.seconds == clock.target and target.calendar == clock.calendar:
                continue
            # Elapsed time is kept: the current run is folded in on the old calendar, and
            # the clock counts on the new target's calendar from here. The deadline is
            # where elapsed reaches the new target: still ahead, computed when an alert
            # needs it; passed, found in the clock's runs (else in the run folded in
            # here, else the change stands for it).
            clock.target = target.seconds
            clock.deadline = None
            self._catch_up(clock, t)
            if clock.runs:
                self._deadline_in_runs(clock, t)
            clock.calendar = target.calendar
            clock.nx = None
            if clock.deadline is None and clock.acc >= clock.target:
                clock.deadline = t
            self._fire_exceeded(state, clock, t, out.alerts)

    def _deadline_in_runs(self, clock: Clock, t: float) -> None:
        """Where elapsed time reached the (new) target, found in the clock's runs.

        Exact when every run was counted on the clock's current calendar, which the
        runs' measure equal to ``acc`` proves; after an earlier change of calendar
        (elapsed time then mixes two calendars) the caller's answer stands.
        """
        cal = self._cals[clock.calendar]
        runs = clock.runs
        target = clock.target
        acc: float = 0
        found = None
        for i in range(0, len(runs), 2):
            start = runs[i]
            end = runs[i + 1] if i + 1 < len(runs) else t
            if end <= start:
                continue
            span = cal.elapsed(start, end)
            if found is None and acc < target <= acc + span:
                found = cal.add(start, target - acc)
            acc += span
        if abs(acc - clock.acc) < 1e-6:
            clock.deadline = found

    # ------------------------------------------------------------------ events
    def apply(self, state: TicketState | None, event: TicketEvent) -> Outcome:
        """Apply one validated event to its ticket's state (None for a new ticket)."""
        if state is None:
            state = TicketState(event.ticket_id)
        # = Outcome(state), without the dataclass's generated __init__: entered from C
        # through slot_tp_init, it cost ~0.3 µs an event (tests check the fields match).
        out = _new_object(Outcome)
        out.state = state
        out.alerts = []
        out.observations = []
        out.duplicate = False
        out.held = False
        if event.event_id in state.seen:
            out.duplicate = True
            return out
        state.seen.append(event.event_id)
        if state.created_at is None and event.type != "ticket.created":
            state.pending.append(event.data)
            if state.last_at is None or event.at > state.last_at:
                state.last_at = event.at
            out.held = True
            return out
        self._apply_at(state, event, out)
        if event.type == "ticket.created" and state.pending:
            held = sorted((parse_event(d) for d in state.pending), key=lambda e: e.at)
            state.pending = []
            for ev in held:
                self._apply_at(state, ev, out)
        return out

    def _apply_at(self, state: TicketState, event: TicketEvent, out: Outcome) -> None:
        t = event.at
        if state.created_at is not None and state.last_at is not None and t < state.last_at:
            t = state.last_at
        self._advance(state, t, False, out.alerts)
        handler = _HANDLERS[event.type]
        handler(self, state, event, t, out)
        if state.created_at is not None:
            state.last_at = t if state.last_at is None or t > state.last_at else state.last_at

    def _obs(
        self,
        out: Outcome,
        state: TicketState,
        kind: str,
        t: float,
        value: float | None = None,
        ok: bool | None = None,
        first_contact: bool | None = None,
        method: str | None = None,
    ) -> None:
        # Explicit parameters, passed on positionally: **kw cost more than the append;
        # _make skips the named tuple's Python __new__ (0.14 µs of 0.36).
        dims = state.dims_memo
        if dims is None:
            dims = state.dims
        out.observations.append(Observation._make((kind, dims, t, value, ok, first_contact, method)))

    def _on_created(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        state.dims_memo = None
        if state.created_at is not None:  # a second ticket.created only fills gaps
            for attr in ("category", "channel", "department", "product_line", "vendor", "customer_tier", "assignee"):
                if getattr(state, attr) is None and ev.get(attr) is not None:
                    setattr(state, attr, ev.get(attr))
            self._retarget(state, t, out)  # a filled department may bring an override, as an assignment does
            return
        state.priority = ev.data["priority"]
        state.category = ev.data["category"]
        state.channel = ev.get("channel")
        state.department = ev.get("department")
        state.product_line = ev.get("product_line")
        state.vendor = ev.get("vendor")
        state.customer_tier = ev.get("customer_tier", "standard")
        state.assignee = ev.get("assignee")
        state.created_at = t
        state.last_at = t
        state.status = "open"
        self._start(state, RESPONSE, t, self._target(state, RESPONSE))
        self._start(state, RESOLUTION, t, self._target(state, RESOLUTION))
        self._obs(out, state, "created", t)

    def _on_assigned(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        state.dims_memo = None
        state.assignee = ev.data["assignee"]
        if ev.get("department") is not None:
            state.department = ev.get("department")
        if ev.get("vendor") is not None:
            state.vendor = ev.get("vendor")
        self._retarget(state, t, out)

    def _on_responded(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        self._stop_response(state, t, out)

    def _stop_response(self, state: TicketState, t: float, out: Outcome) -> None:
        clock = state.clocks.get(RESPONSE)
        if clock is None or clock.state == STOPPED:
            return
        self._stop(clock, t)
        self._obs(out, state, "responded", t, value=clock.acc, ok=clock.acc <= clock.target)

    def _on_status(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        new = ev.data["status"]
        if new == "resolved":
            self._on_resolved(state, ev, t, out)
            return
        if new == "closed":
            self._on_closed(state, ev, t, out)
            return
        state.status = new
        clock = state.clocks.get(RESOLUTION)
        if clock is not None:
            if new == "waiting_customer" and clock.state == RUNNING:
                self._halt(clock, t, PAUSED)
            elif new != "waiting_customer" and clock.state == PAUSED:
                self._resume(clock, t)
        self._obs(out, state, "status_changed", t)

    def _on_priority(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        if ev.data["priority"] == state.priority:
            return
        state.priority = ev.data["priority"]
        state.dims_memo = None
        self._retarget(state, t, out)
        self._obs(out, state, "priority_changed", t)

    def _on_resolved(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        self._stop_response(state, t, out)
        clock = state.clocks.get(RESOLUTION)
        if clock is not None and clock.state != STOPPED:
            self._stop(clock, t)
            fc = ev.get("first_contact")
            self._obs(
                out,
                state,
                "resolved",
                t,
                value=clock.acc,
                ok=clock.acc <= clock.target and not clock.fired & BREACH,
                first_contact=fc if isinstance(fc, bool) else None,
            )
        self._stop_complaint(state, t)
        state.status = "resolved"
        state.resolved_at = t

    def _stop_complaint(self, state: TicketState, t: float) -> None:
        clock = state.clocks.get(COMPLAINT)
        if clock is not None and clock.state != STOPPED:
            self._stop(clock, t)

    def _on_reopened(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        clock = state.clocks.get(RESOLUTION)
        if clock is not None and clock.state == STOPPED:
            self._resume(clock, t)
        if state.status in ("resolved", "closed"):
            # A reopen of a ticket that is not done changes no status: a clock paused
            # while waiting on the customer stays paused until the next status change.
            state.status = "open"
        state.resolved_at = None
        state.closed_at = None
        self._obs(out, state, "reopened", t)

    def _on_closed(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        clock = state.clocks.get(RESOLUTION)
        if clock is not None and clock.state != STOPPED:
            self._stop(clock, t)
        self._stop_complaint(state, t)
        state.status = "closed"
        state.closed_at = t
        self._obs(out, state, "closed", t)

    def _on_complaint(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        state.complaints += 1
        self._obs(out, state, "complaint", t, ok=state.complaints == 1)
        if state.complaints != 2 or COMPLAINT in state.clocks:
            return
        clock = self._start(state, COMPLAINT, t, self.policy.complaint)
        clock.fired |= REPEAT_COMPLAINT_ESCALATED
        clock.nx = None
        out.alerts.append(self._alert(state, clock, KIND_ESCALATED, 2, t, 0))

    def _on_survey(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        state.survey_done = True
        self._obs(out, state, "survey", t, value=float(ev.data["score"]))

    def _on_followup(self, state: TicketState, ev: TicketEvent, t: float, out: Outcome) -> None:
        state.followup_done = True
        sat = ev.get("satisfied")
        self._obs(out, state, "followup", t, ok=sat if isinstance(sat, bool) else None, method=ev.data["method"])

    # ------------------------------------------------------------------ housekeeping
    def expired(self, state: TicketState, now: float) -> bool:
        """A closed-out ticket past retention (its state may be deleted)."""
        keep = self.retention_seconds
        if state.created_at is None:
            return state.last_at is not None and now - state.last_at > keep
        done_at = (
            state.closed_at if state.status == "closed" else (state.resolved_at if state.status == "resolved" else None)
        )
        return done_at is not None and now - done_at > keep and self.next_due(state) is None

    def followups(self, state: TicketState, now: float) -> Iterable[tuple[str, str]]:
        """(kind, "due"|"overdue") for the follow-ups a resolved ticket still owes."""
        if state.resolved_at is None:
            return
        if not state.survey_done and now >= state.resolved_at + SURVEY_DUE_SECONDS:
            yield "survey", "overdue" if now > state.resolved_at + SURVEY_OVERDUE_SECONDS else "due"
        if not state.followup_done:
            cal = self._cals.get("business") or next(iter(self._cals.values()))
            limit = cal.add(state.resolved_at, VISIT_DUE_WORKING_DAYS * cal.working_day_seconds)
            yield "visit", "overdue" if now > limit else "due"


def _num(x: float) -> float:
    r = round(x, 6)
    return int(r) if float(r).is_integer() else r


_HANDLERS = {
    "ticket.created": SlaEngine._on_created,
    "ticket.assigned": SlaEngine._on_assigned,
    "ticket.responded": SlaEngine._on_responded,
    "ticket.status_changed": SlaEngine._on_status,
    "ticket.priority_changed": SlaEngine._on_priority,
    "ticket.resolved": SlaEngine._on_resolved,
    "ticket.reopened": SlaEngine._on_reopened,
    "ticket.closed": SlaEngine._on_closed,
    "ticket.complaint": SlaEngine._on_complaint,
    "survey.submitted": SlaEngine._on_survey,
    "followup.completed": SlaEngine._on_followup,
}
