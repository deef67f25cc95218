"""The security settings against a real broker that demands them.

A second local broker (``LocalKafka`` with :class:`SecureListeners`, what ``slawatch
kafka start --secure`` runs) listens with SASL_SSL, SSL and SASL_PLAINTEXT beside its
plaintext port: a self-signed certificate whose PEM is the CA file, one user with PLAIN
and SCRAM credentials. Every client slawatch builds is driven through it: topic
administration, the producers and readers, and the worker (Faust's credentials, its
producer, its consumer and the range reader it starts with).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from slawatch import kafka_local
from slawatch.exceptions import BrokerError, ConfigError
from slawatch.kafka_local import LocalKafka
from slawatch.kafka_secure import SecureListeners
from slawatch.settings import Settings, default_cache_dir, write_settings_file
from slawatch.streams.clients import make_consumer, make_producer
from slawatch.streams.topics import prepare_topics

from .live_harness import (
    Producer,
    TopicReader,
    WorkerProcess,
    live_alerts,
    live_settings,
    ticket_created,
    write_fast_policy,
)

pytestmark = pytest.mark.timeout(240)


_VERSION = os.environ.get("SLAWATCH_TEST_KAFKA_VERSION", Settings.model_fields["kafka_version"].default)
_CACHE = Path(os.environ.get("SLAWATCH_TEST_CACHE_DIR", str(default_cache_dir())))


def _free_ports(count: int, *, consecutive: bool = False) -> list[int]:
    """``count`` distinct free ports, all held open together while they are chosen."""
    for _ in range(200):
        socks: list[socket.socket] = []
        try:
            if consecutive:
                base = random.randrange(20000, 60000)
                for port in range(base, base + count):
                    sock = socket.socket()
                    socks.append(sock)
                    sock.bind(("127.0.0.1", port))
            else:
                for _ in range(count):
                    sock = socket.socket()
                    socks.append(sock)
                    sock.bind(("127.0.0.1", 0))
            return [int(sock.getsockname()[1]) for sock in socks]
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} free ports found")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and the secured test broker did not start: {reason}", pytrace=False)
    pytest.skip(f"no secured Kafka broker for these tests: {reason}")


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    data_dir = tmp_path_factory.mktemp("kafka-secure")
    ports = _free_ports(5)
    kafka = LocalKafka(
        version=_VERSION,
        port=ports[0],
        controller_port=ports[1],
        data_dir=data_dir,
        cache_dir=_CACHE,
        secure=SecureListeners(data_dir / "tls", *ports[2:]),
    )
    try:
        kafka.start(timeout=180)
    except BrokerError as exc:
        _unavailable(str(exc))
    try:
        yield kafka
    finally:
        kafka.stop()


def _client_settings(kafka: LocalKafka, protocol: str, mechanism: str | None = None, **changes: object) -> Settings:
    assert kafka.secure is not None
    env = kafka.secure.client_environment(kafka.host, protocol, mechanism or "PLAIN")
    uid = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "broker": env["SLAWATCH_BROKER"],
        "security_protocol": protocol,
        "ssl_cafile": env.get("SLAWATCH_SSL_CAFILE"),
        "app_id": f"sec-{uid}",
        "topic_events": f"sec-{uid}.events",
        "topic_dlq": f"sec-{uid}.dlq",
        "topic_alerts": f"sec-{uid}.alerts",
        "topic_ticks": f"sec-{uid}.ticks",
        "partitions": 2,
    }
    if protocol.startswith("SASL"):
        values |= {
            "sasl_mechanism": mechanism,
            "sasl_username": env["SLAWATCH_SASL_USERNAME"],
            "sasl_password": env["SLAWATCH_SASL_PASSWORD"],
        }
    return Settings(**{**values, **changes})


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SASL_SSL", "SCRAM-SHA-512"),
        ("SASL_SSL", "SCRAM-SHA-256"),
        ("SASL_SSL", "PLAIN"),
        ("SSL", None),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ],
)
def test_topics_producer_and_reader_work_over_each_secured_protocol(
    secure_kafka: LocalKafka, protocol: str, mechanism: str | None
) -> None:
    settings = _client_settings(secure_kafka, protocol, mechanism)
    prepare_topics(settings)
    producer = make_producer(settings)
    try:
        producer.send(settings.topic_events, key=b"T-1", value=b'{"probe": 1}').get(timeout=30)
    finally:
        producer.close(10)
    reader = make_consumer(settings, settings.topic_events)
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while not values and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                values += [record.value for record in batch]
    finally:
        reader.close()
    assert values == [b'{"probe": 1}']


def test_a_wrong_password_is_reported_as_a_refused_handshake_not_a_missing_broker(secure_kafka: LocalKafka) -> None:
    settings = _client_settings(secure_kafka, "SASL_SSL", "SCRAM-SHA-512", sasl_password="not-the-password")
    started = time.monotonic()
    with pytest.raises(BrokerError) as info:
        prepare_topics(settings, timeout=5)
    text = str(info.value)
    assert "accepts connections but the Kafka handshake failed" in text
    assert "SCRAM-SHA-512 as 'slawatch'" in text and "not-the-password" not in text
    assert time.monotonic() - started < 20  # the timeout given, not kafka-python's 30 s default


def test_a_plaintext_client_at_the_tls_listener_is_told_to_check_its_protocol(secure_kafka: LocalKafka) -> None:
    settings = _client_settings(secure_kafka, "SSL").model_copy(update={"security_protocol": "PLAINTEXT"})
    with pytest.raises(BrokerError, match="using PLAINTEXT could not complete it"):
        prepare_topics(settings, timeout=5)


def test_sasl_without_a_password_is_refused_before_connecting(secure_kafka: LocalKafka) -> None:
    settings = _client_settings(secure_kafka, "SASL_SSL", "PLAIN", sasl_password=None)
    with pytest.raises(ConfigError, match="SLAWATCH_SASL_PASSWORD"):
        prepare_topics(settings, timeout=10)


@pytest.mark.parametrize(("protocol", "mechanism"), [("SASL_SSL", "SCRAM-SHA-512"), ("SSL", None)])
def test_the_worker_runs_over_a_secured_listener(
    secure_kafka: LocalKafka, tmp_path: Path, protocol: str, mechanism: str | None
) -> None:
    """Faust's credentials, the worker's producer and consumer, and its range reader:
    a ticket left unanswered gets its response warning and breach on the alerts topic."""
    base = _client_settings(secure_kafka, protocol, mechanism)
    settings = live_settings(base, tmp_path, "sec", partitions=2, policy_file=write_fast_policy(tmp_path))
    prepare_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "w", cli=True).start()
    producer = Producer(settings)
    alerts = TopicReader(settings, settings.topic_alerts)
    try:
        worker.wait_ready(timeout=90)
        producer.send(ticket_created("sec-e1", "SEC-1"))
        producer.flush()
        records = alerts.until(lambda rs: len(rs) >= 2, timeout=60)
        kinds = sorted((a.record["kind"], a.record["metric"]) for a in live_alerts(records))
        assert ("sla.breached", "response") in kinds and ("sla.warning", "response") in kinds, worker.log_tail()
        health = worker.health()
        assert health is not None and health["tickets"] == 1
    finally:
        producer.close()
        alerts.close()
        assert worker.stop() == 0, worker.log_tail()
    if settings.sasl_password is not None:
        log = worker.log_path.read_text(encoding="utf-8", errors="replace")
        assert settings.sasl_password.get_secret_value() not in log


def test_a_worker_with_a_wrong_password_says_why_once_and_exits(secure_kafka: LocalKafka, tmp_path: Path) -> None:
    base = _client_settings(secure_kafka, "SASL_SSL", "SCRAM-SHA-512", sasl_password="not-the-password")
    settings = live_settings(base, tmp_path, "sec", partitions=2)
    config = tmp_path / "w.yaml"
    env = write_settings_file(settings, config)
    done = subprocess.run(
        [sys.executable, "-P", "-m", "slawatch.cli", "worker", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "accepts connections but the Kafka handshake failed" in done.stderr
    # kafka-python's three lines per retry for the whole timeout are not shown.
    assert "socket disconnected" not in done.stderr + done.stdout


def test_slawatch_topics_works_with_the_variables_kafka_start_secure_prints(
    secure_kafka: LocalKafka, tmp_path: Path
) -> None:
    assert secure_kafka.secure is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env |= secure_kafka.secure.client_environment(secure_kafka.host)
    env["SLAWATCH_TOPIC_EVENTS"] = f"sec-cli-{uuid.uuid4().hex[:8]}.events"
    done = subprocess.run(
        [sys.executable, "-m", "slawatch.cli", "topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"topic {env['SLAWATCH_TOPIC_EVENTS']}: created" in done.stdout
    assert env["SLAWATCH_SASL_PASSWORD"] not in done.stdout + done.stderr


def _started(settings: Settings, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``slawatch kafka start --secure``'s printed client variables, evaluated by a shell."""
    if kafka_local.main("start", settings, secure=True) != 0:
        _unavailable(capsys.readouterr().out)
    printed = capsys.readouterr().out
    exports = [line.strip() for line in printed.splitlines() if line.strip().startswith("export ")]
    script = "\n".join([*exports, "env"])
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}
    )
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("SLAWATCH_"))
    return {"printed": printed, **env}


