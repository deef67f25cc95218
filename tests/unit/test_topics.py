"""Topic names the worker derives from its settings (no broker: pure functions)."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from slawatch.streams.topics import changelog_topics, default_partition, other_window_sizes, window_table_name


def test_window_tables_of_other_sizes_of_the_same_app_are_found() -> None:
    topics = ["slawatch-windows-60s-changelog", "slawatch-windows-600s-changelog", "slawatch-tickets-changelog"]
    assert other_window_sizes(topics, "slawatch", (60, 3600)) == [600]


def test_window_tables_of_another_app_id_are_not_this_apps() -> None:
    topics = ["other-windows-600s-changelog", "slawatch.x-windows-900s-changelog"]
    assert other_window_sizes(topics, "slawatch", (60,)) == []
    assert other_window_sizes(topics, "slawatch.x", (60,)) == [900]  # the dot is not a wildcard


def test_the_changelog_name_is_the_one_faust_gives_the_window_table() -> None:
    assert window_table_name(3600) == "windows-3600s"
    assert other_window_sizes([f"a-{window_table_name(90)}-changelog"], "a", ()) == [90]


@pytest.mark.parametrize("key", [b"20261122007", "工单-7".encode(), b"", b"x" * 300])
@pytest.mark.parametrize("partitions", [1, 3, 8, 12])
def test_default_partition_is_where_kafkas_default_partitioner_puts_the_key(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert default_partition(key, partitions) == DefaultPartitioner()(key, everything, everything)


def test_the_changelogs_created_before_faust_have_the_configuration_faust_gives_them() -> None:
    from faust.transport.drivers.aiokafka import Transport
    from mode.utils.times import want_seconds

    from slawatch.agents.app import create_worker
    from slawatch.settings import Settings
    from slawatch.sla.policy import load_policy

    settings = Settings(app_id="unit-changelogs", partitions=6, window_sizes_seconds=(60, 900, 3600))
    worker = create_worker(settings, load_policy(None))
    faust_gives: dict[str, dict[str, str]] = {}
    for table in worker.app.tables.values():
        topic = table.changelog_topic
        assert topic.partitions == settings.partitions
        retention = int(want_seconds(topic.retention) * 1000.0) if topic.retention else None
        config = Transport._topic_config(None, retention, topic.compacting, topic.deleting)  # type: ignore[arg-type]
        faust_gives[topic.get_topic_name()] = {key: str(value) for key, value in config.items()}
    assert changelog_topics(settings) == faust_gives
