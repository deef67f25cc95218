"""The native event reader and alert writer (native/src/event.rs, alert.rs) equal the
Python they replace, byte for byte.

The reader may only say "certainly valid" (then its values are exactly those of
``parse_event``) or defer (``None``): checked on simulated events, on mutations of them
(fields, JSON spellings, bytes) and on generated messages. The writer's alert ids,
instants and JSON lines are compared with ``alert_id_for``, ``format_instant`` and
``orjson.dumps(alert.to_record()) + b"\\n"``.
"""

from __future__ import annotations

import json
import math
import os
import random
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from event_fields import ENUM_VALUES, FIELDS, offset
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch import _native
from slawatch.exceptions import InvalidEvent
from slawatch.sla import events
from slawatch.sla.alerts import (
    KIND_BREACHED,
    KIND_ESCALATED,
    KIND_WARNING,
    Alert,
    Contact,
    alert_id_for,
    format_instant,
)
from slawatch.sla.events import EVENT_TYPES, parse_event

# ---------------------------------------------------------------------------- events
STR_FIELDS = (
    "priority",
    "category",
    "channel",
    "department",
    "product_line",
    "vendor",
    "customer_tier",
    "assignee",
    "status",
    "method",
)
GOOD_TIMES = [
    "2026-11-20T17:30:00+08:00",
    "2026-11-20T09:30:00Z",
    "2026-11-20t09:30:59z",
    "2026-11-20 23:59:59-05:00",
    "2026-03-29T02:30:00+01:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59+23:59",
    "2024-02-29T12:00:00+05:45",
    "2000-02-29T00:00:00-00:00",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2026-11-20T17:30:00+08:60",  # Python takes minute 60 of an offset; the reader defers
    "2026-11-20T17:30:00.5+08:00",  # fractional: the reader defers
    "2026-11-20T17:30:00.000000Z",
]
BAD_TIMES = [
    "2026-11-20T17:30:00",
    "2026-11-20T24:00:00+08:00",
    "2026-11-20T17:60:00+08:00",
    "2026-11-20T17:30:60+08:00",
    "2026-02-30T17:30:00+08:00",
    "2025-02-29T17:30:00+08:00",
    "1900-02-29T17:30:00+08:00",
    "0000-01-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-13-10T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-11-20T17:30:00+24:00",
    "2026-11-20T17:30:00+0800",
    "2026-11-20T17:30:00+08:0z",
    "2026-11-20T17:30:00Z0000",
    "2026-11-20T17:30+08:00:00",
    "2026-11-20T١٧:30:00+08:00",
    "2026-11-20X17:30:00+08:00",
    "20261120T173000+08:00xx",
    "2026-W47-5T17:30:00+08:00",
    "+2026-11-20T17:30:00Z",
    " 2026-11-20T17:30:00Z",
]


def python_fields(line: bytes) -> dict[str, Any] | None:
    """What the engine reads of ``parse_event(line)``, as ``read_event_fields`` gives it;
    None when Python rejects the line."""
    try:
        ev = parse_event(line)
    except InvalidEvent:
        return None
    d: dict[str, Any] = {"event_id": ev.event_id, "type": ev.type, "ticket_id": ev.ticket_id, "at": float(ev.at)}
    for f in STR_FIELDS:
        v = ev.get(f)
        d[f] = v if isinstance(v, str) else None
    for f in ("first_contact", "satisfied"):
        v = ev.get(f)
        d[f] = v if isinstance(v, bool) else None
    v = ev.get("score")
    d["score"] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
    return d


def check(line: bytes) -> bool:
    """The property: the reader defers, or gives exactly Python's values. True when it
    accepted."""
    got = _native.read_event_fields(line)
    if got is None:
        return False
    expected = python_fields(line)
    assert expected is not None, line  # the reader accepted what Python rejects
    assert got == expected, line
    assert all(type(got[k]) is type(expected[k]) for k in got), line
    # the same event through Python: event_from_py gives the same fields
    assert _native.event_fields_from_py(parse_event(line)) == got
    return True


def simulated(count: int, seed: int = 5) -> list[dict[str, Any]]:
    from slawatch.simulate import generate_events

    start = datetime(2026, 1, 5, 8, tzinfo=timezone(timedelta(hours=8)))
    return [ev for _, ev in zip(range(count), generate_events(seed=seed, start=start, rate=0.05), strict=False)]


