"""The project's own Kafka code against the real broker: topics, producer, consumer."""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import orjson
import pytest

from slawatch.exceptions import BrokerError
from slawatch.settings import Settings
from slawatch.streams.clients import make_admin, make_consumer, make_producer
from slawatch.streams.topics import changelog_topics, ensure_topics, follow_input_topic, prepare_topics, topic_names


def partition_counts(settings: Settings, names: list[str]) -> dict[str, int]:
    """Partition counts as the broker describes them; a topic created a moment ago may be
    described with none until its metadata has spread (seen once), so that is asked again."""
    admin = make_admin(settings)
    try:
        deadline = time.monotonic() + 10
        while True:
            counts = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(names)}
            if all(counts.values()) or time.monotonic() > deadline:
                return counts
            time.sleep(0.2)
    finally:
        admin.close()


def test_ensure_topics_creates_the_four_topics_with_the_configured_partitions(test_settings: Settings) -> None:
    settings = test_settings.model_copy(update={"partitions": 3})
    reports = ensure_topics(settings)
    assert [r.name for r in reports] == topic_names(settings)
    assert all(r.created for r in reports)
    assert partition_counts(settings, topic_names(settings)) == dict.fromkeys(topic_names(settings), 3)


def test_ensure_topics_twice_creates_nothing_the_second_time(test_settings: Settings) -> None:
    ensure_topics(test_settings)
    again = ensure_topics(test_settings)
    assert not any(r.created for r in again)
    assert {r.partitions for r in again} == {test_settings.partitions}


def test_a_worker_refuses_an_input_topic_with_another_partition_count(test_settings: Settings) -> None:
    ensure_topics(test_settings.model_copy(update={"partitions": 2}), names=[test_settings.topic_events])
    with pytest.raises(BrokerError, match="SLAWATCH_PARTITIONS=2"):
        ensure_topics(test_settings.model_copy(update={"partitions": 4}))


def unconfigured_partitions(settings: Settings) -> Settings:
    """The same settings as if no partition count had been configured anywhere."""
    values = settings.model_dump(exclude={"partitions"}, exclude_unset=True)
    return Settings(**values)


def test_a_worker_without_a_configured_count_follows_the_existing_input_topic(test_settings: Settings) -> None:
    ensure_topics(test_settings.model_copy(update={"partitions": 3}), names=[test_settings.topic_events])
    settings = follow_input_topic(unconfigured_partitions(test_settings))
    assert settings.partitions == 3
    reports = ensure_topics(settings)
    assert {r.name: r.partitions for r in reports}[settings.topic_ticks] == 3


def test_a_worker_start_follows_the_input_topic_and_creates_the_rest_with_its_count(test_settings: Settings) -> None:
    ensure_topics(test_settings.model_copy(update={"partitions": 3}), names=[test_settings.topic_events])
    settings = prepare_topics(unconfigured_partitions(test_settings))
    assert settings.partitions == 3
    again = ensure_topics(settings)
    assert {r.name: (r.partitions, r.created) for r in again} == {name: (3, False) for name in topic_names(settings)}


def test_a_worker_start_creates_the_table_changelogs_with_fausts_configuration(test_settings: Settings) -> None:
    """Several workers starting on a fresh app id then find them in their metadata."""
    settings = prepare_topics(test_settings.model_copy(update={"partitions": 3}))
    wanted = changelog_topics(settings)
    assert partition_counts(settings, sorted(wanted)) == dict.fromkeys(wanted, 3)
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = make_admin(settings)
    try:
        for name, config in wanted.items():
            described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
            found = described["topic"][name]  # kafka-python 3.0: {kind: {name: {key: {"value": ...}}}}
            assert {key: found[key]["value"] for key in config} == config
    finally:
        admin.close()
    prepare_topics(settings)  # a second start leaves them as they are


def _start_warnings_with_topic(settings: Settings, caplog: pytest.LogCaptureFixture, topic: str) -> str:
    """The warnings of a worker start (prepare_topics) when ``topic`` already exists."""
    ensure_topics(settings.model_copy(update={"partitions": 1}), names=[topic])
    with caplog.at_level(logging.WARNING, logger="slawatch.streams.topics"):
        prepare_topics(settings)
    return caplog.text


def test_a_worker_start_warns_of_window_tables_another_worker_of_the_app_keeps(
    test_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    stray = f"{test_settings.app_id}-windows-600s-changelog"
    text = _start_warnings_with_topic(test_settings, caplog, stray)
    assert stray in text and "SLAWATCH_WINDOW_SIZES_SECONDS" in text


def test_a_worker_start_with_only_its_own_window_tables_says_nothing_of_them(
    test_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    mine = f"{test_settings.app_id}-windows-{test_settings.window_sizes_seconds[0]}s-changelog"
    assert "window tables" not in _start_warnings_with_topic(test_settings, caplog, mine)


def test_a_configured_partition_count_is_kept_when_the_input_topic_differs(test_settings: Settings) -> None:
    ensure_topics(test_settings.model_copy(update={"partitions": 3}), names=[test_settings.topic_events])
    assert follow_input_topic(test_settings).partitions == test_settings.partitions


def test_without_an_input_topic_the_default_count_is_used(test_settings: Settings) -> None:
    settings = unconfigured_partitions(test_settings)
    assert follow_input_topic(settings).partitions == Settings.model_fields["partitions"].default


def test_an_unreachable_broker_is_a_clear_error(test_settings: Settings) -> None:
    settings = test_settings.model_copy(update={"broker": "127.0.0.1:9"})
    with pytest.raises(BrokerError, match="slawatch kafka start"):
        ensure_topics(settings, timeout=3)


def test_following_the_input_topic_on_an_unreachable_broker_is_the_same_clear_error(
    test_settings: Settings,
) -> None:
    settings = unconfigured_partitions(test_settings.model_copy(update={"broker": "127.0.0.1:9"}))
    with pytest.raises(BrokerError, match="slawatch kafka start"):
        follow_input_topic(settings, timeout=3)


def test_produced_events_come_back_keyed_and_per_ticket_in_order(test_settings: Settings) -> None:
    ensure_topics(test_settings, names=[test_settings.topic_events])
    producer = make_producer(test_settings)
    sent: dict[bytes, list[int]] = defaultdict(list)
    for seq in range(60):
        key = f"T-{seq % 7}".encode()
        producer.send(test_settings.topic_events, key=key, value=orjson.dumps({"seq": seq}))
        sent[key].append(seq)
    producer.flush()
    producer.close()

    consumer = make_consumer(test_settings, test_settings.topic_events)
    got: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    deadline = time.monotonic() + 30
    try:
        while sum(map(len, got.values())) < 60 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    got[record.key].append(orjson.loads(record.value)["seq"])
                    partitions[record.key].add(record.partition)
    finally:
        consumer.close()
    assert got == sent
    assert all(len(p) == 1 for p in partitions.values())  # one ticket, one partition
