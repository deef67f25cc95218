"""Which clock a partition's thresholds fire on: the wall clock, or its input's event time."""

from __future__ import annotations

from slawatch.agents.horizon import NOTHING, FiringHorizon
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
    assert h.horizon(0, NOW + 1.9, lambda p: False) == NOW - 30 * DAY
    assert h.horizon(0, NOW + 2.0, lambda p: False) == NOW + 2.0


def test_a_worker_that_stalls_while_history_waits_in_kafka_keeps_firing_on_event_time() -> None:
    h = FiringHorizon(idle_seconds=2, live_lag_seconds=60)
    h.seen(0, NOW - 30 * DAY, NOW)
    assert h.horizon(0, NOW + 5, lambda p: True) == NOW - 30 * DAY  # a GC pause, not the end


def test_an_on_time_event_followed_by_a_long_quiet_stays_live() -> None:
    h = FiringHorizon(idle_seconds=120, live_lag_seconds=60)
    h.seen(0, NOW - 1, NOW)
    assert h.horizon(0, NOW + 61) == NOW + 61  # judged when it arrived, not at the timer


def test_an_invalid_message_keeps_the_partition_busy_but_does_not_move_its_event_time() -> None:
    h = FiringHorizon(idle_seconds=2, live_lag_seconds=60)
    h.seen(0, NOW - 30 * DAY, NOW)
    h.seen(0, None, NOW + 1.5)
    assert h.horizon(0, NOW + 3) == NOW - 30 * DAY


def test_a_just_assigned_partition_fires_nothing_until_its_input_says_which_clock() -> None:
    h = FiringHorizon(idle_seconds=2)
    h.assigned({0, 1}, NOW)
    assert h.horizon(0, NOW + 1) == NOTHING  # a replay may be between two bursts
    h.seen(0, None, NOW + 1)  # an invalid message says nothing of the clock
    assert h.horizon(0, NOW + 2.5) == NOTHING
    h.seen(0, NOW + 2, NOW + 2.5)
    assert h.horizon(0, NOW + 2.6) == NOW + 2.6
    assert h.horizon(1, NOW + 2, lambda p: True) == NOTHING  # input waiting: not quiet
    assert h.horizon(1, NOW + 2, lambda p: False) == NOW + 2  # quiet: nothing more comes


def test_a_partition_assigned_again_keeps_what_its_input_said() -> None:
    h = FiringHorizon()
    h.seen(0, NOW - 10 * DAY, NOW)
    h.assigned({0}, NOW + 1)
    assert h.horizon(0, NOW + 1.5) == NOW - 10 * DAY


def test_events_from_the_future_never_fire_thresholds_ahead_of_the_wall_clock() -> None:
    h = FiringHorizon()
    h.seen(0, NOW + DAY, NOW)
    assert h.horizon(0, NOW + 1) == NOW + 1


def test_a_late_line_fires_only_before_its_own_time_as_the_backtest_does() -> None:
    # The backtest fires, before each line, the thresholds before that line's time; its
    # clock keeps the maximum, but nothing between a late line's time and it fires then.
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


def test_a_history_partition_stalled_with_input_waiting_is_still_counted_as_replaying() -> None:
    h = FiringHorizon(idle_seconds=2)
    h.seen(0, NOW - 10 * DAY, NOW)
    later = NOW + 30  # no message for 30 s, but Kafka still holds its next lines
    assert h.replaying(later) == 0  # without the question, quiet looks done
    assert h.replaying(later, lambda partition: partition == 0) == 1
