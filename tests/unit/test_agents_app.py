"""The Faust wiring, driven through ``agent.test_context()`` with the memory store.

No broker: the alert and dead-letter sends are replaced by lists, which is also how
these tests see what the agent published. pytest-asyncio is not used (Faust's recipe
relies on a fixture pytest-asyncio 1.x removed); each test runs its own loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest
from faust.types import Message
from sla_scenarios import created, ev, ts

from slawatch.agents.app import SlaWorker, broker_credentials, create_worker
from slawatch.agents.views import health, window_totals
from slawatch.agents.windows import aggregate
from slawatch.settings import Settings
from slawatch.sla.alerts import Alert
from slawatch.sla.policy import load_policy
from slawatch.streams.codecs import Tick, encode_tick


@pytest.fixture
def worker() -> Iterator[tuple[SlaWorker, list[Alert], list[bytes]]]:
    now = [ts("2026-11-16 11:00")]
    w = create_worker(Settings(app_id="unit-app", partitions=4), load_policy(None), clock=lambda: now[0])
    alerts: list[Alert] = []
    dlq: list[bytes] = []

    async def publish(batch: Sequence[Alert]) -> None:
        alerts.extend(batch)

    async def dead_letter(_key: bytes | None, value: bytes) -> None:
        dlq.append(value)

    w.processor._publish_alerts = publish  # no broker in unit tests
    w.processor._dead_letter = dead_letter
    w.processor.offsets._log_start = None  # nothing committed in a test context: do not ask a broker
    w.now = now  # type: ignore[attr-defined]
    yield w, alerts, dlq


def _put(w: SlaWorker, *messages: Any, topic: str | None = None) -> None:
    agent = w.app.agents["ingest"]

    async def run() -> None:
        async with agent.test_context() as ctx:
            if topic is not None:
                # The test context names its messages "<internal>" (the source has two
                # topics); the agent tells ticks from events by topic.
                original = ctx.to_message

                def on_topic(*args: Any, **kwargs: Any) -> Any:
                    message = original(*args, **kwargs)
                    message.topic = topic
                    return message

                ctx.to_message = on_topic
            for m in messages:
                value = orjson.dumps(m) if isinstance(m, dict) else m
                await ctx.put(value, key=b"k")

    asyncio.run(run())


def test_agent_applies_events_windows_and_dead_letters(worker: Any) -> None:
    w, alerts, dlq = worker
    _put(
        w,
        created("2026-11-16 10:00", ticket="T1", channel="phone"),
        ev("ticket.responded", "2026-11-16 10:30", "T1"),
        b"{not json",
    )
    assert "T1" in w.app.tables["tickets"]
    assert [orjson.loads(d)["reason"]["code"] for d in dlq] == ["invalid_json"]
    assert alerts == []
    # test_context puts every message on partition 0.
    doc = window_totals(w, w.now[0])
    assert [win["size_seconds"] for win in doc["windows"]] == [60, 3600]
    hour = doc["windows"][1]
    assert (hour["current"]["start"], hour["current"]["end"]) == (
        "2026-11-16T03:00:00.000+00:00", "2026-11-16T04:00:00.000+00:00",
    )  # fmt: skip
    assert hour["previous"]["end"] == hour["current"]["start"]
    w.index.reset({0}, [])  # the worker owns partition 0 (normally done on recovery)
    doc = window_totals(w, w.now[0])
    totals = doc["windows"][0]["current"]["totals"]
    assert totals == {
        "normal|repair|phone": {
            "response_count": 1.0, "response_sum": 1800.0, "resolution_count": 0.0,
            "resolution_sum": 0.0, "breaches": 0.0, "response_mean_seconds": 1800.0,
            "resolution_mean_seconds": 0.0,
        }
    }  # fmt: skip


def test_tick_through_the_agent_publishes_alerts(worker: Any) -> None:
    w, alerts, _ = worker
    _put(w, created("2026-11-16 10:00", ticket="T1"))
    w.now[0] = ts("2026-11-16 14:00") + 1
    _put(w, encode_tick(Tick(("T1",), w.now[0])), topic=w.settings.topic_ticks)
    assert [a.kind for a in alerts] == ["sla.warning", "sla.breached", "sla.escalated"]


def test_ticket_changelog_round_trips_state_bytes(worker: Any) -> None:
    """Recovery hands back exactly the bytes written (a JSON codec would give a dict)."""
    w, _, _ = worker
    topic = w.app.tables["tickets"].changelog_topic
    state = b'{"t": "T1"}'
    message = Message(
        topic=topic.get_topic_name(), partition=0, offset=0, timestamp=0.0, timestamp_type=0,
        headers=None, key=b'"T1"', value=state, checksum=None,
    )  # fmt: skip
    assert topic.schema.loads_value(w.app, message) == state
    assert topic.schema.loads_key(w.app, message) == "T1"


def test_health_document(worker: Any) -> None:
    w, _, _ = worker
    w.index.reset({0, 2}, [])
    doc = health(w)
    assert doc["partitions"] == [0, 2] and doc["deadline_index_size"] == 0
    assert doc["last_event_processed_at"] is None


def test_calendar_years_are_exported_from_start_up(worker: Any) -> None:
    """Every policy calendar's current year is 0 (covered) or 1 before any event."""
    w, _, _ = worker
    policy = w.engine.policy
    for name, label in (("business", "business"), ("24x7", "24x7")):
        lacks = 2026 in policy.calendars[name].missing_years(2026, 2026)
        sample = w.registry.get_sample_value("slawatch_calendar_year_missing", {"calendar": label, "year": "2026"})
        assert sample == (1 if lacks else 0), name


