"""Properties of the engine's clocks on random ticket histories (hypothesis).

sla.md defines elapsed time as the measure, on the clock's calendar, of the time since
start outside paused intervals. The engine keeps it incrementally (``acc`` up to
``since``) and keeps the instants each clock ran between (``runs``), from which a
lowered target finds the instant it was reached. While the calendar stays the same the
two must never disagree, whatever the order, spacing and kind of the events; and a
priority change keeps the elapsed time, whichever calendar the new target names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.sla.engine import RUNNING, SlaEngine, TicketState
from slawatch.sla.events import parse_event
from slawatch.sla.policy import load_policy

SH = ZoneInfo("Asia/Shanghai")
ENGINE = SlaEngine(load_policy(None))
# A Friday afternoon before the 2026 National Day week: nights, a weekend, a long
# holiday and its make-up Saturday lie within reach of the random steps.
START = int(datetime(2026, 9, 25, 15, 0, tzinfo=SH).timestamp())

_STATUS = ("open", "in_progress", "waiting_customer", "resolved", "closed")


def _events(priorities: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str | None]]:
    return st.one_of(
        st.tuples(st.just("ticket.priority_changed"), st.sampled_from(priorities)),
        st.tuples(st.just("ticket.status_changed"), st.sampled_from(_STATUS)),
        st.tuples(
            st.sampled_from(
                ("ticket.responded", "ticket.resolved", "ticket.reopened", "ticket.closed", "ticket.complaint")
            ),
            st.none(),
        ),
    )


# normal and urgent count both metrics on business hours: no change of calendar.
_same_calendar = _events(("normal", "urgent"))
_any_priority = _events(("normal", "urgent", "major"))
# Steps back in time too: a ticket's events are applied at its latest time.
_step = st.integers(min_value=-3_600, max_value=3 * 86_400)


def _raw(n: int, etype: str, at: int, value: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": f"e{n}",
        "type": etype,
        "ticket_id": "T1",
        "occurred_at": datetime.fromtimestamp(at, SH).isoformat(),
    }
    if etype == "ticket.priority_changed":
        raw["priority"] = value
    elif etype == "ticket.status_changed":
        raw["status"] = value
    elif etype == "ticket.created":
        raw.update(priority=value, category="service")
    return raw


def _measure(state: TicketState) -> None:
    for clock in state.clocks.values():
        runs = clock.runs
        assert len(runs) % 2 == (clock.state == RUNNING), (clock.state, runs)
        cal = ENGINE._cals[clock.calendar]
        ends = [*runs[1::2], clock.since] if clock.state == RUNNING else runs[1::2]
        measured = sum(cal.elapsed(s, e) for s, e in zip(runs[0::2], ends, strict=True))
        assert measured == clock.acc, (clock.metric, runs, clock.acc, measured)


def _history(priority: str, history: list[tuple[int, tuple[str, str | None]]]) -> list[dict[str, Any]]:
    at = START
    raws = [_raw(0, "ticket.created", at, priority)]
    for n, (step, (etype, value)) in enumerate(history, start=1):
        at += step
        raws.append(_raw(n, etype, at, value))
    return raws


@settings(max_examples=200, deadline=None)
@given(priority=st.sampled_from(("normal", "urgent")), history=st.lists(st.tuples(_step, _same_calendar), max_size=12))
def test_elapsed_time_is_the_measure_of_the_clocks_runs_on_its_calendar(
    priority: str, history: list[tuple[int, tuple[str, str | None]]]
) -> None:
    state = None
    for raw in _history(priority, history):
        state = ENGINE.apply(state, parse_event(raw)).state
        _measure(state)


def _elapsed(state: TicketState, t: float) -> dict[str, float]:
    out = {}
    for clock in state.clocks.values():
        acc = clock.acc
        if clock.state == RUNNING and t > clock.since:
            acc += ENGINE._cals[clock.calendar].elapsed(clock.since, t)
        out[clock.metric] = acc
    return out


@settings(max_examples=200, deadline=None)
@given(
    priority=st.sampled_from(("normal", "urgent", "major")),
    history=st.lists(st.tuples(_step, _any_priority), max_size=12),
)
def test_a_priority_change_keeps_the_elapsed_time_whatever_the_new_calendar(
    priority: str, history: list[tuple[int, tuple[str, str | None]]]
) -> None:
    state = None
    for raw in _history(priority, history):
        event = parse_event(raw)
        if state is not None and event.type == "ticket.priority_changed":
            t = max(event.at, state.last_at or event.at)
            before = _elapsed(state, t)
            state = ENGINE.apply(state, event).state
            assert _elapsed(state, t) == pytest.approx(before, abs=1e-6)
        else:
            state = ENGINE.apply(state, event).state


@settings(max_examples=100, deadline=None)
@given(history=st.lists(st.tuples(_step, _any_priority), max_size=12))
def test_a_stored_ticket_reads_back_with_its_clocks_runs(history: list[tuple[int, tuple[str, str | None]]]) -> None:
    state = None
    for raw in _history("normal", history):
        state = ENGINE.apply(state, parse_event(raw)).state
    assert state is not None
    again = TicketState.from_bytes(state.to_bytes())
    assert {m: c.runs for m, c in again.clocks.items()} == {m: c.runs for m, c in state.clocks.items()}
