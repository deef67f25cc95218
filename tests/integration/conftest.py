"""A real Kafka broker for the integration tests, and unique topics per test.

The session fixture uses the broker named by ``SLAWATCH_TEST_BROKER`` (``.ci/run``
starts one with ``slawatch kafka start`` and exports it), and otherwise starts a broker
of its own the same way, on free ports in a temporary data directory, stopping it at
the end of the session. When no broker can be had the integration tests are skipped
on a developer's machine, but fail under ``CI=true``: CI must never pass without
having touched a real broker.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slawatch.exceptions import BrokerError
from slawatch.kafka_local import LocalKafka, probe
from slawatch.settings import Settings, default_cache_dir
from slawatch.streams.topics import ensure_topics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and no Kafka broker for the integration tests: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker for the integration tests: {reason}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a broker that serves requests."""
    named = os.environ.get("SLAWATCH_TEST_BROKER")
    if named:
        if probe(named, timeout=10.0) is None:
            _unavailable(f"SLAWATCH_TEST_BROKER={named} does not answer metadata requests")
        yield named
        return
    kafka = LocalKafka(
        version=os.environ.get("SLAWATCH_TEST_KAFKA_VERSION", Settings.model_fields["kafka_version"].default),
        port=_free_port(),
        controller_port=_free_port(),
        data_dir=tmp_path_factory.mktemp("kafka"),
        cache_dir=Path(os.environ.get("SLAWATCH_TEST_CACHE_DIR", str(default_cache_dir()))),
    )
    try:
        kafka.start(timeout=180)
    except BrokerError as exc:
        _unavailable(str(exc))
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()


@pytest.fixture
def test_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings for the test broker, with a unique app id and topic names per test."""
    uid = uuid.uuid4().hex[:10]
    return Settings(
        broker=kafka_bootstrap,
        app_id=f"test-{uid}",
        topic_events=f"test-{uid}.events",
        topic_dlq=f"test-{uid}.dlq",
        topic_alerts=f"test-{uid}.alerts",
        topic_ticks=f"test-{uid}.ticks",
        partitions=4,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def topic_factory(test_settings: Settings) -> Callable[..., str]:
    """Create a fresh uniquely named topic: ``topic_factory("events", partitions=3)``."""

    def create(name: str = "topic", partitions: int | None = None) -> str:
        topic = f"test-{name}-{uuid.uuid4().hex[:10]}"
        settings = test_settings.model_copy(update={"partitions": partitions or test_settings.partitions})
        ensure_topics(settings, names=[topic])
        return topic

    return create