def test_simulated_events_are_all_read_natively() -> None:
    for ev in simulated(3000):
        assert check(orjson.dumps(ev))
        assert check(orjson.dumps(ev) + b"\n")
        assert check(b" \t" + orjson.dumps(ev) + b"\r\n")
        assert check(json.dumps(ev).encode())  # ", " and ": " separators
        assert check(json.dumps(ev, ensure_ascii=True, indent=2).encode())  # \\uXXXX escapes, newlines


@pytest.mark.parametrize("path", ["/tmp/ev30k.jsonl", "/tmp/10d.jsonl"])
def test_corpus_files(path: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} not generated here")
    with open(path, "rb") as f:
        lines = f.readlines()
    accepted = sum(check(line) for line in lines)
    valid = sum(python_fields(line) is not None for line in lines)
    assert accepted == valid


def test_mutated_simulated_events() -> None:
    rng = random.Random(20261206)
    pool: list[Any] = [None, True, False, 0, 1, 2, 10, 11, -1, 2.0, 1.0, 5.5, "", "x", "P1", [], {"k": 1}, [None]]
    pool += ["x" * n for n in (1, 64, 65, 128, 129, 256, 257, 10_000, 10_001)]
    pool += ["字" * n for n in (64, 65, 128, 129, 256, 257)]
    pool += ["😀" * n for n in (64, 65, 128, 129, 256, 257)]
    pool += ENUM_VALUES + GOOD_TIMES + BAD_TIMES + list(EVENT_TYPES) + ["ticket.deleted"]
    for ev in simulated(2000, seed=7):
        for _ in range(4):
            bad = dict(ev)
            for _ in range(rng.randint(1, 3)):
                name = rng.choice([*FIELDS, "extra"])
                if rng.random() < 0.3:
                    bad.pop(name, None)
                else:
                    bad[name] = rng.choice(pool)
            check(orjson.dumps(bad))
            check(json.dumps(bad, ensure_ascii=True).encode())


def test_boundaries() -> None:
    base = {"event_id": "e", "type": "ticket.responded", "ticket_id": "t", "occurred_at": GOOD_TIMES[0]}
    for name, vals in [
        ("event_id", ["", "x" * 128, "x" * 129, "字" * 128, "字" * 129, "😀" * 128, "😀" * 129, 1, None]),
        ("ticket_id", ["", "x" * 64, "x" * 65, "é" * 64, "é" * 65, 1, None]),
        ("type", ["ticket.deleted", 1, None, ["ticket.created"], "TICKET.CREATED"]),
        ("schema", [0, 1, 2, -1, True, False, 1.0, "1", None, [1]]),
        ("agent", ["x" * 256, "x" * 257, 1, True, None, []]),
        ("occurred_at", [*GOOD_TIMES, *BAD_TIMES, None, 1]),
    ]:
        for value in vals:
            check(orjson.dumps({**base, name: value}))
    for etype, field, vals in [
        ("survey.submitted", "score", [-1, 0, 10, 11, True, False, 5.0, "5", None, 2**63, 2**64 - 1, -(2**63)]),
        ("ticket.resolved", "first_contact", [True, False, 0, 1, "true", None]),
        ("followup.completed", "satisfied", [True, False, 0, 1, "true", None]),
        ("ticket.created", "priority", [*events.PRIORITIES, "P1", 3, None, ["normal"]]),
        ("ticket.created", "title", ["x" * 10_000, "x" * 10_001, "字" * 10_000, "字" * 10_001, 1, None]),
        ("ticket.created", "customer_tier", [*events.TIERS, "gold", None]),
        ("ticket.assigned", "priority", ["anything", 3, None]),  # not checked for this type
        ("ticket.assigned", "score", [3, 11, "x", 2.5, None]),
        ("ticket.assigned", "first_contact", [True, 1, "x"]),
    ]:
        for value in vals:
            obj = {**base, "type": etype, "priority": "normal", "category": "other", "score": 1}
            obj.update({"assignee": "a", "method": "phone", field: value})
            check(orjson.dumps(obj))


