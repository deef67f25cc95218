"""Kafka clients built from the one settings object.

Why a module of its own: every producer and consumer slawatch opens outside Faust (the
simulator, replay, topic administration, the tests' readers) must carry the same
bootstrap servers and the same SASL/SSL options, and must never be spelled twice.
kafka-python is used here because these are short-lived, synchronous tools; the worker
itself talks to Kafka through Faust (aiokafka).
"""

from __future__ import annotations

import contextlib
import socket
import warnings
from typing import TYPE_CHECKING, Any

from slawatch.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

__all__ = ["connection_problem", "make_admin", "make_consumer", "make_producer"]


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


def _accepts_tcp(server: str, timeout: float) -> bool:
    host, _, port = server.rpartition(":")
    with contextlib.suppress(OSError, ValueError), socket.create_connection((host.strip("[]"), int(port)), timeout):
        return True
    return False


def connection_problem(settings: Settings, error: BaseException, timeout: float = 2.0) -> str:
    """Why a Kafka client could not bootstrap, and the fix, for an error message.

    kafka-python reports refused credentials, a TLS handshake with an untrusted
    certificate and a listener speaking another protocol all as "unable to bootstrap"
    (the broker just closes the connection), as it does for no broker at all. A plain
    TCP connect tells the two apart: if a server accepts it, a broker (or something)
    listens there and the security settings are what to check.
    """
    answering = [server for server in settings.bootstrap_servers if _accepts_tcp(server, timeout)]
    if not answering:
        return (
            f"no Kafka broker answers at {settings.broker} ({error}); start one with `slawatch kafka start` "
            "(or `docker compose up kafka`), or point SLAWATCH_BROKER / --broker at yours"
        )
    sasl = (
        f", SASL {settings.sasl_mechanism or 'PLAIN'} as {settings.sasl_username!r}"
        if settings.security_protocol.startswith("SASL")
        else ""
    )
    tls = (
        f", TLS trusting {settings.ssl_cafile or 'the system CAs'}"
        if settings.security_protocol.endswith("SSL")
        else ""
    )
    verb = "accepts" if len(answering) == 1 else "accept"
    return (
        f"{', '.join(answering)} {verb} connections but the Kafka handshake failed ({error}): a client using "
        f"{settings.security_protocol}{sasl}{tls} could not complete it. Check that "
        "SLAWATCH_SECURITY_PROTOCOL matches the listener on that port, and SLAWATCH_SASL_MECHANISM, "
        "SLAWATCH_SASL_USERNAME, SLAWATCH_SASL_PASSWORD and SLAWATCH_SSL_CAFILE; the broker's log names "
        "the refused login or handshake"
    )
