"""The deadline index and the catch-up barrier that gate the timer's ticks."""

from __future__ import annotations

from slawatch.agents.barrier import CatchUpBarrier
from slawatch.agents.index import DeadlineIndex, DueEntry


class Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_pop_due_returns_only_entries_before_now_in_instant_order() -> None:
    idx = DeadlineIndex()
    idx.reset({0, 1}, [(0, "a", 30.0), (0, "b", 10.0), (1, "c", 20.0), (1, "d", 99.0), (0, "e", None)])
    due = idx.pop_due(50.0)
    assert sorted(due, key=lambda e: e.instant) == [
        DueEntry(0, "b", 10.0), DueEntry(1, "c", 20.0), DueEntry(0, "a", 30.0),
    ]  # fmt: skip
    assert idx.pop_due(50.0) == []  # in flight: not sent twice
    assert len(idx) == 4  # d live, a/b/c in flight


def test_equal_instant_is_not_due_yet() -> None:
    idx = DeadlineIndex()
    idx.set(0, "a", 10.0)
    assert idx.pop_due(10.0) == []
    assert idx.pop_due(10.001) == [DueEntry(0, "a", 10.0)]


def test_update_replaces_the_old_entry_lazily() -> None:
    idx = DeadlineIndex()
    idx.set(0, "a", 10.0)
    idx.set(0, "a", 40.0)
    assert idx.pop_due(20.0) == []
    assert idx.pop_due(41.0) == [DueEntry(0, "a", 40.0)]
    idx.set(0, "a", None)
    assert len(idx) == 0


def test_processing_the_tick_ends_in_flight_and_reindexes() -> None:
    idx = DeadlineIndex()
    idx.set(0, "a", 10.0)
    assert len(idx.pop_due(11.0)) == 1
    assert idx.in_flight("a")
    idx.set(0, "a", 20.0)  # what the tick's processing does
    assert not idx.in_flight("a")
    assert idx.pop_due(21.0) == [DueEntry(0, "a", 20.0)]


def test_lost_tick_is_resent_after_timeout() -> None:
    mono = Mono()
    idx = DeadlineIndex(resend_after=5.0, monotonic=mono)
    idx.set(0, "a", 10.0)
    assert len(idx.pop_due(11.0)) == 1
    mono.t = 4.0
    assert idx.pop_due(12.0) == []
    mono.t = 6.0
    assert idx.pop_due(12.0) == [DueEntry(0, "a", 10.0)]


def test_tick_waiting_behind_a_backlog_is_not_resent() -> None:
    mono = Mono()
    idx = DeadlineIndex(resend_after=5.0, monotonic=mono)
    idx.set(0, "a", 10.0)
    idx.set(1, "b", 10.0)
    assert len(idx.pop_due(11.0)) == 2
    mono.t = 6.0
    drained = {0: False, 1: True}
    assert idx.pop_due(12.0, may_resend=drained.__getitem__) == [DueEntry(1, "b", 10.0)]
    assert idx.in_flight("a")  # still waited for, resent once its partition drained
    drained[0] = True
    assert idx.pop_due(12.0, may_resend=drained.__getitem__) == [DueEntry(0, "a", 10.0)]


def test_heap_is_compacted_when_stale_entries_pile_up() -> None:
    idx = DeadlineIndex()
    for i in range(1000):
        idx.set(0, "a", float(1000 + i))
    assert len(idx._heaps[0]) < 100  # white-box: memory must stay bounded
    assert idx.next_instant(0, "a") == 1999.0


def test_reset_ignores_partitions_not_owned_and_revoke_forgets() -> None:
    idx = DeadlineIndex()
    idx.reset({0}, [(0, "a", 1.0), (1, "b", 1.0)])
    assert idx.partitions == frozenset({0})
    assert [e.ticket_id for e in idx.pop_due(2.0)] == ["a"]
    idx.revoke({0})
    assert idx.partitions == frozenset() and len(idx) == 0


def test_timer_cost_follows_due_entries_not_open_tickets() -> None:
    idx = DeadlineIndex()
    idx.reset({0}, [(0, f"t{i}", 1000.0 + i) for i in range(50_000)])
    calls = 0

    def ready(_p: int) -> bool:
        nonlocal calls
        calls += 1
        return True

    assert idx.pop_due(500.0, ready=ready) == []
    assert calls == 0  # nothing due: the barrier is not even asked
    assert len(idx.pop_due(1003.5, ready=ready)) == 4


def test_not_ready_partition_keeps_its_entries() -> None:
    idx = DeadlineIndex()
    idx.reset({0, 1}, [(0, "a", 1.0), (1, "b", 1.0)])
    due = idx.pop_due(5.0, ready=lambda p: p == 1)
    assert due == [DueEntry(1, "b", 1.0)]
    assert idx.pop_due(5.0) == [DueEntry(0, "a", 1.0)]


# --- barrier ---------------------------------------------------------------------------


def test_barrier_is_open_when_nothing_is_pending() -> None:
    barrier = CatchUpBarrier(lambda p: 100, lambda p: 99)
    assert barrier.ready(0)


def test_barrier_waits_for_messages_present_when_due_then_not_longer() -> None:
    hw = {0: 100}
    done = {0: 50}
    barrier = CatchUpBarrier(hw.get, done.get)
    assert not barrier.ready(0)  # snapshot: must reach offset 99
    hw[0] = 500  # more input keeps arriving; the target does not move
    done[0] = 98
    assert not barrier.ready(0)
    done[0] = 99
    assert barrier.ready(0)
    assert not barrier.ready(0)  # a new due entry takes a new snapshot (499)


def test_barrier_waits_as_long_as_the_stream_progresses_and_not_when_it_stalls() -> None:
    mono = Mono()
    done = {0: 0}
    barrier = CatchUpBarrier(lambda p: 10_000, done.get, max_wait=30.0, monotonic=mono)
    for step in range(1, 10):  # a catch-up of 4.5 minutes, progressing all along
        mono.t = step * 29.0
        done[0] = step * 1000
        assert not barrier.ready(0)
    mono.t += 29.0  # no progress, but not for max_wait yet
    assert not barrier.ready(0)
    mono.t += 2.0  # stalled for 31 s: fire rather than wait forever
    assert barrier.ready(0)


def test_barrier_empty_partition_and_unknown_watermark() -> None:
    assert CatchUpBarrier(lambda p: 0, lambda p: None).ready(0)
    mono = Mono()
    barrier = CatchUpBarrier(lambda p: None, lambda p: None, max_wait=30.0, monotonic=mono)
    assert not barrier.ready(0)
    mono.t = 31.0
    assert barrier.ready(0)  # bounded: fires rather than waiting forever


def test_barrier_treats_failing_probes_as_unknown() -> None:
    def boom(_p: int) -> int:
        raise RuntimeError("consumer not started")

    mono = Mono()
    barrier = CatchUpBarrier(boom, boom, max_wait=1.0, monotonic=mono)
    assert not barrier.ready(3)
    mono.t = 2.0
    assert barrier.ready(3)
