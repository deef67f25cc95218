"""``slawatch replay FILE``: publish an export of ticket events to the input topic.

Why it exists: to feed a running worker with history (a helpdesk export, a file from
``slawatch simulate --output``) at a controlled pace, for demos, load tests and
migrations. Each line (JSON Lines) or row (CSV, mapped by :mod:`slawatch.csv_mapping`)
becomes one message keyed by its ``ticket_id``, so a ticket's events stay in one
partition and in file order.

Validation stays the worker's job: a JSON line is sent byte for byte, so what the
worker dead-letters is exactly what the file held. Replay only skips what it cannot
send at all (not JSON, not an object, no usable ``ticket_id`` to key by, a CSV row the
mapping cannot convert), and reports each with its line number at the end. A bad line
is never fatal.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import orjson

from slawatch.csv_mapping import CsvMappingError, map_header, row_to_event

if TYPE_CHECKING:
    import argparse

    from slawatch.settings import Settings

__all__ = [
    "BadLine",
    "Line",
    "ProgressBar",
    "ReplayReport",
    "TokenBucket",
    "csv_lines",
    "detect_format",
    "jsonl_lines",
    "main",
    "open_export",
    "publish",
    "read_csv",
]

MAX_BAD_KEPT = 1000  # a garbage file must not fill memory with its report
MAX_BAD_SHOWN = 50


class Producer(Protocol):
    """The part of kafka-python's ``KafkaProducer`` replay uses (tests pass a fake)."""

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any: ...

    def flush(self, timeout: float | None = None) -> Any: ...


class Line(NamedTuple):
    """One line (or CSV row) of the file: a message to send, or why it cannot be sent."""

    number: int  # 1-based line number where the record starts
    offset: int  # bytes of the file read so far, for the progress bar
    key: bytes | None = None
    value: bytes | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


@dataclass(slots=True)
class ReplayReport:
    """What a replay did; ``bad`` keeps the first :data:`MAX_BAD_KEPT` bad lines."""

    sent: int = 0
    bad_count: int = 0
    failed: int = 0  # messages the broker did not accept
    bad: list[BadLine] = field(default_factory=list)
    seconds: float = 0.0

    def add_bad(self, number: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_BAD_KEPT:
            self.bad.append(BadLine(number, reason))

    def summary(self, source: str, topic: str) -> str:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"replay: sent {self.sent:,} messages from {source} to {topic} in {self.seconds:.1f} s ({rate:,.0f} msg/s)"
        ]
        if self.failed:
            lines.append(f"replay: {self.failed:,} messages were NOT delivered (the broker refused them or timed out)")
        if self.bad_count:
            lines.append(f"replay: {self.bad_count:,} bad lines skipped:")
            lines.extend(f"  {bad}" for bad in self.bad[:MAX_BAD_SHOWN])
            if self.bad_count > MAX_BAD_SHOWN:
                lines.append(f"  ... and {self.bad_count - MAX_BAD_SHOWN:,} more")
        else:
            lines.append("replay: no bad lines")
        return "\n".join(lines)


# --- reading ---------------------------------------------------------------------


def _key_of(obj: dict[str, Any]) -> bytes | str:
    """The message key for ``obj``, or (as a str) why there is none."""
    ticket_id = obj.get("ticket_id")
    if ticket_id is None:
        return "no usable ticket_id (field missing)"
    if not isinstance(ticket_id, str):
        return f"no usable ticket_id (a {type(ticket_id).__name__}, not a string)"
    if not ticket_id:
        return "no usable ticket_id (empty)"
    return ticket_id.encode()


def jsonl_lines(lines: Iterable[bytes]) -> Iterator[Line]:
    """JSON Lines -> messages; the value is the line itself, without its line break."""
    offset = 0
    for number, raw in enumerate(lines, 1):
        offset += len(raw)
        text = raw.strip()
        if number == 1:
            text = text.removeprefix(codecs.BOM_UTF8)
        if not text:
            continue  # blank lines (a trailing newline, a spacer) carry nothing
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield Line(number, offset, reason=f"not JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            yield Line(number, offset, reason=f"not a JSON object (a {type(obj).__name__})")
            continue
        key = _key_of(obj)
        if isinstance(key, str):
            yield Line(number, offset, reason=key)
        else:
            yield Line(number, offset, key, text)


def sniff_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) if the start decodes as such, else GB18030.

    Excel on Chinese Windows saves "CSV" in the ANSI code page (GBK); GB18030 is its
    superset, so such exports replay without a manual conversion.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def csv_lines(lines: Iterable[bytes], encoding: str = "utf-8-sig", *, keyed: bool = True) -> Iterator[Line]:
    """CSV (header row first) -> one JSON message per row, via the documented mapping.

    Reads the header at once and raises :class:`CsvMappingError` if it lacks a
    required column: then no row can become an event, which is a problem with the
    file, found before connecting to Kafka, not with one line. ``keyed=False`` (the
    backtest, which sends nothing) passes rows without a usable ``ticket_id`` on for
    the validator to reject with its own code and message.
    """
    counter = _Counted(lines, encoding)
    reader = csv.reader(counter)
    header = next(reader, None)
    columns = map_header(header) if header is not None else []
    return _csv_rows(reader, counter, columns, keyed)


