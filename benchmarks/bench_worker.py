"""Live worker benchmarks against a real Kafka broker (run on demand, never in CI).

    /tmp/venv/bin/python benchmarks/bench_worker.py --broker 127.0.0.1:9092 \\
        --events 300000 --open-tickets 100000,300000,1000000 --markdown worker.md

Every worker is a real ``slawatch worker --config FILE`` subprocess. Each run uses its
own ``bench-<uid>`` topics and app ids, deletes only those at the end (``--keep`` keeps
them) and stops every worker it started. Figures (``--only`` picks some):

``throughput``
    One worker drains a pre-filled input topic (``--events`` simulated events, 8
    partitions), from "index rebuilt" (its first recovery done, streams resume) to the
    processing time of the last input message (``slawatch_last_event_processed_...``),
    once the group's committed offsets (read through the admin API, which costs the
    worker nothing) reached the total. Measured between two runs of a plain aiokafka
    consumer that only ``orjson.loads`` the same messages from the same topic.
``scaleout``
    Two workers of one app on the same topic; the rate counts from the moment both own
    their partitions (a scrape of both) to the last message.
``alert-latency``
    ``--alert-tickets`` tickets created over 30 s under a policy whose response
    thresholds fall 24-75 s ahead (warning, breach, escalation 1 and 2: 4 alerts per
    ticket); delay = receive time on the alerts topic - the threshold instant
    (``fired_at``).
``metric-latency``
    A steady stream at ``--steady-fraction`` of the measured throughput (or
    ``--steady-rate``), with a marker event every ``--marker-every`` s (a
    ``ticket.created`` of department ``bench_marker``, all to partition 0 so their order
    holds); delay = first ``/metrics`` response showing the marker - its send time (an
    upper bound, within one poll interval).
``state`` / ``recovery``
    Open tickets (``ticket.created`` with the simulator's fields) filled in steps
    (``--open-tickets``); worker RSS per open ticket for each store (``--stores``).
    Then, at the largest step: SIGTERM, a probe ticket whose warning is overdue, restart;
    time from the restart to the probe's alert on the alerts topic (changelog restore,
    index rebuild, timer).

The machine is shared: numbers are noisy, so each comparison is measured side by side
in the same run and reported as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workerlib import (  # the sibling module: benchmarks/ is not a package
    BenchRun,
    Metrics,
    Worker,
    cpu_seconds,
    ensure_run_topics,
    free_port,
    iso_epoch,
    percentile,
    produce,
    topic_size,
    wait_committed,
)

from slawatch.settings import Settings

FIGURES = ("throughput", "scaleout", "alert-latency", "metric-latency", "state", "recovery")
ALIASES = {"latency": ("alert-latency", "metric-latency"), "all": FIGURES}
MARKER_DEPARTMENT = "bench_marker"
#: Simulated events per simulated second at ``--rate 5`` (measured: 300k events span ~40 h).
SIM_EVENTS_PER_SECOND = 2.1

# Response thresholds 24 s (warning), 30 s (breach + escalation 1) and 45 s (escalation
# 2) after creation, every second counts; nothing else comes due within 8 hours.
ALERT_POLICY = """\
version: 1
display_timezone: Asia/Shanghai
warn_fraction: 0.8
calendars:
  24x7: {timezone: Asia/Shanghai, always_open: true}
targets:
  normal: {response: {duration: 30s, calendar: 24x7}, resolution: {duration: 8h, calendar: 24x7}}
  urgent: {response: {duration: 30s, calendar: 24x7}, resolution: {duration: 8h, calendar: 24x7}}
  major: {response: {duration: 30s, calendar: 24x7}, resolution: {duration: 8h, calendar: 24x7}}
complaint:
  target: {duration: 8h, calendar: 24x7}
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
ALERTS_PER_TICKET = 4


# --------------------------------------------------------------------------- results


@dataclass
class Figure:
    key: str
    label: str
    value: str
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def line(self) -> str:
        verdict = "" if self.met is None else ("  [goal met]" if self.met else "  [goal MISSED]")
        goal = f"  (goal {self.goal})" if self.goal else ""
        note = f"  - {self.note}" if self.note else ""
        return f"{self.label}: {self.value}{goal}{verdict}{note}"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, fig: Figure) -> None:
        self.figures.append(fig)
        print(">>", fig.line(), flush=True)

    def markdown(self, command: str, machine: dict[str, str]) -> str:
        rows = [
            "| figure | measured | goal | met |",
            "| --- | --- | --- | --- |",
        ]
        for f in self.figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            value = f.value + (f" ({f.note})" if f.note else "")
            rows.append(f"| {f.label} | {value} | {f.goal} | {met} |")
        head = [
            f"Command: `{command}`",
            "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
            "",
        ]
        return "\n".join([*head, *rows, ""])


def log(msg: str) -> None:
    print(f"[{datetime.now().astimezone().strftime('%H:%M:%S')}] {msg}", flush=True)


