"""Commit an input offset only once the table writes it caused are on the broker.

At-least-once needs this order: a ticket's state reaches its changelog, then the input
offset that produced it is committed. Faust writes table changes through its producer
buffer and flushes that buffer before each commit, but faust-streaming 0.15's
``ProducerBuffer.flush`` gives up after 0.1 s without a message sent
(``flush_atmost``), and a record already taken off the buffer but not yet handed to
aiokafka is covered by neither flush. On a loaded host the commit then runs ahead of
the write; a ``kill -9`` in that window lost a ticket's ``ticket.created`` in the
take-over integration test (its later events were held for a ticket that never came,
and all of its alerts were missing).

:class:`ChangelogWrites` keeps every changelog record the tables send until the broker
acknowledges it (its ``FutureMessage`` resolves), and :func:`install` makes the
producer's flush, which Faust awaits before every commit and before a rebalance hands
partitions over, wait for them first. Nothing here buffers or retries: delivery stays
aiokafka's, with its own timeouts, after which the future fails and stops being waited
for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

__all__ = ["ChangelogWrites", "install"]

log = logging.getLogger(__name__)


class ChangelogWrites:
    """Changelog records sent by the tables and not yet acknowledged by the broker."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[Any]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, future: asyncio.Future[Any]) -> None:
        if not future.done():
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    async def wait(self, timeout: float = 60.0) -> bool:
        """Return once every record sent before the call is settled.

        Only those: under steady input new records keep coming, and they belong to
        offsets a later commit covers (a commit's offsets are chosen before its flush).
        False after ``timeout`` seconds with records still unsettled (the producer
        stopped during a shutdown, say): the caller goes on as Faust alone would.
        """
        sent = [f for f in self._pending if not f.done()]
        if not sent:
            return True
        _done, late = await asyncio.wait(sent, timeout=timeout)
        if late:
            log.warning("%d changelog record(s) still unacknowledged after %.0f s", len(late), timeout)
            return False
        return True

    def table_class(self) -> type[faust.Table]:
        """A :class:`faust.Table` whose changelog sends are tracked here (``App(Table=...)``)."""
        writes = self

        class TrackedTable(faust.Table):  # type: ignore[misc]  # faust's Table is untyped
            def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
                future = super().send_changelog(*args, **kwargs)
                writes.track(future)
                return future

        return TrackedTable


def install(producer: Any, writes: ChangelogWrites) -> None:
    """Make ``producer.flush()`` (Faust's, awaited before commits) wait for ``writes`` first."""
    flush: Callable[[], Awaitable[None]] = producer.flush

    async def flush_after_changelog() -> None:
        await writes.wait()
        await flush()

    producer.flush = flush_after_changelog