def test_json_spellings() -> None:
    """Hand-written spellings orjson reads (or refuses) in ways a scanner could get wrong."""
    head = b'{"event_id":"e","type":"ticket.responded","ticket_id":"t","occurred_at":"2026-11-20T17:30:00+08:00"'
    tails = [
        b"}",
        b',"x":1}',
        b',"x":-0}',
        b',"x":01}',
        b',"x":1.}',
        b',"x":.5}',
        b',"x":1e5}',
        b',"x":1E+5}',
        b',"x":1e-400}',
        b',"x":1e400}',
        b',"x":1e308}',
        b',"x":1.8e308}',
        b',"x":9999999999e300}',
        b',"x":99999999999999999999999999999999999e250}',
        b',"x":1e250}',
        b',"x":1e-250}',
        b',"x":0.1e+2}',
        b',"x":-1.5E-3}',
        b',"x":-}',
        b',"x":123456789012345678901234567890}',
        b',"x":18446744073709551616}',
        b',"x":NaN}',
        b',"x":Infinity}',
        b',"x":[1,]}',
        b',"x":{"a":1,}}',
        b",}",
        b',"x":[[[[[[[[[[]]]]]]]]]]}',
        b',"x":' + b"[" * 200 + b"]" * 200 + b"}",
        b',"x":"\\u0041\\ud83d\\ude00"}',
        b',"x":"\\ud800"}',
        b',"x":"\\udc00"}',
        b',"x":"\\ud800\\u0041"}',
        b',"x":"\\x41"}',
        b',"x":"\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\"}',
        b',"x":"\x01"}',
        b',"x":"\x7f"}',
        b',"x":"\xff"}',
        b',"x":"\xed\xa0\x80"}',
        b',"x":tru}',
        b',"x":true,"x":false}',
        b',"agent":"a","agent":"b"}',
        b',"agent":"a","ag\\u0065nt":"b"}',
        b',"\\u0065vent_id":"f"}',
        b',"event_id":"f"}',
        b',"type":"ticket.closed"}',
        b',"schema":1,"schema":2}',
        b',"schema":1}',
        b',"schema":1.0}',
        b',"schema":1e0}',
        b',"schema":null}',
        b"}}",
        b"} x",
        b"}\x00",
        b"}\n\n",
        b"}\x0c",
        b' , "x" : [ 1 , { } ] }',
        b',"x":"a"\x0c}',
        b",'x':1}",
        b',"x" 1}',
        b',"x":1',
    ]
    for tail in tails:
        for line in (head + tail, b"\xef\xbb\xbf" + head + tail, b"\n " + head + tail + b" \r\n"):
            check(line)
    assert check(head + b"}")
    assert check(head.replace(b'"t"', b'"\\u0074"') + b"}")
    assert _native.read_event_fields(head + b',"x":"\\ud800"}') is None


def test_timestamp_grid() -> None:
    """Every day of 1999-2001 and the ends of the range, in several offsets and separators,
    plus the times of day around the hours' and days' ends."""
    base = {"event_id": "e", "type": "ticket.responded", "ticket_id": "t"}
    days = [datetime(1999, 1, 1) + timedelta(days=i) for i in range(366 * 3)]
    days += [datetime(1, 1, 1), datetime(9999, 12, 31), datetime(2100, 2, 28), datetime(2400, 2, 29)]
    offsets = ["Z", "z", "+00:00", "-00:00", "+08:00", "-09:30", "+05:45", "+14:00", "-23:59", "+23:59"]
    rng = random.Random(1)
    for day in days:
        for off in rng.sample(offsets, 3):
            for hms in rng.sample(["00:00:00", "23:59:59", "12:34:56", "24:00:00", "23:60:00", "23:59:60"], 2):
                when = f"{day:%Y-%m-%d}{rng.choice('Tt ')}{hms}{off}"
                check(orjson.dumps({**base, "occurred_at": when}))
    for day in range(1, 33):
        for month in (1, 2, 4, 12, 13):
            for year in (1900, 2000, 2023, 2024):
                check(orjson.dumps({**base, "occurred_at": f"{year}-{month:02d}-{day:02d}T10:00:00Z"}))


