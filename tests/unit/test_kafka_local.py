"""The local broker's pure parts: configuration it writes, and the errors it gives.

Starting and stopping a real broker is in tests/integration/test_kafka_local.py.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from pathlib import Path

import pytest

from slawatch import kafka_local
from slawatch.exceptions import BrokerError
from slawatch.kafka_local import LocalKafka, new_cluster_id, parse_version, render_pom
from slawatch.kafka_secure import SecureListeners, write_private


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local(tmp_path: Path, *, version: str = "3.9.1", port: int = 0, controller: int = 0) -> LocalKafka:
    """A broker definition on free ports (nothing is started)."""
    return LocalKafka(version, port or free_port(), controller or free_port(), tmp_path / "data", tmp_path / "cache")


def properties(kafka: LocalKafka) -> dict[str, str]:
    lines = kafka.render_server_properties().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_server_properties_run_one_kraft_node_on_the_configured_ports(tmp_path: Path) -> None:
    props = properties(local(tmp_path, port=29092, controller=29093))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"


def test_server_properties_keep_the_data_in_the_data_dir(tmp_path: Path) -> None:
    kafka = local(tmp_path)
    assert properties(kafka)["log.dirs"] == str(kafka.storage_dir)
    assert kafka.storage_dir.is_relative_to(tmp_path / "data")


def test_topics_are_never_created_by_accident(tmp_path: Path) -> None:
    assert properties(local(tmp_path))["auto.create.topics.enable"] == "false"


def test_share_group_settings_only_for_kafka_4(tmp_path: Path) -> None:
    assert not any(k.startswith("share.") for k in properties(local(tmp_path, version="3.9.1")))
    assert any(k.startswith("share.") for k in properties(local(tmp_path, version="4.1.0")))


def test_jars_are_cached_outside_the_data_dir_per_version(tmp_path: Path) -> None:
    kafka = local(tmp_path, version="3.9.1")
    assert kafka.jar_dir == tmp_path / "cache" / "kafka-3.9.1" / "libs"
    assert not kafka.jars_ready()


def test_pom_names_the_chosen_kafka_release() -> None:
    pom = render_pom("3.9.1")
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<kafka.version>3.9.1</kafka.version>" in pom
    assert "@KAFKA_VERSION@" not in pom


@pytest.mark.parametrize("version", ["3.9", "latest", "3.9.1-rc1", ""])
def test_a_malformed_version_names_the_setting_to_fix(version: str) -> None:
    with pytest.raises(BrokerError, match="SLAWATCH_KAFKA_VERSION"):
        parse_version(version)


def test_a_zookeeper_era_version_is_refused() -> None:
    with pytest.raises(BrokerError, match="too old"):
        parse_version("2.8.2")


def test_equal_broker_and_controller_ports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="must differ"):
        local(tmp_path, port=19092, controller=19092)


def test_cluster_ids_are_22_char_url_safe_base64() -> None:
    ids = {new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and "=" not in i and "+" not in i and "/" not in i for i in ids)


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # kafka-storage format -t -abc... reads the id as an option and fails (1 run in 64).
    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(bytes=bytes(16))])
    monkeypatch.setattr(kafka_local.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(b"\xfb" + bytes(15)).startswith(b"-")
    assert new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"


def test_missing_java_says_so_and_points_to_docker_compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError) as info:
        local(tmp_path).preflight()
    message = str(info.value)
    assert "`java`" in message
    assert "`mvn`" in message  # the jars are not cached either
    assert "docker compose up" in message


def test_missing_maven_is_not_needed_once_the_jars_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = local(tmp_path)
    kafka.jar_dir.mkdir(parents=True)
    (kafka.jar_dir / "kafka_2.13-3.9.1.jar").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"17.0.15\"' >&2\n", encoding="ascii")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert kafka.preflight() == str(java)


def test_too_old_java_names_the_version_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = local(tmp_path, version="4.1.0")
    kafka.jar_dir.mkdir(parents=True)
    (kafka.jar_dir / "kafka_2.13-4.1.0.jar").write_bytes(b"")
    java_home = tmp_path / "jdk11"
    (java_home / "bin").mkdir(parents=True)
    java = java_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\"' >&2\n", encoding="ascii")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(java_home))
    with pytest.raises(BrokerError, match="needs Java 17"):
        kafka.preflight()


def test_a_stale_pid_file_is_not_a_running_broker(tmp_path: Path) -> None:
    kafka = local(tmp_path)
    kafka.data_dir.mkdir(parents=True)
    kafka.pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")  # alive, but not a broker
    status = kafka.status()
    assert status["running"] is False
    assert status["pid"] is None
    assert not kafka.pid_file.exists()


def test_stop_without_a_broker_does_nothing(tmp_path: Path) -> None:
    kafka = local(tmp_path)
    kafka.stop()
    assert kafka.status()["running"] is False


def test_an_occupied_port_is_named_with_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        kafka = local(tmp_path, port=busy, controller=busy + 1 if busy < 65535 else busy - 1)
        with pytest.raises(BrokerError, match="SLAWATCH_KAFKA_PORT"):
            kafka._check_ports_free()


def secured(tmp_path: Path) -> LocalKafka:
    """A broker with secured listeners on 29094-29096, its secrets written as keytool's run would."""
    listeners = SecureListeners.after(tmp_path / "data", 29092, 29093)
    listeners.tls_dir.mkdir(parents=True)
    listeners.secrets_file.write_text(
        '{"keystore_password": "keystore-pw", "password": "user-password"}', encoding="utf-8"
    )
    return LocalKafka("3.9.1", 29092, 29093, tmp_path / "data", tmp_path / "cache", secure=listeners)


