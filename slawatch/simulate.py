"""Realistic, reproducible ticket traffic: ``slawatch simulate``.

Why a generator instead of recorded data: demos, load tests and backtests need traffic
that looks like an after-sales desk (busy mornings, quiet nights, a few late responses,
complaints, reopens) yet is identical run after run, so that a failing test or a
surprising dashboard can be reproduced from its seed alone.

Layers, from pure to impure:

* :func:`generate_events` - the seeded generator. One ``random.Random(seed)`` drives
  everything (arrivals, lifecycles, event ids), so the same arguments always give the
  same events. Each ticket's whole lifecycle is planned when it is created; the plans
  are merged with a heap into one stream in non-decreasing ``occurred_at`` order.
* :func:`generate_messages` - encodes the events as Kafka-ready messages and, when
  asked, mixes in malformed messages and duplicates. Those faults use a second RNG, so
  adding them never changes the valid events.
* :func:`run_simulation` - paces messages by the wall clock and hands them to a Kafka
  producer or a JSON Lines file; :func:`main` is the CLI entry point.

Times inside are integer epoch seconds: the contract's examples have second precision,
and integers keep the per-ticket order exact.
"""

from __future__ import annotations

import heapq
import random
import sys
import threading
import time
from bisect import bisect
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache, lru_cache
from math import exp
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

import orjson

from slawatch.exceptions import ConfigError

if TYPE_CHECKING:
    import argparse

    from slawatch.settings import Settings

try:  # China's adjusted holidays make the simulated rhythm follow the real work calendar.
    import chinese_calendar as _cncal
except ImportError:  # pragma: no cover - it is a declared dependency
    _cncal = None

__all__ = [
    "MessageKind",
    "SimMessage",
    "SimOptions",
    "SimStats",
    "generate_events",
    "generate_messages",
    "main",
    "run_simulation",
]

# Asia/Shanghai has kept +08:00 without DST since 1991, so a fixed offset is exact for
# any simulated date and several times faster than a zoneinfo lookup per event.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_LOCAL = 8 * 3600
_DAY = 86_400
_HOUR = 3600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_OPEN, _CLOSE = 9 * _HOUR, 18 * _HOUR  # business hours of sla.md's calendar

# --- what tickets look like ----------------------------------------------------------

Table = tuple[tuple[str, ...], tuple[float, ...]]


def _table(*pairs: tuple[str, float]) -> Table:
    """Values and cumulative weights, for a fast ``bisect`` draw."""
    total = sum(w for _, w in pairs)
    acc, cum = 0.0, []
    for _, w in pairs:
        acc += w / total
        cum.append(acc)
    cum[-1] = 1.0  # no rounding gap at the top
    return tuple(v for v, _ in pairs), tuple(cum)


def _pick(rng: random.Random, table: Table) -> str:
    values, cum = table
    return values[bisect(cum, rng.random())]


PRIORITY = _table(("normal", 75), ("urgent", 20), ("major", 5))
CATEGORY = _table(("quality", 30), ("service", 35), ("product", 25), ("other", 10))
CHANNEL = _table(("phone", 30), ("wechat", 20), ("app", 15), ("email", 13), ("web", 12), ("visit", 10))
PRODUCT_LINE = _table(("appliance", 40), ("hvac", 25), ("kitchen", 20), ("smart_home", 15))
TIER = _table(("standard", 80), ("vip", 15), ("key_account", 5))
VENDOR = _table(("in_house", 55), ("vendor_a", 20), ("vendor_b", 15), ("vendor_c", 10))
# Smart dispatch (智能工单分派): the department follows the problem type.
DEPARTMENT_BY_CATEGORY = {
    "quality": _table(("quality", 50), ("repair", 40), ("customer_service", 10)),
    "service": _table(("customer_service", 35), ("installation", 30), ("repair", 20), ("logistics", 15)),
    "product": _table(("repair", 40), ("sales", 25), ("quality", 20), ("customer_service", 15)),
    "other": _table(("customer_service", 60), ("sales", 20), ("logistics", 20)),
}
_FIELD_DEPARTMENTS = frozenset({"repair", "installation"})  # only these use repair agencies
TITLES = {
    "quality": ("空调不制冷", "冰箱异响", "洗衣机漏水", "面板故障灯闪烁", "热水器不点火"),
    "service": ("预约上门安装", "上门时间改约", "维修人员未按时到达", "咨询保修政策"),
    "product": ("App 无法连接设备", "遥控器功能咨询", "产品参数咨询", "配件购买"),
    "other": ("发票问题", "物流延迟", "其他咨询"),
}
COMPLAINTS = ("处理太慢，一直没人联系", "维修人员态度差", "问题仍未解决", "多次改约仍未上门")
SOLUTIONS = ("更换配件", "上门维修", "远程指导解决", "更换新机", "重新安装", "退款处理")