def times() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(GOOD_TIMES + BAD_TIMES),
        st.builds(
            lambda dt, m, sep: dt.isoformat(sep=sep, timespec="seconds") + offset(m),
            st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
            st.integers(-24 * 60, 24 * 60),
            st.sampled_from("Tt "),
        ),
        st.tuples(st.sampled_from(GOOD_TIMES), st.integers(0, 24), st.sampled_from("0123456789:-+TtZz .x5٣")).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
        ),
        st.text(alphabet="0123456789:-+TZ ", min_size=18, max_size=26),
    )


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 7.5, [], {}, [1], {"a": 1}]),
    st.sampled_from(ENUM_VALUES + list(EVENT_TYPES) + ["", "x", "fax", "ticket.deleted"]),
    st.text(max_size=40),
    st.integers(0, 300).map(lambda n: "字" * n),
    times(),
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    etype = draw(st.sampled_from([*EVENT_TYPES, "ticket.deleted"]))
    required = EVENT_TYPES.get(etype, ({}, {}))[0]
    when = draw(st.one_of(st.sampled_from(GOOD_TIMES), times()))
    obj: dict[str, Any] = {"event_id": "e-1", "type": etype, "ticket_id": "T1", "occurred_at": when}
    for name in required:
        obj[name] = {
            "priority": "urgent",
            "category": "quality",
            "assignee": "a",
            "status": "open",
            "score": 7,
            "method": "phone",
        }[name]
    for name in draw(st.lists(st.sampled_from([*FIELDS, "extra", "ExTrA😀"]), max_size=4)):
        if draw(st.integers(0, 5)) == 0:
            obj.pop(name, None)
        else:
            obj[name] = draw(values)
    spelling = draw(st.integers(0, 3))
    if spelling == 0:
        line = orjson.dumps(obj)
    elif spelling == 1:
        line = json.dumps(obj, ensure_ascii=True).encode()
    elif spelling == 2:
        line = json.dumps(obj, ensure_ascii=False, indent=draw(st.sampled_from([None, 0, 1]))).encode()
    else:  # a repeated key, spelled plain or escaped
        key = draw(st.sampled_from([*FIELDS, "extra"]))
        value = orjson.dumps(draw(values))
        line = orjson.dumps(obj)[:-1] + b',"' + key.encode() + b'":' + value + b"}"
    return line + draw(st.sampled_from([b"", b"\n", b"\r\n", b" ", b"\n\n"]))


@settings(max_examples=3000, deadline=None)
@given(lines())
def test_generated_lines(line: bytes) -> None:
    check(line)


raw_tokens = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"[-+]?[0-9.eE+-]{1,12}", fullmatch=True),
    st.sampled_from(["true", "false", "null", "tru", "nul", "[]", "{}", "[1,]", '""', '"\\u00e9"', "NaN", "-"]),
    st.from_regex(r'"([a-z]|\\u[0-9a-fA-F]{4}|\\[nrtbf/"\\x])*"', fullmatch=True),
)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(simulated(200, seed=13)),
    st.sampled_from([*FIELDS, "extra", "x"]),
    raw_tokens,
    st.sampled_from([b"", b" ", b"\n", b"\t\r\n"]),
)
def test_raw_json_tokens(ev: dict[str, Any], key: str, token: str, pad: bytes) -> None:
    """A value spelled by hand (numbers in every form, literals, escapes), as the value
    of a contract field or of an extra one."""
    obj = {k: v for k, v in ev.items() if k != key}
    line = orjson.dumps(obj)[:-1] + b',"' + key.encode() + b'":' + pad + token.encode() + pad + b"}"
    check(line)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(simulated(200, seed=11)), st.lists(st.tuples(st.integers(0, 400), st.binary(max_size=2))))
def test_byte_mutations(ev: dict[str, Any], edits: list[tuple[int, bytes]]) -> None:
    line = bytearray(orjson.dumps(ev))
    for pos, new in edits:
        pos %= len(line) + 1
        line[pos : pos + 1] = new
    check(bytes(line))


def test_event_from_py_on_held_events() -> None:
    """Python-validated events the reader defers still convert (types the engine reads)."""
    for obj in [
        {"event_id": "e", "type": "survey.submitted", "ticket_id": "t", "occurred_at": GOOD_TIMES[0], "score": 5.0},
        {"event_id": "e", "type": "ticket.responded", "ticket_id": "t", "occurred_at": "2026-01-01T00:00:00.25Z"},
        {"event_id": "e", "type": "ticket.assigned", "ticket_id": "t", "occurred_at": GOOD_TIMES[0], "assignee": "a"}
        | {"priority": 3, "score": "x", "satisfied": 1},
    ]:
        ev = parse_event(orjson.dumps(obj))
        got = _native.event_fields_from_py(ev)
        assert got["at"] == ev.at
        assert got["score"] == (5.0 if obj["type"] == "survey.submitted" else None)
        assert got["priority"] is None and got["satisfied"] is None


