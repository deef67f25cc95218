"""`slawatch backtest`: alert records, ordering, --until, invalid lines and the summary."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sla_scenarios import created, ev

from slawatch.cli import main


def write_events(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def read_alerts(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_alerts_are_written_as_records_in_fired_at_order(tmp_path: Path) -> None:
    events = write_events(
        tmp_path / "e.jsonl",
        [
            created("2026-11-16 10:00", ticket="A"),
            created("2026-11-16 09:00", "urgent", ticket="B"),
            ev("ticket.assigned", "2026-11-16 18:30", ticket="A", assignee="li"),
        ],
    )
    out = tmp_path / "alerts.jsonl"
    assert main(["backtest", str(events), "--output", str(out), "--quiet"]) == 0
    alerts = read_alerts(out)
    fired = [a["fired_at"] for a in alerts]
    assert fired == sorted(fired)
    first = alerts[0]
    assert first["ticket_id"] == "B" and first["kind"] == "sla.warning" and first["level"] is None
    assert first["fired_at"] == "2026-11-16T09:48:00+08:00"
    assert {
        "alert_id",
        "kind",
        "ticket_id",
        "metric",
        "level",
        "priority",
        "department",
        "assignee",
        "deadline",
        "fired_at",
        "elapsed_seconds",
        "target_seconds",
    } <= set(first)
    esc = [a for a in alerts if a["kind"] == "sla.escalated"]
    assert esc and all(isinstance(a["escalate_to"], dict) for a in esc)


def test_until_advances_the_clock_and_fires_thresholds_at_or_before_it(tmp_path: Path) -> None:
    events = write_events(tmp_path / "e.jsonl", [created("2026-11-16 10:00")])
    out = tmp_path / "a.jsonl"
    main(["backtest", str(events), "-o", str(out), "--quiet"])
    assert read_alerts(out) == []
    main(["backtest", str(events), "-o", str(out), "--quiet", "--until", "2026-11-16T14:00:00+08:00"])
    assert [a["kind"] for a in read_alerts(out)] == ["sla.warning", "sla.breached", "sla.escalated"]


def test_invalid_lines_are_reported_with_line_numbers_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(
        tmp_path / "e.jsonl",
        [
            created("2026-11-16 10:00"),
            "{oops",
            {"event_id": "x", "type": "ticket.created", "ticket_id": "T9", "occurred_at": "2026-11-16T10:00:00"},
            ev("ticket.responded", "2026-11-16 15:00"),
        ],
    )
    out = tmp_path / "a.jsonl"
    assert main(["backtest", str(events), "-o", str(out), "--summary", str(tmp_path / "s.json")]) == 0
    err = capsys.readouterr().err
    assert "line 2: skipped: invalid_json" in err and "line 3: skipped: bad_timestamp" in err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["invalid"] == 2 and summary["applied"] == 2
    assert summary["clocks"]["response"]["normal"] == {"stopped": 1, "late": 1, "breach_rate": 1.0}
    assert [a["kind"] for a in read_alerts(out)] == ["sla.warning", "sla.breached", "sla.escalated"]


def test_strict_fails_a_file_with_an_invalid_line_and_still_writes_its_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A producer's CI checks its events offline: exit 1 when any would be dead-lettered."""
    good = write_events(tmp_path / "good.jsonl", [created("2026-11-16 10:00")])
    bad = write_events(
        tmp_path / "bad.jsonl", [created("2026-11-16 10:00"), {**created("2026-11-16 10:00"), "priority": "high"}]
    )
    assert (
        main(
            [
                "backtest",
                str(good),
                "-o",
                str(tmp_path / "a.jsonl"),
                "--until",
                "2026-11-17T00:00:00+08:00",
                "--quiet",
                "--strict",
            ]
        )
        == 0
    )
    out = tmp_path / "b.jsonl"
    assert (
        main(["backtest", str(bad), "-o", str(out), "--until", "2026-11-17T00:00:00+08:00", "--quiet", "--strict"]) == 1
    )
    err = capsys.readouterr().err
    assert "line 2: skipped: bad_value" in err and "1 invalid line(s) (--strict)" in err
    assert read_alerts(out) == read_alerts(tmp_path / "a.jsonl") != []
    assert main(["backtest", str(bad), "-o", str(out), "--quiet"]) == 0  # without --strict: skipped, not fatal


