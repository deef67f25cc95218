"""Expired windows leave every local store of the windows tables, without a changelog record.

**What Faust does by itself, and what it leaves.** faust-streaming 0.15.3 expires a
windowed table's keys in ``Collection._del_old_keys`` (faust/tables/base.py), every
``table_cleanup_interval``: it pops a window once ``window.stale(window_end,
time.time())``, with ``self.data.pop`` on the store (no tombstone: the changelog's own
retention drops the records there). But it only knows the keys it registered in
``_partition_timestamp_keys``, and it registers a key only in ``Table.on_key_set``, i.e.
when *this process* writes it as the active owner. Nothing registers

* a window restored from the changelog into an active partition (``apply_changelog_batch``
  writes the store directly: faust/stores/rocksdb.py, memory.py),
* a standby partition's windows (the same path, all the time),
* a window a RocksDB store kept from before a restart: RocksDB recovery reads the
  changelog only from the offset the store persisted, so those windows are not even
  replayed.

All of those stayed in the store for ever (measured before this module: 13,146 expired
windows left in the RocksDB stores by tests/integration/test_live_standby_stores.py's
~2.5 min run, none with it; see docs/operations.md).

**Why a sweep of the stores, not more registrations.** Registering restored keys in
Faust's tracking (wrapping ``apply_changelog_batch``) would cover the first two cases but
not the third: the windows a RocksDB store kept across a restart are found only by
reading the store. Reading the store finds all three, on both store kinds, with one
rule; so :class:`StaleWindowSweep` reads every partition database a windows table's store
has open (active and standby), and the dormant ones (the databases of partitions the
worker held before: RocksDB keeps them on disk and uses them again when the partition
comes back), and deletes the keys whose window is stale by Faust's own rule,
``table.window.stale(window_end, now)`` (:func:`is_stale`), the rule Faust's cleanup
applies to the windows it tracks. It runs every ``expire_sweep_seconds`` (10 min by
default; the app's timer in agents/app.py), the tickets' expiry cadence: it reads every
key of every windows store, so Faust's 30 s would cost a busy worker a share of its core,
and what it deletes only bounds the stores' growth (a window lingers at most one
interval past its expiry of a day).

**No changelog record.** It deletes from the store (the RocksDB partition database, the
memory store's dict), never through the table, like Faust's cleanup: a standby must not
produce to a changelog, and the changelog's retention removes the records there.

**Never a live window.** Staleness only grows with time (a window stale now stays
stale), and the window being written is never stale (its end is after the start of the
window ``expires`` ago, for any ``expires`` > 0). So a deleted key is one no writer
will touch again, and nothing a reader shows as current is lost.

**Bounded slices.** A store may hold many keys: the sweep reads :data:`SWEEP_SLICE` keys
at a time (a fresh iterator per slice, seeking past the last key read) and yields to the
event loop between slices: ~5-8 µs per key read and judged, ~10-17 ms per slice
(measured by tests/unit/test_window_expiry.py: 20,000 RocksDB keys, half of them stale,
in 97-150 ms); a dormant database costs ~8 ms more per slice to open and close.

**Rebalances and recovery.** Every slice runs synchronously on the event loop, like
Faust's own writes (stream processing, ``apply_changelog_batch``), so no write
interleaves inside a slice. Between slices the sweep holds no database handle (a revoke
followed by a re-assignment reopens the partition's database, and RocksDB's lock would
refuse it while another handle lived) and looks the database up again. A dormant
database is opened and closed within one slice, so Faust's own opening of it (on an
assignment, synchronous too) never meets our lock; one revoked while Faust's handle is
not yet collected fails to open and waits for the next sweep. A dormant database read
to its end is not opened again until one of the windows it kept can be stale (nothing
writes to it, and each open starts a new RocksDB info log file). The sweep does not
start, and stops, while the app rebalances or restores its active partitions
(``app.rebalancing``, ``app.in_recovery``), once the app stops (``app.should_stop``: the
stores forget their databases then), or while the RocksDB store's ``db_lock`` is held
(revoke/assign). A standby partition is restored
continuously, so it is swept while records arrive; that is safe because a record
applied after the sweep deleted its stale key only brings back a stale window (the
changelog still holds it until retention), which the next sweep deletes again, and the
sweep never touches the offset the store persisted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = ["SWEEP_SLICE", "StaleWindowSweep", "SweepReport", "is_stale", "window_end"]

log = logging.getLogger(__name__)

#: Keys read per slice between two yields to the event loop.
SWEEP_SLICE = 2000

_ABSENT = object()


class StalenessRule(Protocol):
    """What the sweep needs of a Faust window (``faust.windows.TumblingWindow``)."""

    expires: float | None

    def stale(self, timestamp: float, latest_timestamp: float) -> bool: ...


def window_end(key: object) -> float | None:
    """The end of a windowed table key ``(key, (start, end))``, None if it is not one.

    The memory store holds the tuple the table wrote (or ``Collection._to_key`` rebuilt
    from the changelog); a RocksDB key decodes from JSON into ``[key, [start, end]]``.
    """
    if not isinstance(key, tuple | list) or len(key) != 2:
        return None
    window_range = key[1]
    if not isinstance(window_range, tuple | list) or len(window_range) != 2:
        return None
    end = window_range[1]
    if isinstance(end, bool) or not isinstance(end, int | float):
        return None
    return float(end)


def is_stale(window: StalenessRule, key: object, now: float) -> bool:
    """Whether ``key``'s window is stale at ``now`` by Faust's rule (never for a key
    that is not a windowed key: what cannot be read is kept)."""
    end = window_end(key)
    return end is not None and bool(window.stale(end, now))


@dataclass
class SweepReport:
    """One table's sweep: what it read and what it deleted."""

    table: str
    at: float
    #: Partition databases read (RocksDB) that the store held open; empty for the memory
    #: store (one dict).
    partitions: list[int] = field(default_factory=list)
    #: Partition databases read on disk that the store did not hold (revoked earlier).
    dormant: list[int] = field(default_factory=list)
    read: int = 0
    dropped: int = 0
    seconds: float = 0.0
    #: False when the sweep stopped before the end: the app began rebalancing, restoring
    #: or stopping, or the store's ``db_lock`` was taken (the rest waits for the next
    #: run). A dormant database that could not be opened (its lock still held) is left
    #: out of ``dormant`` without making this False.
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


