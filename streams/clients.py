"""Kafka clients built from the one settings object.

Why a module of its own: every producer and consumer slawatch opens outside Faust (the
simulator, replay, topic administration, the tests' readers) must carry the same
bootstrap servers and the same SASL/SSL options, and must never be spelled twice.
kafka-python is used here because these are short-lived, synchronous tools; the worker
itself talks to Kafka through Faust (aiokafka).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from slawatch.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

__all__ = ["make_admin", "make_consumer", "make_producer"]


def _import_kafka() -> Any:
    with warnings.catch_warnings():
        # kafka-python 3.0 loads its protocol schemas through a deprecated importlib API.
        warnings.simplefilter("ignore", DeprecationWarning)
        import kafka
        import kafka.admin

    return kafka


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer for ``settings.broker``: acks from all in-sync replicas, idempotent
    retries, no loss on a broker hiccup; ``overrides`` (e.g. ``linger_ms``) win."""
    kafka = _import_kafka()
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.app_id}-producer",
        "acks": "all",
        "retries": 5,
        "linger_ms": 5,
        **settings.kafka_client_options(),
        **overrides,
    }
    producer: KafkaProducer = kafka.KafkaProducer(**options)
    return producer


def make_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer of ``topics`` from the earliest offset, without a group unless one is
    given (``group_id=...``): readers of the alerts topic and tests see everything."""
    kafka = _import_kafka()
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.app_id}-reader",
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "group_id": None,
        **settings.kafka_client_options(),
        **overrides,
    }
    consumer: KafkaConsumer = kafka.KafkaConsumer(*topics, **options)
    return consumer


def make_admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    """An admin client for topic creation and description."""
    kafka = _import_kafka()
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.app_id}-admin",
        **settings.kafka_client_options(),
        **overrides,
    }
    admin: KafkaAdminClient = kafka.admin.KafkaAdminClient(**options)
    return admin
