"""The input watchdog: which partitions have input the stream stopped handing over."""

from __future__ import annotations

from collections.abc import Callable

from slawatch.agents.input_watchdog import InputWatchdog
from slawatch.streams.codecs import CatchUp, Tick, decode_catch_up, decode_tick, encode_catch_up, encode_tick


def _applied(offsets: dict[int, int | None]) -> Callable[[int], int | None]:
    return lambda p: offsets.get(p)


def test_a_partition_with_input_waiting_and_no_progress_is_stalled_after_the_period() -> None:
    dog = InputWatchdog(stall_seconds=5)
    dog.resume()
    applied = _applied({0: 6})
    assert dog.stalled({0: 10}, applied, now=100.0) == {}  # first seen lagging
    assert dog.stalled({0: 10}, applied, now=104.9) == {}
    assert dog.stalled({0: 10}, applied, now=105.0) == {0: (7, 10)}
    assert dog.stalled({0: 10}, applied, now=106.0) == {}  # asked; again only after another period
    assert dog.stalled({0: 10}, applied, now=110.0) == {0: (7, 10)}


def test_progress_restarts_the_period() -> None:
    dog = InputWatchdog(stall_seconds=5)
    offsets: dict[int, int | None] = {0: 6}
    assert dog.stalled({0: 10}, _applied(offsets), now=100.0) == {}
    offsets[0] = 8  # the stream moved
    assert dog.stalled({0: 10}, _applied(offsets), now=104.0) == {}
    assert dog.stalled({0: 10}, _applied(offsets), now=108.0) == {}
    assert dog.stalled({0: 10}, _applied(offsets), now=109.0) == {0: (9, 10)}


def test_a_caught_up_partition_is_never_stalled() -> None:
    dog = InputWatchdog(stall_seconds=1)
    for now in (0.0, 5.0, 50.0):
        assert dog.stalled({0: 10, 1: 0}, _applied({0: 9}), now=now) == {}


def test_a_partition_with_nothing_applied_or_committed_is_caught_up_from_offset_0() -> None:
    dog = InputWatchdog(stall_seconds=1)
    dog.stalled({3: 2}, _applied({}), now=0.0)
    assert dog.stalled({3: 2}, _applied({}), now=1.0) == {3: (0, 2)}


def test_a_catch_up_is_at_most_max_batch_offsets() -> None:
    dog = InputWatchdog(stall_seconds=1, max_batch=100)
    dog.stalled({0: 10_000}, _applied({0: 49}), now=0.0)
    assert dog.stalled({0: 10_000}, _applied({0: 49}), now=1.0) == {0: (50, 150)}


def test_pausing_forgets_what_was_seen() -> None:
    dog = InputWatchdog(stall_seconds=1)
    dog.resume()
    dog.stalled({0: 10}, _applied({0: 5}), now=0.0)
    dog.pause()
    assert not dog.running
    dog.resume()
    assert dog.stalled({0: 10}, _applied({0: 5}), now=1.5) == {}  # the period starts again


def test_catch_up_requests_round_trip_and_are_never_taken_for_ticks() -> None:
    raw = encode_catch_up(CatchUp(7, 10))
    assert decode_catch_up(raw) == CatchUp(7, 10)
    assert decode_catch_up(encode_tick(Tick(("catch_up",), 1.0))) is None
    assert decode_catch_up(b'{"kind": "catch_up", "start": 5, "end": 2}') is None
    assert decode_catch_up(b'{"kind": "catch_up", "start": true, "end": 2}') is None
    assert decode_catch_up(None) is None
    assert decode_tick(encode_tick(Tick(("T1",), 1.0))).ticket_ids == ("T1",)
