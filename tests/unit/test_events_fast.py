"""The fast validation pass never changes a decision: it may only say "certainly valid"
when the full validator accepts with the same result, and every rejection (code, field,
message) still comes from the full validator.

Checked on generated messages mixing valid and broken fields, on timestamps built from
near-miss spellings, and on mutations of simulated events.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from event_fields import ENUM_VALUES, FIELDS, offset
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.exceptions import InvalidEvent
from slawatch.sla import events
from slawatch.sla.events import EVENT_TYPES, parse_event, parse_timestamp

GOOD_TIMES = [
    "2026-11-20T17:30:00+08:00",
    "2026-11-20T09:30:00Z",
    "2026-11-20t09:30:59z",
    "2026-11-20 23:59:59-05:00",
    "2026-03-29T02:30:00+01:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "2024-02-29T12:00:00+05:45",
]
BAD_TIMES = [
    "2026-11-20T17:30:00",
    "2026-11-20T24:00:00+08:00",
    "2026-11-20T17:60:00+08:00",
    "2026-11-20T17:30:60+08:00",
    "2026-02-30T17:30:00+08:00",
    "2026-11-20T17:30:00+0800",
    "2026-11-20T17:30:00+08:0z",
    "2026-11-20T17:30:00.5+08:00",
    "2026-11-20T17:30:00Z0000",
    "2026-11-20T17:30+08:00:00",
    "2026-11-20T١٧:30:00+08:00",
    "2026-11-20X17:30:00+08:00",
    "20261120T173000+08:00xx",
    "2026-W47-5T17:30:00+08:00",
]


def outcome(fn: Any, raw: Any) -> tuple[str, Any]:
    try:
        ev = fn(raw)
    except InvalidEvent as exc:
        return "rejected", (exc.code, exc.field, exc.message)
    except Exception as exc:  # compared, not swallowed
        return "error", (type(exc).__name__, str(exc))
    return "accepted", (ev.event_id, ev.type, ev.ticket_id, ev.at, type(ev.at), ev.data)


def full_only(raw: Any) -> events.TicketEvent:
    """The full validator alone (what parse_event did before the fast pass)."""
    if isinstance(raw, dict):
        return events._validate(dict(raw))
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_json", f"message is not valid JSON: {exc}") from None
    return events._validate(obj)


def assert_same(raw: Any) -> None:
    assert outcome(parse_event, raw) == outcome(full_only, raw)
    obj = raw if isinstance(raw, dict) else None
    if obj is not None:
        fast = events._fast_event(dict(obj))
        if fast is not None:  # the fast pass said "valid": the full validator must agree
            assert outcome(full_only, raw) == outcome(lambda _: fast, raw)


def assert_same_time(value: Any) -> None:
    fast = events._fast_timestamp(value)
    if fast is None:
        return
    slow = parse_timestamp(value)
    assert (fast, type(fast)) == (slow, type(slow)), value


times = st.one_of(
    st.sampled_from(GOOD_TIMES + BAD_TIMES),
    st.builds(
        lambda dt, m, sep: dt.isoformat(sep=sep, timespec="seconds") + offset(m),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(-14 * 60, 14 * 60),
        st.sampled_from("Tt "),
    ),
    # near misses: a good spelling with one character replaced or removed
    st.tuples(st.sampled_from(GOOD_TIMES), st.integers(0, 24), st.sampled_from("0123456789:-+TtZz .x5٣")).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    ),
    st.tuples(st.sampled_from(GOOD_TIMES), st.integers(0, 24)).map(lambda t: t[0][: t[1]] + t[0][t[1] + 1 :]),
    st.text(alphabet="0123456789:-+TZ ", min_size=18, max_size=26),
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.sampled_from([1.0, 7.5, [], {}, [1], {"a": 1}]),
    st.sampled_from(ENUM_VALUES + list(EVENT_TYPES) + ["", "x", "fax", "ticket.deleted"]),
    st.integers(0, 10_002).map(lambda n: "字" * n),
    st.sampled_from([0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 9_999, 10_000, 10_001]).map(lambda n: "x" * n),
    times,
)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    etype = draw(st.sampled_from([*EVENT_TYPES, "ticket.deleted"]))
    required = EVENT_TYPES.get(etype, ({}, {}))[0]
    when = draw(st.one_of(st.sampled_from(GOOD_TIMES), times))  # mostly valid: later checks get reached
    obj: dict[str, Any] = {"event_id": "e-1", "type": etype, "ticket_id": "T1", "occurred_at": when}
    for name in required:  # mostly valid, so later fields get tested too
        obj[name] = {
            "priority": "urgent",
            "category": "quality",
            "assignee": "a",
            "status": "open",
            "score": 7,
            "method": "phone",
        }[name]
    for name in draw(st.lists(st.sampled_from([*FIELDS, "extra"]), max_size=3)):
        if draw(st.integers(0, 5)) == 0:
            obj.pop(name, None)
        else:
            obj[name] = draw(values)
    return obj


@settings(max_examples=3000, deadline=None)
@given(messages())
def test_fast_pass_decides_exactly_like_the_full_validator(obj: dict[str, Any]) -> None:
    assert_same(obj)
    assert_same(orjson.dumps(obj))


def test_boundaries() -> None:
    base = {"event_id": "e", "type": "ticket.responded", "ticket_id": "t", "occurred_at": GOOD_TIMES[0]}
    for name, bad in [
        ("event_id", ["", "x" * 128, "x" * 129, 1, None]),
        ("ticket_id", ["", "x" * 64, "x" * 65, 1, None]),
        ("type", ["ticket.deleted", 1, None, ["ticket.created"]]),
        ("schema", [0, 1, 2, -1, True, False, 1.0, "1", None]),
        ("agent", ["x" * 256, "x" * 257, 1, True, None, []]),
        ("occurred_at", [*GOOD_TIMES, *BAD_TIMES, None, 1]),
    ]:
        for value in bad:
            assert_same({**base, name: value})
            assert_same(orjson.dumps({**base, name: value}))
    for etype, field, vals in [
        ("survey.submitted", "score", [-1, 0, 10, 11, True, False, 5.0, "5", None]),
        ("ticket.resolved", "first_contact", [True, False, 0, 1, "true", None]),
        ("ticket.created", "priority", [*events.PRIORITIES, "P1", 3, None, ["normal"]]),
        ("ticket.created", "title", ["x" * 10_000, "x" * 10_001, 1, None]),
    ]:
        for value in vals:
            obj = {**base, "type": etype, "priority": "normal", "category": "other", "score": 1, field: value}
            assert_same(obj)
            assert_same(orjson.dumps(obj))


@settings(max_examples=3000, deadline=None)
@given(times)
def test_fast_timestamps_equal_the_full_parse(value: str) -> None:
    assert_same_time(value)


def test_fast_timestamps_on_known_spellings() -> None:
    for value in GOOD_TIMES:
        assert events._fast_timestamp(value) == parse_timestamp(value)
    for value in BAD_TIMES:
        assert_same_time(value)


def test_fast_pass_accepts_the_common_case() -> None:
    """Not a correctness property: guards the speed-up itself (simulated events are
    exactly what the fast pass is for)."""
    from slawatch.simulate import generate_events

    start = datetime(2026, 1, 5, 8, tzinfo=timezone(timedelta(hours=8)))
    sample = [ev for _, ev in zip(range(500), generate_events(seed=3, start=start, rate=0.05), strict=False)]
    assert all(events._fast_event(orjson.loads(orjson.dumps(ev))) is not None for ev in sample)


def test_mutated_simulated_events() -> None:
    from slawatch.simulate import generate_events

    rng = random.Random(20261123)
    start = datetime(2026, 1, 5, 8, tzinfo=timezone(timedelta(hours=8)))
    pool = [None, True, False, 0, 1, 2, 10, 11, -1, 2.0, "", "x", "P1", [], {"k": 1}]
    pool += ["x" * n for n in (64, 65, 128, 129, 256, 257, 10_000, 10_001)]
    pool += ENUM_VALUES + GOOD_TIMES + BAD_TIMES
    for _, ev in zip(range(3000), generate_events(seed=5, start=start, rate=0.05), strict=False):
        for _ in range(3):
            bad = dict(ev)
            for _ in range(rng.randint(1, 3)):
                name = rng.choice([*FIELDS, "extra"])
                if rng.random() < 0.3:
                    bad.pop(name, None)
                else:
                    bad[name] = rng.choice(pool)
            assert_same(bad)
            assert_same(orjson.dumps(bad))
        assert_same(orjson.dumps(ev))


def test_hand_built_objects_equal_the_constructors() -> None:
    """``_fast_event`` and ``SlaEngine.apply`` build ``TicketEvent`` and ``Outcome``
    without their ``__init__`` (for speed): they must set every field, so that a field
    added to either class later breaks this test rather than the objects."""
    from dataclasses import fields

    from slawatch.sla.engine import Outcome, SlaEngine, TicketState
    from slawatch.sla.events import TicketEvent
    from slawatch.sla.policy import load_policy

    obj = {"event_id": "e1", "type": "ticket.responded", "ticket_id": "t1", "occurred_at": GOOD_TIMES[0]}
    fast = events._fast_event(dict(obj))
    assert fast is not None
    assert [f.name for f in fields(TicketEvent)] == ["event_id", "type", "ticket_id", "at", "data"]
    assert fast == TicketEvent("e1", "ticket.responded", "t1", parse_timestamp(GOOD_TIMES[0]), obj)
    out = SlaEngine(load_policy(None)).apply(None, fast)
    assert [f.name for f in fields(Outcome)] == ["state", "alerts", "observations", "duplicate", "held"]
    assert out == Outcome(TicketState("t1", last_at=fast.at, seen=["e1"], pending=[obj]), held=True)
