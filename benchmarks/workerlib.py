"""Worker subprocesses, Kafka helpers and probes for ``bench_worker.py``.

Benchmarks import from ``slawatch`` (and its dependencies) only, never from ``tests``,
so this is a small, self-contained cousin of ``tests/integration/live_harness.py``:

* :class:`BenchRun` names everything of one run (``bench-<uid>...``: topics, app ids,
  the work directory) and deletes exactly those topics at the end;
* :class:`Worker` is one real ``slawatch worker --config FILE`` subprocess, with its
  health, ``/metrics``, resident memory and CPU time read from outside;
* the Kafka helpers produce fast (aiokafka, batched) and read consumer-group offsets
  through the admin API, which costs the worker nothing (polling ``/metrics`` would:
  each scrape walks every owned ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from slawatch.settings import Settings, write_settings_file
from slawatch.streams.clients import make_admin

__all__ = [
    "BenchRun",
    "Metrics",
    "Worker",
    "committed_total",
    "cpu_seconds",
    "free_port",
    "parse_metrics",
    "percentile",
    "produce",
    "rss_kib",
    "topic_size",
    "wait_committed",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- /proc


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds consumed so far by ``pid`` (all its threads)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


# --------------------------------------------------------------------------- metrics


@dataclass
class Metrics:
    """One ``/metrics`` scrape: ``(name, labels)`` -> value, and how long it took."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    seconds: float
    at: float

    def total(self, name: str, **match: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``match``."""
        want = set(match.items())
        return sum(v for (n, labels), v in self.samples.items() if n == name and want <= labels)

    def value(self, name: str) -> float | None:
        for (n, _labels), v in self.samples.items():
            if n == name:
                return v
        return None


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The Prometheus text format, enough of it for slawatch's own output."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            labels: list[tuple[str, str]] = []
            for part in rest.rstrip("}").split('",'):
                if not part:
                    continue
                key, _, val = part.partition("=")
                labels.append((key.strip(","), val.strip('"')))
            out[(name, frozenset(labels))] = float(value)
        else:
            out[(head, frozenset())] = float(value)
    return out


# --------------------------------------------------------------------------- the run


@dataclass
class BenchRun:
    """Names of one benchmark run; every topic and app id starts with ``prefix``."""

    broker: str
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slawatch-bench-worker-")))
    workers: list[Worker] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"bench-{self.uid}"

    def settings(self, name: str, *, events_topic: str | None = None, **update: Any) -> Settings:
        """Settings of app ``name`` of this run: its own app id, ticks, alerts and DLQ
        topics, web port and data dir; ``events_topic`` lets apps share an input topic."""
        app = f"{self.prefix}-{name}"
        values: dict[str, Any] = {
            "broker": self.broker,
            "app_id": app,
            "topic_events": events_topic or f"{app}.events",
            "topic_dlq": f"{app}.dlq",
            "topic_alerts": f"{app}.alerts",
            "topic_ticks": f"{app}.ticks",
            "partitions": 8,
            "replication_factor": 1,
            "web_host": "127.0.0.1",
            "web_port": free_port(),
            "data_dir": self.workdir / "data",
            "store": "memory",
            "log_level": "info",
            **update,
        }
        return Settings(**values)

    def worker(self, settings: Settings, name: str) -> Worker:
        w = Worker(settings, self.workdir, name)
        self.workers.append(w)
        return w

    def stop_all(self) -> None:
        for w in self.workers:
            w.stop(timeout=20)

    def delete_topics(self) -> list[str]:
        """Delete this run's topics (and Faust's changelogs of its apps) and consumer
        groups, nothing else: every name starts with this run's unique prefix."""
        admin = make_admin(Settings(broker=self.broker))
        try:
            mine = sorted(t for t in admin.list_topics() if t.startswith(self.prefix))
            if mine:
                admin.delete_topics(mine, raise_errors=False)
            groups = [g["group_id"] for g in admin.list_groups() if str(g.get("group_id", "")).startswith(self.prefix)]
            if groups:
                with contextlib.suppress(Exception):  # a group still closing is left to expire
                    admin.delete_groups(groups)
            return mine
        finally:
            admin.close()

    def remove_workdir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Worker:
    """One ``slawatch worker --config FILE`` subprocess (the real CLI entry point)."""

    settings: Settings
    workdir: Path
    name: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Worker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.yaml"
        env = write_settings_file(self.settings, config)
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "slawatch.cli", "worker", "--config", str(config)]
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start at {datetime.now().astimezone().isoformat()} =====\n".encode())
            log.flush()
            self.started_at = time.time()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            msg = f"worker {self.name} exited with {self.proc.returncode}; log {self.log_path}\n{self.log_tail()}"
            raise RuntimeError(msg)

    def get(self, path: str, timeout: float = 30.0) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return bytes(resp.read())

    def health(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.get("/sla/health", timeout=10)))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def metrics(self, *names: str) -> Metrics:
        """Scrape ``/metrics`` (only the families ``names``, when given)."""
        t0 = time.time()
        query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
        body = self.get("/metrics" + query, timeout=60).decode()
        t1 = time.time()
        return Metrics(parse_metrics(body), t1 - t0, t1)

    def wait_ready(self, timeout: float = 120.0, after: float | None = None) -> dict[str, Any]:
        """Until the worker finished a recovery (index rebuilt), after ``after`` if given."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            doc = self.health()
            if doc and doc.get("index_rebuilt_at"):
                rebuilt = iso_epoch(doc["index_rebuilt_at"])
                if after is None or rebuilt >= after:
                    return doc
            time.sleep(0.2)
        msg = f"worker {self.name} not ready after {timeout} s; log {self.log_path}\n{self.log_tail()}"
        raise RuntimeError(msg)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (Faust flushes and commits), SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self, needle: str) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if needle in line]


def iso_epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --------------------------------------------------------------------------- Kafka


def topic_size(settings: Settings, topic: str) -> int:
    """Messages ever written to ``topic`` (sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def size() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None)
        await consumer.start()
        try:
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(settings.partitions)])
            return int(sum(ends.values()))
        finally:
            await consumer.stop()

    return asyncio.run(size())