def machine_info(broker: str) -> dict[str, str]:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "RAM": f"{mem_kib / 1024 / 1024:.0f} GiB",
        "Python": platform.python_version(),
        "Kafka": kafka_version(broker),
        "load (1 min) at start": f"{os.getloadavg()[0]:.2f}",
    }


def kafka_version(broker: str) -> str:
    """The broker's version as ``slawatch kafka status`` reports it (local broker), else
    the highest API version set kafka-python recognises."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "slawatch.cli", "kafka", "status", "--broker", broker],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            if key == "version" and value.strip():
                return value.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


class CpuSampler:
    """Samples (wall time, CPU seconds) of some pids and of the whole machine."""

    def __init__(self, pids: Sequence[int], every: float = 0.25) -> None:
        self.pids = list(pids)
        self.every = every
        self.samples: list[tuple[float, list[float], tuple[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _machine() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def _sample(self) -> None:
        try:
            cpus = [cpu_seconds(p) for p in self.pids]
        except (OSError, ValueError):
            return
        self.samples.append((time.time(), cpus, self._machine()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> tuple[list[float], float]:
        """Per-pid CPU utilisation (1.0 = one core) and the machine's busy share
        (1.0 = every core) over ``[t0, t1]``, from the nearest samples."""
        if len(self.samples) < 2:
            return [float("nan")] * len(self.pids), float("nan")
        a = min(self.samples, key=lambda s: abs(s[0] - t0))
        b = min(self.samples, key=lambda s: abs(s[0] - t1))
        if b[0] <= a[0]:
            return [float("nan")] * len(self.pids), float("nan")
        wall = b[0] - a[0]
        per_pid = [(cb - ca) / wall for ca, cb in zip(a[1], b[1], strict=True)]
        busy = (b[2][0] - a[2][0]) / max(1, b[2][1] - a[2][1])
        return per_pid, busy


# --------------------------------------------------------------------------- inputs


def simulated_backlog(n: int, seed: int, rate: float) -> tuple[list[tuple[bytes, bytes]], float, float]:
    """``n`` simulated messages whose simulated time ends about now (a catch-up backlog).

    Returns the messages and the first and last simulated instants (epoch s).
    """
    from slawatch.simulate import generate_messages

    now = time.time()
    span = n / (SIM_EVENTS_PER_SECOND * rate / 5.0)
    start = datetime.fromtimestamp((int(now - span) // 3600) * 3600, UTC)
    out: list[tuple[bytes, bytes]] = []
    first = last = 0.0
    for m in generate_messages(seed, start, rate=rate):
        if not out:
            first = m.at
        out.append((m.key, m.value))
        last = m.at
        if len(out) >= n:
            break
    return out, first, last


def created_templates(count: int = 2000, seed: int = 3) -> list[dict[str, Any]]:
    """``ticket.created`` events of the simulator (all its fields), as templates."""
    from slawatch.simulate import generate_events

    out: list[dict[str, Any]] = []
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for ev in generate_events(seed, start, rate=5.0):
        if ev["type"] == "ticket.created":
            out.append(ev)
            if len(out) >= count:
                break
    return out


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def open_ticket_events(
    templates: Sequence[dict[str, Any]], prefix: str, first: int, last: int, at: float
) -> Iterator[tuple[bytes, bytes]]:
    """``ticket.created`` for tickets ``first..last-1``, all created at ``at``.

    ``major`` becomes ``urgent`` so that no threshold comes due while the steps run
    (major's 24x7 30 min response would fire its warning after 24 min).
    """
    occurred = iso_ms(at)
    dumps = orjson.dumps
    for i in range(first, last):
        ev = dict(templates[i % len(templates)])
        ticket_id = f"{prefix}-t{i:07d}"
        ev["event_id"] = f"{prefix}-e{i:07d}"
        ev["ticket_id"] = ticket_id
        ev["occurred_at"] = occurred
        if ev.get("priority") == "major":
            ev["priority"] = "urgent"
        yield ticket_id.encode(), dumps(ev)


def created_event(ticket_id: str, event_id: str, at: float, *, priority: str = "normal", **fields: Any) -> bytes:
    ev = {
        "event_id": event_id,
        "type": "ticket.created",
        "ticket_id": ticket_id,
        "occurred_at": iso_ms(at),
        "priority": priority,
        "category": "service",
        "channel": "phone",
        "department": "repair",
        **fields,
    }
    return orjson.dumps(ev)


# --------------------------------------------------------------------------- decode floor

DECODE = r"""
import asyncio, json, sys, time, orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

async def main(broker, topic, partitions, total):
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads = orjson.loads
        n = 0
        t0, c0 = time.time(), time.process_time()
        while n < total:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    loads(record.value)
                n += len(records)
        t1, c1 = time.time(), time.process_time()
    finally:
        await consumer.stop()
    print(json.dumps({"n": n, "seconds": t1 - t0, "cpu": c1 - c0}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


# A Faust app with slawatch's Faust options whose agent only decodes (or also writes one
# table entry per message): what Faust itself costs per message on this machine. The
# clock starts when its (empty) table's recovery is done, like the worker's.
FAUST_FLOOR = r"""
import json, os, sys, time, orjson, faust
broker, topic, total, mode, port, datadir, app_id = sys.argv[1:8]
sys.argv[1:8] = []  # the rest is Faust's command line ("worker -l warn")
total = int(total)
app = faust.App(app_id, broker=f"kafka://{broker}", store="memory://", topic_partitions=8,
                processing_guarantee="at_least_once", autodiscover=False, stream_publish_on_commit=False,
                consumer_auto_offset_reset="earliest", web_port=int(port), web_host="127.0.0.1",
                datadir=datadir)
source = app.topic(topic, key_serializer="raw", value_serializer="raw")
table = app.Table("floor", partitions=8, key_type=str, value_type=bytes)
state = {"n": 0, "t0": None, "c0": None}

@table.on_recover
async def recovered():
    if state["t0"] is None:
        state["t0"], state["c0"] = time.time(), time.process_time()

def finish():
    seconds = time.time() - state["t0"]
    cpu = time.process_time() - state["c0"]
    with open(os.path.join(datadir, "result.json"), "w") as f:
        json.dump({"n": total, "seconds": seconds, "cpu": cpu}, f)

@app.agent(source)
async def floor(stream):
    loads = orjson.loads
    if mode == "take":  # Faust's batching API: does it escape the per-message cost?
        async for values in stream.take(1000, within=0.05):
            for value in values:
                loads(value)
            before, state["n"] = state["n"], state["n"] + len(values)
            if before < total <= state["n"]:
                finish()
        return
    async for event in stream.events():
        doc = loads(event.value)
        if mode == "table":
            table[doc["ticket_id"]] = event.value
        state["n"] += 1
        if state["n"] == total:
            finish()

app.main()
"""


def faust_floor(run: BenchRun, topic: str, n: int, mode: str, timeout: float = 1800) -> dict[str, float]:
    """Run :data:`FAUST_FLOOR` (``mode`` ``decode`` or ``table``) until it did ``n``."""
    datadir = run.workdir / f"floor-{mode}"
    datadir.mkdir(parents=True, exist_ok=True)
    result = datadir / "result.json"
    argv = [sys.executable, "-c", FAUST_FLOOR, run.broker, topic, str(n), mode, str(free_port()), str(datadir),
            f"{run.prefix}-floor-{mode}", "worker", "-l", "warn"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    with (datadir / "log.txt").open("wb") as log_file:
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=datadir)
    try:
        deadline = time.monotonic() + timeout
        while not result.exists():
            if proc.poll() is not None:
                msg = f"Faust floor ({mode}) exited with {proc.returncode}; log {datadir / 'log.txt'}"
                raise RuntimeError(msg)
            if time.monotonic() > deadline:
                msg = f"Faust floor ({mode}) did not finish {n} messages in {timeout} s"
                raise TimeoutError(msg)
            time.sleep(0.2)
        time.sleep(0.1)
        doc: dict[str, float] = json.loads(result.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    doc["rate"] = doc["n"] / doc["seconds"]
    return doc


def decode_floor(broker: str, topic: str, partitions: int, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", DECODE, broker, topic, str(partitions), str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    doc: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    doc["rate"] = doc["n"] / doc["seconds"]
    return doc


# --------------------------------------------------------------------------- workers on a backlog


@dataclass
class DrainResult:
    workers: int
    events: int
    rate: float  # events/s from the moment every worker owned its partitions
    rate_from_ready: float  # events/s from the (last) index rebuild; exact for one worker
    seconds: float
    cpu: list[float]
    machine_busy: float
    duplicates: float
    partitions: list[list[int]]
    index_rebuilds: list[int]
    ticks: int  # ticks the workers sent themselves by the end of the drain
    alerts: int


def settle(workers: Sequence[Worker], partitions: int, timeout: float = 180.0) -> list[dict[str, Any]]:
    """Until every worker has rebuilt and the workers own each partition exactly once."""
    deadline = time.monotonic() + timeout
    docs: list[dict[str, Any] | None] = []
    while time.monotonic() < deadline:
        for w in workers:
            w.check_alive()
        docs = [w.health() for w in workers]
        if all(d and d.get("index_rebuilt_at") for d in docs):
            owned = sorted(p for d in docs if d for p in d["partitions"])
            if owned == list(range(partitions)):
                return [d for d in docs if d]
        time.sleep(0.1)
    msg = f"partitions never settled over {len(workers)} workers: {docs}"
    raise RuntimeError(msg)


def drain(
    run: BenchRun, name: str, topic: str, n: int, k: int, *, profile: Path | None = None, timeout: float = 1800
) -> DrainResult:
    """``k`` workers of a fresh app drain ``n`` messages of ``topic``."""
    base = run.settings(name, events_topic=topic)
    ensure_run_topics(base)
    workers = [run.worker(base.model_copy(update={"web_port": free_port()}), f"{name}-{i}") for i in range(k)]
    for w in workers:
        w.start()
    spy: subprocess.Popen[bytes] | None = None
    try:
        with CpuSampler([w.pid for w in workers]) as sampler:
            settle(workers, base.partitions)
            first = [w.metrics() for w in workers]
            t_settled = max(m.at - m.seconds / 2 for m in first)
            applied0 = sum(m.total("slawatch_events_applied_total") for m in first)
            if profile is not None:
                profile.parent.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(workers[0].pid),
                     "--rate", "97", "--format", "raw", "--output", str(profile), "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            wait_committed(base, n, timeout=timeout, workers=workers)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            last = [w.metrics() for w in workers]
            docs = [w.health() or {} for w in workers]
            ticks, alerts = topic_size(base, base.topic_ticks), topic_size(base, base.topic_alerts)
        applied = sum(m.total("slawatch_events_applied_total") for m in last)
        dead = sum(m.total("slawatch_events_dead_lettered_total") for m in last)
        dups = sum(m.total("slawatch_events_duplicate_total") for m in last)
        if applied + dead < n:
            log(f"warning: {name}: applied {applied:.0f} + dead-lettered {dead:.0f} < {n}")
        t_end = max(m.value("slawatch_last_event_processed_timestamp_seconds") or 0.0 for m in last)
        t_ready = max(iso_epoch(d["index_rebuilt_at"]) for d in docs)
        rebuilds = [len(w.log_lines("deadline index rebuilt")) for w in workers]
        cpu, busy = sampler.between(max(t_ready, t_settled), t_end)
        return DrainResult(
            workers=k,
            events=n,
            rate=(n - applied0) / (t_end - t_settled),
            rate_from_ready=n / (t_end - t_ready) if k == 1 else (n - applied0) / (t_end - t_settled),
            seconds=t_end - t_ready,
            cpu=cpu,
            machine_busy=busy,
            duplicates=dups,
            partitions=[sorted(d.get("partitions", [])) for d in docs],
            index_rebuilds=rebuilds,
            ticks=ticks,
            alerts=alerts,
        )
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        for w in workers:
            w.stop()


def bench_throughput(run: BenchRun, args: argparse.Namespace, report: Report, want: set[str]) -> float | None:
    log(f"generating {args.events:,} simulated events (seed {args.seed}, peak rate {args.rate}/s)")
    messages, first, last = simulated_backlog(args.events, args.seed, args.rate)
    topic = f"{run.prefix}.backlog"
    ensure_run_topics(run.settings("backlog", events_topic=topic))
    t0 = time.perf_counter()
    produce(run.broker, topic, messages)
    log(
        f"produced {len(messages):,} messages to {topic} in {time.perf_counter() - t0:.1f} s; simulated "
        f"{iso_ms(first)} .. {iso_ms(last)} ({(last - first) / 3600:.1f} h)"
    )
    n = len(messages)
    del messages
    rate: float | None = None
    if "throughput" in want:
        floors = []
        log("decode floor #1: plain aiokafka consumer + orjson.loads")
        floors.append(decode_floor(run.broker, topic, 8, n))
        log(f"  {floors[-1]['rate']:,.0f} msg/s")
        faust_rates: dict[str, dict[str, float]] = {}
        if not args.no_faust_floor:
            for mode in ("decode", "take", "table"):
                extra = {"table": " and writes one table entry", "take": ", in stream.take(1000) batches"}.get(mode, "")
                log(f"Faust floor: an agent that only decodes{extra}")
                faust_rates[mode] = faust_floor(run, topic, n, mode)
                log(f"  {faust_rates[mode]['rate']:,.0f} msg/s")
        one = drain(run, "tp1", topic, n, 1, profile=args.profile)
        log(
            f"  one worker: {one.rate_from_ready:,.0f} events/s over {one.seconds:.1f} s, worker CPU "
            f"{one.cpu[0]:.0%} of a core, machine busy {one.machine_busy:.0%}; {one.ticks:,} ticks and "
            f"{one.alerts:,} alerts sent by the end"
        )
        log("decode floor #2")
        floors.append(decode_floor(run.broker, topic, 8, n))
        log(f"  {floors[-1]['rate']:,.0f} msg/s")
        floor = sum(f["rate"] for f in floors) / len(floors)
        rate = one.rate_from_ready
        report.details["throughput"] = {"worker": one.__dict__, "decode_floor": floors, "faust_floor": faust_rates}
        report.add(
            Figure(
                "throughput", "Throughput, one worker (events/s)", f"{rate:,.0f}", ">= 20,000",
                rate >= 20_000,
                f"worker CPU {one.cpu[0]:.0%} of a core; machine busy {one.machine_busy:.0%}",
            )
        )  # fmt: skip
        report.add(
            Figure(
                "throughput-ratio", "Throughput / plain aiokafka+orjson consumer", f"{rate / floor:.2f}",
                ">= 0.5", rate / floor >= 0.5,
                f"consumer {floor:,.0f} msg/s (mean of runs before and after: "
                + ", ".join(f"{f['rate']:,.0f}" for f in floors) + ")",
            )
        )  # fmt: skip
        for mode, label in (
            ("decode", "decodes"),
            ("take", "decodes, in stream.take(1000) batches"),
            ("table", "decodes and writes one table entry"),
        ):
            if mode in faust_rates:
                fr = faust_rates[mode]["rate"]
                report.add(
                    Figure(
                        f"faust-floor-{mode}", f"Faust agent that only {label} (msg/s)", f"{fr:,.0f}", "", None,
                        f"worker / this = {rate / fr:.2f}; this / plain consumer = {fr / floor:.3f}",
                    )
                )  # fmt: skip
    if "scaleout" in want:
        if rate is None:
            one = drain(run, "so1", topic, n, 1)
            rate = one.rate_from_ready
            log(f"  one worker: {rate:,.0f} events/s")
        two = drain(run, "so2", topic, n, 2)
        log(
            f"  two workers: {two.rate:,.0f} events/s after settling, partitions {two.partitions}, CPU "
            + ", ".join(f"{c:.0%}" for c in two.cpu)
            + f", machine busy {two.machine_busy:.0%}, index rebuilds {two.index_rebuilds}, duplicates "
            f"{two.duplicates:.0f}"
        )
        report.details["scaleout"] = two.__dict__
        report.add(
            Figure(
                "scaleout", "Scale-out: two workers / one (8 partitions)", f"{two.rate / rate:.2f}x",
                "", None,
                f"{two.rate:,.0f} vs {rate:,.0f} events/s; workers' CPU "
                + " + ".join(f"{c:.0%}" for c in two.cpu)
                + f" of a core, machine busy {two.machine_busy:.0%} of {os.cpu_count()} cores",
            )
        )  # fmt: skip
    return rate


# --------------------------------------------------------------------------- alert latency


async def _alert_latency(settings: Settings, tickets: int, spread: float, prefix: str) -> list[tuple[float, float]]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=10,
    )  # fmt: skip
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=5)
    await producer.start()
    received: list[tuple[float, float]] = []
    try:
        tps = [TopicPartition(settings.topic_alerts, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        t0 = time.time() + 2.0
        for i in range(tickets):
            ticket = f"{prefix}-a{i:06d}"
            value = created_event(ticket, f"{prefix}-ae{i:06d}", t0 + i * spread / tickets)
            await producer.send(settings.topic_events, value=value, key=ticket.encode())
        await producer.flush()
        want = tickets * ALERTS_PER_TICKET
        deadline = t0 + spread + 45 + 30
        while len(received) < want and time.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for r in records:
                    fired = datetime.fromisoformat(orjson.loads(r.value)["fired_at"]).timestamp()
                    received.append((fired, now))
    finally:
        await producer.stop()
        await consumer.stop()
    return received


def bench_alert_latency(run: BenchRun, args: argparse.Namespace, report: Report) -> None:
    policy = run.workdir / "alert-policy.yaml"
    policy.write_text(ALERT_POLICY, encoding="utf-8")
    settings = run.settings("alerts", policy_file=policy)
    ensure_run_topics(settings)
    w = run.worker(settings, "alerts").start()
    try:
        w.wait_ready()
        n = args.alert_tickets
        log(f"alert latency: {n:,} tickets created over {args.alert_spread:.0f} s, {n * ALERTS_PER_TICKET:,} alerts")
        with CpuSampler([w.pid]) as sampler:
            got = asyncio.run(_alert_latency(settings, n, args.alert_spread, run.prefix))
        m = w.metrics()
    finally:
        w.stop()
    delays = [recv - fired for fired, recv in got]
    if not delays:
        report.add(Figure("alert-latency", "Alert latency", "no alerts received", "p99 <= 1 s", False))
        return
    fired = [f for f, _ in got]
    cpu, _busy = sampler.between(min(fired), max(fired))
    in_worker = m.total("slawatch_alert_delay_seconds_sum") / max(1.0, m.total("slawatch_alert_delay_seconds_count"))
    p50, p99, mx = percentile(delays, 50), percentile(delays, 99), max(delays)
    report.details["alert_latency"] = {
        "alerts": len(delays), "expected": n * ALERTS_PER_TICKET, "p50": p50, "p99": p99, "max": mx,
        "worker_mean_publish_delay": in_worker, "worker_cpu": cpu[0],
    }  # fmt: skip
    report.add(
        Figure(
            "alert-latency", "Alert latency, fired_at to receipt on the alerts topic",
            f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {mx:.3f} s", "p99 <= 1 s", p99 <= 1.0,
            f"{len(delays):,}/{n * ALERTS_PER_TICKET:,} alerts due within {max(fired) - min(fired):.0f} s; worker "
            f"CPU {cpu[0]:.0%}; worker-side mean publish delay {in_worker:.3f} s",
        )
    )  # fmt: skip


# --------------------------------------------------------------------------- event to metric


#: Like a Prometheus server. The other polls ask only for the marker's family
#: (``/metrics?name[]=...``): a full exposition costs the worker ~0.1 s of CPU, which at
#: four polls a second would become the load being measured.
FULL_SCRAPE_EVERY = 15.0


async def _steady(
    w: Worker,
    messages: Sequence[tuple[bytes, bytes]],
    rate: float,
    seconds: float,
    *,
    marker_every: float,
    poll_every: float,
    prefix: str,
) -> tuple[list[float], list[float], float]:
    """Produce ``messages`` at ``rate``/s for ``seconds`` with markers; poll /metrics."""
    from aiokafka import AIOKafkaProducer

    settings = w.settings
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent_at: list[float] = []
    seen_at: list[float] = []
    scrape_seconds: list[float] = []
    done = asyncio.Event()

    probe = ("slawatch_tickets_created_total",)
    full_at = 0.0

    async def poll() -> None:
        nonlocal full_at
        while not done.is_set() or len(seen_at) < len(sent_at):
            t_req = time.time()
            full = t_req - full_at >= FULL_SCRAPE_EVERY
            try:
                m: Metrics = await asyncio.to_thread(w.metrics, *(() if full else probe))
            except (urllib.error.URLError, OSError):
                await asyncio.sleep(poll_every)
                continue
            if full:
                full_at = t_req
                scrape_seconds.append(m.seconds)
            count = int(m.total("slawatch_tickets_created_total", department=MARKER_DEPARTMENT))
            while len(seen_at) < min(count, len(sent_at)):
                seen_at.append(m.at)
            if done.is_set() and time.time() - t_req > 60:
                break
            await asyncio.sleep(max(0.0, poll_every - (time.time() - t_req)))

    poller = asyncio.create_task(poll())
    try:
        t0 = time.time()
        i = 0
        next_marker = t0
        while (now := time.time()) < t0 + seconds:
            target = min(len(messages), int((now - t0) * rate))
            while i < target:
                key, value = messages[i]
                await producer.send(settings.topic_events, value=value, key=key)
                i += 1
            if now >= next_marker:
                k = len(sent_at)
                ticket = f"{prefix}-m{k:05d}"
                value = created_event(ticket, f"{prefix}-me{k:05d}", now, department=MARKER_DEPARTMENT)
                sent_at.append(time.time())
                await producer.send(settings.topic_events, value=value, key=ticket.encode(), partition=0)
                next_marker += marker_every
            await asyncio.sleep(0.005)
        achieved = i / (time.time() - t0)
        await producer.flush()
        done.set()
        try:
            await asyncio.wait_for(poller, 120)
        except TimeoutError:
            log(f"  {len(sent_at) - len(seen_at)} of {len(sent_at)} markers not on /metrics 120 s after the end")
    finally:
        done.set()
        poller.cancel()
        await producer.stop()
    # A marker never seen counts as infinitely late: the percentiles must not forget it.
    seen = [s - p for p, s in zip(sent_at, seen_at, strict=False)]
    return seen + [float("inf")] * (len(sent_at) - len(seen)), scrape_seconds, achieved


def bench_metric_latency(run: BenchRun, args: argparse.Namespace, report: Report, max_rate: float | None) -> None:
    if args.steady_rate:
        rate = args.steady_rate
        basis = "--steady-rate"
    elif max_rate:
        rate = max_rate * args.steady_fraction
        basis = f"{args.steady_fraction:.0%} of the measured {max_rate:,.0f} events/s"
    else:
        rate = 5000.0
        basis = "default 5,000/s (throughput not measured in this run)"
    n = int(rate * args.steady_seconds) + 1000
    log(f"event-to-metric latency: {rate:,.0f} events/s for {args.steady_seconds:.0f} s ({basis})")
    messages, _first, _last = simulated_backlog(n, args.seed + 1, args.rate)
    departments = (*Settings().departments, MARKER_DEPARTMENT)
    settings = run.settings("steady", departments=departments)
    ensure_run_topics(settings)
    w = run.worker(settings, "steady").start()
    try:
        w.wait_ready()
        with CpuSampler([w.pid]) as sampler:
            t0 = time.time()
            delays, scrapes, achieved = asyncio.run(
                _steady(w, messages, rate, args.steady_seconds, marker_every=args.marker_every,
                        poll_every=args.poll_every, prefix=run.prefix)
            )  # fmt: skip
            t1 = t0 + args.steady_seconds
        health = w.health() or {}
    finally:
        w.stop()
    cpu, busy = sampler.between(t0 + 5, t1)
    warm = int(5 / args.marker_every)  # the first 5 s warm up
    steady = delays[warm:] or delays
    p50, p99, mx = percentile(steady, 50), percentile(steady, 99), max(steady) if steady else float("nan")
    report.details["metric_latency"] = {
        "rate": rate, "achieved": achieved, "markers": len(steady), "p50": p50, "p99": p99, "max": mx,
        "scrape_p50": percentile(scrapes, 50), "scrape_max": max(scrapes) if scrapes else None,
        "worker_cpu": cpu[0], "machine_busy": busy, "tickets_at_end": health.get("tickets"),
    }  # fmt: skip
    report.add(
        Figure(
            "metric-latency", "Event-to-metric latency at a steady 50% load",
            f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {mx:.3f} s", "p99 <= 1 s", p99 <= 1.0,
            f"{achieved:,.0f} events/s produced ({basis}), {len(steady)} markers, /metrics polled every "
            f"{args.poll_every} s (marker family only; full scrape every {FULL_SCRAPE_EVERY:.0f} s, p50 "
            f"{percentile(scrapes, 50) * 1000:.0f} ms), worker CPU {cpu[0]:.0%}",
        )
    )  # fmt: skip


# --------------------------------------------------------------------------- state size and recovery


async def _first_alert_after_restart(w: Worker, timeout: float) -> tuple[float, float]:
    """Restart ``w``; return (restart time, receipt time of the first new alert)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    settings = w.settings
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topic_alerts, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before the worker can publish
            await consumer.position(tp)
        t_restart = time.time()
        w.start()
        deadline = t_restart + timeout
        while time.time() < deadline:
            w.check_alive()
            batches = await consumer.getmany(timeout_ms=100)
            if any(batches.values()):
                return t_restart, time.time()
        msg = f"no alert within {timeout} s of the restart"
        raise TimeoutError(msg)
    finally:
        await consumer.stop()


def bench_state(run: BenchRun, args: argparse.Namespace, report: Report, want: set[str]) -> None:
    levels = sorted({int(x) for x in str(args.open_tickets).split(",") if x.strip()})
    templates = created_templates()
    for store in args.stores.split(","):
        store = store.strip()
        settings = run.settings(f"state-{store}", store=store)
        ensure_run_topics(settings)
        w = run.worker(settings, f"state-{store}").start()
        rows: list[dict[str, Any]] = []
        try:
            w.wait_ready()
            time.sleep(3)
            rss0 = w.rss_kib()
            log(f"state ({store} store): idle worker RSS {rss0 / 1024:.0f} MiB")
            have = 0
            for level in levels:
                t0 = time.time()
                produce(run.broker, settings.topic_events, open_ticket_events(templates, run.prefix, have, level, t0))
                t_prod = time.time()
                cpu0 = w.cpu_seconds()
                wait_committed(settings, level, timeout=3600, workers=[w])
                m = w.metrics()
                t_done = m.value("slawatch_last_event_processed_timestamp_seconds") or time.time()
                cpu1 = w.cpu_seconds()
                time.sleep(3)
                rss = w.rss_kib()
                m2 = w.metrics()
                health = w.health() or {}
                row = {
                    "open_tickets": level, "rss_kib": rss, "per_ticket_bytes": (rss - rss0) * 1024 / level,
                    "fill_rate": (level - have) / max(1e-9, t_done - t0), "produce_seconds": t_prod - t0,
                    "scrape_seconds": m2.seconds, "tickets": health.get("tickets"), "fill_cpu": cpu1 - cpu0,
                }  # fmt: skip
                if rows:
                    prev = rows[-1]
                    row["slope_bytes"] = (rss - prev["rss_kib"]) * 1024 / (level - prev["open_tickets"])
                rows.append(row)
                log(
                    f"  {level:>9,} open tickets: RSS {rss / 1024:8.0f} MiB, {row['per_ticket_bytes']:6.0f} B/ticket"
                    + (f" (slope {row['slope_bytes']:.0f} B/ticket)" if "slope_bytes" in row else "")
                    + f", filled at {row['fill_rate']:,.0f} events/s, /metrics scrape {m2.seconds:.2f} s"
                )
                have = level
            top = rows[-1]
            note = ", ".join(f"{r['open_tickets']:,}: {r['per_ticket_bytes']:.0f} B" for r in rows)
            if len(rows) > 1:
                note += f"; slope {top['slope_bytes']:.0f} B/ticket"
            note += f"; RSS {top['rss_kib'] / 1024:,.0f} MiB at {top['open_tickets']:,}; idle {rss0 / 1024:.0f} MiB"
            note += f"; /metrics scrape {top['scrape_seconds']:.2f} s"
            if "state" in want:
                per = top["per_ticket_bytes"]
                report.add(
                    Figure(
                        f"state-{store}", f"RSS per open ticket, {store} store ({top['open_tickets']:,} tickets)",
                        f"{per:,.0f} B", "<= 1 KiB (memory store)" if store == "memory" else "",
                        per <= 1024 if store == "memory" else None, note,
                    )
                )  # fmt: skip
            rec: dict[str, Any] = {}
            if "recovery" in want:
                rec = recovery(run, w, settings, top["open_tickets"])
                report.add(
                    Figure(
                        f"recovery-{store}",
                        f"Recovery to first alert, {store} store ({top['open_tickets']:,} tickets)",
                        f"{rec['seconds']:.1f} s", "<= 30 s at 1M",
                        rec["seconds"] <= 30.0 if top["open_tickets"] >= 1_000_000 else None,
                        f"process start to ready {rec['ready_seconds']:.1f} s; {rec['rebuild_line']}; "
                        f"summaries read (state gauges whole) {rec['summaries_seconds']:.1f} s after the restart; "
                        f"RSS after recovery {rec['rss_kib'] / 1024:,.0f} MiB",
                    )
                )  # fmt: skip
            report.details[f"state_{store}"] = {"idle_rss_kib": rss0, "levels": rows, "recovery": rec}
        finally:
            w.stop()


def recovery(run: BenchRun, w: Worker, settings: Settings, tickets: int) -> dict[str, Any]:
    """Stop ``w``, add a probe ticket whose warning is overdue, restart, time the alert."""
    log(f"  recovery: stopping the worker with {tickets:,} open tickets in the changelog")
    t0 = time.time()
    w.stop(timeout=120)
    log(f"  stopped in {time.time() - t0:.1f} s")
    # default policy: major response 30 min on 24x7, warning at 24 min -> overdue now.
    probe = f"{run.prefix}-probe-{int(time.time())}"
    value = created_event(probe, probe + "-e", time.time() - 25 * 60, priority="major")
    produce(run.broker, settings.topic_events, [(probe.encode(), value)])
    t_restart, t_alert = asyncio.run(_first_alert_after_restart(w, timeout=900))
    doc = w.wait_ready(timeout=600, after=t_restart)
    while (doc.get("summaries_pending") or 0) > 0:  # the state gauges' input, read in the background
        time.sleep(0.2)
        doc = w.health() or doc
    t_whole = time.time()
    rebuilt = w.log_lines("deadline index rebuilt")
    line = rebuilt[-1].split("deadline index rebuilt: ", 1)[-1] if rebuilt else "no rebuild line"
    out = {
        "seconds": t_alert - t_restart,
        "ready_seconds": iso_epoch(doc["index_rebuilt_at"]) - t_restart,
        "summaries_seconds": t_whole - t_restart,
        "rebuild_line": "index rebuilt: " + line,
        "rss_kib": w.rss_kib(),
    }
    log(f"  first alert {out['seconds']:.1f} s after the restart ({out['rebuild_line']})")
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--events", type=int, default=300_000, help="pre-filled backlog for throughput/scale-out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=5.0, help="simulator peak new tickets per simulated second")
    ap.add_argument(
        "--open-tickets", default="100000,300000,1000000", help="open-ticket steps for state/recovery (comma list)"
    )
    ap.add_argument("--stores", default="memory,rocksdb")
    ap.add_argument("--alert-tickets", type=int, default=3000)
    ap.add_argument("--alert-spread", type=float, default=30.0, help="seconds over which the tickets are created")
    ap.add_argument("--steady-rate", type=float, help="events/s for metric-latency (default: a fraction of max)")
    ap.add_argument("--steady-fraction", type=float, default=0.5)
    ap.add_argument("--steady-seconds", type=float, default=60.0)
    ap.add_argument("--marker-every", type=float, default=0.5)
    ap.add_argument("--poll-every", type=float, default=0.25, help="/metrics poll interval for metric-latency")
    ap.add_argument("--no-faust-floor", action="store_true", help="skip the trivial Faust agent runs")
    ap.add_argument("--only", default="all", help=f"comma list of {', '.join(FIGURES)} (or latency, all)")
    ap.add_argument("--profile", type=Path, help="py-spy raw profile of the throughput worker to this file")
    ap.add_argument("--markdown", type=Path, help="write the results as a markdown fragment here")
    ap.add_argument("--json", type=Path, help="write every figure and detail as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep this run's topics and work directory")
    return ap.parse_args(argv)


def selected(only: str) -> set[str]:
    want: set[str] = set()
    for name in (x.strip() for x in only.split(",") if x.strip()):
        if name in ALIASES:
            want.update(ALIASES[name])
        elif name in FIGURES:
            want.add(name)
        else:
            msg = f"--only: unknown figure {name!r}; choose from {', '.join((*FIGURES, *ALIASES))}"
            raise SystemExit(msg)
    return want


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    want = selected(args.only)
    run = BenchRun(args.broker)
    report = Report()
    machine = machine_info(args.broker)
    command = "python benchmarks/bench_worker.py " + " ".join(sys.argv[1:] if argv is None else argv)
    log(f"run {run.prefix}, work dir {run.workdir}; " + ", ".join(f"{k} {v}" for k, v in machine.items()))

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, on_signal)
    started = time.time()
    try:
        max_rate: float | None = None
        if want & {"throughput", "scaleout"}:
            max_rate = bench_throughput(run, args, report, want)
        if "alert-latency" in want:
            bench_alert_latency(run, args, report)
        if "metric-latency" in want:
            bench_metric_latency(run, args, report, max_rate)
        if want & {"state", "recovery"}:
            bench_state(run, args, report, want)
    finally:
        run.stop_all()
        if not args.keep:
            deleted = run.delete_topics()
            log(f"deleted this run's {len(deleted)} topics")
            run.remove_workdir()
    log(f"done in {timedelta(seconds=round(time.time() - started))}")
    print()
    for f in report.figures:
        print(f.line())
    if args.markdown:
        args.markdown.write_text(report.markdown(command, machine), encoding="utf-8")
        log(f"markdown fragment -> {args.markdown}")
    if args.json:
        doc = {"machine": machine, "command": command, "figures": [f.__dict__ for f in report.figures],
               "details": report.details}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
