"""Which clock a partition's thresholds fire on: the wall clock, or its input's event time."""

from __future__ import annotations

from slawatch.agents.horizon import FiringHorizon
from slawatch.agents.index import DeadlineIndex, DueEntry

NOW = 1_800_000_000.0
DAY = 86_400.0


def test_a_partition_with_no_input_yet_fires_on_the_wall_clock() -> None:
    assert FiringHorizon().horizon(0, NOW) == NOW


def test_live_input_fires_on_the_wall_clock() -> None:
    h = FiringHorizon(live_lag_seconds=60)
    h.seen(0, NOW - 5, NOW)  # an event 5 s old: upstream delivery delay, not history
    assert h.horizon(0, NOW + 0.5) == NOW + 0.5


def test_history_fires_only_up_to_the_last_event_time_while_input_keeps_coming() -> None:
    h = FiringHorizon(idle_seconds=2, live_lag_seconds=60)
    h.seen(0, NOW - 30 * DAY, NOW)
    h.seen(0, NOW - 29 * DAY, NOW + 1)
    assert h.horizon(0, NOW + 1.5) == NOW - 29 * DAY


def test_history_fires_on_the_wall_clock_once_nothing_more_arrives() -> None:
    h = FiringHorizon(idle_seconds=2, live_lag_seconds=60)
    h.seen(0, NOW - 30 * DAY, NOW)
    assert h.horizon(0, NOW + 1.9) == NOW - 30 * DAY
    assert h.horizon(0, NOW + 2.0) == NOW + 2.0


def test_an_invalid_message_keeps_the_partition_busy_but_does_not_move_its_event_time() -> None:
    h = FiringHorizon(idle_seconds=2, live_lag_seconds=60)
    h.seen(0, NOW - 30 * DAY, NOW)
    h.seen(0, None, NOW + 1.5)
    assert h.horizon(0, NOW + 3) == NOW - 30 * DAY


def test_only_invalid_messages_leave_the_partition_on_the_wall_clock() -> None:
    h = FiringHorizon()
    h.seen(0, None, NOW)
    assert h.horizon(0, NOW) == NOW


def test_events_from_the_future_never_fire_thresholds_ahead_of_the_wall_clock() -> None:
    h = FiringHorizon()
    h.seen(0, NOW + DAY, NOW)
    assert h.horizon(0, NOW + 1) == NOW + 1


def test_the_event_time_is_the_last_events_so_a_late_line_holds_it_back_as_in_the_backtest() -> None:
    h = FiringHorizon(live_lag_seconds=60)
    h.seen(0, NOW - 10 * DAY, NOW)
    h.seen(0, NOW - 12 * DAY, NOW)
    assert h.horizon(0, NOW + 1) == NOW - 12 * DAY


def test_partitions_are_judged_each_on_their_own_input() -> None:
    h = FiringHorizon()
    h.seen(0, NOW - 10 * DAY, NOW)
    h.seen(1, NOW - 1, NOW)
    assert (h.horizon(0, NOW + 1), h.horizon(1, NOW + 1), h.horizon(2, NOW + 1)) == (NOW - 10 * DAY, NOW + 1, NOW + 1)
    assert h.replaying(NOW + 1) == 1


def test_a_revoked_partition_is_forgotten() -> None:
    h = FiringHorizon()
    h.seen(0, NOW - 10 * DAY, NOW)
    h.forget({0})
    assert h.horizon(0, NOW + 1) == NOW + 1


def test_the_index_pops_each_partition_up_to_its_own_horizon() -> None:
    idx = DeadlineIndex()
    idx.reset({0, 1}, [(0, "a", NOW - 20 * DAY), (0, "b", NOW - 5 * DAY), (1, "c", NOW - 5 * DAY)])
    h = FiringHorizon()
    h.seen(0, NOW - 10 * DAY, NOW)  # partition 0 replays history; partition 1 is live
    due = idx.pop_due(lambda p: h.horizon(p, NOW + 1))
    assert sorted(due, key=lambda e: e.instant) == [DueEntry(0, "a", NOW - 20 * DAY), DueEntry(1, "c", NOW - 5 * DAY)]