def test_summary_goes_to_stderr_without_summary_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_events(tmp_path / "e.jsonl", [created("2026-11-16 10:00")])
    main(["backtest", str(events), "-o", str(tmp_path / "a.jsonl")])
    assert json.loads(capsys.readouterr().err)["tickets_created"] == 1


def test_a_deadline_in_a_year_without_holiday_data_is_reported_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Created in 2026 (covered), its resolution deadline falls in January 2027 (not).
    events = write_events(tmp_path / "e.jsonl", [created("2026-12-30 10:00")])
    main(["backtest", str(events), "-o", str(tmp_path / "a.jsonl")])
    [warning] = json.loads(capsys.readouterr().err.split("\nwarning:")[0])["calendar_warnings"]
    assert "no data for 2027" in warning and "'business'" in warning


def test_events_can_come_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    import io
    import sys

    data = (json.dumps(created("2026-11-16 10:00")) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["backtest", "-", "--quiet", "--until", "2026-11-16T13:30:00+08:00"]) == 0
    out = capsysbinary.readouterr().out.decode().splitlines()
    assert [json.loads(x)["kind"] for x in out] == ["sla.warning"]


def reopened_42_days_after_closing(tmp_path: Path) -> Path:
    return write_events(
        tmp_path / "e.jsonl",
        [
            created("2026-03-09 09:00", "urgent"),
            ev("ticket.responded", "2026-03-09 09:10"),
            ev("ticket.closed", "2026-03-09 10:00"),
            ev("ticket.reopened", "2026-04-20 10:00"),  # past the 30-day retention
        ],
    )


def test_a_reopen_after_the_retention_finds_its_ticket_among_the_most_recently_closed(tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    until = ["--until", "2026-05-01T00:00:00+08:00", "--quiet", "-o", str(out)]
    assert main(["backtest", str(reopened_42_days_after_closing(tmp_path)), *until]) == 0
    assert {(a["metric"], a["kind"]) for a in read_alerts(out)} >= {("resolution", "sla.breached")}


def test_beyond_the_most_recently_closed_a_reopen_after_the_retention_finds_no_ticket(tmp_path: Path) -> None:
    events = reopened_42_days_after_closing(tmp_path)
    out = tmp_path / "a.jsonl"
    until = ["--until", "2026-05-01T00:00:00+08:00", "--quiet", "-o", str(out), "--retain-closed", "0"]
    assert main(["backtest", str(events), *until]) == 0
    assert read_alerts(out) == []  # forgotten after 30 days: the reopen is held
    assert main(["backtest", str(events), *until, "--retention-days", "60"]) == 0
    assert {(a["metric"], a["kind"]) for a in read_alerts(out)} >= {("resolution", "sla.breached")}


def test_the_longest_closed_tickets_are_forgotten_first_beyond_the_most_recent(tmp_path: Path) -> None:
    lines: list[object] = []
    for i, day in enumerate(("02", "03", "04")):  # closed on 2, 3 and 4 March
        tid = f"T{i}"
        lines += [created(f"2026-03-{day} 09:00", ticket=tid), ev("ticket.closed", f"2026-03-{day} 10:00", tid)]
    lines += [ev("ticket.reopened", "2026-04-20 10:00", f"T{i}") for i in range(3)]
    out = tmp_path / "a.jsonl"
    args = ["--until", "2026-05-01T00:00:00+08:00", "--quiet", "-o", str(out), "--retain-closed", "2"]
    assert main(["backtest", str(write_events(tmp_path / "e.jsonl", lines)), *args]) == 0
    reopened = {a["ticket_id"] for a in read_alerts(out) if a["metric"] == "resolution"}
    assert reopened == {"T1", "T2"}  # T0, closed first, was the one forgotten


def test_a_helpdesk_csv_export_gives_the_alerts_of_the_same_events_as_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        "事件编号,事件类型,工单号,发生时间,优先级,问题类型,评分",
        "e1,ticket.created,A,2026-11-16T10:00:00+08:00,urgent,quality,",
        "e2,ticket.created,B,2026-11-16T10:05:00+08:00,normal,service,",
        "e3,survey.submitted,A,2026-11-16T10:30:00+08:00,,,N/A",  # the mapping cannot convert it
        "e4,ticket.created,,2026-11-16T10:40:00+08:00,normal,service,",  # no ticket id
        "e5,ticket.responded,B,2026-11-16T15:00:00+08:00,,,",
    ]
    (tmp_path / "export.csv").write_bytes(("\n".join(rows) + "\n").encode("gb18030"))
    as_json = write_events(
        tmp_path / "same.jsonl",
        [
            created("2026-11-16 10:00", "urgent", ticket="A", category="quality", department=None) | {"event_id": "e1"},
            created("2026-11-16 10:05", ticket="B", department=None) | {"event_id": "e2"},
            ev("ticket.responded", "2026-11-16 15:00", ticket="B") | {"event_id": "e5"},
        ],
    )
    until = ["--until", "2026-11-17T18:00:00+08:00", "--quiet"]
    assert main(["backtest", str(tmp_path / "export.csv"), "-o", str(tmp_path / "csv.out"), *until]) == 0
    err = capsys.readouterr().err
    assert "reading it as gb18030" in err
    assert "line 4: skipped: bad_row: column score" in err and "line 5: skipped: missing_field" in err
    assert main(["backtest", str(as_json), "-o", str(tmp_path / "json.out"), *until]) == 0
    csv_alerts = read_alerts(tmp_path / "csv.out")
    assert csv_alerts and csv_alerts == read_alerts(tmp_path / "json.out")


