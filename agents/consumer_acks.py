"""Tell Faust's consumer that input offsets applied outside its stream are done.

The worker applies some input messages the stream did not hand over: a jump in a
partition's offsets, or a tail the input watchdog found stalled, is read again from the
broker and applied (:mod:`slawatch.agents.input_offsets`). Faust commits an input
partition only up to its first offset not acknowledged, so those offsets must be
acknowledged too, or the committed offset stops at them until the next rebalance.

They used to be given to the consumer as a *gap* (``_add_gap``: "offsets that will never
be delivered"). But a stalled stream can wake up and deliver the same offsets after all;
Faust then acknowledges them a second time, and its commit (``_new_offset``: the first
run of consecutive acknowledged offsets) meets every such offset twice and advances one
offset per commit through them: 500 caught-up offsets kept the committed offset behind
for 500 commits (~23 min), and a restart in that time read them all again. Recording them
as acknowledged, exactly as ``Consumer.ack`` does, makes Faust's own later ack of the
same offset a no-op. Faust may also have recorded the same jump as a gap itself (its
fetcher does when it sees one): that part of its gap is removed, or its commit would
meet those offsets twice all the same.

Private Faust bookkeeping (``_acked``, ``_acked_index``, ``_committed_offset``, ``_gap``,
and ``ack_lock``, imported), faust-streaming 0.15; the consumer's attributes are looked
up defensively so that a Faust without them leaves the offsets to the next rebalance, as
before the worker filled gaps at all.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP
from faust.types.tuples import ack_lock

__all__ = ["mark_acked"]


def mark_acked(consumer: Any, tp: TP, start: int, end: int) -> int:
    """Acknowledge offsets ``start`` to ``end - 1`` of ``tp`` on Faust's consumer.

    Offsets below the committed position, or already acknowledged, are left alone (as
    ``Consumer.ack`` leaves them). Returns how many were newly recorded.
    """
    acked = getattr(consumer, "_acked", None)
    acked_index = getattr(consumer, "_acked_index", None)
    committed_offsets = getattr(consumer, "_committed_offset", None)
    if acked is None or acked_index is None or committed_offsets is None:
        return 0
    recorded = 0
    with ack_lock:
        committed = committed_offsets.get(tp)
        index = acked_index[tp]
        offsets = acked[tp]
        for offset in range(start if committed is None else max(start, committed), end):
            if offset not in index:
                index.add(offset)
                offsets.append(offset)
                recorded += 1
        if recorded and hasattr(consumer, "_n_acked"):
            consumer._n_acked += recorded
        gaps = getattr(consumer, "_gap", None)
        gap = gaps.get(tp) if gaps is not None else None
        if gap:
            gap.chop(start, end)
    return recorded
