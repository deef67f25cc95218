"""The event contract (events.md): what is accepted, what is rejected and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from slawatch.exceptions import InvalidEvent
from slawatch.sla.events import EVENT_TYPES, parse_event

SCHEMA = json.loads((Path(__file__).parents[2] / "slawatch" / "data" / "event.schema.json").read_text())


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "type": "ticket.created",
        "ticket_id": "20261122007",
        "occurred_at": "2026-11-20T17:30:00+08:00",
        "priority": "urgent",
        "category": "quality",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def rejection(raw: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    return info.value


def test_valid_event_is_accepted_with_its_time_as_epoch_seconds() -> None:
    e = parse_event(json.dumps(event()).encode())
    assert (e.type, e.ticket_id, e.at) == ("ticket.created", "20261122007", 1795167000)


def test_unknown_extra_fields_are_kept() -> None:
    e = parse_event(event(crm_ref="X-9", nested={"a": 1}))
    assert e.data["crm_ref"] == "X-9" and e.data["nested"] == {"a": 1}


def test_utc_z_suffix_is_accepted() -> None:
    assert parse_event(event(occurred_at="2026-11-20T09:30:00Z")).at == 1795167000


def test_schema_version_one_may_be_given_or_omitted() -> None:
    assert parse_event(event(schema=1)).event_id == "e-1"
    assert rejection(event(schema=2)).code == "unsupported_schema"


def test_an_integer_written_with_a_zero_fraction_is_that_integer() -> None:
    """Jackson writes a Double score as ``9.0``; JSON Schema's ``integer`` accepts it."""
    survey = {**event(type="survey.submitted"), "score": 9.0}
    assert parse_event(survey).get("score") == 9
    assert parse_event(event(schema=1.0)).event_id == "e-1"
    assert rejection({**survey, "score": 9.5}).code == "bad_type"
    assert rejection({**survey, "score": 11.0}).code == "out_of_range"
    assert rejection({**survey, "score": True}).code == "bad_type"
    assert rejection(event(schema=2.0)).code == "unsupported_schema"


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"{not json", "invalid_json", None),
        (b"[1, 2]", "not_object", None),
        (event(event_id=...), "missing_field", "event_id"),
        (event(ticket_id=""), "bad_length", "ticket_id"),
        (event(ticket_id="x" * 65), "bad_length", "ticket_id"),
        (event(event_id=7), "bad_type", "event_id"),
        (event(type="ticket.deleted"), "unknown_type", "type"),
        (event(occurred_at="2026-11-20T17:30:00"), "bad_timestamp", "occurred_at"),
        (event(occurred_at="2026-11-20"), "bad_timestamp", "occurred_at"),
        (event(occurred_at="yesterday at noon"), "bad_timestamp", "occurred_at"),
        (event(priority=...), "missing_field", "priority"),
        (event(priority="high"), "bad_value", "priority"),
        (event(channel="fax"), "bad_value", "channel"),
        (event(customer_tier="gold"), "bad_value", "customer_tier"),
        ({**event(type="survey.submitted"), "score": 11}, "out_of_range", "score"),
        ({**event(type="survey.submitted"), "score": 7.5}, "bad_type", "score"),
        ({**event(type="survey.submitted"), "score": True}, "bad_type", "score"),
        ({**event(type="ticket.resolved"), "first_contact": "yes"}, "bad_type", "first_contact"),
        ({**event(type="followup.completed"), "method": "email"}, "bad_value", "method"),
        ({**event(type="ticket.status_changed"), "status": "done"}, "bad_value", "status"),
        (event(type="ticket.assigned"), "missing_field", "assignee"),
    ],
)
def test_invalid_events_are_rejected_with_a_code_and_the_field(raw: Any, code: str, field: str | None) -> None:
    err = rejection(raw)
    assert (err.code, err.field) == (code, field)
    assert err.message  # a human sentence


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-09T09:00+08:00",  # no seconds
        "2026-03-09T09:00:00+0800",  # offset without a colon
        "2026-03-09T09:00:00+08",  # offset without minutes
        "2026-W11-1T09:00:00+08:00",  # ISO week date
        "2026-03-09T09:00:00,5+08:00",  # comma fraction
        "2026-03-09T09:00:00.+08:00",  # empty fraction
        "2026-03-09T09:00:00+08:00:00",  # offset with seconds
        "２０２６-03-09T09:00:00+08:00",  # non-ASCII digits
    ],
)
def test_iso_8601_forms_that_are_not_rfc_3339_are_rejected(stamp: str) -> None:
    err = rejection(event(occurred_at=stamp))
    assert (err.code, err.field) == ("bad_timestamp", "occurred_at")


@pytest.mark.parametrize(
    "stamp",
    ["2026-03-09T01:00:00Z", "2026-03-09t09:00:00.250+08:00", "2026-03-09 09:00:00+08:00", "2026-03-08T20:00:00-05:00"],
)
def test_rfc_3339_forms_are_accepted(stamp: str) -> None:
    assert parse_event(event(occurred_at=stamp)).at > 0


def test_rejection_message_names_the_field_the_value_and_what_was_expected() -> None:
    err = rejection(event(priority="high"))
    assert "priority" in err.message and "'high'" in err.message and "urgent" in err.message


def test_null_optional_field_counts_as_absent() -> None:
    assert parse_event(event(department=None)).get("department") is None


def test_every_type_of_the_contract_is_known() -> None:
    assert set(EVENT_TYPES) == {
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
    }


@pytest.mark.parametrize(
    "obj",
    [
        event(),
        event(channel="wechat", customer_tier="vip", extra=1),
        {**event(type="survey.submitted"), "score": 9},
        {**event(type="ticket.status_changed"), "status": "waiting_customer"},
        event(priority="high"),
        event(occurred_at="2026-11-20T17:30:00"),
        event(type="ticket.assigned"),
        {**event(type="survey.submitted"), "score": 11},
        {**event(type="survey.submitted"), "score": 9.0},
        {**event(type="survey.submitted"), "score": 7.5},
        {**event(type="survey.submitted"), "score": 11.0},
        event(schema=1.0),
        event(schema=2),
        event(ticket_id=""),
        event(department="d" * 257),
        event(title="t" * 10_001),
    ],
)
def test_shipped_json_schema_agrees_with_the_validator(obj: dict[str, Any]) -> None:
    try:
        parse_event(obj)
        ours = True
    except InvalidEvent:
        ours = False
    checker = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    theirs = checker.is_valid(obj)
    assert ours == theirs


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_a_line_cut_short_reads_as_the_same_message_cut_short(ending: bytes) -> None:
    """``slawatch backtest`` of a file and the worker's dead-letter record use the same words."""
    message = b'{"event_id":"e1","type":"ticket.cr'
    assert rejection(message + ending).message == rejection(message).message
    assert "unexpected end of data" in rejection(message).message