# ---------------------------------------------------------------------------- alerts
ZONES: list[tzinfo] = [
    *(
        ZoneInfo(name)
        for name in (
            "Asia/Shanghai",
            "America/New_York",
            "Europe/Dublin",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "America/St_Johns",
            "Pacific/Apia",
            "UTC",
        )
    ),
    UTC,
    timezone(timedelta(hours=-9, minutes=-30)),
    timezone(timedelta(seconds=3723)),
]


def py_instant(ts: float, tz: tzinfo) -> str:
    """``format_instant`` as the Python engine called it: an int for a whole second."""
    return format_instant(int(ts) if float(ts).is_integer() else ts, tz)


@settings(max_examples=2000, deadline=None)
@given(
    st.text(max_size=64),
    st.sampled_from(["response", "resolution", "complaint"]),
    st.sampled_from([KIND_WARNING, KIND_BREACHED, KIND_ESCALATED]),
    st.one_of(st.none(), st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1)),
)
def test_alert_id(ticket_id: str, metric: str, kind: str, level: int | None) -> None:
    try:
        ticket_id.encode()
    except UnicodeEncodeError:
        return  # a lone surrogate: no Rust string holds it
    assert _native.alert_id(ticket_id, metric, kind, level) == alert_id_for(ticket_id, metric, kind, level)


def test_whole_float_and_int_instants_are_spelled_alike() -> None:
    def outcome(ts: float, tz: tzinfo) -> str:
        try:
            return format_instant(ts, tz)
        except (OverflowError, ValueError, OSError) as exc:
            return type(exc).__name__

    for tz in ZONES:
        for ts in (0, 1, -1, 1_767_225_600, 1_700_000_000, -2_208_988_800, 253_402_300_799, -62_135_596_800):
            assert outcome(ts, tz) == outcome(float(ts), tz)


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_instants_around_offset_changes(tz: tzinfo) -> None:
    instants: list[float] = []
    for ts in range(1_293_840_000, 1_798_761_600, 3600):
        if tz.utcoffset(datetime.fromtimestamp(ts, tz)) != tz.utcoffset(datetime.fromtimestamp(ts + 3600, tz)):
            instants += range(ts - 3600, ts + 7200, 7)
            instants += [ts - 0.5, ts + 0.25, ts + 3599.999999]
    instants += [1_767_225_600 + 86_400 * i + 3_599 for i in range(-400, 400)]  # a year of days, both ways
    instants += [0, -1, -3600, -86_400 * 365 * 70, 253_402_300_799 - 86_400, -62_135_596_800 + 86_400]
    assert _native.format_instants(tz, instants) == [py_instant(ts, tz) for ts in instants]


@pytest.mark.parametrize("tz", ZONES, ids=str)
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(-62_135_596_800 - 86_400, 253_402_300_800 + 86_400),
        st.integers(1_600_000_000, 1_900_000_000),
        st.floats(1_600_000_000, 1_900_000_000).map(lambda x: round(x, 6)),
        st.floats(-1e12, 1e12),
    )
)
def test_format_instant(tz: tzinfo, ts: float) -> None:
    try:
        expected = py_instant(ts, tz)
    except (OverflowError, ValueError, OSError) as exc:
        with pytest.raises(type(exc)):
            _native.format_instants(tz, [ts])
    else:
        assert _native.format_instants(tz, [ts]) == [expected]


def native_line(alert: Alert) -> bytes:
    line = _native.alert_json(alert)
    assert line == alert.to_json() + b"\n", alert
    back = _native.alert_roundtrip(alert)
    assert back == alert._replace(tz=alert.tz or UTC)
    for name in ("deadline", "fired_at", "elapsed_seconds", "target_seconds"):
        v = getattr(alert, name)
        if v is not None:
            whole = isinstance(v, int) or (math.isfinite(v) and float(v).is_integer() and abs(v) < 2**63)
            assert type(getattr(back, name)) is (int if whole else float)
    return line


def alert(**kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "kind": KIND_WARNING,
        "ticket_id": "20261122007",
        "metric": "response",
        "level": 1,
        "priority": "urgent",
        "department": "repair",
        "assignee": None,
        "deadline": 1_767_229_200,
        "fired_at": 1_767_225_600,
        "elapsed_seconds": 1440.0,
        "target_seconds": 7200,
        "calendar": "business",
        "category": "quality",
        "channel": "phone",
        "escalate_to": None,
        "tz": ZoneInfo("Asia/Shanghai"),
    }
    fields.update(kw)
    aid = alert_id_for(fields["ticket_id"], fields["metric"], fields["kind"], fields["level"])
    return Alert(alert_id=aid, **fields)


