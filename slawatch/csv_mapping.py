"""Map rows of a CSV export onto the ticket event contract (events.md).

Helpdesks export spreadsheets, not JSON; ``slawatch replay export.csv`` turns each row
into one event with this mapping, documented in ``docs/simulator.md``:

* the header row names the fields; names are matched case-insensitively, with spaces and
  hyphens read as ``_``, and a few Chinese headers (工单号, 事件类型 ...) are accepted
  as aliases, since Chinese exports are the common case;
* ``event_id``, ``type``, ``ticket_id`` and ``occurred_at`` columns are required;
* an empty cell means "field absent" (a CSV cannot say null); cells are stripped of
  surrounding spaces;
* ``score`` and ``schema`` become integers, ``first_contact`` and ``satisfied``
  booleans; every other cell stays a string, and columns the contract does not know
  are passed through under their header, as the contract keeps unknown fields.

Values are not validated here: a row that maps cleanly is sent as it is and the worker
decides (and dead-letters) exactly as for any other producer. Only what the mapping
itself cannot do (a non-integer score, a row longer than the header) is an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ALIASES",
    "BOOLEAN_FIELDS",
    "CONTRACT_FIELDS",
    "INTEGER_FIELDS",
    "REQUIRED_COLUMNS",
    "CsvMappingError",
    "map_header",
    "row_to_event",
    "to_bool",
    "to_int",
]

REQUIRED_COLUMNS = ("event_id", "type", "ticket_id", "occurred_at")
INTEGER_FIELDS = frozenset({"score", "schema"})
BOOLEAN_FIELDS = frozenset({"first_contact", "satisfied"})
CONTRACT_FIELDS = frozenset({
    *REQUIRED_COLUMNS, "schema", "priority", "category", "channel", "department",
    "product_line", "customer_id", "customer_tier", "assignee", "vendor", "title", "agent",
    "status", "reason", "solution", "text", "score", "comment", "method", "first_contact",
    "satisfied",
})  # fmt: skip
ALIASES = {
    "事件id": "event_id",
    "事件编号": "event_id",
    "事件类型": "type",
    "工单号": "ticket_id",
    "工单编号": "ticket_id",
    "发生时间": "occurred_at",
    "优先级": "priority",
    "紧急程度": "priority",
    "问题类型": "category",
    "渠道": "channel",
    "部门": "department",
    "产品线": "product_line",
    "客户编号": "customer_id",
    "客户等级": "customer_tier",
    "负责人": "assignee",
    "维修机构": "vendor",
    "标题": "title",
    "状态": "status",
    "原因": "reason",
    "解决方案": "solution",
    "评分": "score",
    "回访方式": "method",
    "是否满意": "satisfied",
    "一次性解决": "first_contact",
}
_TRUE = frozenset({"true", "t", "yes", "y", "1", "是"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否"})


class CsvMappingError(ValueError):
    """A header or a cell the mapping cannot turn into an event field."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def _canonical(name: str) -> str:
    """The contract field a header names, or the header itself (stripped) if none."""
    stripped = name.strip().lstrip("\ufeff")
    key = stripped.lower().replace(" ", "_").replace("-", "_")
    if key in CONTRACT_FIELDS:
        return key
    return ALIASES.get(key, ALIASES.get(stripped, stripped))


def map_header(header: Sequence[str]) -> list[str]:
    """Field names for the header's columns; raises if required ones are missing.

    Raises :class:`CsvMappingError` naming the missing or repeated columns.
    """
    columns = [_canonical(h) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        msg = (
            f"CSV header lacks required column(s) {', '.join(missing)}; it has "
            f"{', '.join(repr(h) for h in header) or 'nothing'}. Name them "
            f"{', '.join(REQUIRED_COLUMNS)} (see docs/simulator.md for the mapping)"
        )
        raise CsvMappingError(msg)
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1 and c)
    if repeated:
        msg = f"CSV header names column(s) {', '.join(repeated)} more than once"
        raise CsvMappingError(msg)
    return columns


def to_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``1/0``, ``t/f``, ``y/n`` or ``是/否``, any case."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    msg = f"expected true or false (also yes/no, 1/0, 是/否), got {text!r}"
    raise CsvMappingError(msg)


def to_int(text: str) -> int:
    """An integer, also written as ``8.0`` (spreadsheets like to add the ``.0``)."""
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number.is_integer():
        return int(number)
    msg = f"expected an integer, got {text!r}"
    raise CsvMappingError(msg)


def row_to_event(columns: Sequence[str], cells: Sequence[str]) -> dict[str, Any]:
    """One CSV row (``columns`` from :func:`map_header`) as an event dict.

    Empty cells are left out; a short row is read as ending in empty cells.
    Raises :class:`CsvMappingError` for a cell that cannot be converted.
    """
    if len(cells) > len(columns):
        msg = f"row has {len(cells)} cells but the header has {len(columns)} columns"
        raise CsvMappingError(msg)
    event: dict[str, Any] = {}
    for column, raw in zip(columns, cells, strict=False):
        cell = raw.strip()  # padding in a spreadsheet cell is export noise, not data
        if not column or not cell:
            continue
        try:
            if column in INTEGER_FIELDS:
                event[column] = to_int(cell)
            elif column in BOOLEAN_FIELDS:
                event[column] = to_bool(cell)
            else:
                event[column] = cell
        except CsvMappingError as exc:
            msg = f"column {column}: {exc}"
            raise CsvMappingError(msg, column) from None
    return event
