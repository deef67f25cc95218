"""slawatch.simulate: reproducibility, contract validity, realism, faults and pacing.

Most tests share one generated sample (3,000 tickets, seed 11) so the statistical
checks have enough data and the suite stays fast.
"""

from __future__ import annotations

import argparse
import re
import threading
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from slawatch.cli import build_parser
from slawatch.exceptions import ConfigError, InvalidEvent
from slawatch.settings import Settings
from slawatch.simulate import (
    RESPONSE_TARGET,
    SimMessage,
    SimOptions,
    add_business_seconds,
    generate_events,
    generate_messages,
    main,
    run_simulation,
)
from slawatch.sla.events import parse_event

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=CST)  # a plain working week in China
SAMPLE_TICKETS = 3000
Event = dict[str, Any]
SETTINGS = Settings.model_validate({})


def sample(seed: int = 11, tickets: int = SAMPLE_TICKETS, rate: float = 0.02) -> list[Event]:
    return list(generate_events(seed, MONDAY, rate=rate, tickets=tickets))


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return sample()


@pytest.fixture(scope="module")
def by_ticket(events: list[Event]) -> dict[str, list[Event]]:
    tickets: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        tickets[event["ticket_id"]].append(event)
    return tickets


def epoch(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["occurred_at"]).timestamp()


# --- a check written from events.md, independent of slawatch.sla.events -------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")
REQUIRED: dict[str, dict[str, Any]] = {
    "ticket.created": {
        "priority": {"normal", "urgent", "major"},
        "category": {"quality", "service", "product", "other"},
    },
    "ticket.assigned": {"assignee": str},
    "ticket.responded": {},
    "ticket.status_changed": {"status": {"open", "in_progress", "waiting_customer", "resolved", "closed"}},
    "ticket.priority_changed": {"priority": {"normal", "urgent", "major"}},
    "ticket.resolved": {},
    "ticket.reopened": {},
    "ticket.closed": {},
    "ticket.complaint": {},
    "survey.submitted": {"score": int},
    "followup.completed": {"method": {"phone", "online", "visit"}},
}
OPTIONAL_SETS = {
    "channel": {"phone", "email", "app", "web", "wechat", "visit", "other"},
    "customer_tier": {"standard", "vip", "key_account"},
}