def test_alert_line_escapes_every_character() -> None:
    for code in [*range(0x80), 0xA0, 0xE9, 0x2028, 0x2029, 0xFEFF, 0xFFFF, 0x1F600, 0x10FFFF]:
        c = chr(code)
        native_line(alert(ticket_id=f"a{c}b", department=c, calendar=c * 3, escalate_to=Contact(2, c, c, c)))
    native_line(alert(ticket_id="".join(chr(i) for i in range(0x80)) + "é字😀\u2028\u2029"))


def test_alert_line_numbers() -> None:
    for v in [0, 0.0, -0.0, 1, 1.5, 0.1, 1e-5, 1e-6, 1.5e-7, 5e-324, 2.5e-300, 123456.789, 4503599627370495.5]:
        native_line(alert(elapsed_seconds=v, target_seconds=-v))
    for v in [1e15, 1e16, 2.0**53, 2.0**63 - 1024, 2.0**63, 1e19, 2.0**64 - 2048]:
        native_line(alert(elapsed_seconds=v))
    for v in [math.inf, -math.inf, math.nan]:
        assert _native.alert_json(alert(elapsed_seconds=v)) == alert(elapsed_seconds=v).to_json() + b"\n"
    for v in [2.0**64, 1e20, -(2.0**63) - 4096]:
        with pytest.raises(TypeError):
            alert(elapsed_seconds=v).to_json()
        with pytest.raises(TypeError):
            _native.alert_json(alert(elapsed_seconds=v))
    rng = random.Random(3)
    for _ in range(20_000):
        v = rng.random() * 10 ** rng.randint(-30, 16)
        native_line(alert(elapsed_seconds=v, target_seconds=round(v, rng.randint(0, 6))))


def test_alert_line_fields() -> None:
    native_line(alert(level=None, deadline=None))
    native_line(alert(level=0))
    native_line(alert(deadline=1_767_225_600))  # == fired_at: its text reused
    native_line(alert(deadline=1_767_225_600.0, fired_at=1_767_225_600))
    native_line(alert(deadline=1_767_225_600.5, fired_at=1_767_225_601.25))
    native_line(alert(tz=None))
    native_line(alert(escalate_to=Contact(3, "director", "Zhang Wei", "+86 138 0000 0000")))
    native_line(alert(kind=KIND_ESCALATED, metric="complaint", level=2, department=None, category=None, channel=None))


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**62), max_value=2.0**62)
instants = st.one_of(
    st.integers(1_293_840_000, 1_798_761_600),
    st.floats(1_293_840_000, 1_798_761_600).map(lambda x: round(x, 6)),
)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([KIND_WARNING, KIND_BREACHED, KIND_ESCALATED]),
    st.text(min_size=1, max_size=30),
    st.sampled_from(["response", "resolution", "complaint"]),
    st.one_of(st.none(), st.integers(0, 5)),
    st.text(max_size=10),
    st.one_of(st.none(), st.text(max_size=10)),
    st.one_of(st.none(), instants),
    instants,
    st.one_of(finite, st.integers(0, 10**9)),
    st.one_of(finite, st.integers(0, 10**9)),
    st.one_of(st.none(), st.builds(Contact, st.integers(0, 9), st.text(max_size=8), st.text(), st.text())),
    st.sampled_from(ZONES),
)
def test_alert_lines(
    kind: str,
    ticket_id: str,
    metric: str,
    level: int | None,
    text: str,
    maybe: str | None,
    deadline: float | None,
    fired_at: float,
    elapsed: float,
    target: float,
    contact: Contact | None,
    tz: tzinfo,
) -> None:
    strings = [
        ticket_id,
        text,
        maybe or "",
        *(() if contact is None else (contact.role, contact.name or "", contact.contact or "")),
    ]
    if any("\ud800" <= c <= "\udfff" for s in strings for c in s):
        return  # lone surrogates: no Rust string holds them (orjson refuses them too)
    native_line(
        alert(
            kind=kind,
            ticket_id=ticket_id,
            metric=metric,
            level=level,
            priority=text,
            department=maybe,
            assignee=text,
            deadline=deadline,
            fired_at=fired_at,
            elapsed_seconds=elapsed,
            target_seconds=target,
            calendar=text,
            category=maybe,
            channel=maybe,
            escalate_to=contact,
            tz=tz,
        )
    )