def _sweep_db_slice(
    store: Any,
    partition: int,
    after: bytes | None,
    window: StalenessRule,
    now: float,
    size: int,
) -> tuple[bytes | None, int, int, float | None] | None:
    """Read up to ``size`` keys of ``partition``'s database past ``after``; delete the stale.

    Returns ``(last key read or None when the database is done, keys read, deleted,
    earliest end of a window read and kept or None)``, or
    None when the partition has no database to read (none on disk, or it cannot be
    opened now). The database the store has open for the partition, else (a dormant
    one: on disk, not held) opened for this slice and closed before returning: no handle
    outlives the call (see the module docstring).
    """
    db = store._dbs.get(partition)
    if db is not None:
        return _sweep_open_slice(store, db, after, window, now, size)
    path = store.partition_path(partition)
    if not path.exists():
        return None
    try:
        dormant = store.rocksdb_options.open(path)
    except Exception:  # locked: a revoked handle not yet collected; next sweep
        log.debug("window expiry: %s not opened, left for the next sweep", path, exc_info=True)
        return None
    try:
        return _sweep_open_slice(store, dormant, after, window, now, size)
    finally:
        dormant.close()


def _sweep_open_slice(
    store: Any,
    db: Any,
    after: bytes | None,
    window: StalenessRule,
    now: float,
    size: int,
) -> tuple[bytes | None, int, int, float | None]:
    decode = store._decode_key
    offset_key = getattr(store, "offset_key", None)
    stale: list[bytes] = []
    read = 0
    last: bytes | None = None
    kept_end: float | None = None
    it = db.iter()
    try:
        if after is None:
            it.seek_to_first()
        else:
            it.seek(after)
            if it.valid() and it.key() == after:
                it.next()
        while read < size and it.valid():
            key = it.key()
            last = key
            read += 1
            if key != offset_key:
                try:
                    decoded = decode(key)
                except Exception:  # not a key this table wrote: keep it
                    decoded = None
                end = window_end(decoded)
                if end is None:
                    pass  # not a windowed key: kept, as is_stale keeps it
                elif window.stale(end, now):
                    stale.append(key)
                elif kept_end is None or end < kept_end:
                    kept_end = end
            it.next()
        done = not it.valid()
    finally:
        # A live iterator keeps a dormant database's lock past its close(): Faust's own
        # open of it (no retry) would then fail, also after an exception here.
        del it
    key_index = getattr(store, "_key_index", None)
    for key in stale:
        db.delete(key)
        if key_index is not None:
            key_index.pop(key, None)
    return (None if done else last), read, len(stale), kept_end


