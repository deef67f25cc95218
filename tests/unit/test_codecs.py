"""The tick wire format: what the timer sends and the stream reads back."""

from __future__ import annotations

import orjson
import pytest

from slawatch.streams.codecs import InvalidTick, Tick, decode_tick, encode_tick


def test_tick_with_many_tickets_round_trips() -> None:
    tick = Tick(("T1", "T2", "T3"), 1_795_000_000.5, "expire", input_offset=41)
    assert decode_tick(encode_tick(tick)) == tick


def test_an_event_time_tick_round_trips_and_a_tick_without_a_clock_is_wall_clock() -> None:
    tick = Tick(("T1",), 1_795_000_000.0, event_time=True)
    assert decode_tick(encode_tick(tick)) == tick
    assert decode_tick(orjson.dumps({"ticket_ids": ["T1"], "now": 1.0})).event_time is False


def test_single_ticket_tick_of_an_earlier_version_still_reads() -> None:
    raw = orjson.dumps({"ticket_id": "T1", "now": 1_795_000_000, "kind": "advance"})
    assert decode_tick(raw) == Tick(("T1",), 1_795_000_000.0, "advance")


@pytest.mark.parametrize(
    "doc",
    [
        {"ticket_ids": [], "now": 1.0},
        {"ticket_ids": ["T1", ""], "now": 1.0},
        {"ticket_ids": "T1", "now": 1.0},
        {"ticket_ids": ["T1"], "now": True},
        {"ticket_ids": ["T1"], "now": 1.0, "kind": "later"},
        {"ticket_ids": ["T1"], "now": 1.0, "input_offset": "41"},
        {"ticket_ids": ["T1"], "now": 1.0, "clock": "event-time"},
    ],
)
def test_malformed_tick_is_rejected_with_the_field_named(doc: dict[str, object]) -> None:
    with pytest.raises(InvalidTick, match="tick field"):
        decode_tick(orjson.dumps(doc))