def test_secured_listeners_sit_on_the_three_ports_after_the_broker_and_controller(tmp_path: Path) -> None:
    props = properties(secured(tmp_path))
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:29094,SSL://127.0.0.1:29095,"
        "SASL_PLAINTEXT://127.0.0.1:29096,CONTROLLER://127.0.0.1:29093"
    )
    assert props["advertised.listeners"].startswith("PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:29094")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"  # the broker's own traffic needs no login
    assert "SSL:SSL" in props["listener.security.protocol.map"].split(",")


def test_the_sasl_user_logs_in_with_plain_or_scram_on_both_sasl_listeners(tmp_path: Path) -> None:
    kafka = secured(tmp_path)
    props = properties(kafka)
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    for listener in ("sasl_ssl", "sasl_plaintext"):
        assert 'user_slawatch="user-password"' in props[f"listener.name.{listener}.plain.sasl.jaas.config"]
        assert "ScramLoginModule" in props[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"]
    assert kafka.secure is not None
    assert props["ssl.keystore.location"] == str(kafka.secure.keystore)
    assert "user-password" not in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]


def test_secured_listeners_past_the_last_port_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="past 65535"):
        SecureListeners.after(tmp_path, 65533, 65530)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"password": "user-password"}',
        '{"keystore_password": "keystore-pw", "password": "short"}',
        '{"keystore_password": "keystore-pw", "password": "has\\"quote"}',
        '{"keystore_password": "keystore-pw", "password": 12345678}',
        "[]",
    ],
)
def test_a_damaged_secrets_file_is_refused_with_the_way_out(tmp_path: Path, content: str) -> None:
    listeners = SecureListeners.after(tmp_path, 29092, 29093)
    listeners.tls_dir.mkdir()
    listeners.secrets_file.write_text(content, encoding="utf-8")
    with pytest.raises(BrokerError, match=f"remove {listeners.tls_dir}"):
        _ = listeners.password


def test_the_rendered_properties_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "server.properties"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o644)
    write_private(target, "sasl=secret")  # what start writes server.properties with
    assert target.stat().st_mode & 0o777 == 0o600 and target.read_text(encoding="utf-8") == "sasl=secret"


def test_start_prints_the_client_variables_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka = secured(tmp_path)
    assert kafka.secure is not None
    kafka_local._print_secure(kafka, kafka.secure)
    out = capsys.readouterr().out
    assert "user-password" not in out
    assert "export SLAWATCH_SASL_MECHANISM=SCRAM-SHA-512" in out and "127.0.0.1:29094" in out
    assert str(kafka.secure.secrets_file) in out


def test_the_client_variables_name_the_listener_of_the_protocol(tmp_path: Path) -> None:
    listeners = secured(tmp_path).secure
    assert listeners is not None
    sasl = listeners.client_environment("127.0.0.1")
    assert sasl["SLAWATCH_BROKER"] == "127.0.0.1:29094" and sasl["SLAWATCH_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert sasl["SLAWATCH_SASL_PASSWORD"] == "user-password" and sasl["SLAWATCH_SSL_CAFILE"] == str(listeners.ca_file)
    tls = listeners.client_environment("127.0.0.1", "SSL")
    assert tls["SLAWATCH_BROKER"] == "127.0.0.1:29095" and not any("SASL" in key for key in tls)
    plain = listeners.client_environment("127.0.0.1", "SASL_PLAINTEXT", "PLAIN")
    assert plain["SLAWATCH_BROKER"] == "127.0.0.1:29096" and "SLAWATCH_SSL_CAFILE" not in plain


def test_an_occupied_secured_port_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        listeners = SecureListeners(tmp_path / "tls", free_port(), busy, free_port())
        kafka = LocalKafka("3.9.1", free_port(), free_port(), tmp_path / "data", tmp_path / "cache", secure=listeners)
        with pytest.raises(BrokerError, match=f"port {busy} "):
            kafka._check_ports_free()


def test_the_secured_listeners_are_read_back_from_the_rendered_configuration(tmp_path: Path) -> None:
    kafka = secured(tmp_path)
    assert kafka.secured_listeners() is None  # nothing rendered yet
    kafka.properties_file.parent.mkdir(parents=True, exist_ok=True)
    kafka.properties_file.write_text(kafka.render_server_properties(), encoding="utf-8")
    assert kafka.secured_listeners() == (
        "SASL_SSL://127.0.0.1:29094, SSL://127.0.0.1:29095, SASL_PLAINTEXT://127.0.0.1:29096"
    )
    plain = local(tmp_path / "plain")
    plain.properties_file.parent.mkdir(parents=True, exist_ok=True)
    plain.properties_file.write_text(plain.render_server_properties(), encoding="utf-8")
    assert plain.secured_listeners() is None
