"""The SLA semantics of sla.md, one behaviour per test, on the default policy.

Week of 2026-11-16 (Mon) .. 2026-11-20 (Fri) has no holidays; business hours are
Mon-Fri 09:00-18:00 Asia/Shanghai.
"""

from __future__ import annotations

import orjson
import pytest
from sla_scenarios import created, ev, run, signals, ts

from slawatch.sla.engine import SlaEngine, TicketState
from slawatch.sla.events import parse_event
from slawatch.sla.policy import default_policy_text, load_policy, parse_policy


def test_unanswered_normal_ticket_warns_breaches_and_escalates_on_business_time() -> None:
    alerts = run([created("2026-11-16 10:00")], until="2026-11-16 18:00")
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-16 13:12"),
        ("breached", "response", None, "2026-11-16 14:00"),
        ("escalated", "response", 1, "2026-11-16 14:00"),
        ("escalated", "response", 2, "2026-11-16 16:00"),
    ]


def test_response_clock_skips_the_night_and_the_weekend() -> None:
    alerts = run([created("2026-11-20 17:00")], until="2026-11-23 12:00")
    assert signals(alerts)[:2] == [
        ("warning", "response", None, "2026-11-23 11:12"),
        ("breached", "response", None, "2026-11-23 12:00"),
    ]


