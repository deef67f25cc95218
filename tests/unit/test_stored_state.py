"""The tickets table's value format, and the restart that reads it back.

A rebuild after a restart must index and summarise every ticket exactly as the engine
would from the full state, whichever format wrote the value and whichever policy the
writer ran: the stored next due instant is a shortcut, never a second source of truth.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sla_scenarios import created, ev, ts

from slawatch.agents.index import DeadlineIndex
from slawatch.agents.processor import TicketProcessor
from slawatch.agents.stored_state import FORMAT_INDEXED, pack_state, stored_head, unpack_state
from slawatch.agents.windows import Increments
from slawatch.metrics import LabelBounds, build_metrics
from slawatch.settings import Settings
from slawatch.simulate import generate_events
from slawatch.sla.alerts import Alert
from slawatch.sla.engine import SlaEngine, TicketState, at_risk_in
from slawatch.sla.policy import Policy, default_policy_text, load_policy, parse_policy
from slawatch.streams.codecs import Tick, encode_tick

PARTITIONS = 4


class Worker:
    """A processor over a dict table, fed like the ingest agent feeds it."""

    def __init__(self, policy: Policy, tickets: dict[str, bytes] | None = None, now: float = 0.0) -> None:
        self.now = now
        self.tickets: dict[str, bytes] = {} if tickets is None else tickets
        self.engine = SlaEngine(policy)
        self.index = DeadlineIndex()
        bounds = LabelBounds.from_settings(Settings())
        self.proc = TicketProcessor(
            engine=self.engine, tickets=self.tickets, index=self.index, windows=self,
            metrics=build_metrics(CollectorRegistry(), bounds), bounds=bounds,
            publish_alerts=self._publish, dead_letter=self._dead_letter, clock=lambda: self.now,
        )  # fmt: skip
        self.offset = 0

    async def _publish(self, alerts: list[Alert]) -> None:
        pass

    async def _dead_letter(self, key: bytes | None, value: bytes) -> None:
        raise AssertionError(f"dead-lettered: {value!r}")

    def add(self, incs: Increments) -> None:
        pass

    def feed(self, events: list[dict[str, Any]]) -> None:
        async def run() -> None:
            for event in events:
                self.offset += 1
                partition = zlib.crc32(event["ticket_id"].encode()) % PARTITIONS
                await self.proc.on_event(
                    orjson.dumps(event), key=None, topic="in", partition=partition, offset=self.offset
                )

        asyncio.run(run())

    def tick_all(self, now: float) -> None:
        self.now = now
        by_partition: dict[int, list[str]] = {}
        for ticket_id, raw in self.tickets.items():
            by_partition.setdefault(unpack_state(raw).partition or 0, []).append(ticket_id)

        async def run() -> None:
            for partition, ids in by_partition.items():
                await self.proc.on_tick(encode_tick(Tick(tuple(ids), now)), partition=partition)

        asyncio.run(run())

    def rebuilt(self, owned: set[int]) -> tuple[list[Any], list[tuple[int, str, float | None]]]:
        """Rebuild from the table; return (summaries, index entries), both sorted."""
        self.proc.rebuild(owned)
        summaries = sorted(repr(s) for s in self.proc.owned_states())
        entries = sorted(
            (p, t, self.index.next_instant(p, t)) for p in owned for t in self.tickets if self.index.next_instant(p, t)
        )
        return summaries, entries


@pytest.fixture(scope="module")
def population() -> tuple[dict[str, bytes], float]:
    """~400 simulated tickets cut mid-life: open, warned, breached, paused, resolved, closed."""
    start = datetime(2026, 11, 16, 1, tzinfo=UTC)
    until = datetime(2026, 11, 19, 6, tzinfo=UTC)
    events = list(generate_events(11, start, rate=0.02, until=until))
    worker = Worker(load_policy(None), now=until.timestamp())
    worker.feed(events)
    worker.tick_all(until.timestamp())
    return dict(worker.tickets), until.timestamp()


def _kinds(tickets: dict[str, bytes]) -> set[str]:
    states = [unpack_state(raw) for raw in tickets.values()]
    kinds = {s.status for s in states}
    kinds |= {"at_risk"} if any(s.at_risk_metrics for s in states) else set()
    return kinds


def test_population_covers_the_lifecycle(population: tuple[dict[str, bytes], float]) -> None:
    tickets, _ = population
    assert len(tickets) > 100
    assert {"open", "resolved", "at_risk"} <= _kinds(tickets)


def test_values_carry_the_writers_fingerprint_and_next_due(population: tuple[dict[str, bytes], float]) -> None:
    tickets, _ = population
    engine = SlaEngine(load_policy(None))
    for raw in tickets.values():
        assert raw[0] == FORMAT_INDEXED
        state = unpack_state(raw)
        assert stored_head(raw, engine.fingerprint) == (state.partition, engine.next_due(state))


def test_rebuild_from_stored_due_equals_rebuild_from_full_states(population: tuple[dict[str, bytes], float]) -> None:
    tickets, now = population
    owned = {0, 1, 3}
    fast = Worker(load_policy(None), dict(tickets), now).rebuilt(owned)
    slow_worker = Worker(load_policy(None), dict(tickets), now)
    slow_worker.engine.fingerprint = b"elsewise"  # as if written by another policy: recompute
    slow = slow_worker.rebuilt(owned)
    assert fast == slow
    assert len(fast[0]) > 50 and fast[1]


def test_rebuild_reads_values_of_the_older_formats_alike(population: tuple[dict[str, bytes], float]) -> None:
    tickets, now = population
    current = Worker(load_policy(None), dict(tickets), now).rebuilt({0, 1, 2, 3})
    plain = {t: unpack_state(raw).to_bytes() for t, raw in tickets.items()}
    compressed = {t: zlib.compress(raw) for t, raw in plain.items()}
    assert Worker(load_policy(None), plain, now).rebuilt({0, 1, 2, 3}) == current
    assert Worker(load_policy(None), compressed, now).rebuilt({0, 1, 2, 3}) == current


def test_values_written_under_another_calendar_are_reindexed_on_the_new_one() -> None:
    # A ticket created on Friday 2026-11-20 17:00: 4 working hours end Monday 12:00 under
    # the default policy. The restarted worker's policy makes that Monday a holiday.
    writer = Worker(load_policy(None), now=ts("2026-11-20 17:00"))
    writer.feed([created("2026-11-20 17:00", ticket="T1")])
    raw = writer.tickets["T1"]
    head = stored_head(raw, writer.engine.fingerprint)
    assert head is not None and head[1] == ts("2026-11-23 11:12")  # the warning, at 80 %

    text = default_policy_text().replace("holidays: []", 'holidays: ["2026-11-23"]', 1)
    reader = Worker(parse_policy(text, "new.yaml"), dict(writer.tickets), ts("2026-11-20 17:00"))
    assert reader.engine.fingerprint != writer.engine.fingerprint
    reader.proc.rebuild({unpack_state(raw).partition or 0})
    assert reader.index.soonest() == ts("2026-11-24 11:12")


def test_fingerprint_is_stable_for_one_policy_and_changes_with_what_places_thresholds(tmp_path: Path) -> None:
    base = SlaEngine(load_policy(None)).fingerprint
    assert SlaEngine(parse_policy(default_policy_text(), "copy.yaml")).fingerprint == base
    changes = {
        "warn": ("warn_fraction: 0.8", "warn_fraction: 0.75"),
        "ladder": ("{level: 2, at: 1.5,", "{level: 2, at: 2.0,"),
        "hours": ('mon-fri: ["09:00-18:00"]', 'mon-fri: ["09:00-12:00", "13:00-18:00"]'),
        "zone": ("    timezone: Asia/Shanghai\n    hours", "    timezone: Asia/Tokyo\n    hours"),
        "workday": ("workdays: []", 'workdays: ["2026-11-28"]'),
    }
    for name, (old, new) in changes.items():
        text = default_policy_text()
        assert old in text, name
        assert SlaEngine(parse_policy(text.replace(old, new, 1), f"{name}.yaml")).fingerprint != base, name
    # Targets are copied into each clock when it starts, so they do not move stored instants.
    text = default_policy_text().replace("{duration: 4h, calendar: business}", "{duration: 2h, calendar: business}")
    assert SlaEngine(parse_policy(text, "targets.yaml")).fingerprint == base


def test_at_risk_in_reads_stored_clocks_like_the_state(population: tuple[dict[str, bytes], float]) -> None:
    tickets, _ = population
    for raw in tickets.values():
        state = unpack_state(raw)
        assert at_risk_in(state.to_dict()["k"]) == tuple(state.at_risk_metrics)


def test_an_unreadable_value_is_skipped_not_fatal(population: tuple[dict[str, bytes], float]) -> None:
    tickets, now = population
    broken = dict(tickets)
    broken["bad-1"] = bytes([FORMAT_INDEXED]) + b"\x00" * 30
    broken["bad-2"] = b"{not json"
    worker = Worker(load_policy(None), broken, now)
    assert worker.proc.rebuild(set(range(PARTITIONS))) == len(tickets)


def test_pack_state_round_trips() -> None:
    state = TicketState("T9", created_at=1.0e9, priority="urgent", partition=5)
    raw = pack_state(state, next_due=1.5e9, fingerprint=b"12345678")
    assert unpack_state(raw) == state
    assert stored_head(raw, b"12345678") == (5, 1.5e9)
    assert stored_head(pack_state(state, fingerprint=b"12345678"), b"12345678") == (5, None)
    assert stored_head(raw, b"87654321") is None


# --------------------------------------------------------------------------- deferred summaries


def test_deferred_rebuild_indexes_at_once_and_fills_summaries_later(
    population: tuple[dict[str, bytes], float],
) -> None:
    tickets, now = population
    owned = {0, 2, 3}
    whole = Worker(load_policy(None), dict(tickets), now).rebuilt(owned)
    worker = Worker(load_policy(None), dict(tickets), now)
    indexed = worker.proc.rebuild(owned, defer_summaries=True)
    assert indexed == worker.proc.summaries_pending > 0
    assert worker.proc.state_snapshot() is None  # gauges show nothing, not a share
    assert (
        sorted(
            (p, t, worker.index.next_instant(p, t)) for p in owned for t in tickets if worker.index.next_instant(p, t)
        )
        == whole[1]
    )
    left = worker.proc.fill_summaries(10)
    summarised = len(list(worker.proc.owned_states()))  # of 10 items read, those owned
    assert 0 < summarised <= 10 and left == indexed - summarised
    while worker.proc.fill_summaries(50):
        pass
    assert worker.proc.state_snapshot() is not None
    assert sorted(repr(s) for s in worker.proc.owned_states()) == whole[0]


def test_a_ticket_written_while_summaries_fill_keeps_its_new_summary() -> None:
    worker = Worker(load_policy(None), now=ts("2026-11-16 10:00"))
    worker.feed([created("2026-11-16 10:00", ticket=f"T{i}") for i in range(5)])
    partitions = set(range(PARTITIONS))
    worker.proc.rebuild(partitions, defer_summaries=True)
    worker.feed([ev("ticket.resolved", "2026-11-16 11:00", ticket="T3")])
    worker.proc.fill_summaries(None)
    summaries = {s.ticket_id: s for s in worker.proc.owned_states()}
    assert len(summaries) == 5
    assert summaries["T3"].status == "resolved" and summaries["T1"].status == "open"


def test_a_ticket_deleted_while_summaries_fill_stays_deleted() -> None:
    worker = Worker(load_policy(None), now=ts("2026-11-16 10:00"))
    worker.feed([created("2026-11-16 10:00", ticket=f"T{i}") for i in range(3)])
    worker.feed(
        [ev("ticket.responded", "2026-11-16 10:30", ticket="T1"), ev("ticket.closed", "2026-11-16 11:00", ticket="T1")]
    )
    partition = unpack_state(worker.tickets["T1"]).partition
    assert partition is not None
    worker.proc.rebuild(set(range(PARTITIONS)), defer_summaries=True)
    worker.now = ts("2026-12-17 11:01")  # past retention, with traffic going on
    worker.feed([created("2026-12-17 11:01", ticket="T9")])
    asyncio.run(worker.proc.on_tick(encode_tick(Tick(("T1",), worker.now, "expire")), partition=partition))
    assert "T1" not in worker.tickets
    worker.proc.fill_summaries(None)
    assert sorted(s.ticket_id for s in worker.proc.owned_states()) == ["T0", "T2", "T9"]


def test_the_summary_pass_ends_when_the_table_has_fewer_tickets_than_indexed() -> None:
    # A store iterator opened after the rebuild may miss tickets deleted in between:
    # the pass still ends (no endless background loop) and the gauges come back.
    worker = Worker(load_policy(None), now=ts("2026-11-16 10:00"))
    worker.feed([created("2026-11-16 10:00", ticket=f"T{i}") for i in range(4)])
    passes = [list(worker.tickets.items()), list(worker.tickets.items())[1:]]
    worker.proc.rebuild(set(range(PARTITIONS)), lambda: passes.pop(0), defer_summaries=True)
    assert worker.proc.summaries_pending == 4
    assert worker.proc.fill_summaries(10) == 0
    assert worker.proc.summaries_pending == 0 and worker.proc.state_snapshot() is not None
    assert len(list(worker.proc.owned_states())) == 3


def test_revoking_partitions_ends_an_unfinished_summary_pass(population: tuple[dict[str, bytes], float]) -> None:
    tickets, now = population
    worker = Worker(load_policy(None), dict(tickets), now)
    worker.proc.rebuild(set(range(PARTITIONS)), defer_summaries=True)
    worker.proc.fill_summaries(5)
    worker.proc.revoke({1})
    assert worker.proc.summaries_pending == 0 and worker.proc.fill_summaries(5) == 0


def test_a_failing_store_iterator_ends_the_summary_pass_without_raising() -> None:
    worker = Worker(load_policy(None), now=ts("2026-11-16 10:00"))
    worker.feed([created("2026-11-16 10:00", ticket=f"T{i}") for i in range(3)])
    items = list(worker.tickets.items())

    def broken() -> Iterator[tuple[str, bytes | None]]:
        yield items[0]
        raise OSError("store closed")

    passes = [items, broken()]
    worker.proc.rebuild(set(range(PARTITIONS)), lambda: passes.pop(0), defer_summaries=True)
    assert worker.proc.fill_summaries(10) == 0
    assert worker.proc.summaries_pending == 0
    assert [s.ticket_id for s in worker.proc.owned_states()] == [items[0][0]]


def test_fingerprint_changes_with_the_time_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tzdata update can move a zone's offsets, and with them every working hour.
    from slawatch.sla import calendar

    base = SlaEngine(load_policy(None)).fingerprint
    monkeypatch.setattr(calendar, "_zone_data_digest", lambda key: "an updated database")
    assert SlaEngine(load_policy(None)).fingerprint != base
