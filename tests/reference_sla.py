"""A deliberately naive, independent reading of sla.md, used only by the differential
tests: no prefix sums, no memo, no shared code with ``slawatch.sla`` beyond nothing.

Business time is walked day by day; a threshold's instant is found by binary search on
whole seconds. Slow, simple, and written from the spec text alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

SH = ZoneInfo("Asia/Shanghai")
HOUR = 3600
TARGETS = {  # (priority, metric) -> (seconds, calendar)
    ("normal", "response"): (4 * HOUR, "biz"),
    ("urgent", "response"): (1 * HOUR, "biz"),
    ("major", "response"): (30 * 60, "24x7"),
    ("normal", "resolution"): (5 * 9 * HOUR, "biz"),
    ("urgent", "resolution"): (3 * 9 * HOUR, "biz"),
    ("major", "resolution"): (7 * 9 * HOUR, "biz"),
}
COMPLAINT = (48 * HOUR, "24x7")


@cache
def is_workday(d: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


def biz_seconds(a: int, b: int, cal: str) -> int:
    if b <= a:
        return 0
    if cal == "24x7":
        return b - a
    total = 0
    day = datetime.fromtimestamp(a, SH).date()
    last = datetime.fromtimestamp(b, SH).date()
    while day <= last:
        if is_workday(day):
            lo = int(datetime(day.year, day.month, day.day, 9, tzinfo=SH).timestamp())
            hi = int(datetime(day.year, day.month, day.day, 18, tzinfo=SH).timestamp())
            total += max(0, min(b, hi) - max(a, lo))
        day += timedelta(days=1)
    return total


@cache
def reach(since: int, acc: int, goal: float, cal: str) -> int:
    """Smallest whole second t >= since with acc + biz(since, t) >= goal."""
    if acc >= goal:
        return since
    lo, hi = since, since + 86400
    while acc + biz_seconds(since, hi, cal) < goal:
        hi += (hi - since) * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if acc + biz_seconds(since, mid, cal) >= goal:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class RClock:
    metric: str
    target: int
    cal: str
    acc: int = 0
    since: int = 0
    running: bool = True
    paused: bool = False
    sent: set[tuple[str, int | None]] = field(default_factory=set)

    def marks(self) -> list[tuple[str, int | None, float]]:
        out: list[tuple[str, int | None, float]] = [
            ("sla.warning", None, 0.8 * self.target),
            ("sla.breached", None, self.target),
        ]
        if self.metric != "complaint":
            out += [("sla.escalated", 1, self.target), ("sla.escalated", 2, 1.5 * self.target)]
        return out

    def now_elapsed(self, t: int) -> int:
        return self.acc + (biz_seconds(self.since, t, self.cal) if self.running else 0)

    def settle(self, t: int) -> None:
        if self.running and t > self.since:
            self.acc += biz_seconds(self.since, t, self.cal)
            self.since = t


@dataclass
class RTicket:
    tid: str
    priority: str = "normal"
    created: bool = False
    last: int = 0
    status: str = "open"
    complaints: int = 0
    clocks: dict[str, RClock] = field(default_factory=dict)
    held: list[tuple[int, dict]] = field(default_factory=list)


class Reference:
    def __init__(self) -> None:
        self.tickets: dict[str, RTicket] = {}
        self.seen: set[str] = set()
        self.alerts: list[tuple[str, str, int | None, str, int]] = []
        self.clock = -(10**12)

    def _emit(self, tk: RTicket, kind: str, metric: str, level: int | None, at: int) -> None:
        self.alerts.append((kind, metric, level, tk.tid, at))

    def _due(self, now: int, inclusive: bool) -> None:
        for tk in self.tickets.values():
            for c in tk.clocks.values():
                if not c.running:
                    continue
                for kind, level, goal in c.marks():
                    if (kind, level) in c.sent:
                        continue
                    at = reach(c.since, c.acc, goal, c.cal)
                    if at < now or (inclusive and at <= now):
                        c.sent.add((kind, level))
                        self._emit(tk, kind, c.metric, level, at)

    def feed(self, raw: dict) -> None:
        t = int(datetime.fromisoformat(raw["occurred_at"]).timestamp())
        if raw["event_id"] in self.seen:
            return
        self.seen.add(raw["event_id"])
        self._due(t, False)  # every ticket's thresholds before t, clock moving or not
        self.clock = max(self.clock, t)
        tk = self.tickets.setdefault(raw["ticket_id"], RTicket(raw["ticket_id"]))
        if not tk.created and raw["type"] != "ticket.created":
            tk.held.append((t, raw))
            return
        self._apply(tk, raw, t)
        if raw["type"] == "ticket.created":
            for ht, h in sorted(tk.held, key=lambda x: x[0]):
                self._apply(tk, h, ht)
            tk.held = []

    def _apply(self, tk: RTicket, raw: dict, t: int) -> None:
        t = max(t, tk.last) if tk.created else t
        # this ticket's thresholds strictly before t
        for c in tk.clocks.values():
            if c.running:
                for kind, level, goal in c.marks():
                    if (kind, level) not in c.sent:
                        at = reach(c.since, c.acc, goal, c.cal)
                        if at < t:
                            c.sent.add((kind, level))
                            self._emit(tk, kind, c.metric, level, at)
        typ = raw["type"]
        if typ == "ticket.status_changed" and raw["status"] in ("resolved", "closed"):
            typ = "ticket." + raw["status"]
        if typ == "ticket.created":
            if tk.created:
                return
            tk.created, tk.priority, tk.last = True, raw["priority"], t
            for m in ("response", "resolution"):
                sec, cal = TARGETS[(tk.priority, m)]
                tk.clocks[m] = RClock(m, sec, cal, since=t)
        elif typ == "ticket.responded" or typ == "ticket.resolved":
            c = tk.clocks["response"]
            c.settle(t)
            c.running = False
            if typ == "ticket.resolved":
                for m in ("resolution", "complaint"):
                    if m in tk.clocks:
                        tk.clocks[m].settle(t)
                        tk.clocks[m].running = False
                        tk.clocks[m].paused = False
                tk.status = "resolved"
        elif typ == "ticket.closed":
            for m in ("resolution", "complaint"):
                if m in tk.clocks:
                    tk.clocks[m].settle(t)
                    tk.clocks[m].running = False
                    tk.clocks[m].paused = False
            tk.status = "closed"
        elif typ == "ticket.status_changed":
            c = tk.clocks["resolution"]
            if raw["status"] == "waiting_customer" and c.running:
                c.settle(t)
                c.running, c.paused = False, True
            elif raw["status"] != "waiting_customer" and c.paused:
                c.running, c.paused, c.since = True, False, t
            tk.status = raw["status"]
        elif typ == "ticket.reopened":
            c = tk.clocks["resolution"]
            if not c.running and not c.paused:
                c.running, c.since = True, t
            if tk.status in ("resolved", "closed"):
                tk.status = "open"
        elif typ == "ticket.priority_changed" and raw["priority"] != tk.priority:
            tk.priority = raw["priority"]
            for m in ("response", "resolution"):
                c = tk.clocks[m]
                c.settle(t)
                c.target, c.cal = TARGETS[(tk.priority, m)]
        elif typ == "ticket.complaint":
            tk.complaints += 1
            if tk.complaints == 2:
                self._emit(tk, "sla.escalated", "complaint", 2, t)
                tk.clocks["complaint"] = RClock("complaint", COMPLAINT[0], COMPLAINT[1], since=t)
        tk.last = max(tk.last, t)
        if typ != "ticket.priority_changed":
            return
        # a new target already exceeded fires at once (running or paused clocks; a
        # stopped one's thresholds fall due when a reopen restarts it)
        for c in tk.clocks.values():
            if c.running or c.paused:
                for kind, level, goal in c.marks():
                    if (kind, level) not in c.sent and goal < c.acc:
                        c.sent.add((kind, level))
                        self._emit(tk, kind, c.metric, level, t)

    def finish(self, until: int | None) -> list[tuple[str, str, int | None, str, int]]:
        if until is not None:
            self._due(until, True)
        return sorted(self.alerts, key=lambda a: (a[4], a[3], a[1]))


def reference_alerts(lines: list[bytes], until: int | None) -> list[tuple[str, str, int | None, str, int]]:
    ref = Reference()
    for line in lines:
        ref.feed(json.loads(line))
    return ref.finish(until)