def test_response_at_exactly_the_deadline_meets_it() -> None:
    alerts = run([created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 14:00")], until="2026-11-16 18:00")
    assert signals(alerts) == [("warning", "response", None, "2026-11-16 13:12")]


def test_a_pause_at_exactly_a_threshold_with_fractional_seconds_is_a_tie_the_event_wins() -> None:
    # The instant is reached through sums of fractional seconds (a pause from
    # 09:44:58.999999 to 12:07:25.108543); as a float it could fall one ulp before the
    # event's own instant and fire (independent oracle, round 11).
    def at(text: str) -> dict[str, str]:
        return {"occurred_at": text}

    events = [
        created("2026-03-06 08:59:59", "major", ticket="A"),
        ev("ticket.responded", "2026-03-06 08:59:59", "A"),
        {**ev("ticket.status_changed", "2026-03-06 09:44", "A", status="waiting_customer"),
         **at("2026-03-06T09:44:58.999999+08:00")},
        {**ev("ticket.status_changed", "2026-03-06 12:07", "A", status="in_progress"),
         **at("2026-03-06T12:07:25.108543+08:00")},
        {**ev("ticket.status_changed", "2026-03-20 15:52", "A", status="waiting_customer"),
         **at("2026-03-20T15:52:26.108544+08:00")},  # exactly the level-2 instant (1.5 x 7 working days)
    ]  # fmt: skip
    alerts = run(events, until="2026-03-21 00:00")
    assert [(a.kind, a.level) for a in alerts if a.metric == "resolution"] == [
        ("sla.warning", None), ("sla.breached", None), ("sla.escalated", 1),
    ]  # fmt: skip


def test_response_before_the_warning_fires_nothing() -> None:
    alerts = run([created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 11:00")], until="2026-11-16 18:00")
    assert alerts == []


def test_threshold_at_an_event_instant_still_fires_when_the_clock_keeps_running() -> None:
    alerts = run(
        [created("2026-11-16 10:00"), ev("ticket.assigned", "2026-11-16 13:12", assignee="a")], until="2026-11-16 13:30"
    )
    assert signals(alerts) == [("warning", "response", None, "2026-11-16 13:12")]


def test_major_response_runs_on_the_24x7_calendar() -> None:
    alerts = run([created("2026-11-21 03:00", "major")], until="2026-11-21 03:40")
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-21 03:24"),
        ("breached", "response", None, "2026-11-21 03:30"),
        ("escalated", "response", 1, "2026-11-21 03:30"),
    ]


def test_late_response_event_fires_the_warning_crossed_before_it_with_its_own_instant() -> None:
    alerts = run([created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 13:30")])
    assert signals(alerts) == [("warning", "response", None, "2026-11-16 13:12")]


def test_resolution_clock_pauses_while_waiting_on_the_customer() -> None:
    events = [
        created("2026-11-16 09:00", "urgent"),
        ev("ticket.responded", "2026-11-16 09:10"),
        ev("ticket.status_changed", "2026-11-16 18:00", status="waiting_customer"),
        ev("ticket.status_changed", "2026-11-17 18:00", status="in_progress"),
    ]
    # urgent resolution = 3 working days = 27 business hours; 9 h ran on Monday, Tuesday
    # was paused, so the warning (21.6 h) falls on Thursday 09:00 + 3.6 h = 12:36.
    alerts = run(events, until="2026-11-19 13:00")
    assert signals(alerts) == [("warning", "resolution", None, "2026-11-19 12:36")]


def test_a_reopen_while_waiting_on_the_customer_leaves_the_clock_paused_until_the_next_status_change() -> None:
    events = [
        created("2026-11-16 09:00", "urgent"),
        ev("ticket.responded", "2026-11-16 09:10"),
        ev("ticket.status_changed", "2026-11-16 10:00", status="waiting_customer"),
        ev("ticket.reopened", "2026-11-16 11:00"),  # not resolved: no status change
        ev("ticket.status_changed", "2026-11-16 12:00", status="in_progress"),
    ]
    # 1 h ran before the pause; from 12:00: 6 h Mon, 9 h Tue, then 5.6 h on Wednesday.
    alerts = run(events, until="2026-11-18 15:00")
    assert signals(alerts) == [("warning", "resolution", None, "2026-11-18 14:36")]


def test_any_status_change_away_from_waiting_resumes_the_paused_clock() -> None:
    events = [
        created("2026-11-16 09:00", "urgent"),
        ev("ticket.responded", "2026-11-16 09:10"),
        ev("ticket.status_changed", "2026-11-16 10:00", status="waiting_customer"),
        ev("ticket.status_changed", "2026-11-16 12:00", status="open"),
    ]
    alerts = run(events, until="2026-11-18 15:00")
    assert signals(alerts) == [("warning", "resolution", None, "2026-11-18 14:36")]


def test_response_clock_never_pauses() -> None:
    events = [
        created("2026-11-16 10:00"),
        ev("ticket.status_changed", "2026-11-16 10:30", status="waiting_customer"),
    ]
    alerts = run(events, until="2026-11-16 14:30")
    assert ("breached", "response", None, "2026-11-16 14:00") in signals(alerts)


def test_priority_raised_past_the_new_target_breaches_at_once() -> None:
    events = [created("2026-11-16 09:00"), ev("ticket.priority_changed", "2026-11-16 10:30", priority="urgent")]
    alerts = run(events, until="2026-11-16 10:45")
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-16 10:30"),
        ("breached", "response", None, "2026-11-16 10:30"),
        ("escalated", "response", 1, "2026-11-16 10:30"),
        ("escalated", "response", 2, "2026-11-16 10:30"),
    ]


# Mon 2026-11-16 09:00 urgent-ish history: a normal ticket answered at once, waiting on
# the customer from Thu 12:00 with 30 business hours on its resolution clock.
_PAUSED_AT_30H = [
    created("2026-11-16 09:00"),
    ev("ticket.responded", "2026-11-16 09:10"),
    ev("ticket.status_changed", "2026-11-19 12:00", status="waiting_customer"),
]


def test_priority_raised_past_the_new_target_while_paused_breaches_at_the_change() -> None:
    alerts = run(
        [
            *_PAUSED_AT_30H,
            ev("ticket.priority_changed", "2026-11-19 14:00", priority="urgent"),  # target 27 h < 30 h
            ev("ticket.status_changed", "2026-11-20 10:00", status="in_progress"),
            ev("ticket.resolved", "2026-11-20 11:00"),
        ],
        until="2026-11-30 18:00",
    )
    assert signals(alerts) == [
        ("warning", "resolution", None, "2026-11-19 14:00"),
        ("breached", "resolution", None, "2026-11-19 14:00"),
        ("escalated", "resolution", 1, "2026-11-19 14:00"),
    ]


def test_a_ticket_resolved_while_paused_past_a_lowered_target_keeps_its_breach() -> None:
    alerts = run(
        [
            *_PAUSED_AT_30H,
            ev("ticket.priority_changed", "2026-11-19 14:00", priority="urgent"),
            ev("ticket.resolved", "2026-11-20 10:00"),
        ],
        until="2026-11-30 18:00",
    )
    assert ("breached", "resolution", None, "2026-11-19 14:00") in signals(alerts)


def test_a_reopened_clock_past_a_target_lowered_while_stopped_fires_only_if_it_runs_on() -> None:
    resolved = [
        created("2026-11-16 09:00"),
        ev("ticket.responded", "2026-11-16 09:10"),
        ev("ticket.resolved", "2026-11-19 12:00"),  # 30 business hours
        ev("ticket.priority_changed", "2026-11-19 14:00", priority="urgent"),  # stopped: nothing fires
        ev("ticket.reopened", "2026-11-20 10:00"),  # the thresholds fall due at this instant
    ]
    paused_at_once = run([*resolved, ev("ticket.status_changed", "2026-11-20 10:00", status="waiting_customer")])
    assert paused_at_once == []  # a threshold fires only if its clock still runs after its instant
    runs_on = run(resolved, until="2026-11-20 10:01")
    assert signals(runs_on) == [
        ("warning", "resolution", None, "2026-11-20 10:00"),
        ("breached", "resolution", None, "2026-11-20 10:00"),
        ("escalated", "resolution", 1, "2026-11-20 10:00"),
    ]


def test_priority_change_keeps_elapsed_time_and_moves_the_deadline() -> None:
    events = [
        created("2026-11-16 09:00", "urgent"),
        ev("ticket.priority_changed", "2026-11-16 09:30", priority="normal"),
    ]
    alerts = run(events, until="2026-11-16 13:00")
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-16 12:12"),
        ("breached", "response", None, "2026-11-16 13:00"),
        ("escalated", "response", 1, "2026-11-16 13:00"),
    ]


def test_alerts_fired_by_a_priority_change_past_the_target_carry_the_instant_the_target_was_reached() -> None:
    # A major ticket's resolution runs Mon 09:00 on; urgent's 27 business hours were
    # reached on Wed 18:00, two days before the change made them the target.
    events = [
        created("2026-03-02 09:00", "major"),
        ev("ticket.responded", "2026-03-02 09:10"),
        ev("ticket.priority_changed", "2026-03-06 10:00", priority="urgent"),
    ]
    alerts = [a for a in run(events, until="2026-03-06 10:00") if a.metric == "resolution"]
    assert [a.kind for a in alerts] == ["sla.warning", "sla.breached", "sla.escalated"]
    assert {a.deadline for a in alerts} == {ts("2026-03-04 18:00")}


def test_an_escalation_after_a_lower_priority_carries_the_new_targets_deadline() -> None:
    # Breached as normal (5 working days: Fri 03-06 18:00); as major the target is 7
    # working days (Tue 03-10 18:00), and level 2 comes at 10.5 of them.
    events = [
        created("2026-03-02 09:00"),
        ev("ticket.responded", "2026-03-02 09:10"),
        ev("ticket.priority_changed", "2026-03-09 10:00", priority="major"),
    ]
    alerts = run(events, until="2026-03-17 18:00")
    breach, level2 = (
        next(a for a in alerts if a.metric == "resolution" and (a.kind, a.level) == k)
        for k in (("sla.breached", None), ("sla.escalated", 2))
    )
    assert breach.deadline == ts("2026-03-06 18:00")
    assert signals([level2]) == [("escalated", "resolution", 2, "2026-03-16 13:30")]
    assert level2.deadline == ts("2026-03-10 18:00")


def test_a_ticket_raised_to_major_keeps_its_business_time_and_counts_on_24x7_from_the_change() -> None:
    # Created on a Sunday night as normal (business calendar: nothing elapsed by Monday
    # 08:00); elapsed time is kept, and the major response counts every second from the
    # change on.
    events = [
        created("2026-11-15 23:00"),
        ev("ticket.priority_changed", "2026-11-16 08:00", priority="major"),
    ]
    alerts = [a for a in run(events, until="2026-11-16 09:00") if a.metric == "response"]
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-16 08:24"),
        ("breached", "response", None, "2026-11-16 08:30"),
        ("escalated", "response", 1, "2026-11-16 08:30"),
        ("escalated", "response", 2, "2026-11-16 08:45"),
    ]


def test_a_major_ticket_lowered_to_normal_keeps_its_24x7_minutes_and_counts_business_hours_from_the_change() -> None:
    # 20 minutes counted on 24x7 are kept; the remaining 3 h 40 min of the 4-hour
    # response run on business hours from Monday 09:00.
    events = [
        created("2026-11-15 02:00", "major"),
        ev("ticket.priority_changed", "2026-11-15 02:20", priority="normal"),
    ]
    alerts = [a for a in run(events, until="2026-11-16 13:00") if a.metric == "response"]
    assert signals(alerts) == [
        ("warning", "response", None, "2026-11-16 11:52"),
        ("breached", "response", None, "2026-11-16 12:40"),
        ("escalated", "response", 1, "2026-11-16 12:40"),
    ]


def test_a_target_lowered_below_what_ran_before_a_pause_carries_the_instant_it_was_reached() -> None:
    # 27 business hours (urgent's resolution) were reached on Wed 18:00; the clock then
    # paused and resumed before the change made them the target.
    events = [
        *_PAUSED_AT_30H,
        ev("ticket.status_changed", "2026-11-19 14:00", status="in_progress"),
        ev("ticket.priority_changed", "2026-11-19 15:00", priority="urgent"),
    ]
    alerts = [a for a in run(events, until="2026-11-19 15:00") if a.metric == "resolution"]
    assert [a.kind for a in alerts] == ["sla.warning", "sla.breached", "sla.escalated"]
    assert {a.deadline for a in alerts} == {ts("2026-11-18 18:00")}


def test_reopen_restarts_resolution_where_it_stopped_without_resending_signals() -> None:
    events = [
        created("2026-11-16 09:00", "urgent"),
        ev("ticket.responded", "2026-11-16 09:05"),
        ev("ticket.resolved", "2026-11-19 10:00"),  # 27 h + 1 h: breached on Thu 09:00
        ev("ticket.reopened", "2026-11-19 11:00"),
    ]
    alerts = run(events, until="2026-11-19 18:00")
    kinds = [(k, m, lv) for k, m, lv, _ in signals(alerts)]
    assert kinds.count(("warning", "resolution", None)) == 1
    assert kinds.count(("breached", "resolution", None)) == 1
    # elapsed kept: 28 h at reopen, level 2 at 40.5 h -> Friday 09:00 + 3.5 h... not before Thu 18:00
    assert ("escalated", "resolution", 2) not in kinds


def test_second_complaint_escalates_to_level_two_and_starts_a_48h_clock() -> None:
    events = [
        created("2026-11-16 09:00"),
        ev("ticket.responded", "2026-11-16 09:30"),
        ev("ticket.complaint", "2026-11-16 10:00"),
        ev("ticket.complaint", "2026-11-16 11:00"),
    ]
    alerts = [a for a in run(events, until="2026-11-18 11:00") if a.metric == "complaint"]
    assert signals(alerts) == [
        ("escalated", "complaint", 2, "2026-11-16 11:00"),
        ("warning", "complaint", None, "2026-11-18 01:24"),
        ("breached", "complaint", None, "2026-11-18 11:00"),
    ]
    assert alerts[0].escalate_to is not None and alerts[0].escalate_to.role == "after_sales_director"


def test_complaint_clock_stops_at_resolution() -> None:
    events = [
        created("2026-11-16 09:00"),
        ev("ticket.complaint", "2026-11-16 10:00"),
        ev("ticket.complaint", "2026-11-16 11:00"),
        ev("ticket.resolved", "2026-11-16 12:00"),
    ]
    alerts = run(events, until="2026-11-20 12:00")
    assert [s for s in signals(alerts) if s[1] == "complaint"] == [("escalated", "complaint", 2, "2026-11-16 11:00")]


def test_duplicate_event_id_is_not_applied_twice() -> None:
    c = created("2026-11-16 09:00")
    complaint = ev("ticket.complaint", "2026-11-16 10:00")
    alerts = run([c, complaint, dict(complaint), ev("ticket.responded", "2026-11-16 10:05")], until="2026-11-16 12:00")
    assert alerts == []


def test_events_before_created_are_held_then_applied() -> None:
    events = [ev("ticket.responded", "2026-11-16 09:30"), created("2026-11-16 09:00")]
    assert run(events, until="2026-11-16 18:00") == []


def test_out_of_order_event_never_gives_a_negative_duration() -> None:
    engine = SlaEngine(load_policy(None))
    out = engine.apply(None, parse_event(created("2026-11-16 10:00")))
    out = engine.apply(out.state, parse_event(ev("ticket.assigned", "2026-11-16 11:00", assignee="a")))
    out = engine.apply(out.state, parse_event(ev("ticket.responded", "2026-11-16 10:30")))
    [obs] = [o for o in out.observations if o.kind == "responded"]
    assert obs.value == 3600  # applied at the ticket's latest time, never before it


def test_resolution_after_the_deadline_counts_as_breached() -> None:
    engine = SlaEngine(load_policy(None))
    state = engine.apply(None, parse_event(created("2026-11-16 09:00", "urgent"))).state
    out = engine.apply(state, parse_event(ev("ticket.resolved", "2026-11-20 09:00")))
    [obs] = [o for o in out.observations if o.kind == "resolved"]
    assert obs.ok is False
    assert any(a.kind == "sla.breached" and a.metric == "resolution" for a in out.alerts)


def test_alert_ids_are_deterministic_per_ticket_metric_and_level() -> None:
    first = run([created("2026-11-16 10:00")], until="2026-11-16 18:00")
    again = run([created("2026-11-16 10:00")], until="2026-11-16 18:00")
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert len({a.alert_id for a in first}) == len(first)


def test_state_round_trips_through_bytes() -> None:
    engine = SlaEngine(load_policy(None))
    state = engine.apply(None, parse_event(created("2026-11-16 10:00"))).state
    again = TicketState.from_bytes(state.to_bytes())
    assert again == state
    assert engine.next_due(again) == engine.next_due(state)


def test_next_due_is_the_earliest_unfired_threshold() -> None:
    engine = SlaEngine(load_policy(None))
    state = engine.apply(None, parse_event(created("2026-11-16 10:00"))).state
    from sla_scenarios import ts

    assert engine.next_due(state) == ts("2026-11-16 13:12")


def test_alerts_and_observations_cannot_be_changed_after_they_are_made() -> None:
    # Both go to several consumers (the alerts topic, metrics, windows, the backtest's
    # summary): none may alter what another one reads.
    engine = SlaEngine(load_policy(None))
    out = engine.apply(None, parse_event(created("2026-11-16 10:00")))
    alerts, _ = engine.advance(out.state, parse_event(created("2026-11-17 10:00")).at)
    [observation] = out.observations
    for value, field in ((alerts[0], "fired_at"), (observation, "kind"), (observation.dims, "priority")):
        with pytest.raises(AttributeError):
            setattr(value, field, None)


def test_a_late_created_ticket_fires_its_past_thresholds_before_any_later_line_past_them() -> None:
    # A ticket created behind the backtest clock: the next line of another ticket at the
    # clock's own instant (not moving it) still fires what lies before it.
    late = [
        created("2026-11-16 09:00", ticket="A"),
        ev("ticket.assigned", "2026-11-16 12:00", ticket="A", assignee="x"),
        created("2026-11-16 09:00", "major", ticket="B"),  # 30 min response, 24x7
    ]
    same_instant = run([*late, ev("ticket.assigned", "2026-11-16 12:00", ticket="A", assignee="y")])
    assert [s for s in signals(same_instant) if s[0] == "breached"] == [
        ("breached", "response", None, "2026-11-16 09:30")
    ]
    own_response_first = run([*late, ev("ticket.responded", "2026-11-16 09:20", ticket="B")])
    assert signals(own_response_first) == []  # nothing lies before 09:20 yet: the response meets


def test_a_clock_that_passes_a_raised_target_while_running_keeps_that_instant_as_its_deadline() -> None:
    # Breached as normal (Fri 03-06 18:00), raised to major's 7 working days (reached Tue
    # 03-10 18:00) with no second breach to record it; a pause after that folds the run.
    events = [
        created("2026-03-02 09:00"),
        ev("ticket.responded", "2026-03-02 09:10"),
        ev("ticket.priority_changed", "2026-03-09 10:00", priority="major"),
        ev("ticket.status_changed", "2026-03-11 10:00", status="waiting_customer"),
        ev("ticket.status_changed", "2026-03-11 11:00", status="in_progress"),
    ]
    alerts = run(events, until="2026-03-17 18:00")
    [level2] = [a for a in alerts if a.metric == "resolution" and a.level == 2]
    assert level2.deadline == ts("2026-03-10 18:00")


def test_a_department_filled_by_a_second_created_brings_its_override() -> None:
    text = default_policy_text().replace(
        "overrides: []",
        "overrides:\n  - when: {department: install}\n    targets: {response: {duration: 2h, calendar: business}}",
    )
    policy = parse_policy(text, "override.yaml")
    events = [
        created("2026-11-16 09:00", department=None),
        created("2026-11-16 09:30", department="install"),  # a second ticket.created fills it in
    ]
    alerts = run(events, until="2026-11-16 11:00", policy=policy)
    assert ("breached", "response", None, "2026-11-16 11:00") in signals(alerts)


def test_a_clock_stored_before_runs_were_kept_loads_and_keeps_its_elapsed_time_across_a_change() -> None:
    engine = SlaEngine(load_policy(None))
    state = engine.apply(None, parse_event(created("2026-11-15 23:00"))).state
    stored = orjson.loads(state.to_bytes())
    stored["k"] = [clock[:8] for clock in stored["k"]]  # the clock lists an older worker wrote
    old = TicketState.from_bytes(orjson.dumps(stored))
    assert all(clock.runs == [] for clock in old.clocks.values())
    raised = parse_event(ev("ticket.priority_changed", "2026-11-16 08:00", priority="major"))
    out = engine.apply(old, raised)
    assert out.alerts == []  # no business time had elapsed: 30 minutes from 08:00, as before
    assert engine.next_due(out.state) == ts("2026-11-16 08:24")  # the warning


# A resolution clock stopped at 36 business hours, its target lowered to urgent's 27 h
# while stopped, then reopened and paused at the same instant: the thresholds left
# behind are due when the clock runs again.
_PAUSED_PAST_A_TARGET_LOWERED_WHILE_STOPPED = [
    created("2026-11-16 09:00"),
    ev("ticket.responded", "2026-11-16 09:30"),
    ev("ticket.resolved", "2026-11-20 09:00"),
    ev("ticket.priority_changed", "2026-11-20 10:00", priority="urgent"),
    ev("ticket.reopened", "2026-11-20 12:00"),
    ev("ticket.status_changed", "2026-11-20 12:00", status="waiting_customer"),
]


def test_an_assignment_fires_nothing_on_a_paused_clock_past_its_target() -> None:
    events = [*_PAUSED_PAST_A_TARGET_LOWERED_WHILE_STOPPED, ev("ticket.assigned", "2026-11-21 15:00", assignee="li")]
    assert signals(run(events, until="2026-11-23 09:59")) == [("warning", "resolution", None, "2026-11-19 18:00")]


def test_a_paused_clock_past_its_target_fires_when_it_runs_again() -> None:
    events = [
        *_PAUSED_PAST_A_TARGET_LOWERED_WHILE_STOPPED,
        ev("ticket.assigned", "2026-11-21 15:00", assignee="li"),
        ev("ticket.status_changed", "2026-11-23 10:00", status="in_progress"),
    ]
    assert signals(run(events, until="2026-11-23 10:01"))[1:] == [
        ("breached", "resolution", None, "2026-11-23 10:00"),
        ("escalated", "resolution", 1, "2026-11-23 10:00"),
    ]
