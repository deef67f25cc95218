"""Helpers for the live acceptance tests: worker subprocesses, producing, reading alerts.

Each test gets its own app id, topics and web port, so tests never share a consumer
group or a message. Workers are real ``run_worker`` processes (the code path of
``slawatch worker``), started with short Kafka session timeouts so that a killed worker's
partitions move in seconds rather than Faust's default minute. Their logs go to files
under the test's ``tmp_path``; :meth:`WorkerProcess.log_tail` shows them on failure.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

with warnings.catch_warnings():
    # kafka-python 3.0 loads its protocol schemas through a deprecated importlib API
    # at import time; the warning names importlib, so pytest's kafka.* filter misses it.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

from slawatch.settings import Settings, write_settings_file
from slawatch.sla.alerts import Alert
from slawatch.sla.backtest import run_backtest
from slawatch.sla.events import parse_timestamp
from slawatch.sla.policy import load_policy

# Short timeouts: a killed member is noticed after the session timeout (the broker's
# minimum is 6 s), and the survivors rejoin within a heartbeat or two.
FAST_FAUST_OPTIONS: dict[str, Any] = {
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 12.0,
    "broker_commit_interval": 0.5,
}

# Deadlines seconds ahead, every second counts: the live tests run in wall-clock time.
FAST_POLICY = """\
version: 1
display_timezone: Asia/Shanghai
warn_fraction: 0.8
calendars:
  24x7: {timezone: Asia/Shanghai, always_open: true}
targets:
  normal:
    response:   {duration: 10s, calendar: 24x7}
    resolution: {duration: 30s, calendar: 24x7}
  urgent:
    response:   {duration: 5s, calendar: 24x7}
    resolution: {duration: 20s, calendar: 24x7}
  major:
    response:   {duration: 4s, calendar: 24x7}
    resolution: {duration: 12s, calendar: 24x7}
complaint:
  target: {duration: 20s, calendar: 24x7}
overrides: []
escalation:
  - {level: 1, at: 1.0, role: department_supervisor}
  - {level: 2, at: 1.5, role: after_sales_director}
routing:
  default:
    1: {name: Supervisor on duty, contact: oncall-supervisor}
    2: {name: After-sales director, contact: after-sales-director}
  departments: {}
"""

_BOOT = (
    "import json, sys\n"
    "from slawatch.settings import load_settings\n"
    "from slawatch.agents.worker import run_worker\n"
    "sys.exit(run_worker(load_settings(sys.argv[1]), **json.loads(sys.argv[2])))\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_settings(
    base: Settings,
    tmp_path: Path,
    name: str,
    *,
    partitions: int = 4,
    policy_file: Path | None = None,
) -> Settings:
    """``base`` (the broker) with a unique app id, topics, web port and data dir."""
    uid = uuid.uuid4().hex[:8]
    return base.model_copy(
        update={
            "app_id": f"live-{name}-{uid}",
            "topic_events": f"live-{name}-{uid}.events",
            "topic_dlq": f"live-{name}-{uid}.dlq",
            "topic_alerts": f"live-{name}-{uid}.alerts",
            "topic_ticks": f"live-{name}-{uid}.ticks",
            "partitions": partitions,
            "replication_factor": 1,
            "web_host": "127.0.0.1",
            "web_port": free_port(),
            "data_dir": tmp_path / "data",
            "policy_file": policy_file,
            "timer_interval_seconds": 0.1,
            "store": "memory",
            "log_level": "info",
        }
    )


def write_fast_policy(tmp_path: Path) -> Path:
    path = tmp_path / "fast-policy.yaml"
    path.write_text(FAST_POLICY, encoding="utf-8")
    return path


def create_topics(settings: Settings) -> None:
    """Create the four topics up front, so producing can start before a worker runs."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options())
    try:
        names = (settings.topic_events, settings.topic_dlq, settings.topic_alerts, settings.topic_ticks)
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, settings.partitions, settings.replication_factor)])
    finally:
        admin.close()


@dataclass
class WorkerProcess:
    """One ``run_worker`` subprocess; ``web_port`` tells workers of one app apart."""

    settings: Settings
    workdir: Path
    name: str = "w"
    faust_options: dict[str, Any] = field(default_factory=lambda: dict(FAST_FAUST_OPTIONS))
    cli: bool = False
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.yaml"
        env = write_settings_file(self.settings, config)
        env["PYTHONUNBUFFERED"] = "1"
        if self.cli:
            argv = [sys.executable, "-m", "slawatch.cli", "worker", "--config", str(config)]
        else:
            argv = [sys.executable, "-c", _BOOT, str(config), json.dumps(self.faust_options)]
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} at {datetime.now(UTC).isoformat()} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        log.close()
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url + "/sla/health", timeout=2) as resp:
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return bytes(resp.read())

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Until the worker has finished a recovery (index built, summaries read)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            doc = self.health()
            if doc and doc.get("index_rebuilt_at") and not doc.get("summaries_pending"):
                return doc
            time.sleep(0.2)
        msg = f"worker {self.name} not ready after {timeout} s\n{self.log_tail()}"
        raise AssertionError(msg)

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            msg = f"worker {self.name} exited with {self.proc.returncode}\n{self.log_tail()}"
            raise AssertionError(msg)

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the group."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait: the clean shutdown path."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def wait_partitions_settled(workers: Sequence[WorkerProcess], partitions: int, timeout: float = 60.0) -> None:
    """Until the live workers own every partition exactly once and have rebuilt."""
    deadline = time.monotonic() + timeout
    last: list[Any] = []
    while time.monotonic() < deadline:
        docs = [w.health() for w in workers]
        last = docs
        if all(d and d.get("index_rebuilt_at") for d in docs):
            owned = [p for d in docs if d for p in d["partitions"]]
            if sorted(owned) == list(range(partitions)):
                return
        time.sleep(0.3)
    msg = f"partitions never settled over {len(workers)} workers: {last}"
    raise AssertionError(msg)