# Targets of the default policy (sla.md), used only to make some tickets miss them.
RESPONSE_TARGET = {"normal": 4 * _HOUR, "urgent": 1 * _HOUR, "major": 30 * 60}
RESOLUTION_TARGET = {"normal": 5 * 9 * _HOUR, "urgent": 3 * 9 * _HOUR, "major": 7 * 9 * _HOUR}
# Slowness multipliers: repair agency vendor_c is the one the managers want to drop.
VENDOR_SLOWNESS = {"in_house": 1.0, "vendor_a": 0.9, "vendor_b": 1.15, "vendor_c": 1.8}
TIER_SLOWNESS = {"standard": 1.0, "vip": 0.7, "key_account": 0.6}
FIRST_CONTACT = {"normal": 0.30, "urgent": 0.20, "major": 0.05}
# Survey scores 0..10, skewed to 7-10 (mean about 8.4).
SCORE_WEIGHTS = (0.5, 0.3, 0.4, 0.6, 0.8, 1.5, 3.0, 10.0, 22.0, 28.0, 33.0)
_SCORE_CUM = _table(*((str(i), w) for i, w in enumerate(SCORE_WEIGHTS)))

# Share of the peak arrival rate per local hour (index 0 = 00:00-01:00).
WORKDAY_RHYTHM = (
    0.03, 0.02, 0.02, 0.02, 0.02, 0.04, 0.08, 0.18, 0.50, 1.00, 1.00, 0.80,
    0.45, 0.55, 0.95, 0.95, 0.75, 0.60, 0.35, 0.25, 0.20, 0.15, 0.08, 0.05,
)  # fmt: skip
RESTDAY_RHYTHM = (
    0.02, 0.02, 0.01, 0.01, 0.01, 0.02, 0.03, 0.06, 0.12, 0.20, 0.25, 0.25,
    0.20, 0.20, 0.25, 0.25, 0.20, 0.15, 0.12, 0.10, 0.08, 0.06, 0.04, 0.03,
)  # fmt: skip


@lru_cache(maxsize=8192)
def _is_workday(day: int) -> bool:
    """Local day number (days since 1970-01-01 in Shanghai) -> working day?"""
    d = date.fromordinal(_EPOCH_ORDINAL + day)
    if _cncal is not None:
        try:
            return bool(_cncal.is_workday(d))
        except NotImplementedError:  # a year the preset lacks: plain weekdays
            pass
    return d.weekday() < 5