def committed_total(settings: Settings, topic: str | None = None) -> int:
    """Sum of the committed offsets of ``settings.app_id``'s group on ``topic``
    (the input topic by default): how many input messages the group finished."""
    topic = topic or settings.topic_events
    admin = make_admin(settings)
    try:
        offsets = admin.list_group_offsets({settings.app_id: None}).get(settings.app_id, {})
    finally:
        admin.close()
    return sum(max(0, om.offset) for tp, om in offsets.items() if tp.topic == topic)


def wait_committed(
    settings: Settings,
    total: int,
    *,
    timeout: float,
    workers: Sequence[Worker] = (),
    every: float = 0.5,
    on_poll: Callable[[int], None] | None = None,
) -> float:
    """Poll the group's committed offsets until they reach ``total``; return the time."""
    deadline = time.monotonic() + timeout
    admin = make_admin(settings)
    try:
        while time.monotonic() < deadline:
            for w in workers:
                w.check_alive()
            offsets = admin.list_group_offsets({settings.app_id: None}).get(settings.app_id, {})
            done = sum(max(0, om.offset) for tp, om in offsets.items() if tp.topic == settings.topic_events)
            if on_poll is not None:
                on_poll(done)
            if done >= total:
                return time.time()
            time.sleep(every)
    finally:
        admin.close()
    msg = f"group {settings.app_id} did not commit {total} input messages within {timeout} s"
    raise TimeoutError(msg)


async def _produce(
    broker: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    partition: int | None,
) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=20, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    n = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value in messages:
            pending.append(await producer.send(topic, value=value, key=key, partition=partition))
            n += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await producer.flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n


def produce(
    broker: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]], partition: int | None = None
) -> int:
    """Send ``(key, value)`` pairs as fast as the broker takes them; return the count."""
    return asyncio.run(_produce(broker, topic, messages, partition))


def ensure_run_topics(settings: Settings) -> None:
    from slawatch.streams.topics import ensure_topics

    with contextlib.redirect_stdout(sys.stderr):
        ensure_topics(settings)
