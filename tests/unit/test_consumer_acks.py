"""Offsets applied outside the stream let Faust's commits pass them (agents/consumer_acks).

On Faust's real consumer bookkeeping (``ack`` and ``_new_offset``, the offset a commit
writes), without a broker: each commit below is what Faust would commit next.
"""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from slawatch.agents.consumer_acks import mark_acked

TOPIC = "unit-acks.events"
TP0 = TP(TOPIC, 0)


@pytest.fixture
def consumer() -> faust.types.ConsumerT:
    app = faust.App("unit-acks", broker="kafka://127.0.0.1:1")
    app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]  # no agent subscribed here
    c = app.consumer
    c._committed_offset[TP0] = 10  # type: ignore[attr-defined]  # position: offsets 0-9 committed
    return c


def _stream_acks(consumer: faust.types.ConsumerT, first: int, last: int) -> None:
    for offset in range(first, last + 1):
        consumer.ack(Message(TOPIC, 0, offset, 0.0, None, None, b"T1", b"{}", None))


def _commits(consumer: faust.types.ConsumerT, n: int) -> list[int | None]:
    """The next ``n`` committed positions, as Faust's commit loop would write them."""
    out: list[int | None] = []
    for _ in range(n):
        position = consumer._new_offset(TP0)  # type: ignore[attr-defined]
        if position is not None:
            consumer._committed_offset[TP0] = position  # type: ignore[attr-defined]
        out.append(position)
    return out


def test_applied_offsets_the_stream_never_delivers_are_committed_with_the_next_ones(
    consumer: faust.types.ConsumerT,
) -> None:
    assert mark_acked(consumer, TP0, 10, 15) == 5
    _stream_acks(consumer, 15, 20)
    assert _commits(consumer, 2) == [21, None]


def test_applied_offsets_the_stream_delivers_later_are_committed_in_one_step(
    consumer: faust.types.ConsumerT,
) -> None:
    """A stalled partition caught up (10-14), then its stream woke and delivered 10-30."""
    mark_acked(consumer, TP0, 10, 15)
    _stream_acks(consumer, 10, 30)
    assert _commits(consumer, 2) == [31, None]


def test_declaring_them_a_gap_instead_crawls_one_offset_per_commit(consumer: faust.types.ConsumerT) -> None:
    """What the worker did before: the reason ``mark_acked`` exists (Faust 0.15)."""
    asyncio.run(consumer._add_gap(TP0, 10, 14))  # type: ignore[attr-defined]
    _stream_acks(consumer, 10, 30)
    assert _commits(consumer, 5) == [12, 13, 14, 15, 31]


def test_offsets_already_committed_or_acknowledged_are_left_alone(consumer: faust.types.ConsumerT) -> None:
    _stream_acks(consumer, 12, 13)
    assert mark_acked(consumer, TP0, 5, 15) == 3  # 10, 11 and 14: below 10 committed, 12-13 acked
    assert _commits(consumer, 1) == [15]


def test_a_consumer_without_faust_bookkeeping_is_left_alone() -> None:
    assert mark_acked(object(), TP0, 0, 5) == 0


def test_a_jump_faust_recorded_as_a_gap_itself_does_not_crawl_either(consumer: faust.types.ConsumerT) -> None:
    """Faust's fetcher saw the jump 9 -> 600 and recorded 10-600 as a gap; the worker then
    read 10-599 again and applied them."""
    asyncio.run(consumer._add_gap(TP0, 10, 600))  # type: ignore[attr-defined]
    mark_acked(consumer, TP0, 10, 600)
    _stream_acks(consumer, 600, 609)
    commits = [c for c in _commits(consumer, 5) if c is not None]
    assert commits[-1] == 610 and len(commits) <= 2  # 591 commits when the gap was left


def test_with_nothing_committed_every_offset_is_recorded_and_counts_towards_commit_every(
    consumer: faust.types.ConsumerT,
) -> None:
    consumer._committed_offset[TP0] = None  # type: ignore[attr-defined]
    before = consumer._n_acked  # type: ignore[attr-defined]
    assert mark_acked(consumer, TP0, 0, 4) == 4
    assert consumer._n_acked == before + 4  # type: ignore[attr-defined]
    assert _commits(consumer, 1) == [4]
