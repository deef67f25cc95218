"""Read a closed range of offsets of one partition again, outside Faust's consumer.

Why: faust-streaming 0.15 was seen handing the ingest agent offsets 5, 6, 7, 8 and then
11 of a partition it had just taken over, without any error: messages fetched before a
rebalance and still queued when the consumer generation changed are dropped by the
stream, and the consumer's read position has already passed them. The processor
notices the jump; this reader fetches the messages in between straight from the
broker (a groupless consumer, assigned the one partition, seeked to the first missing
offset), so the processor applies them before the message that revealed the gap.
It never moves the worker's own consumer or its committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from slawatch.settings import Settings

__all__ = ["RangeReader", "RereadRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RereadRecord:
    """One message read again: what the ingest agent would have been handed."""

    offset: int
    key: bytes | None
    value: bytes | None


#: Consumer settings an admin client does not take.
_CONSUMER_ONLY = frozenset({"group_id", "enable_auto_commit", "auto_offset_reset"})


class RangeReader:
    """Reads ``[start, end)`` of a partition with a consumer of its own, opened on first use.

    The consumer is kept between reads (a gap is rare, but a transactional upstream
    leaves a one-offset hole for every commit marker, each of which looks like a gap)
    and closed by :meth:`close`. Reads are serialised: one consumer, one assignment.
    So is the admin client that asks for a group's committed offsets (once per partition
    a worker takes over: eight partitions taken over, eight questions, one connection).
    """

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._admin: Any = None
        self._admin_lock = asyncio.Lock()

    def _options(self) -> dict[str, Any]:
        settings = self.settings
        opts: dict[str, Any] = {
            "bootstrap_servers": list(settings.bootstrap_servers),
            "client_id": f"{settings.app_id}-range-reader",
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **settings.kafka_client_options(),
        }
        opts.pop("ssl_cafile", None)  # kafka-python's spelling; aiokafka takes a context
        context = settings.ssl_context()
        if context is not None:
            opts["ssl_context"] = context
        return opts

    def _admin_options(self) -> dict[str, Any]:
        return {k: v for k, v in self._options().items() if k not in _CONSUMER_ONLY}

    async def _ensure_consumer(self) -> Any:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._options())
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[RereadRecord]:
        """The messages of ``topic[partition]`` with ``start <= offset < end``, in order.

        Offsets without a message (transaction markers, compaction) are simply absent.
        Raises ``TimeoutError`` when the range cannot be read within ``timeout``; the
        consumer is then reopened on the next read.
        """
        if end <= start:
            return []
        async with self._lock:
            try:
                return await asyncio.wait_for(self._read(topic, partition, start, end), self.timeout)
            except BaseException:
                await self._close_consumer()
                raise

    async def _read(self, topic: str, partition: int, start: int, end: int) -> list[RereadRecord]:
        consumer = await self._ensure_consumer()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[RereadRecord] = []
        started = time.monotonic()
        while True:
            batches = await consumer.getmany(tp, timeout_ms=200, max_records=max(1, min(end - start, 500)))
            for record in batches.get(tp, ()):
                if start <= record.offset < end:
                    found.append(RereadRecord(record.offset, record.key, record.value))
            position = await consumer.position(tp)
            if position >= end:
                break
            # Past the end of the log (the range was truncated away): nothing more to read.
            last = (await consumer.end_offsets([tp]))[tp]
            if position >= last:
                break
        log.debug("re-read %s[%d] %d..%d: %d message(s) in %.3f s", topic, partition, start, end - 1,
                  len(found), time.monotonic() - started)  # fmt: skip
        return found

    async def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The log end offset (the next offset to be written) of each of ``partitions``."""
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return {}
        return await self._offsets(tps, end=True)

    async def log_start(self, topic: str, partition: int) -> int:
        """The first offset ``topic[partition]`` still holds (0 until retention deletes)."""
        return (await self._offsets([TopicPartition(topic, partition)], end=False))[partition]

    async def _offsets(self, tps: list[TopicPartition], *, end: bool) -> dict[int, int]:
        """The log end (``end``) or start offsets of ``tps`` (one topic), by partition."""
        async with self._lock:
            try:
                consumer = await self._ensure_consumer()
                ask = consumer.end_offsets if end else consumer.beginning_offsets
                offsets = await asyncio.wait_for(ask(tps), self.timeout)
            except BaseException:
                await self._close_consumer()
                raise
        return {tp.partition: int(offset) for tp, offset in offsets.items()}

    async def group_committed(self, group_id: str, topic: str, partition: int) -> int | None:
        """The last offset of ``topic[partition]`` the consumer group ``group_id`` committed
        (the committed position minus one), or None when it committed nothing there."""
        tp = TopicPartition(topic, partition)
        async with self._admin_lock:
            try:
                admin = await self._ensure_admin()
                found = await asyncio.wait_for(
                    admin.list_consumer_group_offsets(group_id, partitions=[tp]), self.timeout
                )
            except BaseException:
                await self._close_admin()  # reopened by the next question
                raise
        committed = found.get(tp)
        return committed.offset - 1 if committed is not None and committed.offset > 0 else None

    async def _ensure_admin(self) -> Any:
        if self._admin is None:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(**self._admin_options())
            try:
                await asyncio.wait_for(admin.start(), self.timeout)
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        return self._admin

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception:  # best effort, as for the consumer
                log.debug("closing the range reader's admin client failed", exc_info=True)

    async def close(self) -> None:
        """Close the consumer and the admin client (the worker's shutdown)."""
        await self._close_admin()
        await self._close_consumer()

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:  # closing is best effort; the next read opens a new one
                log.debug("closing the range reader's consumer failed", exc_info=True)