def test_a_csv_without_a_required_column_stops_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "export.csv").write_text("event_id,type,ticket_id\ne1,ticket.created,A\n", encoding="utf-8")
    assert main(["backtest", str(tmp_path / "export.csv"), "--quiet"]) == 2
    assert "occurred_at" in capsys.readouterr().err


def test_gzipped_json_lines_with_a_byte_order_mark_are_read_as_they_are(tmp_path: Path) -> None:
    import gzip

    plain = write_events(tmp_path / "e.jsonl", [created("2026-11-16 10:00")])
    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(gzip.compress(b"\xef\xbb\xbf" + plain.read_bytes()))
    until = ["--until", "2026-11-16T18:00:00+08:00", "--quiet"]
    assert main(["backtest", str(packed), "-o", str(tmp_path / "gz.out"), *until]) == 0
    assert main(["backtest", str(plain), "-o", str(tmp_path / "plain.out"), *until]) == 0
    assert read_alerts(tmp_path / "gz.out") == read_alerts(tmp_path / "plain.out") != []


def test_a_file_that_is_not_gzip_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "e.jsonl.gz").write_bytes(b'{"not": "gzip"}\n')
    assert main(["backtest", str(tmp_path / "e.jsonl.gz"), "--quiet"]) == 2
    assert "cannot read" in capsys.readouterr().err


def _partition_by_partition() -> list[object]:
    """An export listing one partition after another: A's 10:50 response (1 h target,
    10:48 warning) comes after B's 11:30 creation, which moves the event-time clock."""
    return [
        created("2026-11-16 10:00", "urgent", ticket="A"),
        created("2026-11-16 11:30", ticket="B"),
        ev("ticket.responded", "2026-11-16 10:50", ticket="A"),
        ev("ticket.resolved", "2026-11-16 12:00", ticket="A"),
        ev("ticket.resolved", "2026-11-16 12:00", ticket="B"),
    ]


def test_a_file_out_of_time_order_across_tickets_is_reported_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(tmp_path / "e.jsonl", _partition_by_partition())
    out, summary = tmp_path / "a.jsonl", tmp_path / "s.json"
    assert main(["backtest", str(events), "-o", str(out), "--summary", str(summary)]) == 0
    # The clock passed A's 11:00 deadline before A's 10:50 response was read.
    assert [a["kind"] for a in read_alerts(out)] == ["sla.warning", "sla.breached", "sla.escalated"]
    assert json.loads(summary.read_text())["behind_clock"] == 1
    assert "1 event(s) lay behind the event-time clock" in capsys.readouterr().err


def test_a_late_ticket_on_the_last_line_fires_the_thresholds_the_clock_passed(tmp_path: Path) -> None:
    # sla.md: "a threshold already past when nothing more arrives fires at once, also
    # with its own instant" (independent oracle, round 12): no later line will fire them.
    events = write_events(
        tmp_path / "e.jsonl",
        [created("2026-03-04 10:00", ticket="A"), created("2026-03-02 10:00", "urgent", ticket="B")],
    )
    out = tmp_path / "a.jsonl"
    assert main(["backtest", str(events), "--quiet", "-o", str(out)]) == 0
    assert [(a["ticket_id"], a["kind"], a["level"], a["fired_at"]) for a in read_alerts(out)] == [
        ("B", "sla.warning", None, "2026-03-02T10:48:00+08:00"),
        ("B", "sla.breached", None, "2026-03-02T11:00:00+08:00"),
        ("B", "sla.escalated", 1, "2026-03-02T11:00:00+08:00"),
        ("B", "sla.escalated", 2, "2026-03-02T11:30:00+08:00"),
    ]


