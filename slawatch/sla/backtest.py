"""Offline replay of an event file through the SLA engine, on the event-time clock.

The clock is event time: it advances with each event's ``occurred_at`` and, before an
event is applied, every ticket's thresholds strictly before that instant fire with
their own instant as ``fired_at`` (the live worker does the same with the wall clock).
``--until`` moves the clock to a final instant at the end, firing thresholds at or
before it. Memory is bounded by open tickets, not by events: duplicates are detected
per ticket, closed-out tickets are dropped after the retention period, and alerts are
written as soon as no later event can produce an earlier one.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import gc
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from slawatch._native import NativeBacktest
from slawatch.csv_mapping import CsvMappingError
from slawatch.exceptions import InvalidEvent, SlawatchError

# File handling is replay's (gzip, stdin, CSV sniffing and mapping): one reader of
# exports for both commands (replay imports no Kafka client at module level).
from slawatch.replay import detect_format, open_export, read_csv
from slawatch.sla.alerts import Alert, format_instant
from slawatch.sla.engine import RETAIN_CLOSED_TICKETS, Observation
from slawatch.sla.events import parse_event, parse_timestamp
from slawatch.sla.policy import Policy, load_policy

__all__ = ["Backtest", "BacktestSummary", "main", "run_backtest"]


@dataclass
class BacktestSummary:
    """KPIs of a backtest run (counts and breach rates per metric and priority)."""

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    held: int = 0
    #: Events applied behind the event-time clock: their ticket's time (the event's, or
    #: the ticket's latest if later) was before an earlier line of another ticket.
    behind_clock: int = 0
    invalid: int = 0
    invalid_by_code: Counter[str] = field(default_factory=Counter)
    alerts_by_kind: Counter[str] = field(default_factory=Counter)
    tickets_created: int = 0
    clocks_stopped: Counter[tuple[str, str]] = field(default_factory=Counter)
    clocks_late: Counter[tuple[str, str]] = field(default_factory=Counter)
    breaches: Counter[tuple[str, str]] = field(default_factory=Counter)
    calendar_warnings: list[str] = field(default_factory=list)
    #: (observation kind or KPI count, department, vendor) -> count: the observations,
    #: and the service documents' KPIs per department and per vendor (third-party repair
    #: agencies are scored on the same measures). One counter: this runs per event.
    counts: Counter[tuple[str, str | None, str | None]] = field(default_factory=Counter)
    #: (department, vendor) -> sum of survey scores.
    score_sums: dict[tuple[str | None, str | None], float] = field(default_factory=dict)

    def observe(self, obs: Observation) -> None:
        kind = obs.kind
        dims = obs.dims
        dept, vendor = dims.department, dims.vendor
        counts = self.counts
        counts[(kind, dept, vendor)] += 1
        if kind == "created":
            self.tickets_created += 1
        elif kind == "responded" or kind == "resolved":
            metric = "response" if kind == "responded" else "resolution"
            key = (metric, dims.priority)
            self.clocks_stopped[key] += 1
            if not obs.ok:
                self.clocks_late[key] += 1
            elif kind == "resolved":
                counts[("on_time", dept, vendor)] += 1
            if obs.first_contact:
                counts[("first_contact", dept, vendor)] += 1
        elif kind == "complaint":
            if not obs.ok:  # ok: the ticket's first complaint
                counts[("repeat_complaint", dept, vendor)] += 1
        elif kind == "survey" and obs.value is not None:
            owner = (dept, vendor)
            self.score_sums[owner] = self.score_sums.get(owner, 0.0) + obs.value

    @property
    def observations(self) -> Counter[str]:
        """Observations by kind (docs/CONTRACTS-dev.md)."""
        total: Counter[str] = Counter()
        for (name, _, _), n in self.counts.items():
            total[name] += n
        return total

    def kpis(self) -> dict[str, Any]:
        """The service documents' KPIs over the file, overall and per department and
        vendor, defined as docs/metrics.md's KPI queries define them on the live metrics."""
        total = self.observations
        groups: dict[str, dict[str | None, Counter[str]]] = {"department": {}, "vendor": {}}
        for (name, dept, vendor), n in self.counts.items():
            groups["department"].setdefault(dept, Counter())[name] += n
            groups["vendor"].setdefault(vendor, Counter())[name] += n
        scores: dict[str, dict[str | None, float]] = {"department": {}, "vendor": {}}
        for (dept, vendor), score in self.score_sums.items():
            scores["department"][dept] = scores["department"].get(dept, 0.0) + score
            scores["vendor"][vendor] = scores["vendor"].get(vendor, 0.0) + score
        return {
            "all": _kpi_figures(total, sum(self.score_sums.values())),
            **{
                f"by_{dim}": {
                    "(none)" if value is None else value: _kpi_figures(counts, scores[dim].get(value, 0.0))
                    for value, counts in sorted(groups[dim].items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
                }
                for dim in ("department", "vendor")
            },
        }

    def to_dict(self) -> dict[str, Any]:
        created = self.tickets_created or 1
        observations = self.observations
        resolved = observations["resolved"]
        rates: dict[str, dict[str, Any]] = {}
        for (metric, prio), n in sorted(self.clocks_stopped.items()):
            late = self.clocks_late[(metric, prio)]
            rates.setdefault(metric, {})[prio] = {
                "stopped": n,
                "late": late,
                "breach_rate": round(late / n, 4) if n else None,
            }
        return {
            "lines": self.lines,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "held_before_created": self.held,
            "behind_clock": self.behind_clock,
            "invalid": self.invalid,
            "invalid_by_code": dict(self.invalid_by_code),
            "tickets_created": self.tickets_created,
            "tickets_resolved": resolved,
            "resolution_rate": round(resolved / created, 4) if self.tickets_created else None,
            "alerts": dict(self.alerts_by_kind),
            "breaches_fired": {f"{m}/{p}": n for (m, p), n in sorted(self.breaches.items())},
            "clocks": rates,
            "complaints": observations["complaint"],
            "reopened": observations["reopened"],
            "surveys": observations["survey"],
            "kpis": self.kpis(),
            "calendar_warnings": self.calendar_warnings,
        }


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _kpi_figures(counts: Counter[str], score_sum: float) -> dict[str, Any]:
    created, resolved, surveys = counts["created"], counts["resolved"], counts["survey"]
    return {
        "tickets_created": created,
        "tickets_resolved": resolved,
        "resolution_rate": _ratio(resolved, created),  # 问题解决率, target >= 0.9
        "on_time_completion_rate": _ratio(counts["on_time"], resolved),  # 服务完成及时率, >= 0.95
        "first_contact_resolution_rate": _ratio(counts["first_contact"], resolved),  # 一次性解决率
        "satisfaction_mean": _ratio(score_sum, surveys),  # 客户满意度, 0-10, >= 8
        "survey_response_rate": _ratio(surveys, resolved),
        # 投诉率 (<= 0.05): tickets with a complaint, i.e. first complaints
        "complaint_rate": _ratio(counts["complaint"] - counts["repeat_complaint"], created),
        "repeat_complaints": counts["repeat_complaint"],  # 二次投诉
        "reopen_rate": _ratio(counts["reopened"], resolved),
        "followup_rate": _ratio(counts["followup"], resolved),  # 回访率
    }


class Backtest:
    """Drive the engine over events on the event-time clock.

    Alerts reach ``sink`` (as :class:`Alert` objects) or ``write`` (as JSON lines, in
    chunks: what the CLI writes) in ``fired_at`` order. Out-of-order input is
    tolerated: alerts are held in a reorder buffer for ``reorder_window`` seconds of
    event time. The loop itself is the native engine's (``slawatch._native``): before an
    event is applied every ticket's thresholds strictly before its instant fire,
    retention is judged when the clock moves, and a duplicate is ignored before the
    clock moves (docs/sla-semantics.md).
    """

    def __init__(
        self,
        policy: Policy,
        sink: Callable[[Alert], None] | None = None,
        *,
        write: Callable[[bytes], object] | None = None,
        retention_seconds: float = 30 * 86400,
        retain_closed: int = RETAIN_CLOSED_TICKETS,
        reorder_window: float = 3600,
    ) -> None:
        self.policy = policy
        self.retention_seconds = retention_seconds
        self._native = NativeBacktest(
            policy,
            write=write,
            sink=None if write is not None else sink,
            retention_seconds=float(retention_seconds),
            # A negative budget keeps none, as 0 does; beyond 2**62 is "all" either way.
            retain_closed=min(max(retain_closed, -1), 2**62),
            reorder_window=float(reorder_window),
        )
        #: One message (a line's bytes, a str or a dict): applied, counted as a
        #: duplicate or held; an invalid one is counted and handed to ``on_invalid``.
        self.feed: Callable[..., None] = self._native.feed
        #: Count a line that is not a valid event (reported, skipped, never fatal).
        self.reject: Callable[..., None] = self._native.reject

    @property
    def clock(self) -> float | None:
        """The event-time clock: the latest event time so far (None before any event)."""
        clock = self._native.clock
        return None if clock is None else _whole_seconds(clock)

    @property
    def states(self) -> frozenset[str]:
        """Ids of the tickets whose state is kept (retention forgets closed-out ones)."""
        return frozenset(self._native.states)

    def advance(self, now: float, inclusive: bool = False) -> None:
        """Fire every ticket's thresholds before ``now`` (at or before, if inclusive)."""
        self._native.advance(float(now), inclusive)

    def flush_output(self) -> None:
        """Hand the alerts already in order to ``write`` (before stopping on an error)."""
        self._native.flush_output()

    def finish(self, until: float | None = None) -> BacktestSummary:
        """Fire what is due (up to ``until``, inclusive), write every alert out, and
        return the KPIs."""
        self._native.finish(None if until is None else float(until))
        summary = BacktestSummary()
        native = self._native.summary()
        for name in ("lines", "applied", "duplicates", "held", "behind_clock", "invalid", "tickets_created"):
            setattr(summary, name, native[name])
        for name in ("invalid_by_code", "alerts_by_kind", "clocks_stopped", "clocks_late", "breaches", "counts"):
            counter = getattr(summary, name)
            for key, n in native[name]:
                counter[key] = n
        summary.score_sums = dict(native["score_sums"])
        summary.calendar_warnings = [
            f"calendar {cal!r}: the holiday preset has no data for {year} and the policy lists "
            f"no holidays/workdays for it; that year is counted as plain weekdays — add the "
            f"official schedule to the policy"
            for cal, year in sorted(
                (name, year) for name, cal in self.policy.calendars.items() for year in cal.years_without_data
            )
        ]
        return summary


def _whole_seconds(t: float) -> float:
    return int(t) if t.is_integer() else t


def run_backtest(
    events: Iterable[tuple[int, bytes]] | Iterable[bytes | str | dict[str, Any]],
    policy: Policy | None = None,
    until: float | None = None,
    sink: Callable[[Alert], None] | None = None,
    on_invalid: Callable[[int | None, InvalidEvent], None] | None = None,
) -> tuple[list[Alert], BacktestSummary]:
    """Library entry point: returns the alerts (when no sink is given) and the summary."""
    collected: list[Alert] = []
    bt = Backtest(policy or load_policy(None), sink or collected.append)
    for item in events:
        if isinstance(item, tuple):
            bt.feed(item[1], item[0], on_invalid)
        else:
            bt.feed(item, None, on_invalid)
    return collected, bt.finish(until)


class _Collector:
    """Takes :func:`_feed_file`'s lines, and the rows it rejects, in place of a :class:`Backtest`."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, bytes | InvalidEvent]] = []

    def feed(self, raw: bytes, line_no: int | None, _report: object = None) -> None:
        self.lines.append((line_no or 0, raw))

    def reject(self, exc: InvalidEvent, line_no: int | None, _report: object = None) -> None:
        self.lines.append((line_no or 0, exc))


def ticket_time_order(lines: Iterable[tuple[int, bytes | InvalidEvent]]) -> list[tuple[int, bytes | InvalidEvent]]:
    """``lines`` in the order a live worker catching up on them as a backlog applies them.

    The key of a line is its ticket's time so far: the latest ``occurred_at`` of that
    line and the ticket's earlier lines. A stable sort on it keeps each ticket's own
    lines in file order (an out-of-order event is still applied at its ticket's latest
    time, as live) and interleaves the tickets by time, so the event-time clock never
    passes a ticket's threshold before that ticket's own earlier-stamped lines are read.
    A line that is not a valid event keeps the key of the line before it.
    """
    keyed: list[tuple[float, int, bytes | InvalidEvent]] = []
    latest: dict[str, float] = {}
    key = float("-inf")
    for line_no, item in lines:
        if not isinstance(item, InvalidEvent):
            try:
                event = parse_event(item)
            except InvalidEvent:
                pass
            else:
                key = max(event.at, latest.get(event.ticket_id, event.at))
                latest[event.ticket_id] = key
        keyed.append((key, line_no, item))
    keyed.sort(key=lambda entry: entry[0])  # stable: file order within a key
    return [(line_no, item) for _, line_no, item in keyed]


def main(args: argparse.Namespace) -> int:
    """``slawatch backtest EVENTS [--format jsonl|csv] [--policy] [--until] [--output] [--summary] [--strict]``.

    EVENTS: JSON Lines or a helpdesk CSV export (mapped as ``slawatch replay`` maps it),
    gzipped or not, or ``-`` for stdin.
    """
    policy = load_policy(args.policy)
    until = None
    if args.until:
        try:
            until = parse_timestamp(args.until, "--until")
        except InvalidEvent as exc:
            raise SlawatchError(f"--until: {exc}") from None
    out_file: IO[bytes]
    out_file = args.output.open("wb") if args.output else sys.stdout.buffer

    def report(line_no: int | None, exc: InvalidEvent) -> None:
        print(f"line {line_no}: skipped: {exc.code}: {exc.message}", file=sys.stderr)

    path = Path(args.events)
    fmt = detect_format(path, getattr(args, "format", None))
    try:
        try:
            source, _ = open_export(path)
        except OSError as exc:
            raise SlawatchError(f"{args.events}: cannot read ({exc.strerror})") from None
        # The replay builds no reference cycles (a 1 M-event run and the fault-injected
        # streams leave nothing for gc.collect()), yet the collector's passes over the
        # growing set of ticket states cost about a tenth of the run: switch it off for
        # the replay only.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            retention = getattr(args, "retention_days", 30.0) * 86400
            retain = getattr(args, "retain_closed", RETAIN_CLOSED_TICKETS)
            bt = Backtest(policy, write=out_file.write, retention_seconds=retention, retain_closed=retain)
            try:
                try:
                    _feed_file(bt, source, fmt, args.events, report, by_ticket_time=getattr(args, "sort", False))
                except BrokenPipeError:  # our stdout's reader went away (`| head`): not the input
                    raise
                except (OSError, EOFError) as exc:  # e.g. a truncated or not-really-gzip file
                    raise SlawatchError(f"{args.events}: cannot read ({exc})") from None
                last_event_time = bt.clock
                summary = bt.finish(until)
            except BaseException:
                # The native loop writes alerts in chunks: those that had left the reorder
                # buffer before the error are written, as a line-by-line writer would have.
                with contextlib.suppress(Exception):
                    bt.flush_output()
                raise
        finally:
            if gc_enabled:
                gc.enable()
            if source is not sys.stdin.buffer:
                source.close()
    finally:
        out_file.flush()
        if args.output:
            out_file.close()
    text = orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode()
    if args.summary:
        Path(args.summary).write_text(text + "\n", encoding="utf-8")
    elif not args.quiet:
        print(text, file=sys.stderr)
    for warning in summary.calendar_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if until is not None and last_event_time is not None and until < last_event_time:
        print(
            f"warning: --until {args.until} lies before the latest event time of the file "
            f"({format_instant(last_event_time, policy.display_timezone)}), so it advanced nothing: every alert "
            f"up to that event is in the output; give an instant after it to see what falls due later",
            file=sys.stderr,
        )
    if summary.behind_clock:
        print(
            f"warning: {summary.behind_clock} event(s) lay behind the event-time clock (the file is not "
            f"in occurred_at order across tickets), so thresholds of their tickets may have fired before "
            f"the tickets' own later lines were read; --sort replays each ticket's lines in time order "
            f"as the live worker applies a backlog (docs/sla-semantics.md)",
            file=sys.stderr,
        )
    if getattr(args, "strict", False) and summary.invalid:
        print(f"error: {summary.invalid} invalid line(s) (--strict)", file=sys.stderr)
        return 1
    return 0


class _LineSink(Protocol):
    """What :func:`_feed_file` hands lines and rejected rows to: a :class:`Backtest`, or
    a :class:`_Collector` that keeps them for ``--sort``."""

    def feed(self, raw: bytes, line_no: int | None, report: Callable[[int | None, InvalidEvent], None], /) -> None: ...

    def reject(
        self, exc: InvalidEvent, line_no: int | None, report: Callable[[int | None, InvalidEvent], None], /
    ) -> None: ...


def _feed_file(
    bt: _LineSink,
    source: IO[bytes],
    fmt: str,
    name: str,
    report: Callable[[int | None, InvalidEvent], None],
    *,
    by_ticket_time: bool = False,
) -> None:
    """Every line (JSON Lines) or row (CSV) of ``source`` into ``bt``, numbered from 1.

    ``by_ticket_time`` (``--sort``): read the whole file first and feed it in the order
    of :func:`ticket_time_order` instead of file order.
    """
    if by_ticket_time:
        collected = _Collector()
        _feed_file(collected, source, fmt, name, report)
        for line_no, item in ticket_time_order(collected.lines):
            if isinstance(item, InvalidEvent):
                bt.reject(item, line_no, report)
            else:
                bt.feed(item, line_no, report)
        return
    feed = bt.feed
    if fmt == "csv":
        try:
            rows, encoding = read_csv(source, keyed=False)
        except CsvMappingError as exc:
            raise SlawatchError(f"{name}: {exc}") from None
        if encoding != "utf-8-sig":
            print(f"backtest: {name} is not UTF-8; reading it as {encoding}", file=sys.stderr)
        for row in rows:
            if row.value is not None:
                feed(row.value, row.number, report)
            else:  # a row the CSV mapping cannot turn into a message (e.g. score "N/A")
                bt.reject(InvalidEvent("bad_row", row.reason or "unreadable row"), row.number, report)
        return
    first = source.readline().removeprefix(codecs.BOM_UTF8)  # as Windows tools write it
    if first and not first.isspace():
        feed(first, 1, report)
    # run_backtest's loop without a generator and a per-item type test in between: the
    # same calls per line, a few percent faster.
    for line_no, line in enumerate(source, 2):
        if line and not line.isspace():  # = line.strip() (the same ASCII whitespace), no copy
            feed(line, line_no, report)
