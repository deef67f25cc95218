"""Fetches never hand out the records of paused partitions (agents/active_partitions)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher
from faust.types import TP
from sla_scenarios import ts

from slawatch.agents.active_partitions import ActivePartitions, guard_fetches
from slawatch.agents.app import create_worker
from slawatch.settings import Settings
from slawatch.sla.policy import load_policy

STANDBY = TP("unit-fetch-tickets-changelog", 3)
EVENTS = TP("unit-fetch.events", 3)


class _HandedOut(Exception):
    """Raised where aiokafka hands a partition's prefetched result to the caller."""


class _Prefetched:
    """A prefetched result of aiokafka's that is not a ``FetchResult``: handing it out
    raises, so a test sees which partitions ``fetched_records`` would return."""

    def check_raise(self) -> None:
        raise _HandedOut


def _prefetched_fetcher(tp: TP) -> Any:
    """Just what ``Fetcher.fetched_records`` reads, with a prefetched result for ``tp``."""
    return SimpleNamespace(
        _subscriptions=SimpleNamespace(reassignment_in_progress=False, is_assigned=lambda _tp: True),
        _records={tp: _Prefetched()},
        _notify=lambda _future: None,
        _wait_consume_future=None,
    )


def test_aiokafka_hands_out_every_partition_for_an_empty_partition_set() -> None:
    """The rule the guard exists for: Faust's live set, gone empty while a fetch waited
    (every partition paused), let a paused standby partition's records out."""
    with pytest.raises(_HandedOut):
        asyncio.run(Fetcher.fetched_records(_prefetched_fetcher(STANDBY), set(), timeout=0))


def test_an_empty_active_partition_view_hands_out_nothing() -> None:
    assert asyncio.run(Fetcher.fetched_records(_prefetched_fetcher(STANDBY), ActivePartitions(set()), timeout=0)) == {}


def test_a_partition_resumed_while_a_fetch_waits_is_handed_out() -> None:
    live: set[TP] = set()
    view = ActivePartitions(live)
    live.add(STANDBY)
    with pytest.raises(_HandedOut):
        asyncio.run(Fetcher.fetched_records(_prefetched_fetcher(STANDBY), view, timeout=0))


def test_the_view_follows_the_live_set_and_is_always_true() -> None:
    live = {EVENTS}
    view = ActivePartitions(live)
    assert view and EVENTS in view and STANDBY not in view and len(view) == 1
    live.discard(EVENTS)
    assert view and EVENTS not in view and len(view) == 0 and list(view) == []


def test_the_worker_fetches_through_the_view() -> None:
    w = create_worker(
        Settings(app_id="unit-fetch", partitions=4), load_policy(None), clock=lambda: ts("2026-11-16 11:00")
    )
    asked: list[Any] = []

    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        asked.append(active_partitions)
        return {}

    w.app.consumer._thread.getmany = getmany  # type: ignore[attr-defined]
    live: set[TP] = set()
    asyncio.run(w.app.consumer._getmany(active_partitions=live, timeout=0.0))  # type: ignore[attr-defined]
    assert isinstance(asked[0], ActivePartitions) and asked[0]
    live.add(STANDBY)
    assert STANDBY in asked[0]


def test_a_fetch_without_a_partition_set_stays_without_one() -> None:
    """``None`` is Faust's client-only mode: every partition, on purpose."""
    consumer = SimpleNamespace()
    asked: list[Any] = []

    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        asked.append(active_partitions)
        return {}

    consumer._getmany = getmany
    guard_fetches(consumer)  # type: ignore[arg-type]
    asyncio.run(consumer._getmany(active_partitions=None, timeout=0.0))
    assert asked == [None]