def read_csv(stream: IO[bytes], *, keyed: bool = True) -> tuple[Iterator[Line], str]:
    """:func:`csv_lines` of ``stream`` in its sniffed encoding (:func:`sniff_encoding`),
    and that encoding."""
    head = stream.peek(65536)[:65536] if hasattr(stream, "peek") else b""
    encoding = sniff_encoding(head)
    return csv_lines(stream, encoding, keyed=keyed), encoding


class _Counted:
    """Decoded lines for :mod:`csv`, counting bytes and physical lines read."""

    def __init__(self, lines: Iterable[bytes], encoding: str) -> None:
        self._lines = iter(lines)
        self.encoding = encoding
        self.offset = 0
        self.physical = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.offset += len(raw)
        self.physical += 1
        return raw.decode(self.encoding, errors="replace")


def _csv_rows(reader: Iterator[list[str]], counter: _Counted, columns: list[str], keyed: bool) -> Iterator[Line]:
    if not columns:
        return
    while True:
        start = counter.physical + 1  # a quoted cell may span lines: report the first
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Line(start, counter.offset, reason=f"not valid CSV ({exc})")
            continue
        if not any(cell.strip() for cell in row):
            continue
        try:
            event = row_to_event(columns, row)
        except CsvMappingError as exc:
            yield Line(start, counter.offset, reason=str(exc))
            continue
        key = _key_of(event) if keyed else None
        if isinstance(key, str):
            yield Line(start, counter.offset, reason=key)
        else:
            yield Line(start, counter.offset, key, orjson.dumps(event))


def detect_format(path: Path, explicit: str | None) -> str:
    """``--format`` if given, else ``csv`` for ``*.csv`` / ``*.csv.gz``, else ``jsonl``."""
    if explicit:
        return explicit
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return "csv" if suffixes and suffixes[-1] == ".csv" else "jsonl"


# --- sending ---------------------------------------------------------------------------


