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