def test_sort_replays_each_tickets_lines_in_time_order_as_the_live_worker_applies_a_backlog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(tmp_path / "e.jsonl", _partition_by_partition())
    out, summary = tmp_path / "a.jsonl", tmp_path / "s.json"
    assert main(["backtest", str(events), "--sort", "-o", str(out), "--summary", str(summary)]) == 0
    # Only the warning: A's response at 10:50 stopped the clock before the 11:00 deadline.
    assert [(a["ticket_id"], a["kind"], a["fired_at"]) for a in read_alerts(out)] == [
        ("A", "sla.warning", "2026-11-16T10:48:00+08:00")
    ]
    assert json.loads(summary.read_text())["behind_clock"] == 0
    assert "behind the event-time clock" not in capsys.readouterr().err


def test_sort_keeps_a_tickets_own_line_order_and_reports_invalid_lines_by_their_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(
        tmp_path / "e.jsonl",
        [
            created("2026-11-16 10:00", "major", ticket="A"),
            ev("ticket.responded", "2026-11-16 10:40", ticket="A"),  # late: 10:30 deadline
            "{not json",
            ev("ticket.assigned", "2026-11-16 10:05", ticket="A", assignee="li"),  # stamped before the response
        ],
    )
    out, summary = tmp_path / "a.jsonl", tmp_path / "s.json"
    main(["backtest", str(events), "--sort", "-o", str(out), "--summary", str(summary)])
    # Applied in file order at the ticket's latest time (10:40), as live: the response still breached.
    assert [(a["kind"], a["metric"]) for a in read_alerts(out)] == [
        ("sla.warning", "response"), ("sla.breached", "response"), ("sla.escalated", "response"),
    ]  # fmt: skip
    doc = json.loads(summary.read_text())
    assert (doc["applied"], doc["invalid"]) == (3, 1)
    assert "line 3: skipped: invalid_json" in capsys.readouterr().err


def test_a_closed_ticket_with_a_threshold_still_ahead_is_forgotten_once_its_last_threshold_fired() -> None:
    # Closed without a response: the response clock runs on (closing stops only the
    # resolution clock), so the ticket may not be forgotten until its ladder is done, and
    # it must be then (the worker's sweep counts it the same way).
    from slawatch.sla.alerts import Alert
    from slawatch.sla.backtest import Backtest
    from slawatch.sla.policy import load_policy

    alerts: list[Alert] = []
    bt = Backtest(load_policy(None), alerts.append, retention_seconds=3600, retain_closed=0)
    bt.feed(created("2026-03-02 09:00", ticket="A"))
    bt.feed(ev("ticket.closed", "2026-03-02 09:10", "A"))
    bt.feed(created("2026-03-02 11:00", ticket="B"))  # past A's closing + retention, A's ladder still ahead
    assert "A" in bt.states
    bt.feed(ev("ticket.responded", "2026-03-04 09:00", "B"))
    bt.finish()
    fired = {(a.ticket_id, a.kind, a.level) for a in alerts if a.metric == "response"}
    assert ("A", "sla.escalated", 2) in fired
    assert "A" not in bt.states


def test_only_tickets_that_may_be_forgotten_count_towards_the_most_recently_closed() -> None:
    from slawatch.sla.alerts import Alert
    from slawatch.sla.backtest import Backtest
    from slawatch.sla.policy import load_policy

    alerts: list[Alert] = []
    bt = Backtest(load_policy(None), alerts.append, retention_seconds=3600, retain_closed=1)
    bt.feed(created("2026-03-02 09:00", "urgent", ticket="R"))
    bt.feed(ev("ticket.resolved", "2026-03-02 09:05", "R"))  # done, nothing ahead
    bt.feed(created("2026-03-02 09:10", ticket="A"))
    bt.feed(ev("ticket.closed", "2026-03-02 09:20", "A"))  # closed, its response ladder still ahead
    bt.feed(created("2026-03-02 11:00", ticket="B"))
    assert "R" in bt.states  # the one ticket that may be forgotten is within the budget