def _logs_in(env: dict[str, str], password: str | None = None) -> bool:
    settings = Settings(
        broker=env["SLAWATCH_BROKER"],
        security_protocol=env["SLAWATCH_SECURITY_PROTOCOL"],
        sasl_mechanism=env["SLAWATCH_SASL_MECHANISM"],
        sasl_username=env["SLAWATCH_SASL_USERNAME"],
        sasl_password=password or env["SLAWATCH_SASL_PASSWORD"],
        ssl_cafile=env["SLAWATCH_SSL_CAFILE"],
    )
    try:
        prepare_topics(settings.model_copy(update={"topic_events": f"login-{uuid.uuid4().hex[:8]}"}), timeout=8)
    except BrokerError:
        return False
    return True


def test_scram_logins_work_after_the_storage_or_the_secrets_are_renewed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_ports(5, consecutive=True)[0]
    settings = Settings(
        kafka_port=port, kafka_controller_port=port + 1, kafka_dir=tmp_path / "kafka", kafka_version=_VERSION,
        cache_dir=_CACHE,
    )  # fmt: skip
    try:
        # The storage is first formatted by a plain start: it holds no SCRAM user then.
        if kafka_local.main("start", settings) != 0:
            _unavailable(capsys.readouterr().out)
        kafka_local.main("stop", settings)
        first = _started(settings, capsys)
        assert first["SLAWATCH_SASL_PASSWORD"] not in first["printed"]  # only a reference to the file
        assert first["SLAWATCH_BROKER"] == f"127.0.0.1:{port + 2}"
        assert _logs_in(first)
        for private in ("tls/secrets.json", "tls/broker.p12", "server.properties", "storage/slawatch-scram"):
            assert (tmp_path / "kafka" / private).stat().st_mode & 0o077 == 0, private
        kafka_local.main("stop", settings)
        # New secrets (the tls folder removed): the new password logs in, the old one no more.
        shutil.rmtree(tmp_path / "kafka" / "tls")
        second = _started(settings, capsys)
        assert second["SLAWATCH_SASL_PASSWORD"] != first["SLAWATCH_SASL_PASSWORD"]
        assert _logs_in(second)
        assert not _logs_in(second, password=first["SLAWATCH_SASL_PASSWORD"])
        log = (tmp_path / "kafka" / "kafka.log").read_text(encoding="utf-8")
        assert "Failed authentication" in log  # the broker's side of the refused login
    finally:
        kafka_local.main("stop", settings)
