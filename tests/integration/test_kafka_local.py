"""``slawatch kafka start|stop|status`` against a broker of its own on free ports.

The jars are the ones the session broker (or .ci/run) already cached, so this costs a
broker start (~5-10 s), not a download.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from slawatch.kafka_local import LocalKafka, port_is_open, probe
from slawatch.settings import default_cache_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[LocalKafka]:
    """A second broker (not started yet); the session broker guarantees cached jars
    when this run started one itself."""
    del kafka_bootstrap
    kafka = LocalKafka(
        version=os.environ.get("SLAWATCH_TEST_KAFKA_VERSION", "3.9.1"),
        port=free_port(),
        controller_port=free_port(),
        data_dir=tmp_path / "kafka",
        cache_dir=Path(os.environ.get("SLAWATCH_TEST_CACHE_DIR", str(default_cache_dir()))),
    )
    yield kafka
    kafka.stop(grace=10)


def test_start_returns_once_the_broker_serves_requests(own_broker: LocalKafka) -> None:
    own_broker.start(timeout=120)
    cluster = probe(own_broker.bootstrap, timeout=5)
    assert cluster is not None
    assert len(cluster["brokers"]) == 1


def test_starting_twice_gives_one_broker(own_broker: LocalKafka) -> None:
    own_broker.start(timeout=120)
    first = own_broker.status()["pid"]
    own_broker.start(timeout=120)
    assert own_broker.status()["pid"] == first
    assert first is not None


def test_stop_ends_the_broker_and_frees_its_port(own_broker: LocalKafka) -> None:
    own_broker.start(timeout=120)
    pid = own_broker.status()["pid"]
    assert pid is not None
    own_broker.stop()
    status = own_broker.status()
    assert status["running"] is False
    assert not port_is_open("127.0.0.1", own_broker.port)
    assert not Path(f"/proc/{pid}").exists() or b"kafka.Kafka" not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_a_restarted_broker_keeps_its_storage(own_broker: LocalKafka) -> None:
    own_broker.start(timeout=120)
    meta = (own_broker.storage_dir / "meta.properties").read_text(encoding="utf-8")
    own_broker.stop()
    own_broker.start(timeout=120)
    assert (own_broker.storage_dir / "meta.properties").read_text(encoding="utf-8") == meta
    assert probe(own_broker.bootstrap, timeout=5) is not None


def test_cli_status_reports_where_it_runs_and_exits_3_when_stopped(own_broker: LocalKafka) -> None:
    def cli(action: str) -> subprocess.CompletedProcess[str]:
        args = ["--dir", str(own_broker.data_dir), "--port", str(own_broker.port)]
        args += ["--controller-port", str(own_broker.controller_port), "--kafka-version", own_broker.version]
        return subprocess.run(
            [sys.executable, "-P", "-m", "slawatch", "kafka", action, *args],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    started = cli("start")
    assert started.returncode == 0, started.stderr
    assert own_broker.bootstrap in started.stdout
    status = cli("status")
    assert status.returncode == 0
    shown = _fields(status.stdout)
    assert shown["running"] == "True" and shown["bootstrap"] == own_broker.bootstrap
    assert shown["jar_dir"] == str(own_broker.jar_dir)
    assert shown["secured"] == "-"  # started without --secure
    assert cli("stop").returncode == 0
    stopped = cli("status")
    assert stopped.returncode == 3
    assert _fields(stopped.stdout)["running"] == "False"


def _fields(status_output: str) -> dict[str, str]:
    """``slawatch kafka status``'s aligned ``key  value`` lines as a dict."""
    return dict(line.split(None, 1) for line in status_output.splitlines() if line.strip())