def test_a_gzipped_export_is_read_from_stdin_and_under_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    import gzip
    import io
    import sys

    lines = [created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 15:00")]
    plain = write_events(tmp_path / "e.jsonl", lines)
    zipped = gzip.compress(plain.read_bytes())
    (tmp_path / "renamed.jsonl").write_bytes(zipped)
    expected = tmp_path / "expected.jsonl"
    assert main(["backtest", str(plain), "--quiet", "-o", str(expected)]) == 0
    assert len(read_alerts(expected)) == 3  # the response's warning, breach and level 1

    out = tmp_path / "renamed.out"
    assert main(["backtest", str(tmp_path / "renamed.jsonl"), "--quiet", "-o", str(out)]) == 0
    assert out.read_bytes() == expected.read_bytes()

    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(zipped)))  # a pipe's stdin can peek
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["backtest", "-", "--quiet"]) == 0
    assert capsysbinary.readouterr().out == expected.read_bytes()


def test_a_reader_that_closes_the_pipe_early_stops_the_backtest_quietly(tmp_path: Path) -> None:
    import subprocess
    import sys

    lines = [created(f"2026-11-16 10:{i % 60:02d}", ticket=f"T{i}") for i in range(3000)]
    events = write_events(tmp_path / "e.jsonl", lines)
    cmd = [sys.executable, "-m", "slawatch", "backtest", str(events), "--until", "2026-12-31T00:00:00+08:00"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"{")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as cat exits
    assert "Traceback" not in err and "Broken pipe" not in err


def test_an_until_before_the_last_event_is_reported_as_advancing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(tmp_path / "e.jsonl", [created("2026-11-16 10:00"), created("2026-11-20 10:00", ticket="B")])
    out = ["--quiet", "-o", str(tmp_path / "a.jsonl")]
    assert main(["backtest", str(events), "--until", "2026-11-18T00:00:00+08:00", *out]) == 0
    assert "advanced nothing" in capsys.readouterr().err
    assert main(["backtest", str(events), "--until", "2026-11-21T00:00:00+08:00", *out]) == 0
    assert "advanced nothing" not in capsys.readouterr().err


