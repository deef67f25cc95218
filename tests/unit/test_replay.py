"""slawatch.replay and slawatch.csv_mapping, with a fake producer (no broker)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from slawatch.cli import build_parser
from slawatch.csv_mapping import CsvMappingError, map_header, row_to_event, to_bool, to_int
from slawatch.replay import (
    MAX_BAD_SHOWN,
    BadLine,
    Line,
    ProgressBar,
    ReplayReport,
    TokenBucket,
    csv_lines,
    detect_format,
    jsonl_lines,
    main,
    publish,
    sniff_encoding,
)
from slawatch.settings import Settings

SETTINGS = Settings.model_validate({"topic_events": "replay.test"})


class FakeFuture:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def add_errback(self, callback: Any) -> None:
        if self.fail:
            callback(RuntimeError("broker said no"))


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushed = 0
        self.fail = fail

    def send(self, topic: str, *, key: bytes, value: bytes) -> FakeFuture:
        self.sent.append((topic, key, value))
        return FakeFuture(self.fail)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def event(ticket_id: Any = "20261123001", **extra: Any) -> bytes:
    body = {"event_id": "e1", "type": "ticket.responded", "ticket_id": ticket_id,
            "occurred_at": "2026-11-23T09:00:00+08:00", **extra}  # fmt: skip
    return orjson.dumps(body)


def replay_bytes(data: bytes, producer: FakeProducer | None = None) -> ReplayReport:
    return publish(jsonl_lines(io.BytesIO(data)), producer or FakeProducer(), "t")


# --- JSON Lines -------------------------------------------------------------------------


def test_json_lines_are_sent_byte_for_byte_keyed_by_ticket_id() -> None:
    line = b'{"ticket_id": "20261123001",  "type": "x"}'
    producer = FakeProducer()
    report = replay_bytes(line + b"\r\n" + event("20261123002") + b"\n", producer)
    assert report.sent == 2
    assert producer.sent == [("t", b"20261123001", line), ("t", b"20261123002", event("20261123002"))]
    assert producer.flushed == 1


def test_bad_lines_are_skipped_and_reported_with_line_number_and_reason() -> None:
    data = b"\n".join([
        event(),
        b"{not json",
        b"[1, 2]",
        event(ticket_id=None).replace(b'"ticket_id":null,', b""),
        event(ticket_id=20261123001),
        event(ticket_id=""),
        event("20261123009"),
    ])  # fmt: skip
    producer = FakeProducer()
    report = replay_bytes(data, producer)
    assert [key for _, key, _ in producer.sent] == [b"20261123001", b"20261123009"]
    assert [b.number for b in report.bad] == [2, 3, 4, 5, 6]
    reasons = [b.reason for b in report.bad]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "not a JSON object (a list)"
    assert reasons[2] == "no usable ticket_id (field missing)"
    assert reasons[3] == "no usable ticket_id (a int, not a string)"
    assert reasons[4] == "no usable ticket_id (empty)"


def test_invalid_events_with_a_ticket_id_are_still_sent_for_the_worker_to_judge() -> None:
    producer = FakeProducer()
    report = replay_bytes(b'{"ticket_id": "T1", "type": "ticket.bogus"}\n', producer)
    assert report.sent == 1
    assert report.bad_count == 0


def test_blank_lines_are_neither_sent_nor_bad() -> None:
    report = replay_bytes(b"\n" + event() + b"\n\n   \n")
    assert (report.sent, report.bad_count) == (1, 0)


def test_a_byte_order_mark_on_the_first_line_is_ignored() -> None:
    producer = FakeProducer()
    replay_bytes(b"\xef\xbb\xbf" + event() + b"\n", producer)
    assert producer.sent[0][2] == event()


def test_summary_lists_bad_lines_and_truncates_long_lists() -> None:
    report = ReplayReport(sent=3, seconds=1.0)
    for number in range(1, MAX_BAD_SHOWN + 6):
        report.add_bad(number, "not JSON")
    text = report.summary("x.jsonl", "tickets.events")
    assert "sent 3 messages from x.jsonl to tickets.events" in text
    assert f"{MAX_BAD_SHOWN + 5} bad lines skipped" in text
    assert "  line 1: not JSON" in text
    assert "... and 5 more" in text


def test_summary_says_when_there_were_no_bad_lines() -> None:
    assert "no bad lines" in ReplayReport(sent=1).summary("f", "t")


def test_undelivered_messages_are_counted() -> None:
    report = replay_bytes(event() + b"\n" + event() + b"\n", FakeProducer(fail=True))
    assert report.failed == 2
    assert "NOT delivered" in report.summary("f", "t")


# --- CSV mapping ------------------------------------------------------------------------


def test_csv_row_becomes_an_event_with_converted_types() -> None:
    columns = map_header(["event_id", "type", "ticket_id", "occurred_at", "score", "satisfied", "comment", "工位"])
    row = ["e1", "survey.submitted", "T1", "2026-11-23T09:00:00+08:00", "8", "", " 很好 ", "A3"]
    assert row_to_event(columns, row) == {
        "event_id": "e1",
        "type": "survey.submitted",
        "ticket_id": "T1",
        "occurred_at": "2026-11-23T09:00:00+08:00",
        "score": 8,
        "comment": "很好",
        "工位": "A3",
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("FALSE", False), ("yes", True), ("n", False), ("1", True),
     ("0", False), ("是", True), ("否", False)],
)  # fmt: skip
def test_boolean_cells_accept_common_spellings(text: str, value: bool) -> None:
    assert to_bool(text) is value


def test_integer_cells_accept_a_spreadsheet_point_zero() -> None:
    assert to_int("8.0") == 8
    assert to_int(" 7 ") == 7


def test_a_cell_that_cannot_be_converted_names_its_column() -> None:
    with pytest.raises(CsvMappingError, match="column score: expected an integer, got 'N/A'"):
        row_to_event(["event_id", "score"], ["e1", "N/A"])


def test_header_names_are_matched_loosely_and_chinese_aliases_accepted() -> None:
    columns = map_header(["Event ID", "TYPE", "工单号", "发生时间", "first-contact", "优先级"])
    assert columns == ["event_id", "type", "ticket_id", "occurred_at", "first_contact", "priority"]


def test_header_without_required_columns_is_refused_naming_them() -> None:
    with pytest.raises(CsvMappingError, match="lacks required column"):
        map_header(["event_id", "type", "occurred_at"])


def test_header_naming_a_field_twice_is_refused() -> None:
    with pytest.raises(CsvMappingError, match="ticket_id more than once"):
        map_header(["event_id", "type", "ticket_id", "occurred_at", "工单号"])


def csv_replay(text: str, encoding: str = "utf-8") -> tuple[FakeProducer, ReplayReport]:
    producer = FakeProducer()
    lines = csv_lines(io.BytesIO(text.encode(encoding)), sniff_encoding(text.encode(encoding)))
    return producer, publish(lines, producer, "t")


CSV_HEADER = "event_id,type,ticket_id,occurred_at,priority,category,first_contact,score\n"


def test_csv_rows_are_sent_as_json_and_bad_rows_reported_by_line() -> None:
    producer, report = csv_replay(
        CSV_HEADER
        + "e1,ticket.created,T1,2026-11-23T09:00:00+08:00,urgent,quality,,\n"
        + 'e2,ticket.resolved,T1,2026-11-23T10:00:00+08:00,,,"yes",\n'
        + "e3,survey.submitted,T1,2026-11-24T10:00:00+08:00,,,,great\n"
        + "e4,ticket.closed,,2026-11-25T10:00:00+08:00,,,,\n"
        + "e5,ticket.closed,T1,2026-11-25T10:00:00+08:00,,,,,,surplus\n"
    )
    assert [orjson.loads(v) for _, _, v in producer.sent] == [
        {"event_id": "e1", "type": "ticket.created", "ticket_id": "T1",
         "occurred_at": "2026-11-23T09:00:00+08:00", "priority": "urgent", "category": "quality"},
        {"event_id": "e2", "type": "ticket.resolved", "ticket_id": "T1",
         "occurred_at": "2026-11-23T10:00:00+08:00", "first_contact": True},
    ]  # fmt: skip
    assert {key for _, key, _ in producer.sent} == {b"T1"}
    assert [str(b) for b in report.bad] == [
        "line 4: column score: expected an integer, got 'great'",
        "line 5: no usable ticket_id (field missing)",
        "line 6: row has 10 cells but the header has 8 columns",
    ]


def test_a_quoted_cell_spanning_lines_reports_the_row_first_line() -> None:
    _, report = csv_replay(
        CSV_HEADER
        + 'e1,ticket.closed,T1,2026-11-23T09:00:00+08:00,"multi\nline",,,\n'
        + "e2,ticket.closed,T1,2026-11-23T09:00:00+08:00,,,,x\n"
    )
    assert [b.number for b in report.bad] == [4]


def test_a_gbk_export_from_excel_is_read() -> None:
    producer, report = csv_replay(
        "\ufeff事件编号,事件类型,工单号,发生时间,标题\n"[1:]
        + "e1,ticket.created,T1,2026-11-23T09:00:00+08:00,空调不制冷\n",
        encoding="gbk",
    )
    assert report.bad_count == 0
    assert orjson.loads(producer.sent[0][2])["title"] == "空调不制冷"


def test_utf8_with_byte_order_mark_is_read() -> None:
    producer, _ = csv_replay("\ufeff" + CSV_HEADER + "e1,ticket.closed,T1,2026-11-23T09:00:00+08:00,,,,\n")
    assert orjson.loads(producer.sent[0][2])["event_id"] == "e1"


def test_format_follows_the_suffix_unless_given() -> None:
    assert detect_format(Path("x.csv"), None) == "csv"
    assert detect_format(Path("x.CSV.gz"), None) == "csv"
    assert detect_format(Path("x.jsonl"), None) == "jsonl"
    assert detect_format(Path("x.txt"), "csv") == "csv"


# --- rate and progress -----------------------------------------------------------------


def test_token_bucket_holds_the_average_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5.0, clock=clock, sleep=clock.sleep)
    for _ in range(11):
        bucket.take()
    assert clock.now == pytest.approx(2.0)


def test_token_bucket_does_not_sleep_per_message_at_high_rates() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10_000.0, clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        bucket.take()
    assert clock.now == pytest.approx(1.0, rel=0.01)
    assert clock.sleeps < 2_000


def test_publish_paces_messages_at_the_requested_rate() -> None:
    clock = FakeClock()
    lines = [Line(n, 0, b"T1", b"{}") for n in range(1, 21)]
    publish(lines, FakeProducer(), "t", rate=10.0, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(1.9)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    clock = FakeClock()
    out = Terminal()
    bar = ProgressBar(out, 1000, clock=clock)
    clock.now = 1.0
    bar.update(500, ReplayReport(sent=10))
    bar.finish(1000, ReplayReport(sent=20))
    text = out.getvalue()
    assert text.startswith("\r")
    assert "[###############...............]  50%" in text
    assert " 100%" in text
    assert text.endswith("\n")


def test_progress_prints_plain_lines_when_not_a_terminal() -> None:
    clock = FakeClock()
    out = io.StringIO()
    bar = ProgressBar(out, 1000, clock=clock)
    clock.now = 5.0
    bar.update(100, ReplayReport(sent=1))  # too soon: nothing
    clock.now = 11.0
    bar.update(250, ReplayReport(sent=2))
    bar.finish(1000, ReplayReport(sent=3))
    assert out.getvalue() == "replay:  25% (2 sent, 0 bad, 0 msg/s)\n"


# --- CLI --------------------------------------------------------------------------------


def cli_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["replay", *argv])


def test_main_replays_a_file_and_returns_0_despite_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(event() + b"\nnonsense\n")
    producer = FakeProducer()
    assert main(cli_args(str(path), "--no-progress"), SETTINGS, producer=producer) == 0
    assert producer.sent == [("replay.test", b"20261123001", event())]
    err = capsys.readouterr().err
    assert "1 bad lines skipped" in err
    assert "line 2: not JSON" in err


def test_main_returns_1_when_the_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli_args(str(tmp_path / "missing.jsonl")), SETTINGS, producer=FakeProducer()) == 1
    assert "cannot read" in capsys.readouterr().err


def test_main_returns_1_for_a_csv_without_required_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,when\n1,today\n", encoding="utf-8")
    producer = FakeProducer()
    assert main(cli_args(str(path), "--no-progress"), SETTINGS, producer=producer) == 1
    assert producer.sent == []
    assert "lacks required column" in capsys.readouterr().err


def test_main_returns_1_when_the_broker_refused_messages(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(event() + b"\n")
    assert main(cli_args(str(path), "--no-progress"), SETTINGS, producer=FakeProducer(True)) == 1


def test_bad_line_prints_as_line_number_and_reason() -> None:
    assert str(BadLine(7, "not JSON")) == "line 7: not JSON"
