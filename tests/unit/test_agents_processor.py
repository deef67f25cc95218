"""The ingest agent's per-message logic (TicketProcessor) without Kafka or Faust.

The table is a dict and the sinks are lists, so each test states exactly what leaves
the process for one message, and in which order.
"""

from __future__ import annotations

import asyncio
import base64
import tracemalloc
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sla_scenarios import created, ev, ts

from slawatch.agents.index import DeadlineIndex
from slawatch.agents.processor import TicketProcessor, pack_state, unpack_state
from slawatch.agents.windows import Increments
from slawatch.metrics import LabelBounds, build_metrics
from slawatch.settings import Settings
from slawatch.sla.alerts import Alert
from slawatch.sla.engine import SlaEngine, TicketState
from slawatch.sla.policy import load_policy
from slawatch.streams.codecs import Tick, encode_tick
from slawatch.streams.range_reader import RereadRecord
from slawatch.streams.topics import default_partition


class Harness:
    def __init__(
        self,
        now: float,
        *,
        log: dict[int, RereadRecord] | None = None,
        log_start: int | None = None,
        retain_closed: int = 0,
        input_partitions: int | None = None,
    ) -> None:
        """``log``: what the broker holds by offset, for gaps the processor re-reads
        (None: no re-reader, as when the worker cannot reach the broker); ``log_start``:
        the partition's first offset, as the broker tells it (None: not asked)."""
        self.now = now
        self.log = log
        self.first_offset = log_start
        #: The committed offset per partition the processor asks for (none by default).
        self.committed: dict[int, int] = {}
        self.rereads: list[tuple[int, int]] = []
        self.filled: list[tuple[int, int]] = []
        self.order: list[str] = []
        self.alerts: list[Alert] = []
        self.dlq: list[tuple[bytes | None, dict[str, Any]]] = []
        self.window_adds: list[Increments] = []
        self.tickets: dict[str, bytes] = _Recording(self.order)
        self.registry = CollectorRegistry()
        bounds = LabelBounds.from_settings(Settings())
        self.index = DeadlineIndex()
        self.engine = SlaEngine(load_policy(None))
        self.proc = TicketProcessor(
            engine=self.engine, tickets=self.tickets, index=self.index, windows=self,
            metrics=build_metrics(self.registry, bounds), bounds=bounds,
            publish_alerts=self._publish, dead_letter=self._dead_letter, clock=lambda: self.now,
            reread=self._reread if log is not None else None, on_gap_filled=self._filled,
            log_start=self._log_start if log_start is not None else None,
            last_committed=self._committed, retain_closed=retain_closed, input_partitions=input_partitions,
        )  # fmt: skip
        self.offset = 0

    async def _committed(self, partition: int) -> int | None:
        return self.committed.get(partition)

    async def _log_start(self, topic: str, partition: int) -> int:
        assert self.first_offset is not None
        return self.first_offset

    async def _reread(self, topic: str, partition: int, start: int, end: int) -> list[RereadRecord]:
        assert self.log is not None
        self.rereads.append((start, end))
        return [self.log[o] for o in range(start, end) if o in self.log]

    async def _filled(self, topic: str, partition: int, start: int, end: int) -> None:
        self.filled.append((start, end))

    async def _publish(self, alerts: Sequence[Alert]) -> None:
        self.order.append("alerts")
        self.alerts.extend(alerts)

    async def _dead_letter(self, key: bytes | None, value: bytes) -> None:
        self.dlq.append((key, orjson.loads(value)))

    def add(self, incs: Increments) -> None:
        self.window_adds.append(incs)

    def event(self, value: bytes | dict[str, Any] | None, partition: int = 3, key: bytes | None = None) -> None:
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        if key is None and isinstance(value, dict):
            key = str(value.get("ticket_id", "")).encode()
        self.offset += 1
        asyncio.run(self.proc.on_event(raw, key=key, topic="in", partition=partition, offset=self.offset))

    def tick(self, ticket: str, now: float, partition: int = 3) -> None:
        asyncio.run(self.proc.on_tick(encode_tick(Tick((ticket,), now)), partition=partition))

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


class _Recording(dict[str, bytes]):
    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self._order = order

    def __setitem__(self, key: str, value: bytes) -> None:
        self._order.append("state")
        super().__setitem__(key, value)


def test_invalid_message_is_dead_lettered_with_reason_origin_and_original_bytes() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(b'{"event_id": "e1", "type": "ticket.nope"', key=b"T9")
    [(key, record)] = h.dlq
    assert key == b"T9"
    assert record["reason"]["code"] == "invalid_json"
    assert record["reason"]["message"]
    assert base64.b64decode(record["original"]["base64"]) == b'{"event_id": "e1", "type": "ticket.nope"'
    assert record["original"]["text"] == '{"event_id": "e1", "type": "ticket.nope"'
    assert (record["topic"], record["partition"], record["offset"]) == ("in", 3, 1)
    assert record["key"] == "T9"
    assert record["dead_lettered_at"].endswith("+00:00")
    assert h.tickets == {}
    assert h.sample("slawatch_events_dead_lettered_total", reason="invalid_json") == 1