class _Trickle(io.RawIOBase):
    """A pipe whose writer sends one byte at a time: a first read may return one byte."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._data:
            return 0
        buffer[0] = self._data[0]
        self._data = self._data[1:]
        return 1


def test_gzip_on_stdin_is_recognised_when_its_first_bytes_come_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    import gzip
    import sys

    plain = write_events(
        tmp_path / "e.jsonl", [created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 15:00")]
    )
    expected = tmp_path / "expected.jsonl"
    assert main(["backtest", str(plain), "--quiet", "-o", str(expected)]) == 0
    stdin = io.TextIOWrapper(io.BufferedReader(_Trickle(gzip.compress(plain.read_bytes()))))
    assert stdin.buffer.peek(2)[:2] == b"\x1f"  # the case: one byte in hand
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["backtest", "-", "--quiet"]) == 0
    assert capsysbinary.readouterr().out == expected.read_bytes()


def test_a_gzipped_export_read_through_a_named_pipe_is_read_once(tmp_path: Path) -> None:
    import gzip
    import os
    import threading

    plain = write_events(
        tmp_path / "e.jsonl", [created("2026-11-16 10:00"), ev("ticket.responded", "2026-11-16 15:00")]
    )
    expected = tmp_path / "expected.jsonl"
    assert main(["backtest", str(plain), "--quiet", "-o", str(expected)]) == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(gzip.compress(plain.read_bytes()),))
    writer.start()
    out = tmp_path / "out.jsonl"
    assert main(["backtest", str(fifo), "--quiet", "-o", str(out)]) == 0
    writer.join(timeout=10)
    assert out.read_bytes() == expected.read_bytes()


def test_a_duplicate_carrying_a_later_time_moves_no_clock_and_fires_nothing() -> None:
    # events.md: a repeated event_id is ignored. Its occurred_at too: had it moved the
    # event-time clock, the major ticket's response ladder (10:24 ... 10:45) would fire
    # before the real response at 10:05 is read (independent oracle, round 11).
    from slawatch.sla.alerts import Alert
    from slawatch.sla.backtest import Backtest
    from slawatch.sla.policy import load_policy

    alerts: list[Alert] = []
    bt = Backtest(load_policy(None), alerts.append)
    first = created("2026-03-02 10:00", "major", ticket="A")
    bt.feed(first)
    bt.feed({**first, "type": "ticket.responded", "occurred_at": "2026-03-02T11:00:00+08:00"})
    bt.feed(ev("ticket.responded", "2026-03-02 10:05", "A"))
    summary = bt.finish()
    assert [a for a in alerts if a.metric == "response"] == []
    assert (summary.duplicates, summary.behind_clock) == (1, 0)


def _kpi_events() -> list[dict[str, Any]]:
    return [
        created("2026-11-16 09:00", ticket="A", department="repair", vendor="vendor_a"),
        created("2026-11-16 09:00", ticket="B", department="repair"),
        created("2026-11-16 09:00", ticket="C", department="quality"),
        ev("ticket.resolved", "2026-11-16 10:00", ticket="A", first_contact=True),  # on time
        ev("ticket.resolved", "2026-11-30 10:00", ticket="B"),  # 9 working days: late
        ev("survey.submitted", "2026-11-17 10:00", ticket="A", score=9),
        ev("survey.submitted", "2026-12-01 10:00", ticket="B", score=6),
        ev("ticket.complaint", "2026-11-16 11:00", ticket="C"),
        ev("ticket.complaint", "2026-11-16 12:00", ticket="C"),  # 二次投诉
        ev("ticket.reopened", "2026-12-01 11:00", ticket="B"),
        ev("followup.completed", "2026-12-02 10:00", ticket="A", method="phone"),
    ]


def test_the_summary_gives_the_service_documents_kpis_for_the_whole_file() -> None:
    from slawatch.sla.backtest import run_backtest

    _, summary = run_backtest(_kpi_events())
    assert summary.kpis()["all"] == {
        "tickets_created": 3,
        "tickets_resolved": 2,
        "resolution_rate": 0.6667,
        "on_time_completion_rate": 0.5,
        "first_contact_resolution_rate": 0.5,
        "satisfaction_mean": 7.5,
        "survey_response_rate": 1.0,
        "complaint_rate": 0.3333,
        "repeat_complaints": 1,
        "reopen_rate": 0.5,
        "followup_rate": 0.5,
    }


def test_the_summary_gives_the_kpis_per_department_and_per_vendor() -> None:
    from slawatch.sla.backtest import run_backtest

    _, summary = run_backtest(_kpi_events())
    kpis = summary.kpis()
    assert list(kpis["by_department"]) == ["quality", "repair"]
    repair = kpis["by_department"]["repair"]
    assert (repair["tickets_created"], repair["on_time_completion_rate"], repair["satisfaction_mean"]) == (2, 0.5, 7.5)
    assert kpis["by_department"]["quality"]["complaint_rate"] == 1.0
    assert kpis["by_department"]["quality"]["on_time_completion_rate"] is None  # nothing resolved
    assert list(kpis["by_vendor"]) == ["vendor_a", "(none)"]
    assert kpis["by_vendor"]["vendor_a"]["satisfaction_mean"] == 9.0


def test_the_kpis_are_in_the_summary_file(tmp_path: Path) -> None:
    events = write_events(tmp_path / "e.jsonl", _kpi_events())
    out = tmp_path / "kpis.json"
    assert main(["backtest", str(events), "-o", str(tmp_path / "a.jsonl"), "--summary", str(out)]) == 0
    assert json.loads(out.read_text())["kpis"]["all"]["repeat_complaints"] == 1


def test_alerts_written_before_a_failing_line_stay_written(tmp_path: Path) -> None:
    # A valid event the calendars cannot count (year 1) stops the run; the alerts that
    # had left the reorder buffer before it are in the output, as line by line.
    events = write_events(
        tmp_path / "e.jsonl",
        [
            created("2026-12-01 10:00", "urgent", ticket="A"),
            ev("ticket.assigned", "2026-12-01 12:00", ticket="A", assignee="li"),
            {**created("2026-12-01 12:00", "urgent", ticket="B"), "occurred_at": "0001-01-01T00:00:00+08:00"},
        ],
    )
    out = tmp_path / "alerts.jsonl"
    with pytest.raises(ValueError, match="outside the supported years"):
        main(["backtest", str(events), "-o", str(out), "--quiet"])
    assert [(a["ticket_id"], a["kind"]) for a in read_alerts(out)] == [("A", "sla.warning")]


@pytest.mark.parametrize("budget", ["-1", str(2**64)])
def test_a_retain_closed_budget_out_of_range_runs_as_none_or_all(tmp_path: Path, budget: str) -> None:
    lines = [created("2026-11-16 10:00"), ev("ticket.resolved", "2026-11-16 11:00")]
    events = write_events(tmp_path / "e.jsonl", lines)
    out = tmp_path / "alerts.jsonl"
    assert main(["backtest", str(events), "-o", str(out), "--quiet", "--retain-closed", budget]) == 0
    assert read_alerts(out) == []