class StaleWindowSweep:
    """Deletes the stale windows from every local store of some windowed Faust tables.

    ``tables`` are the windowed tables (``app.Table(...).tumbling(...)``'s ``.table``);
    ``busy()`` says the app is rebalancing or restoring (the sweep stops until the next
    run); ``clock`` is the wall clock the windows are relative to.
    """

    def __init__(
        self,
        tables: Sequence[Any],
        clock: Callable[[], float] = time.time,
        busy: Callable[[], bool] = lambda: False,
        slice_size: int = SWEEP_SLICE,
    ) -> None:
        self.tables = list(tables)
        self.clock = clock
        self.busy = busy
        self.slice_size = slice_size
        #: The last sweep of each table, by table name (shown on /sla/health).
        self.last: dict[str, SweepReport] = {}
        #: Per (table, partition) of a dormant RocksDB database read to its end: the
        #: earliest instant one of its windows can be stale (its earliest kept window's
        #: end plus ``expires``: ``stale`` needs end <= start of the window holding now -
        #: expires), infinity when it kept none. Nothing writes to a dormant database,
        #: so it is not opened again before then: every open rotates RocksDB's info log
        #: into a new ``LOG.old.*`` file (~25 KB), up to 1,000 kept per database.
        self._dormant_quiet_until: dict[tuple[str, int], float] = {}

    async def sweep(self) -> list[SweepReport]:
        """One pass over every table (skipped while ``busy()``)."""
        reports = []
        for table in self.tables:
            if self.busy():
                break
            report = await self.sweep_table(table)
            self.last[table.name] = report
            reports.append(report)
            if report.dropped:
                where = (
                    f"partitions {report.partitions}, dormant {report.dormant}"
                    if report.partitions or report.dormant
                    else "memory store"
                )
                log.info(
                    "window expiry: %s: %d stale windows deleted of %d keys read (%s) in %.3f s%s",
                    report.table, report.dropped, report.read, where, report.seconds,
                    "" if report.complete else "; interrupted (rebalance, recovery, stop or a held store lock)",
                )  # fmt: skip
        return reports

    async def sweep_table(self, table: Any) -> SweepReport:
        window = table.window
        now = self.clock()
        report = SweepReport(table=table.name, at=now)
        started = time.perf_counter()
        if window is None or window.expires is None:
            return report
        store = table.data
        if isinstance(getattr(store, "_dbs", None), dict):
            await self._sweep_rocksdb(store, window, now, report)
        elif isinstance(getattr(store, "data", None), dict):
            await self._sweep_memory(store, window, now, report)
        report.seconds = time.perf_counter() - started
        return report

    def _rocksdb_busy(self, store: Any) -> bool:
        lock = getattr(store, "db_lock", None)
        return self.busy() or (lock is not None and lock.locked())

    async def _sweep_rocksdb(self, store: Any, window: StalenessRule, now: float, report: SweepReport) -> None:
        held = sorted(store._dbs)
        # A partition's database stays on disk when the partition is revoked (it no longer
        # grows) and is used again when it comes back: swept as well, one slice at a time.
        dormant = [p for p in range(store.table.partitions or 0) if p not in held and store.partition_path(p).exists()]
        quiet = self._dormant_quiet_until
        name = report.table
        for partition in held:
            quiet.pop((name, partition), None)  # written again: read it when it is dormant again
        for partition in held + dormant:
            if partition not in held and now < quiet.get((name, partition), -math.inf):
                report.dormant.append(partition)  # read before, nothing in it stale yet
                continue
            after: bytes | None = None
            kept_end = math.inf  # the earliest end of a window kept in this database
            while True:
                if self._rocksdb_busy(store):
                    report.complete = False
                    return
                result = _sweep_db_slice(store, partition, after, window, now, self.slice_size)
                await asyncio.sleep(0)
                if result is None:  # no database to read now: not reported as read
                    break
                after, read, dropped, slice_kept_end = result
                report.read += read
                report.dropped += dropped
                if slice_kept_end is not None:
                    kept_end = min(kept_end, slice_kept_end)
                if after is None:  # read to its end
                    if partition not in held:
                        report.dormant.append(partition)
                        quiet[(name, partition)] = kept_end + (window.expires or 0)
                    elif partition in store._dbs:  # not revoked on the way
                        report.partitions.append(partition)
                    break

    async def _sweep_memory(self, store: Any, window: StalenessRule, now: float, report: SweepReport) -> None:
        data: dict[Any, Any] = store.data
        # Restored keys' partitions: Faust pops them only for revoked partitions, so a
        # window its own cleanup popped from ``data`` may linger here.
        key_partition: dict[Any, int] = getattr(store, "_key_partition", {})
        # A snapshot (the dicts change between slices): list(dict) is one C-level copy,
        # a set union of a million keys held the loop ~0.3 s. Faust pops a partition's
        # keys from ``_key_partition`` only when it is revoked, so it may hold keys
        # ``data`` no longer has.
        keys = list(data)
        keys += [key for key in list(key_partition) if key not in data]
        for start in range(0, len(keys), self.slice_size):
            if self.busy():
                report.complete = False
                return
            chunk = keys[start : start + self.slice_size]
            self._drop_stale(chunk, data, key_partition, window, now, report)
            report.read += len(chunk)
            await asyncio.sleep(0)

    @staticmethod
    def _drop_stale(
        keys: Iterable[Any],
        data: dict[Any, Any],
        key_partition: dict[Any, int],
        window: StalenessRule,
        now: float,
        report: SweepReport,
    ) -> None:
        for key in keys:
            if is_stale(window, key, now):
                if data.pop(key, _ABSENT) is not _ABSENT:
                    report.dropped += 1
                key_partition.pop(key, None)