def test_aggregate_sums_owned_partitions_only() -> None:
    values = [
        ("0|normal|repair|phone", {"breaches": 1}),
        ("1|normal|repair|phone", {"breaches": 2}),
        ("2|normal|repair|phone", {"breaches": 4}),
    ]
    assert aggregate(values, {0, 1})["normal|repair|phone"]["breaches"] == 3


def test_credentials_follow_security_protocol(tmp_path: Any) -> None:
    assert broker_credentials(Settings()) is None
    creds = broker_credentials(
        Settings(
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
            sasl_username="u", sasl_password="p",  # type: ignore[arg-type]
        )
    )  # fmt: skip
    assert creds is not None
    assert creds.mechanism.value == "SCRAM-SHA-256"  # type: ignore[attr-defined]
    assert creds.username == "u"  # type: ignore[attr-defined]


def test_the_range_reader_speaks_tls_like_the_worker() -> None:
    from slawatch.streams.range_reader import RangeReader

    plain = RangeReader(Settings())._options()
    assert "ssl_context" not in plain and "ssl_cafile" not in plain
    tls = RangeReader(Settings(security_protocol="SSL"))._options()
    assert isinstance(tls["ssl_context"], ssl.SSLContext) and "ssl_cafile" not in tls
    assert tls["security_protocol"] == "SSL"


def test_the_range_readers_admin_client_takes_the_security_settings() -> None:
    """The group's committed offset is asked with an admin client: built from the same
    options, less the consumer's own, or a secured cluster would refuse the question."""
    from aiokafka.admin import AIOKafkaAdminClient

    from slawatch.streams.range_reader import RangeReader

    settings = Settings(
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password="p"
    )
    options = RangeReader(settings)._admin_options()
    assert "group_id" not in options and options["sasl_plain_username"] == "u"

    async def build() -> None:
        AIOKafkaAdminClient(**options)  # every option is one the admin client takes (else TypeError)

    asyncio.run(build())


def test_health_counts_a_stalled_history_partition_with_input_waiting_as_on_event_time(worker: Any) -> None:
    w, _, _ = worker
    w.processor.horizon.seen(1, w.now[0] - 10 * 86400, w.now[0])  # partition 1 replays history
    w.now[0] += 600  # ten minutes without a message from it
    w.input_waiting = lambda partition: False
    assert health(w)["partitions_on_event_time"] == 0
    w.input_waiting = lambda partition: partition == 1  # Kafka still holds its next lines
    assert health(w)["partitions_on_event_time"] == 1


def test_input_counts_as_waiting_after_an_assignment_until_the_broker_says_how_far_it_goes(worker: Any) -> None:
    """A partition just assigned, with no watermark known yet, is not taken for quiet (its
    thresholds would fire on the wall clock while a replay still feeds it), but not forever."""
    w, _, _ = worker
    assert w.input_waiting(0) is False  # never assigned: nothing to wait for
    w.rebuilt_at = w.now[0]  # an assignment's recovery just ended
    assert w.input_waiting(0) is True
    w.now[0] += 31  # catch_up_max_wait (30 s) without any reading
    assert w.input_waiting(0) is False


def test_input_waiting_follows_the_log_end_the_broker_gave(worker: Any) -> None:
    w, _, _ = worker
    w.rebuilt_at = w.now[0]
    w.input_ends[0] = 10  # offsets 0-9 in the partition
    w.processor.offsets.processed[0] = 5
    assert w.input_waiting(0) is True
    w.processor.offsets.processed[0] = 9
    assert w.input_waiting(0) is False