def test_non_utf8_bytes_round_trip_through_base64_and_have_no_text() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    raw = b"\xff\xfe\x00garbage"
    h.event(raw, key=b"\xff")
    [(_, record)] = h.dlq
    assert base64.b64decode(record["original"]["base64"]) == raw
    assert record["original"]["text"] is None
    assert record["key"] is None and base64.b64decode(record["key_base64"]) == b"\xff"


def test_contract_violation_names_the_field() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(ev("ticket.created", "2026-11-16 10:00", priority="urgent"))  # category missing
    [(_, record)] = h.dlq
    assert record["reason"]["code"] == "missing_field"
    assert record["reason"]["field"] == "category"


def test_tombstone_is_dead_lettered_not_crashing() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(None, key=b"T1")
    [(_, record)] = h.dlq
    assert record["original"] == {"base64": None, "text": None}


def test_engine_exception_is_dead_lettered_as_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(ts("2026-11-16 10:00"))

    def boom(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(h.engine, "apply", boom)
    h.event(created("2026-11-16 10:00", ticket="T1"))
    [(_, record)] = h.dlq
    assert record["reason"]["code"] == "internal_error"
    assert h.tickets == {}


def test_duplicate_event_id_is_counted_and_not_applied_twice() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    first = created("2026-11-16 10:00", ticket="T1")
    h.event(first)
    before = h.tickets["T1"]
    h.event(first)
    assert h.tickets["T1"] == before
    assert h.sample("slawatch_events_duplicate_total") == 1
    assert h.sample("slawatch_events_applied_total", type="ticket.created") == 1


def test_state_records_partition_and_index_holds_next_threshold() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"), partition=5)
    state = unpack_state(h.tickets["T1"])
    assert state.partition == 5
    assert h.index.next_instant(5, "T1") == ts("2026-11-16 13:12")  # normal: warn at 0.8 x 4 h


def test_late_event_fires_thresholds_before_it_with_their_own_instants_then_stores() -> None:
    h = Harness(ts("2026-11-17 09:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.order.clear()
    h.event(ev("ticket.responded", "2026-11-16 13:30", "T1"))
    assert [(a.kind, a.fired_at) for a in h.alerts] == [("sla.warning", ts("2026-11-16 13:12"))]
    assert h.order == ["alerts", "state"]  # delivery first: see processor docstring
    assert h.index.next_instant(3, "T1") is not None  # resolution clock still runs


def test_tick_advances_to_its_instant_and_alerts_carry_threshold_instants() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.now = ts("2026-11-16 14:00") + 0.5
    h.tick("T1", h.now)
    kinds = [(a.kind, a.level, a.fired_at) for a in h.alerts]
    assert kinds == [
        ("sla.warning", None, ts("2026-11-16 13:12")),
        ("sla.breached", None, ts("2026-11-16 14:00")),
        ("sla.escalated", 1, ts("2026-11-16 14:00")),
    ]
    assert h.index.next_instant(3, "T1") == ts("2026-11-16 16:00")
    # A repeated tick (at-least-once) fires nothing new.
    h.tick("T1", h.now)
    assert len(h.alerts) == 3
    assert h.sample("slawatch_alerts_published_total", kind="sla.breached") == 1
    # Breaches feed the windows.
    assert any("breaches" in fields for incs in h.window_adds for fields in incs.values())


def test_one_tick_for_many_tickets_publishes_all_alerts_once_before_any_state_write() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    for t in ("T1", "T2", "T3"):
        h.event(created("2026-11-16 10:00", ticket=t))
    h.order.clear()
    h.now = ts("2026-11-16 13:12") + 1
    asyncio.run(h.proc.on_tick(encode_tick(Tick(("T1", "GONE", "T2", "T3"), h.now)), partition=3))
    assert sorted((a.ticket_id, a.kind) for a in h.alerts) == [
        ("T1", "sla.warning"), ("T2", "sla.warning"), ("T3", "sla.warning"),
    ]  # fmt: skip
    assert h.order == ["alerts", "state", "state", "state"]
    assert {h.index.next_instant(3, t) for t in ("T1", "T2", "T3")} == {ts("2026-11-16 14:00")}


def test_tick_from_a_worker_that_had_applied_more_input_waits_for_that_input() -> None:
    # After a crash or a rebalance, the ticks of the previous owner replay in no common
    # order with the input; a tick must not overtake input its sender had applied.
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.now = ts("2026-11-16 13:12") + 1
    ahead = encode_tick(Tick(("T1",), h.now, input_offset=h.offset + 1))
    asyncio.run(h.proc.on_tick(ahead, partition=3, input_done=h.offset))
    assert h.alerts == []
    assert h.sample("slawatch_ticks_deferred_total") == 1
    assert h.index.next_instant(3, "T1") == ts("2026-11-16 13:12")  # ticked again later
    caught_up = encode_tick(Tick(("T1",), h.now, input_offset=h.offset))
    asyncio.run(h.proc.on_tick(caught_up, partition=3, input_done=h.offset))
    assert [a.kind for a in h.alerts] == ["sla.warning"]


def test_tick_for_unknown_ticket_is_dropped_from_the_index() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.index.set(3, "GONE", 1.0)
    h.tick("GONE", ts("2026-11-16 10:00"))
    assert h.index.next_instant(3, "GONE") is None
    assert h.alerts == []


def test_garbage_on_the_ticks_topic_is_ignored() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    asyncio.run(h.proc.on_tick(b"nope", partition=0))
    assert h.alerts == [] and h.dlq == []


def test_response_feeds_response_time_window() -> None:
    h = Harness(ts("2026-11-16 11:00"))
    h.event(created("2026-11-16 10:00", ticket="T1", channel="phone"))
    h.event(ev("ticket.responded", "2026-11-16 10:30", "T1"))
    [incs] = h.window_adds
    assert incs == {"3|normal|repair|phone": {"response_count": 1.0, "response_sum": 1800.0}}


def test_closed_ticket_past_retention_is_deleted() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.event(ev("ticket.resolved", "2026-11-16 10:10", "T1"))
    h.event(ev("ticket.closed", "2026-11-16 10:20", "T1"))
    assert "T1" in h.tickets
    h.now = ts("2026-12-17 10:21")  # 31 days later, and traffic goes on
    h.event(created("2026-12-17 10:21", ticket="T2"))
    assert h.proc.expired_tickets(h.now) == [(3, "T1")]
    asyncio.run(h.proc.on_tick(encode_tick(Tick(("T1",), h.now, "expire")), partition=3))
    assert "T1" not in h.tickets
    assert h.proc.expired_tickets(h.now) == []


def test_the_most_recently_closed_tickets_are_kept_past_retention_the_longest_closed_go_first() -> None:
    h = Harness(ts("2026-11-16 10:00"), retain_closed=2)
    for i, day in enumerate(("16", "17", "18")):
        h.event(created(f"2026-11-{day} 10:00", "major", ticket=f"T{i}"))
        h.event(ev("ticket.responded", f"2026-11-{day} 10:05", f"T{i}"))
        h.event(ev("ticket.closed", f"2026-11-{day} 10:20", f"T{i}"))
    h.now = ts("2027-01-30 10:00")  # all three closed over 30 days ago
    h.event(created("2027-01-30 10:00", ticket="T9"))
    assert h.proc.expired_tickets(h.now) == [(3, "T0")]


def test_under_the_closed_ticket_budget_nothing_is_forgotten() -> None:
    h = Harness(ts("2026-11-16 10:00"), retain_closed=1)
    h.event(created("2026-11-16 10:00", "major", ticket="T1"))
    h.event(ev("ticket.responded", "2026-11-16 10:05", "T1"))
    h.event(ev("ticket.closed", "2026-11-16 10:20", "T1"))
    h.now = ts("2027-01-30 10:00")
    h.event(created("2027-01-30 10:00", ticket="T2"))
    assert h.proc.expired_tickets(h.now) == []


def test_retention_is_judged_on_event_time_so_a_replay_of_old_history_keeps_its_tickets() -> None:
    h = Harness(ts("2026-11-16 10:00") + 300 * 86400)  # the wall clock: ten months on
    h.event(created("2026-11-16 10:00", "urgent", ticket="T1"))
    h.event(ev("ticket.responded", "2026-11-16 10:10", "T1"))
    h.event(ev("ticket.closed", "2026-11-16 11:00", "T1"))
    assert "T1" in h.tickets and h.proc.expired_tickets(h.now) == []
    h.event(ev("ticket.reopened", "2026-11-17 09:00", "T1"))  # found: its resolution clock runs again
    assert h.engine.next_due(unpack_state(h.tickets["T1"])) is not None


def test_retention_waits_for_the_first_event_after_a_start() -> None:
    h = Harness(ts("2026-11-16 10:00"))  # a restarted worker: no event applied yet
    assert h.proc._retention_clock(h.now) is None
    h.event(created("2026-11-16 09:00", ticket="T1"))
    assert h.proc._retention_clock(h.now) == ts("2026-11-16 09:00")


def test_rebuild_indexes_only_owned_partitions_and_drops_revoked() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="A"), partition=0)
    h.event(created("2026-11-16 10:00", ticket="B"), partition=1)
    h.event(created("2026-11-16 10:00", ticket="C"), partition=2)
    assert h.proc.rebuild({0, 2}) == 2
    assert h.index.partitions == frozenset({0, 2})
    assert h.index.next_instant(1, "B") is None
    assert sorted(s.ticket_id for s in h.proc.owned_states()) == ["A", "C"]
    assert h.sample("slawatch_owned_partitions") == 2
    h.proc.revoke({2})
    assert sorted(s.ticket_id for s in h.proc.owned_states()) == ["A"]
    assert len(h.index) == 1


def test_at_risk_lists_warned_not_breached_with_deadline() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.now = ts("2026-11-16 13:30")
    h.tick("T1", h.now)
    [row] = h.proc.at_risk()
    assert row["ticket_id"] == "T1" and row["metric"] == "response"
    assert row["deadline"] == ts("2026-11-16 14:00")


def test_stored_state_is_compressed_and_reads_back_equal() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    raw = h.tickets["T1"]
    state = unpack_state(raw)
    assert len(raw) < len(state.to_bytes())
    assert pack_state(state, next_due=h.engine.next_due(state), fingerprint=h.engine.fingerprint) == raw


def test_plain_json_states_from_an_older_changelog_still_read() -> None:
    # Changelogs written before compression hold TicketState.to_bytes() as is.
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    plain = unpack_state(h.tickets["T1"]).to_bytes()
    h.tickets["T1"] = plain
    assert h.proc.rebuild({3}) == 1
    h.event(ev("ticket.responded", "2026-11-16 10:30", ticket="T1"))
    assert unpack_state(h.tickets["T1"]).clocks["response"].state == "stopped"


def test_stored_state_is_an_exact_size_copy_not_orjsons_working_buffer() -> None:
    # orjson.dumps returns its >= 4 KiB working buffer; the table keeps states for as long
    # as tickets are open, so the processor stores a copy of the value's own length.
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T0"))  # warm caches outside the trace
    tracemalloc.start()
    try:
        h.event(created("2026-11-16 10:00", ticket="T1"))
        big = [t for t in tracemalloc.take_snapshot().traces if t.size >= 4096]
    finally:
        tracemalloc.stop()
    assert unpack_state(h.tickets["T1"]).ticket_id == "T1"
    assert big == [], "a >= 4 KiB allocation outlived the event (the state's bytes?)"


def test_memory_holds_summaries_and_the_gauges_read_them() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.proc.rebuild({3})
    h.proc.metrics.register_state_source(h.proc.state_snapshot, lambda: h.now, h.proc.followups)
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.event(created("2026-11-16 10:00", ticket="T2", priority="urgent"))
    h.event(ev("ticket.resolved", "2026-11-16 11:00", ticket="T2"))
    [one, two] = sorted(h.proc.owned_states(), key=lambda s: s.ticket_id)
    assert not isinstance(one, TicketState) and one.dims is not None
    assert (one.status, two.status) == ("open", "resolved")
    assert h.sample("slawatch_open_tickets", status="open", priority="normal", department="repair") == 1
    h.now = ts("2026-11-30 10:00")  # the resolved ticket's survey and visit are overdue by now
    assert h.sample("slawatch_followups_due", kind="survey", state="overdue") == 1
    assert h.sample("slawatch_followups_due", kind="visit", state="overdue") == 1
    assert h.proc.expired_tickets(h.now) == []


def _record(offset: int, event: dict[str, Any]) -> RereadRecord:
    return RereadRecord(offset, str(event["ticket_id"]).encode(), orjson.dumps(event))


def test_offsets_the_stream_jumps_over_are_read_again_and_applied_before_the_next_message() -> None:
    # Faust 0.15 was seen skipping two messages right after a take-over rebalance.
    second = created("2026-11-16 10:00", ticket="T2")
    resolved = ev("ticket.resolved", "2026-11-16 10:05", ticket="T1")
    h = Harness(ts("2026-11-16 10:00"), log={2: _record(2, second), 4: _record(4, resolved)})
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    h.offset = 4
    h.event(created("2026-11-16 10:00", ticket="T3"))  # offset 5: 2, 3 and 4 never came; 3 is a marker
    assert h.rereads == [(2, 5)] and h.filled == [(2, 5)]
    assert set(h.tickets) == {"T1", "T2", "T3"}
    assert {s.ticket_id: s.status for s in h.proc.owned_states()}["T1"] == "resolved"  # the re-read resolution applied
    assert h.sample("slawatch_input_offsets_skipped_total") == 3
    assert h.sample("slawatch_input_messages_reread_total") == 2
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 0
    assert h.proc.processed_offsets[3] == 5


def test_a_taken_over_partition_with_nothing_committed_is_applied_from_its_log_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Seen in the take-over integration test: the dead worker had committed nothing on a
    # partition, and the survivor's stream began at the messages sent after the take-over.
    first = created("2026-11-16 10:00", ticket="T1")
    response = ev("ticket.responded", "2026-11-16 10:05", ticket="T1")
    h = Harness(ts("2026-11-16 10:00"), log={2: _record(2, first), 3: _record(3, response)}, log_start=2)
    h.offset = 7
    with caplog.at_level("WARNING"):
        h.event(ev("ticket.resolved", "2026-11-16 10:30", ticket="T1"))  # offset 8, the first delivered
    assert h.rereads == [(2, 8)]
    [state] = h.proc.owned_states()
    assert state.status == "resolved" and state.created_at == ts("2026-11-16 10:00")
    assert not [a for a in h.alerts if a.metric == "response"]  # the response (re-read) met the deadline
    assert "nothing was committed, yet the stream began at offset 8" in caplog.text
    assert h.sample("slawatch_input_offsets_skipped_total") == 6


def test_a_partition_whose_stream_begins_at_its_log_start_reads_nothing_again() -> None:
    h = Harness(ts("2026-11-16 10:00"), log={}, log_start=1)
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    h.event(created("2026-11-16 10:00", ticket="T2"))
    assert h.rereads == [] and h.sample("slawatch_input_offsets_skipped_total") == 0


def test_the_first_message_after_an_assignment_follows_the_committed_offset() -> None:
    second = created("2026-11-16 10:00", ticket="T2")
    h = Harness(ts("2026-11-16 10:00"), log={5: _record(5, second)}, log_start=0)
    h.offset = 5
    h.committed[3] = 4
    h.event(created("2026-11-16 10:00", ticket="T3"))  # offset 6; offset 5 never came
    assert h.rereads == [(5, 6)] and set(h.tickets) == {"T2", "T3"}


def test_a_partition_taken_over_at_its_committed_offset_reads_nothing_again() -> None:
    """The previous owner committed 1107: the stream's first message here, 1108, follows it."""
    h = Harness(ts("2026-11-16 10:00"), log={}, log_start=0)
    h.offset = 1107
    h.committed[3] = 1107
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1108
    assert h.rereads == [] and "T1" in h.tickets


def test_an_unreadable_committed_offset_falls_back_to_the_log_start(caplog: pytest.LogCaptureFixture) -> None:
    earlier = created("2026-11-16 09:00", ticket="T0")
    h = Harness(ts("2026-11-16 10:00"), log={0: _record(0, earlier)}, log_start=0)

    async def unreachable(partition: int) -> int | None:
        raise TimeoutError("coordinator gone")

    h.proc.offsets._last_committed = unreachable
    h.offset = 1
    with caplog.at_level("WARNING"):
        h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 2: offsets 0..1 checked
    assert h.rereads == [(0, 2)] and set(h.tickets) == {"T0", "T1"}
    assert "could not read the committed offset" in caplog.text


def test_an_unknown_log_start_leaves_the_first_message_unchecked(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(ts("2026-11-16 10:00"), log={}, log_start=0)

    async def unreachable(topic: str, partition: int) -> int:
        raise TimeoutError("broker gone")

    h.proc.offsets._log_start = unreachable
    h.offset = 4
    with caplog.at_level("WARNING"):
        h.event(created("2026-11-16 10:00", ticket="T1"))
    assert "T1" in h.tickets and h.rereads == [] and "log start offset" in caplog.text


def test_a_gap_read_again_as_nothing_is_done_all_the_same() -> None:
    """Transaction markers: offsets without a message. Faust is told they are done, or a
    marker at the tail of a partition holds its committed offset one short."""
    h = Harness(ts("2026-11-16 10:00"), log={})
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    h.offset = 2
    h.event(created("2026-11-16 10:00", ticket="T2"))  # offset 3: 2 is a marker
    assert h.rereads == [(2, 3)] and h.filled == [(2, 3)]
    assert h.sample("slawatch_input_messages_reread_total") == 0
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 0


def test_a_gap_that_cannot_be_read_again_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(ts("2026-11-16 10:00"))  # no re-reader
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    h.offset = 4
    with caplog.at_level("ERROR"):
        h.event(created("2026-11-16 10:00", ticket="T2"))  # offset 5: 2, 3 and 4 never came
    assert h.sample("slawatch_input_offsets_skipped_total") == 3
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 3
    assert "jumped from offset 1 to 5" in caplog.text and set(h.tickets) == {"T1", "T2"}
    assert h.filled == []


def test_a_failing_re_read_leaves_the_gap_unrecovered_but_applies_the_message(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(ts("2026-11-16 10:00"), log={})

    async def broken(topic: str, partition: int, start: int, end: int) -> list[RereadRecord]:
        raise TimeoutError("broker gone")

    h.proc.offsets._reread = broken
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.offset = 3
    with caplog.at_level("ERROR"):
        h.event(created("2026-11-16 10:00", ticket="T2"))
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 2 and "T2" in h.tickets
    assert "could not be read again" in caplog.text


def test_reading_again_from_an_earlier_offset_is_not_a_skip() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.event(created("2026-11-16 10:00", ticket="T2"))
    h.offset = 0  # a rebalance seeks back to the committed offset
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.event(created("2026-11-16 10:00", ticket="T3"))
    assert h.sample("slawatch_input_offsets_skipped_total") == 0 and h.rereads == []


def test_a_catch_up_applies_the_requested_offsets_not_yet_applied() -> None:
    second = created("2026-11-16 10:00", ticket="T2")
    third = created("2026-11-16 10:00", ticket="T3")
    h = Harness(ts("2026-11-16 10:00"), log={2: _record(2, second), 3: _record(3, third)})
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    asyncio.run(h.proc.catch_up("in", 3, 1, 4))  # requested from 1: offset 1 is already applied
    assert h.rereads == [(2, 4)] and set(h.tickets) == {"T1", "T2", "T3"}
    assert h.proc.processed_offsets[3] == 3
    asyncio.run(h.proc.catch_up("in", 3, 2, 4))  # a repeated request finds nothing left to do
    assert h.rereads == [(2, 4)]


def test_messages_a_catch_up_applied_are_skipped_when_the_stream_hands_them_over_after_all() -> None:
    # The watchdog took a slow partition for a stuck one: the stream delivers the
    # re-read offsets later, and they must not count or dead-letter a second time.
    second = created("2026-11-16 10:00", ticket="T2")
    log = {2: _record(2, second), 3: RereadRecord(3, b"T9", b"{not json")}
    h = Harness(ts("2026-11-16 10:00"), log=log)
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    asyncio.run(h.proc.catch_up("in", 3, 2, 4))
    assert len(h.dlq) == 1 and set(h.tickets) == {"T1", "T2"}
    h.offset = 1
    h.event(second)  # offset 2, delivered after all
    h.event(b"{not json", key=b"T9")  # offset 3
    h.event(created("2026-11-16 10:00", ticket="T4"))  # offset 4: new input
    assert len(h.dlq) == 1
    assert h.sample("slawatch_events_duplicate_total") == 0
    assert set(h.tickets) == {"T1", "T2", "T4"} and h.proc.processed_offsets[3] == 4


def test_after_a_catch_up_a_stream_that_seeks_further_back_applies_as_before() -> None:
    second = created("2026-11-16 10:00", ticket="T2")
    h = Harness(ts("2026-11-16 10:00"), log={3: _record(3, second)})
    third = created("2026-11-16 10:00", ticket="T3")
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    h.event(third)  # offset 2
    asyncio.run(h.proc.catch_up("in", 3, 3, 4))
    h.offset = 1  # seeks back to offset 2: not re-read, so applied (a duplicate by event id)
    h.event(third)
    assert h.sample("slawatch_events_duplicate_total") == 1


def test_revoking_a_partition_forgets_what_was_re_read_there() -> None:
    second = created("2026-11-16 10:00", ticket="T2")
    h = Harness(ts("2026-11-16 10:00"), log={2: _record(2, second)})
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    asyncio.run(h.proc.catch_up("in", 3, 2, 3))
    h.proc.revoke({3})
    h.offset = 1  # assigned again: the stream restarts from the committed offset
    h.event(second)
    assert h.sample("slawatch_events_duplicate_total") == 1


def test_a_message_not_keyed_by_its_ticket_id_is_applied_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(ts("2026-11-16 10:00"))
    with caplog.at_level("WARNING"):
        h.event(created("2026-11-16 10:00", ticket="T1"), key=b"customer-42")
        h.event(created("2026-11-16 10:00", ticket="T2"), key=b"")
    assert set(h.tickets) == {"T1", "T2"}
    assert h.sample("slawatch_events_miskeyed_total") == 2
    assert caplog.text.count("not keyed by its ticket_id") == 1


def test_an_unkeyed_message_counts_as_miskeyed() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    raw = orjson.dumps(created("2026-11-16 10:00", ticket="T1"))
    asyncio.run(h.proc.on_event(raw, key=None, topic="in", partition=3, offset=1))
    assert h.sample("slawatch_events_miskeyed_total") == 1 and "T1" in h.tickets


def test_messages_keyed_by_their_ticket_id_are_not_miskeyed() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", ticket="工单-1"))
    h.event(b"{not json", key=b"T9")  # dead-lettered, so nothing to compare the key with
    assert h.sample("slawatch_events_miskeyed_total") == 0


def test_a_rightly_keyed_message_in_the_partition_murmur2_gives_is_not_mispartitioned() -> None:
    h = Harness(ts("2026-11-16 10:00"), input_partitions=8)
    h.event(created("2026-11-16 10:00", ticket="20261116001"), partition=default_partition(b"20261116001", 8))
    assert h.sample("slawatch_events_mispartitioned_total") == 0


def test_a_rightly_keyed_message_in_another_partition_is_applied_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CRC32 (librdkafka) producer beside a murmur2 one splits a ticket between partitions."""
    h = Harness(ts("2026-11-16 10:00"), input_partitions=8)
    elsewhere = (default_partition(b"20261116001", 8) + 1) % 8
    with caplog.at_level("WARNING"):
        h.event(created("2026-11-16 10:00", ticket="20261116001"), partition=elsewhere)
        h.event(ev("ticket.responded", "2026-11-16 10:05", ticket="20261116001"), partition=elsewhere)
    assert "20261116001" in h.tickets
    assert h.sample("slawatch_events_mispartitioned_total") == 2
    assert caplog.text.count("default partitioner (murmur2)") == 1
    assert "20261116001" not in caplog.text  # no customer data in logs


def test_a_miskeyed_message_is_not_counted_as_mispartitioned_too() -> None:
    h = Harness(ts("2026-11-16 10:00"), input_partitions=8)
    h.event(created("2026-11-16 10:00", ticket="T1"), key=b"customer-42", partition=default_partition(b"T1", 8) ^ 1)
    assert h.sample("slawatch_events_miskeyed_total") == 1
    assert h.sample("slawatch_events_mispartitioned_total") == 0


def test_a_catch_up_that_cannot_read_leaves_the_partition_where_it_was() -> None:
    h = Harness(ts("2026-11-16 10:00"))  # no re-reader
    h.event(created("2026-11-16 10:00", ticket="T1"))
    asyncio.run(h.proc.catch_up("in", 3, 2, 4))
    assert h.proc.processed_offsets[3] == 1  # the watchdog asks again later
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 2


def test_a_range_asked_for_again_and_again_counts_each_offset_once() -> None:
    h = Harness(ts("2026-11-16 10:00"))  # no re-reader: every attempt fails
    h.event(created("2026-11-16 10:00", ticket="T1"))  # offset 1
    for _ in range(3):
        asyncio.run(h.proc.catch_up("in", 3, 2, 4))
    asyncio.run(h.proc.catch_up("in", 3, 2, 6))  # more input arrived meanwhile
    assert h.sample("slawatch_input_offsets_skipped_total") == 4
    assert h.sample("slawatch_input_offsets_unrecovered_total") == 4


def test_a_ticket_whose_creation_has_not_come_is_counted_as_awaiting_it() -> None:
    h = Harness(ts("2026-11-16 10:00"))
    h.proc.rebuild({3})
    h.proc.metrics.register_state_source(h.proc.state_snapshot, lambda: h.now, h.proc.followups)
    h.event(ev("ticket.responded", "2026-11-16 09:50", ticket="T9"))  # its ticket.created is late
    assert h.sample("slawatch_tickets_awaiting_creation", waiting="lt_1h") == 1
    h.now = ts("2026-11-16 11:00")
    assert h.sample("slawatch_tickets_awaiting_creation", waiting="gt_1h") == 1
    h.event(created("2026-11-16 09:45", ticket="T9"))
    assert h.sample("slawatch_tickets_awaiting_creation", waiting="gt_1h") == 0
    assert h.sample("slawatch_open_tickets", status="open", priority="normal", department="repair") == 1


def test_a_clock_running_into_a_year_without_holiday_data_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(ts("2026-12-30 10:00"))
    h.event(created("2026-12-30 10:00", ticket="T1"))  # 5 working days: the deadline lies in 2027
    h.event(created("2026-12-30 11:00", ticket="T2"))
    assert h.sample("slawatch_calendar_year_missing", calendar="business", year="2027") == 1
    assert caplog.text.count("no holiday list for 2027") == 1


def test_each_input_message_tells_the_partitions_firing_horizon_its_event_time() -> None:
    h = Harness(ts("2026-12-01 10:00"))
    h.event(created("2026-11-02 09:30"), partition=2)
    assert h.proc.horizon.horizon(2, h.now) == ts("2026-11-02 09:30")
    h.now += 1.5
    h.event(b"not json", partition=2)  # still busy; its event time does not move
    h.now += 1.5
    assert h.proc.horizon.horizon(2, h.now) == ts("2026-11-02 09:30")
    h.proc.revoke({2})
    assert h.proc.horizon.horizon(2, h.now) == h.now


def test_alerts_of_an_event_time_tick_are_not_counted_as_late() -> None:
    """History fired on its own time is weeks behind the wall clock by design: its
    alerts stay out of slawatch_alert_delay_seconds (and SlawatchAlertDelayHigh)."""
    h = Harness(ts("2026-12-01 10:00"))
    h.event(created("2026-11-16 10:00", ticket="T1"))
    h.event(created("2026-11-16 10:00", ticket="T2"))
    at = ts("2026-11-16 14:00") + 1
    asyncio.run(h.proc.on_tick(encode_tick(Tick(("T1",), at, event_time=True)), partition=3))
    assert len(h.alerts) == 3
    assert h.sample("slawatch_alert_delay_seconds_count") == 0
    asyncio.run(h.proc.on_tick(encode_tick(Tick(("T2",), h.now)), partition=3))
    assert [a for a in h.alerts if a.ticket_id == "T2"]  # past when they arrived: not the timer's
    assert h.sample("slawatch_alert_delay_seconds_count") == 0
    h.event(created("2026-12-01 10:00", "major", ticket="T3"))  # live: its warning at 10:24
    h.now = ts("2026-12-01 10:24") + 0.25
    asyncio.run(h.proc.on_tick(encode_tick(Tick(("T3",), h.now)), partition=3))
    assert h.sample("slawatch_alert_delay_seconds_count") == 1
    assert h.sample("slawatch_alert_delay_seconds_sum") == pytest.approx(0.25)


def test_a_threshold_already_past_when_its_ticket_arrives_is_not_counted_as_a_late_alert() -> None:
    """A creation that comes 25 min late finds its 24-min warning past: the timer fires it
    at once, and the lateness is the input's (event lag), not the timer's."""
    h = Harness(ts("2026-11-16 10:25"))
    h.event(created("2026-11-16 10:00", priority="major"))
    h.now += 0.4
    h.tick("T1", h.now)
    assert [a.kind for a in h.alerts] == ["sla.warning"]
    assert h.alerts[0].fired_at == ts("2026-11-16 10:24")
    assert h.sample("slawatch_alert_delay_seconds_count") == 0
    h.now = ts("2026-11-16 10:30") + 0.3  # its breach, later, is the timer's again
    h.tick("T1", h.now)
    assert h.sample("slawatch_alert_delay_seconds_count") == 2  # breach and level 1
    assert h.sample("slawatch_alert_delay_seconds_sum") == pytest.approx(0.6)


def test_tickets_remembered_for_a_past_due_threshold_are_bounded_and_dropped_on_revoke(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slawatch.agents import processor

    monkeypatch.setattr(processor, "_PAST_DUE_MAX", 2)
    h = Harness(ts("2026-11-16 12:00"))
    for n in range(5):  # late creations whose ticks never come
        h.event(created("2026-11-16 10:00", priority="major", ticket=f"T{n}"))
    assert list(h.proc._past_due) == ["T3", "T4"]
    h.proc.revoke({3})
    assert h.proc._past_due == {}


def test_a_threshold_the_timer_already_owed_counts_its_delay_from_its_instant() -> None:
    """An event arriving after a threshold fell due, but dated before it, does not excuse
    the timer: the delay still counts from the threshold's instant."""
    h = Harness(ts("2026-11-16 10:00"))
    h.event(created("2026-11-16 10:00", priority="major"))
    h.now = ts("2026-11-16 10:24") + 2  # the warning is 2 s overdue
    h.event(ev("ticket.assigned", "2026-11-16 10:23", assignee="li"))
    h.tick("T1", h.now)
    assert [a.kind for a in h.alerts] == ["sla.warning"]
    assert h.sample("slawatch_alert_delay_seconds_sum") == pytest.approx(2)


def test_a_duplicate_with_a_later_time_does_not_move_the_partitions_event_time() -> None:
    h = Harness(ts("2026-12-01 10:00"))
    first = created("2026-11-02 09:30")
    h.event(first, partition=2)
    h.event({**first, "type": "ticket.responded", "occurred_at": "2026-11-02T11:00:00+08:00"}, partition=2)
    assert h.sample("slawatch_events_duplicate_total") == 1
    assert h.proc.horizon.horizon(2, h.now) == ts("2026-11-02 09:30")
    assert h.proc._retention_clock(h.now) == ts("2026-11-02 09:30")  # retention: applied events only