def _rhythm(t: float) -> float:
    local = int(t) + _LOCAL
    day, sec = divmod(local, _DAY)
    hours = WORKDAY_RHYTHM if _is_workday(day) else RESTDAY_RHYTHM
    return hours[sec // _HOUR]


def add_business_seconds(t: int, seconds: float) -> int:
    """The instant ``seconds`` of Mon-Fri 09:00-18:00 (Shanghai) working time after ``t``.

    A simplified calendar, only used so that late-night tickets get answered the next
    morning as on a real desk; the SLA engine measures with its own policy calendar.
    """
    local = t + _LOCAL
    left = float(seconds)
    while True:
        day = local // _DAY
        if _is_workday(day):
            opens, closes = day * _DAY + _OPEN, day * _DAY + _CLOSE
            local = max(local, opens)
            if local < closes:
                if left <= closes - local:
                    return int(local + left) - _LOCAL
                left -= closes - local
        local = (day + 1) * _DAY


# --- one ticket's lifecycle ------------------------------------------------------------

Plan = list[tuple[int, str, Mapping[str, Any]]]


@cache
def _const(*items: tuple[str, Any]) -> Mapping[str, Any]:
    """Shared, never-mutated field dicts, so an open ticket costs ~2 KB, not ~5 KB."""
    return dict(items)


def _lognormal(rng: random.Random, median: float, sigma: float, cap: float = 12.0) -> float:
    """Right-skewed durations, capped at ``cap`` x the median: no ticket idles for months."""
    return median * min(exp(sigma * rng.gauss(0.0, 1.0)), cap)


def _score(rng: random.Random, unhappy: bool) -> int:
    score = int(_pick(rng, _SCORE_CUM))
    return max(0, score - rng.randint(1, 4)) if unhappy else score


def _plan_ticket(rng: random.Random, t0: int) -> Plan:
    """Every event of one ticket, with its time, in causal order (times non-decreasing)."""
    priority = _pick(rng, PRIORITY)
    category = _pick(rng, CATEGORY)
    department = _pick(rng, DEPARTMENT_BY_CATEGORY[category])
    vendor = _pick(rng, VENDOR) if department in _FIELD_DEPARTMENTS else "in_house"
    tier = _pick(rng, TIER)
    assignee = f"{department}.{rng.randint(1, 24):02d}"
    slow = VENDOR_SLOWNESS[vendor] * TIER_SLOWNESS[tier]
    titles = TITLES[category]
    events: list[tuple[float, str, Mapping[str, Any]]] = []

    def add(t: float, kind: str, *fields: tuple[str, Any]) -> None:
        events.append((t, kind, _const(*fields)))

    events.append((t0, "ticket.created", {
        "priority": priority,
        "category": category,
        "channel": _pick(rng, CHANNEL),
        "department": department,
        "product_line": _pick(rng, PRODUCT_LINE),
        "customer_id": f"C{rng.randrange(1_000_000):06d}",
        "customer_tier": tier,
        "vendor": vendor,
        "title": titles[rng.randrange(len(titles))],
    }))  # fmt: skip
    t_assigned = t0 + rng.uniform(5, 120)  # automatic dispatch
    add(t_assigned, "ticket.assigned",
        ("assignee", assignee), ("department", department), ("vendor", vendor))  # fmt: skip

    if rng.random() < 0.015:  # a duplicate request, closed without work
        add(t_assigned + rng.uniform(600, 7200), "ticket.closed", ("reason", "重复工单"))
        return _ordered(events)

    # First contact: lognormal around a share of the target, so some 10-15% miss it.
    if priority == "major":  # 24x7: a task force is formed at any hour
        t_resp: float = t0 + _lognormal(rng, 0.4 * RESPONSE_TARGET[priority] * slow, 0.7)
    else:
        median = 0.35 * RESPONSE_TARGET[priority] * slow
        t_resp = add_business_seconds(t0, _lognormal(rng, median, 0.9))
    t_resp = max(t_resp, t_assigned + 1)
    add(t_resp, "ticket.responded", ("agent", assignee))

    target = RESOLUTION_TARGET[priority]
    late = False
    if rng.random() < FIRST_CONTACT[priority]:
        t_res: float = t_resp + rng.uniform(300, 2400)
        add(t_res, "ticket.resolved", ("first_contact", True), ("solution", "远程指导解决"))
    else:
        t_work = t_resp + rng.uniform(60, 1800)
        add(t_work, "ticket.status_changed", ("status", "in_progress"))
        business = _lognormal(rng, 0.3 * target * slow, 0.8)
        late = business > target
        t_res = max(add_business_seconds(t0, business), t_work + 600)
        if rng.random() < 0.2:  # waiting for the customer pauses the resolution clock
            t_wait = t_work + rng.uniform(0.1, 0.6) * (t_res - t_work)
            wait = _lognormal(rng, 4 * _HOUR, 1.0)
            add(t_wait, "ticket.status_changed",
                ("status", "waiting_customer"), ("reason", "等待客户提供照片"))  # fmt: skip
            add(t_wait + wait, "ticket.status_changed",
                ("status", "in_progress"), ("reason", "客户已回复"))  # fmt: skip
            t_res += wait
        if rng.random() < 0.04:
            new = _REPRIORITISE.get(priority) or rng.choice(("major", "normal"))
            reason = "重新评估" if new == "normal" else "客户要求加急"
            add(rng.uniform(t_assigned, t_res), "ticket.priority_changed",
                ("priority", new), ("reason", reason))  # fmt: skip
        p_complaint = 0.035 + (0.25 if late else 0.0) + (0.03 if vendor == "vendor_c" else 0.0)
        if rng.random() < p_complaint:
            t_complaint = rng.uniform(t_resp, t_res)
            add(t_complaint, "ticket.complaint", ("text", rng.choice(COMPLAINTS)))
            if rng.random() < 0.3:  # second complaint (二次投诉): escalates at once
                add(rng.uniform(t_complaint, t_res), "ticket.complaint",
                    ("text", "再次投诉：问题仍未解决"))  # fmt: skip
                late = True
        solution = ("solution", rng.choice(SOLUTIONS))
        if rng.random() < 0.95:
            add(t_res, "ticket.resolved", ("first_contact", False), solution)
        else:  # some sources do not say
            add(t_res, "ticket.resolved", solution)

    if rng.random() < 0.05:  # the problem came back
        t_reopen = t_res + _lognormal(rng, 20 * _HOUR, 0.8)
        add(t_reopen, "ticket.reopened", ("reason", "问题复发"))
        t_work = t_reopen + rng.uniform(600, 7200)
        add(t_work, "ticket.status_changed", ("status", "in_progress"))
        business = _lognormal(rng, 0.1 * target, 0.8)
        t_res = max(add_business_seconds(int(t_work), business), t_work + 600)
        add(t_res, "ticket.resolved",
            ("first_contact", False), ("solution", rng.choice(SOLUTIONS)))  # fmt: skip
        late = True

    t_last = t_res
    score: int | None = None
    if rng.random() < 0.6:  # survey triggered 24 h after resolution
        unhappy = late or (vendor == "vendor_c" and rng.random() < 0.3)
        score = _score(rng, unhappy)
        t_last = t_res + _DAY + rng.uniform(0, 6 * _HOUR)
        add(t_last, "survey.submitted", ("score", score))
    if rng.random() < 0.85:  # follow-up visit (回访) 3-5 days later
        method = _pick(rng, _FOLLOWUP_METHOD)
        satisfied = score >= 7 if score is not None else rng.random() < 0.85
        t_last = max(t_last, t_res + rng.uniform(3, 5) * _DAY)
        add(t_last, "followup.completed", ("method", method), ("satisfied", satisfied))
        add(t_last + rng.uniform(600, 7200), "ticket.closed", ("reason", "回访完成"))
    else:
        t_close = max(t_last, t_res + rng.uniform(5, 7) * _DAY)
        add(t_close, "ticket.closed", ("reason", "自动关闭"))
    return _ordered(events)


_REPRIORITISE = {"normal": "urgent", "major": "urgent"}
_FOLLOWUP_METHOD = _table(("phone", 60), ("online", 30), ("visit", 10))


def _ordered(events: list[tuple[float, str, Mapping[str, Any]]]) -> Plan:
    """Whole seconds, sorted by time; a stable sort keeps causal order within a second."""
    events.sort(key=lambda e: int(e[0]))
    return [(int(t), kind, fields) for t, kind, fields in events]


# --- the merged stream -------------------------------------------------------------------


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _event_id(rng: random.Random) -> str:
    """A version-4 UUID from the seeded RNG (``uuid.uuid4`` would not be reproducible)."""
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _epoch(at: datetime) -> int:
    if at.tzinfo is None:
        msg = f"simulated instants need a UTC offset, got naive {at.isoformat()}"
        raise ValueError(msg)
    return int(at.timestamp())


@lru_cache(maxsize=1024)
def _local_day(day: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


@lru_cache(maxsize=4096)
def _minute_prefix(minute: int) -> str:
    day, rest = divmod(minute, 24 * 60)
    return f"{_local_day(day)}T{rest // 60:02d}:{rest % 60:02d}:"


_SECONDS = tuple(f"{s:02d}+08:00" for s in range(60))


def _iso(t: int) -> str:
    """RFC 3339 in Shanghai time, e.g. ``2026-11-20T17:30:00+08:00``.

    By hand and cached per minute, because ``datetime.isoformat`` was the hot spot.
    """
    minute, sec = divmod(t + _LOCAL, 60)
    return _minute_prefix(minute) + _SECONDS[sec]


def generate_events(
    seed: int,
    start: datetime,
    *,
    rate: float = 5.0,
    tickets: int | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Contract-valid ticket events, in non-decreasing ``occurred_at`` order.

    ``rate`` is the *peak* arrival rate in new tickets per simulated second (weekday
    09:00-11:00 Shanghai); the working-day rhythm scales it down to ~2% at night and
    ~25% at most on weekends and holidays, so a working day averages about 0.38 x
    ``rate``. Tickets stop arriving after ``tickets`` of them; every created ticket then
    runs its lifecycle to the end, unless ``until`` (exclusive) cuts the stream first.
    With neither the stream is endless. Pure: nothing but the arguments decides the
    output.
    """
    return (event for _, event in _timed_events(seed, start, rate, tickets, until))


def _timed_events(
    seed: int, start: datetime, rate: float, tickets: int | None, until: datetime | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`generate_events` with each event's instant as epoch seconds."""
    if rate <= 0:
        msg = f"rate must be > 0 new tickets per simulated second, got {rate}"
        raise ValueError(msg)
    rng = random.Random(seed)
    horizon = _epoch(until) if until is not None else None
    heap: list[tuple[int, int, str, Plan, int]] = []
    order = 0  # tie-breaker: equal times pop in push order, so a ticket's order holds
    created = 0
    clock = float(_epoch(start))
    day_key, day_seq = "", 0

    def next_arrival() -> int | None:
        nonlocal clock
        if tickets is not None and created >= tickets:
            return None
        while True:  # thinning: a Poisson process at the peak rate, kept by the rhythm
            clock += rng.expovariate(rate)
            if horizon is not None and clock >= horizon:
                return None
            if rng.random() < _rhythm(clock):
                return int(clock)

    arrival = next_arrival()
    while True:
        if heap and (arrival is None or heap[0][0] <= arrival):
            t, _, ticket_id, plan, i = heap[0]
            if horizon is not None and t >= horizon:
                return
            _, kind, fields = plan[i]
            if i + 1 < len(plan):
                order += 1
                heapq.heapreplace(heap, (plan[i + 1][0], order, ticket_id, plan, i + 1))
            else:
                heapq.heappop(heap)
            event = {
                "event_id": _event_id(rng),
                "type": kind,
                "ticket_id": ticket_id,
                "occurred_at": _iso(t),
            }
            event.update(fields)
            yield t, event
        elif arrival is not None:
            key = _local_day((arrival + _LOCAL) // _DAY).replace("-", "")
            day_key, day_seq = key, (day_seq + 1 if key == day_key else 1)
            ticket_id = f"{key}{day_seq:03d}"  # grows to 4+ digits past 999 a day
            order += 1
            heapq.heappush(heap, (arrival, order, ticket_id, _plan_ticket(rng, arrival), 0))
            created += 1
            arrival = next_arrival()
        else:
            return


# --- messages, with faults on request ------------------------------------------------------

MessageKind = Literal["event", "duplicate", "malformed"]


class SimMessage(NamedTuple):
    """One Kafka message: key and value bytes, and the simulated instant to send it.

    A NamedTuple, not a frozen dataclass: it is built once per message, and a frozen
    dataclass's ``__init__`` costs several times more.
    """

    key: bytes
    value: bytes
    at: int
    kind: MessageKind


_MALFORMATIONS = ("not_json", "not_object", "missing_field", "bad_priority", "naive_timestamp",
                  "unknown_type")  # fmt: skip


def _malformed(rng: random.Random, event: dict[str, Any], how: str) -> bytes:
    """A broken message derived from ``event``, with a fresh event id (never a real one)."""
    bad = dict(event, event_id=_event_id(rng))
    if how == "not_json":
        text = orjson.dumps(bad)
        return text[: rng.randint(1, len(text) - 1)]
    if how == "not_object":
        return orjson.dumps([bad])
    if how == "missing_field":
        bad.pop("priority" if bad["type"] == "ticket.created" else "occurred_at")
    elif how == "bad_priority":
        if bad["type"] != "ticket.created":
            bad["type"] = "ticket.priority_changed"
        bad["priority"] = rng.choice(("P1", "critical", "高", 3))
    elif how == "naive_timestamp":
        bad["occurred_at"] = bad["occurred_at"][:19]  # drop the +08:00
    else:
        bad["type"] = "ticket.deleted"
    return orjson.dumps(bad)


def generate_messages(
    seed: int,
    start: datetime,
    *,
    rate: float = 5.0,
    tickets: int | None = None,
    until: datetime | None = None,
    malformed: float = 0.0,
    duplicates: float = 0.0,
) -> Iterator[SimMessage]:
    """:func:`generate_events` as messages, with the requested shares of faults.

    ``malformed`` and ``duplicates`` are shares of all messages. Faults are *extra*
    messages slipped in before a valid event: every valid event is still sent once, so
    a consumer's results do not depend on the fault shares. A duplicate repeats the
    exact bytes of one of the last 1,000 valid messages (same ``event_id``).
    """
    if malformed < 0 or duplicates < 0 or malformed + duplicates >= 1:
        msg = (
            f"malformed ({malformed}) and duplicates ({duplicates}) must be >= 0 and add "
            "up to less than 1 (they are shares of all messages)"
        )
        raise ValueError(msg)
    faults = random.Random(f"slawatch-faults-{seed}")
    recent: deque[tuple[bytes, bytes]] = deque(maxlen=1000)
    dumps = orjson.dumps
    for at, event in _timed_events(seed, start, rate, tickets, until):
        key = event["ticket_id"].encode()
        if malformed or duplicates:
            while (u := faults.random()) < malformed + duplicates:
                if u < malformed:
                    how = faults.choice(_MALFORMATIONS)
                    yield SimMessage(key, _malformed(faults, event, how), at, "malformed")
                elif recent:
                    dkey, dvalue = recent[faults.randrange(len(recent))]
                    yield SimMessage(dkey, dvalue, at, "duplicate")
        value = dumps(event)
        recent.append((key, value))
        yield SimMessage(key, value, at, "event")


# --- running it: pacing, sinks, progress ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What ``slawatch simulate`` was asked to do (its flags, validated)."""

    seed: int = 42
    rate: float = 5.0
    speed: float = 1.0
    tickets: int | None = None
    duration: float | None = None
    start: datetime | None = None
    malformed: float = 0.0
    duplicates: float = 0.0
    output: Path | None = None
    pace: bool | None = None  # None: pace to Kafka, not to a file

    def __post_init__(self) -> None:
        problems = []
        if self.rate <= 0:
            problems.append(f"--rate must be > 0 new tickets per second, got {self.rate}")
        if self.speed <= 0:
            problems.append(f"--speed must be > 0 (60 = a minute per second), got {self.speed}")
        if self.tickets is not None and self.tickets < 0:
            problems.append(f"--tickets must be >= 0, got {self.tickets}")
        if self.duration is not None and self.duration <= 0:
            problems.append(f"--duration must be > 0 seconds, got {self.duration}")
        if not (0 <= self.malformed < 1 and 0 <= self.duplicates < 1) or (self.malformed + self.duplicates >= 1):
            problems.append(
                "--malformed and --duplicates are shares of all messages: each in [0, 1), "
                f"together below 1; got {self.malformed} and {self.duplicates}"
            )
        if self.start is not None and self.start.tzinfo is None:
            problems.append("--start needs a UTC offset, e.g. 2026-11-23T09:00:00+08:00")
        if problems:
            raise ConfigError("simulate: " + "; ".join(problems), key="simulate")


@dataclass(slots=True)
class SimStats:
    """Counts of what was sent, for the progress line and the final summary."""

    messages: int = 0
    events: int = 0
    tickets: int = 0
    malformed: int = 0
    duplicates: int = 0
    sim_time: int | None = None
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        at = datetime.fromtimestamp(self.sim_time, SHANGHAI).isoformat() if self.sim_time is not None else "-"
        return (
            f"simulate: {self.messages:,} messages ({self.tickets:,} tickets, "
            f"{self.malformed:,} malformed, {self.duplicates:,} duplicates"
            + (f", {self.failed:,} FAILED" if self.failed else "")
            + f"), simulated time {at}, {self.messages / elapsed:,.0f} msg/s"
        )


Sink = Callable[[SimMessage], None]


def run_simulation(
    messages: Iterable[SimMessage],
    sink: Sink,
    *,
    speed: float | None,
    start: int,
    stats: SimStats | None = None,
    progress: IO[str] | None = None,
    progress_every: float = 5.0,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SimStats:
    """Hand each message to ``sink``; with a ``speed``, not before its simulated time.

    Simulated now = ``start`` + wall seconds since the call x ``speed``: a message whose
    instant lies ahead waits until the simulated clock reaches it; one already due (the
    sink fell behind) goes at once, so the run catches up instead of drifting. ``stop``
    lets a caller (the quickstart) end a live run from another thread.
    """
    stats = stats or SimStats()
    wall0 = clock()
    last_report = wall0
    for message in messages:
        if speed is not None:
            due = wall0 + (message.at - start) / speed
            while (wait := due - clock()) > 0:
                if stop is not None and stop.is_set():
                    return stats
                sleep(min(wait, 0.5))  # short naps keep Ctrl-C and progress responsive
                if progress is not None and clock() - last_report >= progress_every:
                    last_report = clock()
                    print(stats.line(), file=progress, flush=True)
        if stop is not None and stop.is_set():
            return stats
        sink(message)
        stats.messages += 1
        stats.sim_time = message.at
        if message.kind == "event":
            stats.events += 1
            # The created event starts with its type; cheaper than parsing the JSON.
            if b'"type":"ticket.created"' in message.value[:120]:
                stats.tickets += 1
        elif message.kind == "malformed":
            stats.malformed += 1
        else:
            stats.duplicates += 1
        if progress is not None and stats.messages % 1024 == 0:
            now = clock()
            if now - last_report >= progress_every:
                last_report = now
                print(stats.line(), file=progress, flush=True)
    return stats


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        msg = f"--start {text!r} is not an RFC 3339 instant; use e.g. 2026-11-23T09:00:00+08:00"
        raise ConfigError(msg, key="start") from None
    if at.tzinfo is None:
        msg = f"--start {text!r} has no UTC offset; add one, e.g. {text}+08:00"
        raise ConfigError(msg, key="start")
    return at


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """The CLI flags (declared in :mod:`slawatch.cli`) as validated options."""
    return SimOptions(
        seed=args.seed,
        rate=args.rate,
        speed=args.speed,
        tickets=args.tickets,
        duration=args.duration,
        start=_parse_start(args.start),
        malformed=args.malformed,
        duplicates=args.duplicates,
        output=args.output,
        pace=getattr(args, "pace", None),
    )


def messages_for(options: SimOptions, now: datetime) -> tuple[int, Iterator[SimMessage]]:
    """The simulated start (epoch s) and the message stream ``options`` describe.

    ``--duration S`` covers S x speed simulated seconds: what a paced run shows in S wall
    seconds, so the same flags with ``--output`` write the events that run would send.
    """
    start = options.start or now
    until = start + timedelta(seconds=options.duration * options.speed) if options.duration is not None else None
    stream = generate_messages(
        options.seed,
        start,
        rate=options.rate,
        tickets=options.tickets,
        until=until,
        malformed=options.malformed,
        duplicates=options.duplicates,
    )
    return _epoch(start), stream


def simulate_to_kafka(
    settings: Settings,
    options: SimOptions,
    *,
    stop: threading.Event | None = None,
    progress: IO[str] | None = sys.stderr,
) -> SimStats:
    """Send the simulated traffic to ``settings.topic_events``, keyed by ticket id."""
    from slawatch.streams.clients import make_producer  # kafka only when needed
    from slawatch.streams.topics import ensure_topics

    ensure_topics(settings, names=[settings.topic_events])
    producer = make_producer(settings, linger_ms=20)
    stats = SimStats()

    def failed(_exc: BaseException) -> None:
        stats.failed += 1

    def send(message: SimMessage) -> None:
        future = producer.send(settings.topic_events, key=message.key, value=message.value)
        future.add_errback(failed)

    start, stream = messages_for(options, datetime.now(UTC))
    pace = options.speed if options.pace is not False else None
    try:
        run_simulation(stream, send, speed=pace, start=start, stats=stats,
                       progress=progress, stop=stop)  # fmt: skip
    finally:
        producer.flush()
        producer.close()
        if progress is not None:
            print(stats.line() + f" -> topic {settings.topic_events}", file=progress, flush=True)
    return stats


def simulate_to_file(options: SimOptions, out: IO[bytes], *, progress: IO[str] | None = sys.stderr) -> SimStats:
    """Write the simulated traffic as JSON Lines (one message value per line)."""

    def write(message: SimMessage) -> None:
        out.write(message.value + b"\n")

    start, stream = messages_for(options, datetime.now(UTC))
    stats = run_simulation(stream, write, speed=options.speed if options.pace else None,
                           start=start, progress=progress)  # fmt: skip
    out.flush()
    if progress is not None:
        print(stats.line(), file=progress, flush=True)
    return stats


def main(args: argparse.Namespace, settings: Settings) -> int:
    """``slawatch simulate``: to Kafka (paced by ``--speed``) or to ``--output``."""
    options = options_from_args(args)
    if options.output is None:
        stats = simulate_to_kafka(settings, options)
        return 1 if stats.failed else 0
    endless = options.tickets is None and options.duration is None
    if str(options.output) == "-":
        simulate_to_file(options, sys.stdout.buffer)
        return 0
    if endless:
        msg = "simulate --output FILE needs --tickets N or --duration S (else it never ends)"
        raise ConfigError(msg, key="output")
    try:
        with options.output.open("wb") as out:
            simulate_to_file(options, out)
    except OSError as exc:
        msg = f"cannot write {options.output}: {exc.strerror}; pick a writable path for --output"
        raise ConfigError(msg, key="output") from exc
    return 0
