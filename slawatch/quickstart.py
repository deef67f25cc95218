"""``slawatch run``: a whole local pipeline in one command, for demos and first steps.

It starts what is missing and nothing else: a local Kafka broker only when none answers
at ``settings.broker``, then the topics, one worker and (unless ``--no-simulator``) the
traffic simulator, each as a child process running the ordinary ``slawatch`` command.
Children get the parent's effective settings through a temporary settings file, so
what ``slawatch run`` shows is exactly what ``slawatch worker`` would do with the same
configuration. Ctrl-C or SIGTERM stops the children (SIGTERM first, so the worker
commits), then the broker if this command started it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from slawatch.agents.worker import check_web_port, worker_urls
from slawatch.settings import Settings, write_settings_file

if TYPE_CHECKING:
    from slawatch.kafka_local import LocalKafka

__all__ = ["broker_answers", "run"]

STOP_GRACE_SECONDS = 20.0


def broker_answers(settings: Settings, timeout: float = 1.0) -> bool:
    """True when a TCP connection to any bootstrap server succeeds."""
    for server in settings.bootstrap_servers:
        host, _, port = server.rpartition(":")
        with contextlib.suppress(OSError), socket.create_connection((host.strip("[]"), int(port)), timeout):
            return True
    return False


@contextlib.contextmanager
def _settings_file(settings: Settings) -> Iterator[tuple[Path, dict[str, str]]]:
    """The effective settings as a YAML file for the children, and their environment."""
    with tempfile.TemporaryDirectory(prefix="slawatch-run-") as tmp:
        path = Path(tmp) / "settings.yaml"
        yield path, write_settings_file(settings, path)


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """SIGTERM every child, wait for the grace period, then SIGKILL what is left."""
    for _name, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"slawatch run: {name} did not stop in {STOP_GRACE_SECONDS:.0f} s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()


def _start_broker(settings: Settings) -> LocalKafka:
    from slawatch.kafka_local import LocalKafka

    print(f"slawatch run: no broker answers at {settings.broker}; starting a local one", flush=True)
    broker = LocalKafka.from_settings(settings)
    broker.start()
    return broker


def local_broker_default(settings: Settings) -> Settings:
    """With no broker named, the quickstart's broker is the local one on
    ``SLAWATCH_KAFKA_PORT``, not whatever else may answer on the default port."""
    local = f"127.0.0.1:{settings.kafka_port}"
    if "broker" in settings.model_fields_set or settings.broker == local:
        return settings
    return settings.model_copy(update={"broker": local})


def run(settings: Settings, rate: float, speed: float, simulator: bool) -> int:
    """Run broker (if needed), topics, worker and simulator until Ctrl-C; return an exit code."""
    from slawatch.streams.topics import prepare_topics

    settings = local_broker_default(settings)
    check_web_port(settings)  # before a broker is started for a worker that cannot start
    broker = None if broker_answers(settings) else _start_broker(settings)
    if broker is not None and broker.bootstrap != settings.broker:
        # The local broker listens on SLAWATCH_KAFKA_PORT; everything else follows it.
        settings = settings.model_copy(update={"broker": broker.bootstrap})
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        settings = prepare_topics(settings)
        with _settings_file(settings) as (config, env):
            # -P: the current directory is not put on sys.path, so when `slawatch run` is
            # started from a checkout, its ./slawatch folder (the core only) cannot shadow
            # the installed package with its mapped streams/agents/metrics subpackages.
            cli = [sys.executable, "-P", "-m", "slawatch"]
            children.append(("worker", subprocess.Popen([*cli, "worker", "--config", str(config)], env=env)))
            if simulator:
                argv = [*cli, "simulate", "--config", str(config), "--rate", str(rate), "--speed", str(speed)]
                children.append(("simulator", subprocess.Popen(argv, env=env)))
            urls = worker_urls(settings)
            print(
                "slawatch run: pipeline starting (Ctrl-C stops it)\n"
                f"  broker     {settings.broker}{' (local, started here)' if broker else ''}\n"
                f"  input      {settings.topic_events}  alerts {settings.topic_alerts}  dlq {settings.topic_dlq}\n"
                f"  metrics    {urls['metrics']}\n"
                f"  windows    {urls['windows']}\n"
                f"  at risk    {urls['at_risk']}\n"
                f"  health     {urls['health']}",
                flush=True,
            )
            while True:
                for name, proc in children:
                    code = proc.poll()
                    if code is not None and not (name == "simulator" and code == 0):
                        print(f"slawatch run: {name} exited with {code}; stopping", file=sys.stderr)
                        return code or 1
                time.sleep(0.5)
    except KeyboardInterrupt:
        stopping = True
        return 0
    finally:
        if stopping:
            print("slawatch run: stopping...", file=sys.stderr, flush=True)
        _stop(children)
        if broker is not None:
            broker.stop()
            print(f"slawatch run: stopped the local broker ({broker.bootstrap})", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, previous)
