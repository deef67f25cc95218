"""The tickets table's value: a ticket's state as stored in the table and its changelog.

Three formats read back, so a changelog written by any version restores:

* plain JSON (``{...}``), the first format;
* the JSON zlib-compressed (first byte 0x18 or 0x78), which halves the memory an open
  ticket costs;
* the current one: a 21-byte head -- format byte ``0x01``, the writing engine's
  :attr:`~slawatch.sla.engine.SlaEngine.fingerprint`, the ticket's next due instant (a
  little-endian double, NaN for none) and its input partition (int32, -1 for none) --
  then the compressed JSON.

The head is there for recovery: rebuilding the deadline index after a restart needs
every owned ticket's partition and next due instant, and computing them means
decompressing and parsing the whole state and walking its clocks on the calendars
(~20-30 us a ticket: most of a 1,000,000-ticket restart). When the fingerprint matches
the running engine, the stored instant is what it would compute, so the index is built
from the heads alone (~1 us a ticket); when it does not (another policy file, holiday
library or slawatch version), the rebuild recomputes it from the state.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import orjson

from slawatch.sla.engine import TicketState

__all__ = ["FORMAT_INDEXED", "pack_state", "stored_fields", "stored_head", "unpack_state"]

#: First byte of a value with a head (never ``{`` nor a zlib stream's first byte).
FORMAT_INDEXED = 0x01
_HEAD = struct.Struct("<B8sdi")
_NO_FINGERPRINT = bytes(8)


def pack_state(state: TicketState, *, next_due: float | None = None, fingerprint: bytes = _NO_FINGERPRINT) -> bytes:
    """The table's value for ``state``: head, then its JSON, zlib-compressed.

    Every open ticket's state stays in memory for as long as it is open, so its size is
    the worker's size: a typical 470-byte open ticket's state shrinks to ~280 bytes. A
    512-byte window and ``memLevel`` 4 make a call cost ~15 us instead of ~90 us for
    ``zlib.compress`` (most of which is setting up its 256 KiB of compressor state).
    ``memLevel`` 1, which allocates even less, was tried and is worse: it buffers only
    128 symbols, so a state becomes several deflate blocks, each with its own Huffman
    tables: 12 % larger, and ~2.5x slower to decompress, which a restart does for every
    ticket (measured on simulated states). The result is also an allocation of its own
    length: ``orjson.dumps`` (3.10+) returns its whole >= 4 KiB working buffer, which,
    kept as a table value, cost 4-8 KiB per ticket (measured with tracemalloc).
    """
    packer = zlib.compressobj(1, zlib.DEFLATED, 9, 4)
    partition = -1 if state.partition is None else state.partition
    head = _HEAD.pack(FORMAT_INDEXED, fingerprint, math.nan if next_due is None else next_due, partition)
    return head + packer.compress(state.to_bytes()) + packer.flush()


def stored_fields(raw: bytes) -> dict[str, Any]:
    """The state's JSON object (:meth:`TicketState.to_dict`'s keys), without building it."""
    first = raw[0]
    if first == FORMAT_INDEXED:
        body: bytes = zlib.decompress(memoryview(raw)[_HEAD.size :])
    elif first == 0x7B:  # "{": plain JSON, written before compression
        body = raw
    else:
        body = zlib.decompress(raw)
    fields: dict[str, Any] = orjson.loads(body)
    return fields


def unpack_state(raw: bytes) -> TicketState:
    """Read a table value in any of the three formats."""
    return TicketState.from_dict(stored_fields(raw))


def stored_head(raw: bytes, fingerprint: bytes) -> tuple[int | None, float | None] | None:
    """``(partition, next_due)`` from the head, if ``fingerprint`` wrote it; else None."""
    if raw[0] != FORMAT_INDEXED or raw[1:9] != fingerprint:
        return None
    _, _, due, partition = _HEAD.unpack_from(raw)
    return (None if partition < 0 else partition), (None if due != due else due)  # NaN: nothing due