class TokenBucket:
    """At most ``rate`` messages per second on average, in bursts of up to 0.1 s worth.

    The small burst lets high rates (10,000/s) avoid a sleep per message, while low
    rates (5/s) still come out evenly spaced.
    """

    MIN_SLEEP = 0.002

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            msg = f"--rate must be > 0 messages per second, got {rate}"
            raise ValueError(msg)
        self.rate = rate
        self.capacity = max(1.0, rate / 10)
        self.tokens = 1.0
        self._clock, self._sleep = clock, sleep
        self._last = clock()

    def take(self) -> None:
        """Wait until one token is free, then spend it."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens < 1:
            # Sleep at least 2 ms: shorter sleeps overshoot anyway, and at high rates this
            # refills a batch of tokens instead of paying one sleep per message.
            self._sleep(max((1 - self.tokens) / self.rate, self.MIN_SLEEP))
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
        self.tokens -= 1


class ProgressBar:
    """A one-line text bar on a terminal; a plain line every 10 s when piped to a log."""

    WIDTH = 30

    def __init__(
        self,
        stream: IO[str],
        total_bytes: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total_bytes if total_bytes else None
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = 0.1 if self.tty else 10.0
        self._clock = clock
        self._start = self._last = clock()

    def _text(self, offset: int, report: ReplayReport) -> str:
        elapsed = max(self._clock() - self._start, 1e-9)
        speed = report.sent / elapsed
        counts = f"{report.sent:,} sent, {report.bad_count:,} bad, {speed:,.0f} msg/s"
        if self.total is None:
            return f"replay: {counts}"
        share = min(offset / self.total, 1.0)
        if not self.tty:
            return f"replay: {share:4.0%} ({counts})"
        filled = int(share * self.WIDTH)
        return f"replay [{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {counts}"

    def update(self, offset: int, report: ReplayReport) -> None:
        now = self._clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self._draw(offset, report)

    def _draw(self, offset: int, report: ReplayReport) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self._text(offset, report))
        else:
            self.stream.write(self._text(offset, report) + "\n")
        self.stream.flush()

    def finish(self, offset: int, report: ReplayReport) -> None:
        if self.tty:
            self._draw(offset, report)
            self.stream.write("\n")
            self.stream.flush()


def publish(
    lines: Iterable[Line],
    producer: Producer,
    topic: str,
    *,
    rate: float | None = None,
    progress: ProgressBar | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayReport:
    """Send every good line to ``topic`` keyed by ticket id; note every bad one."""
    report = ReplayReport()
    bucket = TokenBucket(rate, clock=clock, sleep=sleep) if rate else None
    started = clock()
    offset = 0

    def failed(_exc: BaseException) -> None:
        report.failed += 1

    for line in lines:
        offset = line.offset
        if line.key is None or line.value is None:
            report.add_bad(line.number, line.reason or "unreadable")
        else:
            if bucket is not None:
                bucket.take()
            future = producer.send(topic, key=line.key, value=line.value)
            if future is not None and hasattr(future, "add_errback"):
                future.add_errback(failed)
            report.sent += 1
        if progress is not None:
            progress.update(offset, report)
    producer.flush()
    report.seconds = clock() - started
    if progress is not None:
        progress.finish(offset, report)
    return report


def open_export(path: Path) -> tuple[IO[bytes], int | None]:
    """The file as bytes, and its size when that measures progress (not for gzip/stdin).

    Gzip is recognised by its magic bytes, not only by a ``.gz`` name: ``zcat``-less
    pipes (``cat export.jsonl.gz | slawatch backtest -``), ``<(…)`` and renamed files
    read the same. A stream that can be read only once (stdin, a pipe) has its first
    bytes read to tell, then put back in front of the rest.
    """
    if str(path) == "-":
        return _sniffed(sys.stdin.buffer, owned=False), None
    if path.suffix.lower() == ".gz":
        return cast("IO[bytes]", gzip.open(path, "rb")), None
    f = path.open("rb")
    info = os.fstat(f.fileno())
    if not stat.S_ISREG(info.st_mode):
        return _sniffed(f, owned=True), None
    if bytes(f.peek(2)[:2]) == _GZIP_MAGIC:  # a regular file's first read fills the buffer
        return cast("IO[bytes]", _ClosingGzip(f)), None
    return f, info.st_size


_GZIP_MAGIC = b"\x1f\x8b"


def _sniffed(stream: IO[bytes], *, owned: bool) -> IO[bytes]:
    head = stream.read(2)  # blocks until two bytes or the end, however the writer splits them
    rest = cast("IO[bytes]", io.BufferedReader(_Prefixed(head, stream, owned=owned), buffer_size=1 << 16))
    return cast("IO[bytes]", _ClosingGzip(rest)) if head == _GZIP_MAGIC else rest


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of that stream."""

    def __init__(self, head: bytes, rest: IO[bytes], *, owned: bool) -> None:
        super().__init__()
        self._head = head
        self._rest = rest
        self._owned = owned

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read1 = getattr(self._rest, "read1", self._rest.read)
        data = read1(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            if self._owned and not self.closed:
                self._rest.close()
        finally:
            super().close()


class _ClosingGzip(gzip.GzipFile):
    """A gzip reader over an open stream that closes that stream with itself."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(fileobj=stream, mode="rb")
        self._stream = stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stream.close()


def main(args: argparse.Namespace, settings: Settings, *, producer: Producer | None = None) -> int:
    """Replay ``args.file``; 0 when every good line was delivered, else 1.

    ``producer`` replaces the Kafka producer (and topic creation) in tests.
    """
    path: Path = args.file
    fmt = detect_format(path, args.format)
    topic = settings.topic_events
    try:
        stream, size = open_export(path)
    except OSError as exc:
        print(f"replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    progress = None if args.no_progress else ProgressBar(sys.stderr, size)
    try:
        with stream:
            if fmt == "csv":
                lines, encoding = read_csv(stream)
                if encoding != "utf-8-sig":
                    print(f"replay: {path} is not UTF-8; reading it as {encoding}", file=sys.stderr)
            else:
                lines = jsonl_lines(stream)
            if producer is not None:
                report = publish(lines, producer, topic, rate=args.rate, progress=progress)
            else:
                report = _publish_to_kafka(settings, lines, rate=args.rate, progress=progress)
    except CsvMappingError as exc:
        print(f"replay: {path}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"replay: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    print(report.summary(str(path), topic), file=sys.stderr)
    return 1 if report.failed else 0


def _publish_to_kafka(
    settings: Settings, lines: Iterable[Line], *, rate: float | None, progress: ProgressBar | None
) -> ReplayReport:
    from slawatch.streams.clients import make_producer  # kafka only when needed
    from slawatch.streams.topics import ensure_topics

    ensure_topics(settings, names=[settings.topic_events])
    producer = make_producer(settings, linger_ms=20)
    try:
        return publish(lines, producer, settings.topic_events, rate=rate, progress=progress)
    finally:
        producer.close()