def contract_problems(event: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(event.get("event_id"), str) or not 1 <= len(event["event_id"]) <= 128:
        problems.append("event_id")
    if not isinstance(event.get("ticket_id"), str) or not 1 <= len(event["ticket_id"]) <= 64:
        problems.append("ticket_id")
    if not isinstance(event.get("occurred_at"), str) or not RFC3339.match(event["occurred_at"]):
        problems.append("occurred_at")
    required = REQUIRED.get(event.get("type", ""))
    if required is None:
        return [*problems, "type"]
    for name, rule in required.items():
        value = event.get(name)
        ok = isinstance(value, rule) if isinstance(rule, type) else value in rule
        if not ok or (isinstance(value, bool) and rule is int):
            problems.append(name)
    for name, allowed in OPTIONAL_SETS.items():
        if name in event and event["type"] == "ticket.created" and event[name] not in allowed:
            problems.append(name)
    if event["type"] == "survey.submitted" and not 0 <= event["score"] <= 10:
        problems.append("score")
    for flag in ("first_contact", "satisfied"):
        if flag in event and not isinstance(event[flag], bool):
            problems.append(flag)
    return problems


# --- reproducibility --------------------------------------------------------------------


def test_same_seed_gives_identical_events() -> None:
    assert sample(seed=5, tickets=300) == sample(seed=5, tickets=300)


def test_different_seeds_give_different_events() -> None:
    assert sample(seed=5, tickets=300) != sample(seed=6, tickets=300)


# --- contract --------------------------------------------------------------------------


def test_every_event_satisfies_the_contract_as_written(events: list[Event]) -> None:
    bad = [(e, p) for e in events if (p := contract_problems(e))]
    assert not bad, bad[:3]


def test_every_event_passes_the_project_validator(events: list[Event]) -> None:
    for event in events:
        parse_event(orjson.dumps(event))


def test_event_ids_are_unique(events: list[Event]) -> None:
    assert len({e["event_id"] for e in events}) == len(events)


# --- order and ids ----------------------------------------------------------------------


def test_occurred_at_never_decreases(events: list[Event]) -> None:
    times = [epoch(e) for e in events]
    assert times == sorted(times)


def test_each_ticket_starts_with_created_and_ends_with_closed(
    by_ticket: dict[str, list[Event]],
) -> None:
    assert len(by_ticket) == SAMPLE_TICKETS
    for lifecycle in by_ticket.values():
        assert lifecycle[0]["type"] == "ticket.created"
        assert lifecycle[-1]["type"] == "ticket.closed"
        assert sum(e["type"] == "ticket.created" for e in lifecycle) == 1


def test_ticket_id_is_creation_date_plus_daily_sequence(events: list[Event]) -> None:
    expected: Counter[str] = Counter()
    for event in (e for e in events if e["type"] == "ticket.created"):
        day = event["occurred_at"][:10].replace("-", "")
        expected[day] += 1
        assert event["ticket_id"] == f"{day}{expected[day]:03d}"


def test_daily_sequence_widens_past_999_tickets() -> None:
    created = [
        e["ticket_id"]
        for e in generate_events(1, MONDAY.replace(hour=9), rate=2.0, tickets=1200)
        if e["type"] == "ticket.created"
    ]
    assert created[998] == "20261123999"
    assert created[999] == "202611231000"
    assert len(set(created)) == 1200


# --- realism ----------------------------------------------------------------------------


def created(events: list[Event]) -> list[Event]:
    return [e for e in events if e["type"] == "ticket.created"]


def test_priority_mix_is_about_75_20_5(events: list[Event]) -> None:
    share = Counter(e["priority"] for e in created(events))
    assert share["normal"] / SAMPLE_TICKETS == pytest.approx(0.75, abs=0.03)
    assert share["urgent"] / SAMPLE_TICKETS == pytest.approx(0.20, abs=0.03)
    assert share["major"] / SAMPLE_TICKETS == pytest.approx(0.05, abs=0.015)


def test_dimensions_stay_inside_the_metric_label_bounds(events: list[Event]) -> None:
    settings = SETTINGS
    made = created(events)
    assert {e["department"] for e in made} == set(settings.departments)
    assert {e["channel"] for e in made} <= set(settings.channels)
    assert {e["product_line"] for e in made} <= set(settings.product_lines)
    assert {e["vendor"] for e in made} == set(settings.vendors)
    assert {e["category"] for e in made} == {"quality", "service", "product", "other"}
    assert {e["customer_tier"] for e in made} == {"standard", "vip", "key_account"}


def test_busy_weekday_hours_get_far_more_tickets_than_nights_and_weekends(
    events: list[Event],
) -> None:
    hours: Counter[str] = Counter()
    for event in created(events):
        at = datetime.fromisoformat(event["occurred_at"])
        if at.weekday() >= 5:
            hours["weekend"] += 1
        elif 9 <= at.hour < 11 or 14 <= at.hour < 16:
            hours["busy"] += 1
        elif at.hour < 6:
            hours["night"] += 1
    # per hour of each kind: 4 busy hours vs 6 night hours a working day
    assert hours["busy"] / 4 > 10 * hours["night"] / 6
    assert hours["busy"] > 3 * hours["weekend"]


def test_some_but_not_most_responses_miss_their_target(
    by_ticket: dict[str, list[Event]],
) -> None:
    missed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for lifecycle in by_ticket.values():
        responded = next((e for e in lifecycle if e["type"] == "ticket.responded"), None)
        if responded is None:
            continue
        priority = lifecycle[0]["priority"]
        start, end = int(epoch(lifecycle[0])), epoch(responded)
        if priority == "major":  # 24x7
            deadline = start + RESPONSE_TARGET["major"]
        else:
            deadline = add_business_seconds(start, RESPONSE_TARGET[priority])
        total[priority] += 1
        missed[priority] += end > deadline
    for priority in ("normal", "urgent", "major"):
        assert 0.03 < missed[priority] / total[priority] < 0.30, (priority, missed, total)


def test_surveys_follow_about_60_percent_of_tickets_with_high_scores(
    by_ticket: dict[str, list[Event]],
) -> None:
    scores = [e["score"] for t in by_ticket.values() for e in t if e["type"] == "survey.submitted"]
    assert len(scores) / SAMPLE_TICKETS == pytest.approx(0.6, abs=0.05)
    assert sum(s >= 7 for s in scores) / len(scores) > 0.75
    assert 7.5 < sum(scores) / len(scores) < 9.0


def test_survey_comes_about_a_day_after_resolution(
    by_ticket: dict[str, list[Event]],
) -> None:
    for lifecycle in by_ticket.values():
        resolved = [epoch(e) for e in lifecycle if e["type"] == "ticket.resolved"]
        surveys = [epoch(e) for e in lifecycle if e["type"] == "survey.submitted"]
        for survey in surveys:
            assert 24 * 3600 <= survey - resolved[-1] <= 30 * 3600


def test_complaints_reopens_and_repeat_complaints_all_occur(
    by_ticket: dict[str, list[Event]],
) -> None:
    complaints = Counter(sum(e["type"] == "ticket.complaint" for e in t) for t in by_ticket.values())
    reopened = sum(any(e["type"] == "ticket.reopened" for e in t) for t in by_ticket.values())
    complained = SAMPLE_TICKETS - complaints[0]
    assert 0.02 < complained / SAMPLE_TICKETS < 0.12
    assert complaints[2] > 0  # repeat complaints (二次投诉)
    assert 0.02 < reopened / SAMPLE_TICKETS < 0.10


def test_some_resolutions_are_first_contact(events: list[Event]) -> None:
    flags = Counter(e.get("first_contact") for e in events if e["type"] == "ticket.resolved")
    assert flags[True] > 0.1 * sum(flags.values())
    assert flags[False] > flags[True]


def test_waiting_customer_is_always_followed_by_a_return_to_work(
    by_ticket: dict[str, list[Event]],
) -> None:
    waited = 0
    for lifecycle in by_ticket.values():
        statuses = [e["status"] for e in lifecycle if e["type"] == "ticket.status_changed"]
        for i, status in enumerate(statuses):
            if status == "waiting_customer":
                waited += 1
                assert statuses[i + 1] == "in_progress"
    assert waited > 0.1 * SAMPLE_TICKETS


# --- stop conditions and arguments ------------------------------------------------------


def test_until_cuts_the_stream_before_that_instant() -> None:
    until = MONDAY + timedelta(hours=12)
    cut = list(generate_events(3, MONDAY, rate=0.05, until=until))
    assert cut
    assert all(epoch(e) < until.timestamp() for e in cut)


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        next(generate_events(1, datetime(2026, 11, 23), tickets=1))


def test_non_positive_rate_is_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        next(generate_events(1, MONDAY, rate=0))


# --- faults -----------------------------------------------------------------------------


def messages(malformed: float, duplicates: float, tickets: int = 1000) -> list[SimMessage]:
    return list(generate_messages(4, MONDAY, rate=0.05, tickets=tickets, malformed=malformed, duplicates=duplicates))


def test_fault_shares_are_honoured() -> None:
    sent = messages(malformed=0.05, duplicates=0.10)
    kinds = Counter(m.kind for m in sent)
    assert kinds["malformed"] / len(sent) == pytest.approx(0.05, abs=0.01)
    assert kinds["duplicate"] / len(sent) == pytest.approx(0.10, abs=0.015)


def test_malformed_messages_are_all_rejected_by_the_validator() -> None:
    bad = [m for m in messages(malformed=0.2, duplicates=0.0, tickets=300) if m.kind == "malformed"]
    assert len(bad) > 100
    for message in bad:
        with pytest.raises(InvalidEvent):
            parse_event(message.value)


def test_malformed_kinds_cover_the_documented_breakages() -> None:
    seen = set()
    for message in messages(malformed=0.3, duplicates=0.0, tickets=200):
        if message.kind != "malformed":
            continue
        try:
            parse_event(message.value)
        except InvalidEvent as exc:
            seen.add(exc.code)
    assert seen == {
        "invalid_json", "not_object", "missing_field", "bad_value", "bad_timestamp",
        "unknown_type",
    }  # fmt: skip


def test_duplicates_repeat_the_bytes_of_an_earlier_event() -> None:
    sent = messages(malformed=0.0, duplicates=0.1, tickets=300)
    earlier: set[bytes] = set()
    for message in sent:
        if message.kind == "duplicate":
            assert message.value in earlier
        else:
            earlier.add(message.value)


def test_faults_do_not_change_the_valid_events() -> None:
    clean = [m.value for m in messages(0.0, 0.0, tickets=200)]
    noisy = [m.value for m in messages(0.1, 0.1, tickets=200) if m.kind == "event"]
    assert noisy == clean


def test_fault_shares_adding_up_to_one_are_rejected() -> None:
    with pytest.raises(ValueError, match="less than 1"):
        next(generate_messages(1, MONDAY, malformed=0.5, duplicates=0.5))


def test_message_key_is_the_ticket_id() -> None:
    for message in messages(0.0, 0.0, tickets=50):
        assert orjson.loads(message.value)["ticket_id"].encode() == message.key


# --- pacing -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def msg(at: int) -> SimMessage:
    return SimMessage(b"k", b'{"type":"ticket.assigned"}', at, "event")


def test_paced_run_sends_each_message_when_simulated_time_reaches_it() -> None:
    clock = FakeClock()
    sent_at: list[float] = []
    run_simulation(
        [msg(100), msg(160), msg(400)],
        lambda m: sent_at.append(clock()),
        speed=60.0,
        start=100,
        clock=clock,
        sleep=clock.sleep,
    )
    assert sent_at == pytest.approx([1000.0, 1001.0, 1005.0])


def test_messages_before_a_past_start_go_at_once() -> None:
    clock = FakeClock()
    sent_at: list[float] = []
    run_simulation(
        [msg(10), msg(50)], lambda m: sent_at.append(clock()),
        speed=1.0, start=100, clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert sent_at == [1000.0, 1000.0]


def test_unpaced_run_never_sleeps() -> None:
    def no_sleep(_: float) -> None:
        raise AssertionError("slept")

    stats = run_simulation([msg(10**9)], lambda m: None, speed=None, start=0, sleep=no_sleep)
    assert stats.messages == 1


def test_stop_event_ends_a_paced_run() -> None:
    clock = FakeClock()
    stop = threading.Event()
    sent: list[SimMessage] = []

    def sink(message: SimMessage) -> None:
        sent.append(message)
        stop.set()

    run_simulation([msg(0), msg(3600)], sink, speed=1.0, start=0, stop=stop,
                   clock=clock, sleep=clock.sleep)  # fmt: skip
    assert len(sent) == 1


def test_stats_count_tickets_and_faults() -> None:
    sent = messages(0.05, 0.05, tickets=100)
    stats = run_simulation(sent, lambda m: None, speed=None, start=0)
    assert stats.tickets == 100
    assert stats.messages == len(sent)
    assert stats.malformed + stats.duplicates + stats.events == len(sent)


# --- CLI --------------------------------------------------------------------------------


def cli_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["simulate", *argv])


def test_cli_writes_json_lines_for_backtest(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = cli_args("--tickets", "20", "--rate", "0.01", "--start",
                    "2026-11-23T08:00:00+08:00", "--seed", "9", "-o", str(out))  # fmt: skip
    assert main(args, SETTINGS) == 0
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert written == list(generate_events(9, MONDAY.replace(hour=8), rate=0.01, tickets=20))


def test_cli_duration_covers_speed_times_duration_simulated_seconds(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    args = cli_args("--duration", "1440", "--speed", "60", "--rate", "0.05",
                    "--start", "2026-11-23T00:00:00+08:00", "-o", str(out))  # fmt: skip
    assert main(args, SETTINGS) == 0
    times = [epoch(orjson.loads(line)) for line in out.read_bytes().splitlines()]
    assert times
    assert max(times) < (MONDAY + timedelta(days=1)).timestamp()


def test_cli_refuses_an_endless_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--tickets N or --duration S"):
        main(cli_args("-o", str(tmp_path / "x.jsonl")), SETTINGS)


def test_cli_rejects_a_start_without_offset() -> None:
    with pytest.raises(ConfigError, match="UTC offset"):
        main(cli_args("--start", "2026-11-23T09:00:00", "-o", "-"), SETTINGS)


def test_options_list_every_bad_flag_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        SimOptions(rate=0, speed=-1, malformed=0.7, duplicates=0.6)
    assert "--rate" in str(info.value)
    assert "--speed" in str(info.value)
    assert "--malformed" in str(info.value)