class Producer:
    """A kafka-python producer keyed by ticket id, flushing on request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, linger_ms=0, acks="all", **settings.kafka_client_options()
        )

    def send(self, value: bytes | dict[str, Any], key: bytes | None = None) -> None:
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        if key is None and isinstance(value, dict):
            key = str(value["ticket_id"]).encode()
        self._producer.send(self.settings.topic_events, key=key, value=raw)

    def flush(self) -> None:
        self._producer.flush(30)

    def close(self) -> None:
        self._producer.close(10)


@dataclass(frozen=True)
class LiveAlert:
    record: dict[str, Any]
    published_at: float  # Kafka timestamp (producer create time), epoch s
    partition: int

    @property
    def fired_at(self) -> float:
        return datetime.fromisoformat(self.record["fired_at"]).timestamp()

    @property
    def signature(self) -> tuple[str, str, str, int | None]:
        r = self.record
        return (r["ticket_id"], r["metric"], r["kind"], r["level"])


class TopicReader:
    """Reads a topic from the beginning with a group-less consumer."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = KafkaConsumer(
            topic,
            bootstrap_servers=settings.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            **settings.kafka_client_options(),
        )
        self.records: list[Any] = []

    def poll(self, timeout: float = 0.5) -> int:
        n = 0
        for batch in self._consumer.poll(timeout_ms=int(timeout * 1000)).values():
            self.records.extend(batch)
            n += len(batch)
        return n

    def until(self, done: Callable[[list[Any]], bool], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done(self.records):
            self.poll(0.3)
        return self.records

    def quiet(self, seconds: float, timeout: float = 60.0) -> list[Any]:
        """Read until nothing arrived for ``seconds``."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < seconds:
            if self.poll(0.3):
                last = time.monotonic()
        return self.records

    def close(self) -> None:
        self._consumer.close()


def live_alerts(records: Iterable[Any]) -> list[LiveAlert]:
    return [LiveAlert(orjson.loads(r.value), r.timestamp / 1000.0, r.partition) for r in records]


def backtest(events: Sequence[dict[str, Any] | bytes], policy_file: Path | None, until: float) -> list[Alert]:
    alerts, _summary = run_backtest(list(events), load_policy(policy_file), until)
    return alerts


def compare(
    live: Sequence[LiveAlert], expected: Sequence[Alert], *, before: float, tolerance: float = 1.0
) -> list[str]:
    """Differences between live alerts and the backtest's, for thresholds before ``before``.

    Repeats of one alert (at-least-once) must be identical; each signal (ticket,
    metric, kind, level) must appear live exactly when the backtest has it, with
    ``fired_at`` within ``tolerance`` seconds and the same ``alert_id``.
    """
    problems: list[str] = []
    by_sig: dict[tuple[str, str, str, int | None], LiveAlert] = {}
    for a in live:
        if a.fired_at >= before:
            continue
        seen = by_sig.get(a.signature)
        if seen is not None and seen.record != a.record:
            problems.append(f"repeat differs: {seen.record} vs {a.record}")
        by_sig[a.signature] = a
    want = {(a.ticket_id, a.metric, a.kind, a.level): a for a in expected if a.fired_at < before}
    for sig, a in sorted(want.items(), key=lambda kv: kv[1].fired_at):
        got = by_sig.get(sig)
        if got is None:
            problems.append(f"missing live: {sig} fired_at={a.fired_at}")
            continue
        if abs(got.fired_at - a.fired_at) > tolerance:
            problems.append(f"fired_at differs for {sig}: live {got.fired_at} backtest {a.fired_at}")
        if got.record["alert_id"] != a.alert_id:
            problems.append(f"alert_id differs for {sig}")
    for sig in sorted(set(by_sig) - set(want), key=str):
        problems.append(f"unexpected live: {sig} fired_at={by_sig[sig].fired_at}")
    return problems


# --- real-time ticket lifecycles under FAST_POLICY --------------------------------------
#
# Offsets (seconds after creation) keep every event at least 0.5 s away from every
# threshold instant of its ticket, so wall-clock jitter cannot change which of "event"
# and "threshold" comes first. FAST_POLICY instants: major response 3.2/4/4/6,
# resolution 9.6/12/12/18; urgent response 4/5/5/7.5, resolution 16/20/20/30; normal
# response 8/10/10/15; complaint 16/20 after the second complaint.

Step = tuple[float, str, dict[str, Any]]

LIFECYCLES: dict[str, list[Step]] = {
    # Nothing after creation: every threshold fires by the timer (the "no event" case).
    "silent_major": [(0.0, "ticket.created", {"priority": "major"})],
    "on_time": [
        (0.0, "ticket.created", {"priority": "urgent"}),
        (2.0, "ticket.responded", {}),
        (9.0, "ticket.resolved", {}),
        (11.0, "ticket.closed", {}),
    ],
    "late_response": [
        (0.0, "ticket.created", {"priority": "major"}),
        (5.0, "ticket.responded", {}),
        (8.0, "ticket.resolved", {}),
    ],
    "paused": [
        (0.0, "ticket.created", {"priority": "urgent"}),
        (1.0, "ticket.responded", {}),
        (3.0, "ticket.status_changed", {"status": "waiting_customer"}),
        (8.0, "ticket.status_changed", {"status": "in_progress"}),
        (22.0, "ticket.resolved", {}),  # resolution warns at 21 (16 s + 5 s paused)
    ],
    "priority_raised_past_target": [
        (0.0, "ticket.created", {"priority": "normal"}),
        (11.0, "ticket.priority_changed", {"priority": "major"}),  # response 1.5x exceeded at once
        (13.0, "ticket.responded", {}),
        (15.0, "ticket.resolved", {}),
    ],
    "repeat_complaint": [
        (0.0, "ticket.created", {"priority": "urgent"}),
        (1.0, "ticket.responded", {}),
        (2.5, "ticket.complaint", {"text": "slow"}),
        (6.5, "ticket.complaint", {"text": "still slow"}),  # level 2 at once
        (13.0, "ticket.resolved", {}),
    ],
    "reopened": [
        (0.0, "ticket.created", {"priority": "major"}),
        (1.0, "ticket.responded", {}),
        (5.0, "ticket.resolved", {}),
        (7.0, "ticket.reopened", {}),
        (13.0, "ticket.resolved", {}),  # resolution warns at 11.6 (9.6 s of clock)
    ],
    "response_before_created": [
        (1.0, "ticket.responded", {}),  # sent first: the ticket is held until created
        (1.5, "ticket.created", {"priority": "major", "_occurred_offset": 0.0}),
    ],
}


#: What a live test's ``ticket.created`` carries unless it says otherwise: the fields the
#: contract requires beyond the ids, the type, the time and the priority.
CREATED_DEFAULTS: dict[str, Any] = {"category": "service", "department": "repair", "channel": "phone"}


def ticket_created(event_id: str, ticket_id: str, *, priority: str = "normal") -> dict[str, Any]:
    """A valid ``ticket.created`` occurring now, with :data:`CREATED_DEFAULTS`."""
    return {
        "event_id": event_id,
        "type": "ticket.created",
        "ticket_id": ticket_id,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "priority": priority,
        **CREATED_DEFAULTS,
    }


def lifecycle_events(name: str, ticket_id: str, t0: float, prefix: str) -> list[tuple[float, dict[str, Any]]]:
    """``(send_at, event)`` for one ticket; ``occurred_at`` is the send time unless the
    step says otherwise (``_occurred_offset``, for out-of-order delivery)."""
    out: list[tuple[float, dict[str, Any]]] = []
    for i, (offset, etype, fields) in enumerate(LIFECYCLES[name]):
        fields = dict(fields)
        occurred = t0 + fields.pop("_occurred_offset", offset)
        event: dict[str, Any] = {
            "event_id": f"{prefix}-{ticket_id}-{i}",
            "type": etype,
            "ticket_id": ticket_id,
            "occurred_at": datetime.fromtimestamp(occurred, UTC).isoformat(timespec="milliseconds"),
            **fields,
        }
        if etype == "ticket.created":
            event = {**CREATED_DEFAULTS, **event}
        out.append((t0 + offset, event))
    return out


def realtime_plan(
    start: float, names: Sequence[str], copies: int, spread: float, prefix: str
) -> list[tuple[float, dict[str, Any]]]:
    """``copies`` tickets of each lifecycle, created ``spread`` seconds apart in turn."""
    plan: list[tuple[float, dict[str, Any]]] = []
    n = 0
    for c in range(copies):
        for name in names:
            t0 = start + n * spread
            plan.extend(lifecycle_events(name, f"{prefix}-{name}-{c}", t0, prefix))
            n += 1
    plan.sort(key=lambda se: se[0])
    return plan


def play(
    producer: Producer, plan: Sequence[tuple[float, dict[str, Any]]], *, on_tick: Callable[[float], None] | None = None
) -> None:
    """Produce each event at its send time (wall clock), flushing each one."""
    for send_at, event in plan:
        delay = send_at - time.time()
        if delay > 0:
            time.sleep(delay)
        if on_tick is not None:
            on_tick(send_at)
        producer.send(event)
        producer.flush()


def last_instant(plan: Sequence[tuple[float, dict[str, Any]]]) -> float:
    return max(parse_timestamp(e["occurred_at"]) for _, e in plan)
