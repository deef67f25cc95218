"""Wire formats the worker writes besides alerts: dead-letter records and ticks.

Dead-letter records are read by people fixing a producer, so they keep everything
needed to find and replay the message: the original bytes (base64, plus the text when
it is UTF-8), the reason as a machine code and a sentence, and where it came from.

Ticks are the worker's message to itself: the timer cannot write the ticket table (a
Faust table write needs the partition of the event being processed), so it sends a
tick to the same partition of the co-partitioned ticks topic, and the stream that owns
the tickets advances their clocks there.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

__all__ = [
    "MAX_TICK_TICKETS",
    "TICK_ADVANCE",
    "TICK_EXPIRE",
    "CatchUp",
    "InvalidTick",
    "Tick",
    "TickKind",
    "dead_letter_record",
    "decode_catch_up",
    "decode_tick",
    "encode_catch_up",
    "encode_dead_letter",
    "encode_tick",
]

TickKind = Literal["advance", "expire"]
TICK_ADVANCE: Final = "advance"
TICK_EXPIRE: Final = "expire"


def _text_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _rfc3339_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def dead_letter_record(
    *,
    code: str,
    message: str,
    field: str | None,
    original: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    at: float,
) -> dict[str, Any]:
    """The JSON object published to the dead-letter topic for one rejected message.

    ``original.base64`` is always present (``None`` for a tombstone) so that a message
    that is not UTF-8 still round-trips byte for byte; ``original.text`` is there for
    humans and is ``None`` when the bytes are not UTF-8.
    """
    raw = original
    return {
        "reason": {"code": code, "message": message, "field": field},
        "original": {
            "base64": base64.b64encode(raw).decode("ascii") if raw is not None else None,
            "text": _text_or_none(raw) if raw is not None else None,
        },
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": _text_or_none(key) if key is not None else None,
        "key_base64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "dead_lettered_at": _rfc3339_utc(at),
    }


def encode_dead_letter(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


class InvalidTick(ValueError):
    """A message on the ticks topic is not a tick this worker wrote (a bug, not input)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Advance the clocks of ``ticket_ids`` to ``now`` (wall clock at the sender), or expire them.

    One tick carries every due ticket of one partition found by one timer run, so the
    stream handles them as one message: their alerts are published together and their
    delivery awaited once, not once per ticket (thousands of deadlines in the same
    minute each waiting for the broker's acknowledgement queued up for many seconds).
    """

    ticket_ids: tuple[str, ...]
    now: float
    kind: TickKind = "advance"
    #: The last input offset of the partition the sender had applied when it sent the
    #: tick. A worker that has applied less (it restarted, or took the partition over,
    #: and replays input and ticks in no common order) must not apply the tick yet.
    input_offset: int | None = None
    #: ``now`` is the partition's event time (history fed to a running worker, see
    #: slawatch.agents.horizon), not the wall clock: its alerts are not late.
    event_time: bool = False


#: Ticket ids per tick message: ~30 KiB with typical ids, far below Kafka's 1 MiB limit.
MAX_TICK_TICKETS: Final = 1000


def encode_tick(tick: Tick) -> bytes:
    doc: dict[str, Any] = {"ticket_ids": tick.ticket_ids, "now": tick.now, "kind": tick.kind}
    if tick.input_offset is not None:
        doc["input_offset"] = tick.input_offset
    if tick.event_time:
        doc["clock"] = "event"
    return orjson.dumps(doc)


def decode_tick(raw: bytes | None) -> Tick:
    """Parse a tick; raise :class:`InvalidTick` naming what is wrong.

    Also reads the single-ticket ticks (``"ticket_id"``) of earlier versions, which may
    still wait in the topic when a worker is upgraded.
    """
    if raw is None:
        msg = "tick message has no value (tombstone); only slawatch workers write this topic"
        raise InvalidTick(msg)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"tick message is not JSON ({exc}); only slawatch workers write this topic"
        raise InvalidTick(msg) from None
    if not isinstance(obj, dict):
        msg = f"tick must be a JSON object, got {type(obj).__name__}"
        raise InvalidTick(msg)
    ids, now, kind = obj.get("ticket_ids"), obj.get("now"), obj.get("kind", TICK_ADVANCE)
    if ids is None and "ticket_id" in obj:
        ids = [obj["ticket_id"]]
    if not isinstance(ids, list) or not ids or not all(isinstance(t, str) and t for t in ids):
        msg = f"tick field 'ticket_ids' must be a non-empty list of non-empty strings, got {ids!r}"
        raise InvalidTick(msg)
    if not isinstance(now, int | float) or isinstance(now, bool):
        msg = f"tick field 'now' must be epoch seconds, got {now!r}"
        raise InvalidTick(msg)
    if kind not in (TICK_ADVANCE, TICK_EXPIRE):
        msg = f"tick field 'kind' must be {TICK_ADVANCE!r} or {TICK_EXPIRE!r}, got {kind!r}"
        raise InvalidTick(msg)
    offset = obj.get("input_offset")
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool)):
        msg = f"tick field 'input_offset' must be an integer offset, got {offset!r}"
        raise InvalidTick(msg)
    clock = obj.get("clock", "wall")
    if clock not in ("wall", "event"):
        msg = f"tick field 'clock' must be 'wall' or 'event', got {clock!r}"
        raise InvalidTick(msg)
    return Tick(ticket_ids=tuple(ids), now=float(now), kind=kind, input_offset=offset, event_time=clock == "event")


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Read input offsets ``start <= offset < end`` of this partition again and apply them.

    Sent on the ticks topic by the input watchdog when a partition has had input the
    stream did not hand over for a while; it travels on the ticks partition of the same
    number, so the state writes it causes go to the right changelog partition.
    """

    start: int
    end: int


_CATCH_UP_KIND: Final = "catch_up"


def encode_catch_up(catch_up: CatchUp) -> bytes:
    return orjson.dumps({"kind": _CATCH_UP_KIND, "start": catch_up.start, "end": catch_up.end})


def decode_catch_up(raw: bytes | None) -> CatchUp | None:
    """The catch-up request in a ticks-topic message, or None when it is not one."""
    if not raw or b'"catch_up"' not in raw:
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("kind") != _CATCH_UP_KIND:
        return None
    start, end = obj.get("start"), obj.get("end")
    if type(start) is not int or type(end) is not int or not 0 <= start <= end:
        return None
    return CatchUp(start=start, end=end)
