"""End to end: a real Prometheus scrapes a real worker, and every PromQL expression of the
dashboards and of the alert rules returns data.

One worker (``run_worker`` in a subprocess, from the live tests' harness) reads a topic
of the real broker under the harness's fast policy (deadlines seconds ahead). Debian's
``prometheus`` runs on a free port with its own storage in the test's temporary
directory, scrapes the worker every second and evaluates the project's rule files
(deploy/prometheus/rules/*.yml, unchanged) every second; the pipeline group keeps its
own 30 s interval. The traffic puts a sample behind every query within a minute:

* a past backlog: simulated tickets of the last days (:func:`slawatch.simulate.
  generate_messages`, malformed and duplicate messages included) and hand-made tickets
  that leave an open ticket in every age band and status, surveys and visits due and
  overdue, and a ticket at risk for the whole test;
* live tickets (the harness's ``LIFECYCLES``, twice each, with a survey and a follow-up
  after each resolution) whose warnings, breaches and escalations of levels 1 and 2 the
  worker's timer fires while Prometheus watches.

``increase()`` and ``rate()`` only count what a series gained between two scrapes, so
a series that appeared with all of its events at once increases by nothing. The
backlog is therefore sent in batches a few scrapes apart, and every live lifecycle runs
twice, seconds apart: each label set the live traffic touches moves between scrapes.

Without the ``prometheus`` or ``promtool`` binary these tests are skipped on a
developer's machine and fail under ``CI=true``. Prometheus is killed whatever happens.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from integration.live_harness import (
    LIFECYCLES,
    Producer,
    WorkerProcess,
    create_topics,
    free_port,
    live_settings,
    play,
    realtime_plan,
    write_fast_policy,
)

from slawatch.dashboards.generate import all_queries
from slawatch.settings import Settings
from slawatch.simulate import generate_messages

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
# Long enough for one run of the 30 s pipeline-recording group after the traffic.
DATA_TIMEOUT = 60.0
HOUR = 3600.0
DAY = 86400.0
# Under the test policy this department's tickets have a 1 h resolution target, so a
# ticket created 55 min ago warned at 48 min and breaches at 60 min: at risk throughout.
AT_RISK_DEPARTMENT = "quality"


# --- PromQL ------------------------------------------------------------------------------

_SET_OPERATOR = re.compile(r"(?:and|or|unless)\b(?:\s*(?:on|ignoring)\s*\([^)]*\))?")
_THRESHOLD = re.compile(r"\s*(?:==|!=|<=|>=|<|>)\s*(?:bool\s+)?[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?\s*$")


def _top_level_split(expr: str) -> list[str]:
    """``expr`` cut at its top-level ``and``/``or``/``unless``: operand, operator, operand..."""
    parts: list[str] = []
    depth, start, i, quote = 0, 0, 0, ""
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and not (i and (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
            op = _SET_OPERATOR.match(expr, i)
            if op is not None:
                parts += [expr[start:i], op.group(0)]
                i = start = op.end()
                continue
        i += 1
    parts.append(expr[start:])
    return parts


def without_threshold(expr: str) -> str:
    """``expr`` without the comparisons with a constant at its top level.

    A comparison such as ``ratio < 0.95`` filters: an alert's expression is empty for as
    long as nothing crosses its threshold, which is the healthy, normal state. What must
    return data is the series being filtered, so ``a < 0.95 and on (x) b >= 10``
    becomes ``a and on (x) b`` (which still checks that the ``on (x)`` match works).
    Comparisons inside parentheses are part of the series' definition and stay.
    """
    parts = _top_level_split(expr.strip())
    return " ".join(p.strip() if k % 2 else _THRESHOLD.sub("", p).strip() for k, p in enumerate(parts))


def rule_expressions() -> dict[str, str]:
    """``{"group/record-or-alert name": expr}`` of every rule in deploy/prometheus/rules."""
    out: dict[str, str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                out[f"{group['name']}/{rule.get('record') or rule['alert']}"] = str(rule["expr"]).strip()
    return out


def no_number(data: dict[str, Any]) -> str | None:
    """Why a /api/v1/query result holds no number ("empty", "NaN only"), or None if it does."""
    if data["resultType"] == "scalar":
        values = [data["result"][1]]
    else:
        values = [sample["value"][1] for sample in data["result"]]
    if not values:
        return "empty"
    if all(math.isnan(float(v)) for v in values):
        return "NaN only"
    return None


# --- Prometheus --------------------------------------------------------------------------


def require_binary(name: str) -> str:
    """The path of ``name``; a skip without it, a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not found: apt-get install prometheus (Debian's package ships prometheus and promtool)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return path


@dataclass
class Prometheus:
    """A ``prometheus`` server scraping one worker, with config and storage in ``workdir``."""

    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, worker_port: int) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in RULE_FILES],
            # job="slawatch", as in deploy/prometheus: rules and boards select up{job="slawatch"}.
            "scrape_configs": [{"job_name": "slawatch", "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        argv = [
            self.binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                msg = f"prometheus exited with {self.proc.returncode}\n{self.log_tail()}"
                raise AssertionError(msg)
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        msg = f"prometheus not ready after {timeout} s\n{self.log_tail()}"
        raise AssertionError(msg)

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a successful API answer (POSTed: long queries do not fit a URL)."""
        body = urllib.parse.urlencode(params).encode() if params else None
        with urllib.request.urlopen(self.url + path, data=body, timeout=10) as resp:
            doc = json.loads(resp.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> dict[str, Any]:
        try:
            return dict(self.api("/api/v1/query", query=expr))
        except urllib.error.HTTPError as exc:  # a query Prometheus rejects: show why
            msg = f"prometheus rejected {expr!r}: {exc.read().decode(errors='replace')}"
            raise AssertionError(msg) from exc

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def eventually(problems: Callable[[], dict[str, str]], timeout: float = DATA_TIMEOUT) -> dict[str, str]:
    """``problems()`` asked every 2 s until it is empty or ``timeout`` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = problems()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(2)


@dataclass
class Stack:
    prometheus: Prometheus
    worker: WorkerProcess

    def without_data(self, exprs: Iterable[str]) -> dict[str, str]:
        """The queries that hold no number, with what they gave instead, once all of them
        answer in the same round or DATA_TIMEOUT has passed."""
        exprs = list(exprs)
        return eventually(lambda: {e: why for e in exprs if (why := no_number(self.prometheus.query(e))) is not None})

    def logs(self) -> str:
        return f"--- prometheus log ---\n{self.prometheus.log_tail()}\n--- worker log ---\n{self.worker.log_tail(30)}"


# --- traffic ----------------------------------------------------------------------------

Step = tuple[float, str, dict[str, Any]]  # (seconds ago, event type, fields)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def write_policy(directory: Path) -> Path:
    """The harness's fast policy, plus a 1 h resolution target for AT_RISK_DEPARTMENT."""
    path = write_fast_policy(directory)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["overrides"] = [
        {"when": {"department": AT_RISK_DEPARTMENT}, "targets": {"resolution": {"duration": "1h", "calendar": "24x7"}}}
    ]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def backlog_tickets(now: float, prefix: str) -> list[dict[str, Any]]:
    """Past tickets that leave a sample in every scrape-time gauge when the test queries.

    Open in each age band from ``1h_4h`` to ``gt_7d`` (``lt_1h``: the live tickets) and
    in each open status; resolved 2 and 9 days ago with neither survey nor visit (both
    due, both overdue); and an ``AT_RISK_DEPARTMENT`` ticket created 55 min ago.
    """

    def created(ago: float, priority: str, department: str = "repair") -> Step:
        return (ago, "ticket.created", {
            "priority": priority, "category": "service", "channel": "phone", "department": department,
            "product_line": "hvac", "vendor": "vendor_a",
        })  # fmt: skip

    tickets: dict[str, list[Step]] = {
        "open-1h_4h": [created(2 * HOUR, "normal")],
        "open-4h_1d": [
            created(6 * HOUR, "urgent"),
            (5 * HOUR, "ticket.status_changed", {"status": "in_progress"}),
        ],
        "open-1d_3d": [
            created(2 * DAY, "major"),
            (2 * DAY - 60, "ticket.responded", {}),
            (DAY, "ticket.status_changed", {"status": "waiting_customer"}),
        ],
        "open-3d_7d": [created(4 * DAY, "normal", "installation")],
        "open-gt_7d": [created(9 * DAY, "urgent", "logistics")],
        "resolved-2d": [
            created(2 * DAY + 900, "normal"),
            (2 * DAY + 600, "ticket.responded", {}),
            (2 * DAY, "ticket.resolved", {"first_contact": True}),
        ],
        "resolved-9d": [created(9 * DAY + 900, "major"), (9 * DAY, "ticket.resolved", {"first_contact": False})],
        "at-risk": [created(55 * 60, "normal", AT_RISK_DEPARTMENT), (54 * 60, "ticket.responded", {})],
    }
    return [
        {
            "event_id": f"{prefix}-{name}-{i}",
            "type": etype,
            "ticket_id": f"{prefix}-{name}",
            "occurred_at": _iso(now - ago),
            **fields,
        }
        for name, steps in tickets.items()
        for i, (ago, etype, fields) in enumerate(steps)
    ]


def backlog_messages(now: float, prefix: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of the hand-made past tickets and of four days of simulated ones."""
    messages = [(e["ticket_id"].encode(), orjson.dumps(e)) for e in backlog_tickets(now, prefix)]
    simulated = generate_messages(
        6,
        datetime.fromtimestamp(now, UTC) - timedelta(days=4),
        rate=0.01,
        tickets=60,
        until=datetime.fromtimestamp(now - 600, UTC),
        malformed=0.03,
        duplicates=0.03,
    )
    messages += [(m.key, m.value) for m in simulated]
    return messages


def live_plan(start: float, prefix: str) -> list[tuple[float, dict[str, Any]]]:
    """Every harness lifecycle twice, with first_contact told and after-care events.

    After a ticket's last resolution come a survey (0.6 s) and a follow-up (1.2 s);
    scores, methods and outcomes vary so each label value occurs.
    """
    plan = realtime_plan(start, list(LIFECYCLES), copies=2, spread=0.5, prefix=prefix)
    last_resolved: dict[str, tuple[float, dict[str, Any]]] = {}
    for send_at, event in plan:
        if event["type"] == "ticket.resolved":
            if not event["ticket_id"].startswith(f"{prefix}-late_response"):  # leaves "unknown"
                event["first_contact"] = "-on_time-" in event["ticket_id"]
            last_resolved[event["ticket_id"]] = (send_at, event)
    methods = ("phone", "online", "visit")
    for n, (ticket_id, (resolved_at, event)) in enumerate(sorted(last_resolved.items())):
        base = {"ticket_id": ticket_id}
        survey = {**base, "event_id": f"{event['event_id']}-survey", "type": "survey.submitted", "score": (9, 4)[n % 2]}
        followup = {
            **base, "event_id": f"{event['event_id']}-followup", "type": "followup.completed",
            "method": methods[n % 3], "satisfied": n % 2 == 0,
        }  # fmt: skip
        for delay, extra in ((0.6, survey), (1.2, followup)):
            plan.append((resolved_at + delay, {**extra, "occurred_at": _iso(resolved_at + delay)}))
    plan.sort(key=lambda se: se[0])
    return plan


def feed(producer: Producer, prefix: str) -> None:
    """The backlog in five batches two scrapes apart, then the live tickets in real time."""
    messages = backlog_messages(time.time(), prefix)
    size = math.ceil(len(messages) / 5)
    for first in range(0, len(messages), size):
        for key, value in messages[first : first + size]:
            producer.send(value, key=key)
        producer.flush()
        time.sleep(2.0)
    play(producer, live_plan(time.time() + 0.5, prefix))


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker fed with the traffic above and a Prometheus scraping it (killed after)."""
    binary = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus-e2e")
    settings = live_settings(
        Settings(broker=kafka_bootstrap), workdir, "prom", partitions=2, policy_file=write_policy(workdir)
    )
    create_topics(settings)
    worker = WorkerProcess(settings, workdir, "worker")
    prometheus = Prometheus(binary, workdir)
    producer: Producer | None = None
    try:
        worker.start()
        prometheus.start(settings.web_port)
        prometheus.wait_ready()
        worker.wait_ready(90)
        producer = Producer(settings)
        feed(producer, f"e2e{uuid.uuid4().hex[:6]}")
        yield Stack(prometheus, worker)
    finally:
        if producer is not None:
            producer.close()
        prometheus.stop()
        worker.stop()


# --- the tests -----------------------------------------------------------------------------


def test_without_threshold_keeps_the_filtered_series() -> None:
    assert without_threshold('up{job="slawatch"} == 0') == 'up{job="slawatch"}'
    assert without_threshold("a:ratio1h < 0.95\nand on (department, metric)\nb:increase1h >= 10") == (
        "a:ratio1h and on (department, metric) b:increase1h"
    )
    assert without_threshold("(sum(increase(x[15m])) or on () vector(0)) == 0") == (
        "(sum(increase(x[15m])) or on () vector(0))"
    )
    # Inside parentheses a comparison defines the series; label values are not operators.
    kept = '(sum(rate(x[5m])) > 0) or (y{kind="or"} unless y offset 10m)'
    assert without_threshold(kept) == kept
    assert without_threshold("count(up == 0) or vector(0)") == "count(up == 0) or vector(0)"
    assert without_threshold("sum(a_and_b) / sum(c) > 1e-3") == "sum(a_and_b) / sum(c)"


#: What the traffic must have made happen: PromQL and the least value it must reach.
EXERCISED: dict[str, tuple[str, float]] = {
    "warnings": ("sum(slawatch_sla_warnings_total)", 1),
    "breaches": ("sum(slawatch_sla_breaches_total)", 1),
    "level-1 escalations": ('sum(slawatch_sla_escalations_total{level="1"})', 1),
    "level-2 escalations": ('sum(slawatch_sla_escalations_total{level="2"})', 1),
    "first complaints": ('sum(slawatch_complaints_total{repeat="false"})', 1),
    "repeat complaints": ('sum(slawatch_complaints_total{repeat="true"})', 1),
    "surveys": ("sum(slawatch_satisfaction_score_count)", 1),
    "follow-ups": ("sum(slawatch_followups_total)", 1),
    "reopenings": ("sum(slawatch_tickets_reopened_total)", 1),
    "closings": ("sum(slawatch_tickets_closed_total)", 1),
    "first-contact resolutions": ('sum(slawatch_tickets_resolved_total{first_contact="true"})', 1),
    "late resolutions": ('sum(slawatch_tickets_resolved_total{on_time="false"})', 1),
    "clocks stopped within target": ('sum(slawatch_sla_clocks_stopped_total{within_target="true"})', 1),
    "duplicates": ("sum(slawatch_events_duplicate_total)", 1),
    "dead letters": ("sum(slawatch_events_dead_lettered_total)", 1),
    "timer-fired alerts": ("sum(slawatch_alert_delay_seconds_count)", 1),
    "tickets at risk": ("sum(slawatch_tickets_at_risk)", 1),
    "open statuses": ("count(sum by (status) (slawatch_open_tickets))", 3),
    "age bands": ("count(sum by (age) (slawatch_open_tickets_by_age))", 6),
    "survey and visit, due and overdue": ("count(sum by (kind, state) (slawatch_followups_due))", 4),
}


def test_the_traffic_exercises_every_kpi(stack: Stack) -> None:
    def short() -> dict[str, str]:
        out: dict[str, str] = {}
        for what, (expr, least) in EXERCISED.items():
            result = stack.prometheus.query(expr)["result"]
            got = float(result[0]["value"][1]) if result else None
            if got is None or got < least:
                out[what] = f"{expr} = {got}, expected >= {least}"
        return out

    missing = eventually(short)
    lines = [f"  {what}: {why}" for what, why in missing.items()]
    assert not missing, "the traffic did not produce:\n" + "\n".join(lines) + "\n" + stack.logs()


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    queries = {q: without_threshold(q) for q in all_queries()}
    problems = stack.without_data(set(queries.values()))
    failed = [
        f"  [{problems[asked]}] {asked}" + (f"\n      (the board's query: {query})" if asked != query else "")
        for query, asked in queries.items()
        if asked in problems
    ]
    assert not failed, (
        f"{len(failed)} of {len(queries)} dashboard queries returned no data:\n"
        + "\n".join(failed)
        + "\n"
        + stack.logs()
    )


def test_every_rule_expression_returns_data(stack: Stack) -> None:
    # Recording rules are asked as they are; an alert's threshold is taken off (see
    # without_threshold), so what is asked is whether the series it watches exist.
    rules = {name: without_threshold(expr) for name, expr in rule_expressions().items()}
    assert len(rules) >= 30, sorted(rules)
    problems = stack.without_data(set(rules.values()))
    failed = [f"  {name} [{problems[expr]}]: {expr}" for name, expr in rules.items() if expr in problems]
    assert not failed, (
        f"{len(failed)} of {len(rules)} rule expressions returned no data:\n" + "\n".join(failed) + "\n" + stack.logs()
    )


def test_prometheus_evaluates_every_rule_without_error(stack: Stack) -> None:
    expected = {name.split("/", 1)[1] for name in rule_expressions()}
    loaded: set[str] = set()

    def unhealthy() -> dict[str, str]:
        rules = [r for g in stack.prometheus.api("/api/v1/rules")["groups"] for r in g["rules"]]
        loaded.update(r["name"] for r in rules)
        return {r["name"]: f"{r['health']} {r.get('lastError') or ''}" for r in rules if r["health"] != "ok"}

    bad = eventually(unhealthy)
    assert loaded == expected
    assert not bad, f"rules not evaluated cleanly: {bad}\n{stack.logs()}"


def test_worker_metrics_pass_promtool_check_metrics(stack: Stack) -> None:
    promtool = require_binary("promtool")
    exposition = stack.worker.get("/metrics")
    assert b"slawatch_sla_escalations_total{" in exposition  # the real, busy output
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
    )
    report = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, report
    assert report.strip() == "", report
