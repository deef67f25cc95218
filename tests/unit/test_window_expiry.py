"""Expired windows leave the windows tables' local stores (agents/window_expiry.py).

The staleness rule is Faust's own (``TumblingWindow.stale``); the sweep runs against
real Faust stores, the memory store and a RocksDB store opened in a tmp dir, built by
``create_worker`` as a worker builds them (no broker: nothing here starts the app).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from faust.windows import TumblingWindow

from slawatch.agents.app import SlaWorker, create_worker
from slawatch.agents.views import health
from slawatch.agents.window_expiry import is_stale, window_end
from slawatch.settings import Settings
from slawatch.sla.policy import load_policy

#: 10 s windows kept 60 s, as the live standby-store test runs them.
SIZE, EXPIRES = 10, 60
NOW = 1_800_000_000.0  # a multiple of 10: the window being written starts now


def _key(dims: str, start: float) -> tuple[str, tuple[float, float]]:
    """A windowed key as Faust writes it: ``(key, (start, end))``."""
    window = TumblingWindow(SIZE).current(start)
    return dims, (window[0], window[1])


LIVE = _key("0|high|repair|phone", NOW)  # the window being written
RECENT = _key("1|high|repair|phone", NOW - 30)  # closed, not yet expired
STALE = _key("2|high|repair|phone", NOW - 200)
ALSO_STALE = _key("3|normal|sales|email", NOW - 3600)


@pytest.fixture
def rocksdb_worker(tmp_path: Path) -> SlaWorker:
    settings = Settings(
        app_id="unit-expiry",
        partitions=4,
        store="rocksdb",
        data_dir=tmp_path,
        window_sizes_seconds=(SIZE,),
        window_expires_seconds=EXPIRES,
    )
    return create_worker(settings, load_policy(None), clock=lambda: NOW)


@pytest.fixture
def memory_worker(tmp_path: Path) -> SlaWorker:
    settings = Settings(
        app_id="unit-expiry", partitions=4, data_dir=tmp_path, window_sizes_seconds=(SIZE,), window_expires_seconds=60
    )
    return create_worker(settings, load_policy(None), clock=lambda: NOW)


def _table(worker: SlaWorker) -> Any:
    [table] = worker.window_sweep.tables
    return table


def _put_rocksdb(table: Any, partition: int, key: object, value: bytes = b'{"breaches": 1.0}') -> bytes:
    """Write ``key`` into ``partition``'s database as a restored or standby record lands."""
    store = table.data
    raw = store._encode_key(key)
    store._db_for_partition(partition).put(raw, value)
    return bytes(raw)


def _rocksdb_keys(table: Any, partition: int) -> set[bytes]:
    return set(table.data._db_for_partition(partition).keys())


def _sweep(worker: SlaWorker) -> Any:
    [report] = asyncio.run(worker.window_sweep.sweep())
    return report


# --- the rule -------------------------------------------------------------------------


def test_a_window_is_stale_once_the_window_expires_seconds_ago_starts_after_it() -> None:
    window = TumblingWindow(SIZE, expires=EXPIRES)
    assert is_stale(window, STALE, NOW)
    assert is_stale(window, [ALSO_STALE[0], list(ALSO_STALE[1])], NOW)  # as a RocksDB key decodes
    assert not is_stale(window, RECENT, NOW)


def test_the_window_being_written_is_never_stale() -> None:
    window = TumblingWindow(SIZE, expires=EXPIRES)
    for offset in (0.0, 0.05, 4.99, 9.95, 9.999):
        now = NOW + offset
        assert not is_stale(window, _key("k", now), now)


def test_a_window_stays_stale_as_time_goes_on() -> None:
    window = TumblingWindow(SIZE, expires=EXPIRES)
    first = next(t for t in range(0, 200) if is_stale(window, RECENT, NOW + t))
    assert all(is_stale(window, RECENT, NOW + t) for t in range(first, first + 500))


def test_a_key_that_is_not_a_windowed_key_is_never_stale() -> None:
    window = TumblingWindow(SIZE, expires=EXPIRES)
    for key in ("ticket-1", b"__faust\x00offset__", None, ("k",), ("k", (1.0,)), ("k", ("a", "b")), ("k", (1, True))):
        assert window_end(key) is None
        assert not is_stale(window, key, NOW)


def test_a_window_without_expiry_is_never_stale() -> None:
    assert not is_stale(TumblingWindow(SIZE), STALE, NOW)


# --- the memory store -----------------------------------------------------------------


def test_the_memory_store_sweep_deletes_stale_windows_and_keeps_live_ones(memory_worker: SlaWorker) -> None:
    store = _table(memory_worker).data
    for key in (LIVE, RECENT, STALE, ALSO_STALE):
        store.data[key] = {"breaches": 1.0}
    report = _sweep(memory_worker)
    assert set(store.data) == {LIVE, RECENT}
    assert (report.read, report.dropped, report.complete) == (4, 2, True)


def test_the_memory_store_sweep_forgets_the_partition_of_a_restored_stale_window(memory_worker: SlaWorker) -> None:
    store = _table(memory_worker).data
    store.data.update({STALE: {"breaches": 1.0}, RECENT: {"breaches": 1.0}})
    store._key_partition.update({STALE: 2, RECENT: 1, ALSO_STALE: 3})  # ALSO_STALE: value already popped
    _sweep(memory_worker)
    assert store._key_partition == {RECENT: 1}


# --- the RocksDB store ----------------------------------------------------------------


def test_the_rocksdb_sweep_deletes_stale_windows_from_every_open_partition_database(
    rocksdb_worker: SlaWorker,
) -> None:
    table = _table(rocksdb_worker)
    kept = {p: {_put_rocksdb(table, p, LIVE), _put_rocksdb(table, p, RECENT)} for p in range(4)}
    for p in range(4):  # actives and standbys: the store opens a database per partition either way
        _put_rocksdb(table, p, STALE)
        _put_rocksdb(table, p, ALSO_STALE)
    report = _sweep(rocksdb_worker)
    assert {p: _rocksdb_keys(table, p) for p in range(4)} == kept
    assert (report.partitions, report.read, report.dropped) == ([0, 1, 2, 3], 16, 8)


def test_the_rocksdb_sweep_keeps_the_offset_the_store_persisted(rocksdb_worker: SlaWorker) -> None:
    table = _table(rocksdb_worker)
    store = table.data
    _put_rocksdb(table, 0, STALE)
    store._db_for_partition(0).put(store.offset_key, b"41")
    _sweep(rocksdb_worker)
    assert _rocksdb_keys(table, 0) == {store.offset_key}


def test_the_rocksdb_sweep_reads_in_slices_and_lets_the_loop_run_between_them(rocksdb_worker: SlaWorker) -> None:
    table = _table(rocksdb_worker)
    for i in range(25):
        _put_rocksdb(table, 0, _key(f"0|p{i:02}|d|c", NOW - 200))
        _put_rocksdb(table, 0, _key(f"0|p{i:02}|d|c", NOW))
    rocksdb_worker.window_sweep.slice_size = 7
    ran_between = 0

    async def run() -> None:
        nonlocal ran_between
        sweep = asyncio.create_task(rocksdb_worker.window_sweep.sweep())
        while not sweep.done():
            ran_between += 1
            await asyncio.sleep(0)
        await sweep

    asyncio.run(run())
    assert ran_between >= 50 // 7
    assert len(_rocksdb_keys(table, 0)) == 25


def test_a_partition_database_revoked_between_slices_is_left_alone(rocksdb_worker: SlaWorker) -> None:
    table = _table(rocksdb_worker)
    for i in range(20):
        _put_rocksdb(table, 0, _key(f"0|p{i:02}|d|c", NOW - 200))
    rocksdb_worker.window_sweep.slice_size = 5
    store = table.data

    async def run() -> Any:
        sweep = asyncio.create_task(rocksdb_worker.window_sweep.sweep())
        await asyncio.sleep(0)  # the first slice runs
        db = store._dbs.pop(0)  # Faust's revoke_partitions
        [report] = await sweep
        return db, report

    db, report = asyncio.run(run())  # the test holds the revoked handle: RocksDB's lock stays taken
    assert len(list(db.keys())) == 15
    assert (report.dropped, report.partitions, report.dormant) == (5, [], [])


def test_the_rocksdb_sweep_deletes_stale_windows_from_a_database_the_store_no_longer_holds(
    rocksdb_worker: SlaWorker,
) -> None:
    table = _table(rocksdb_worker)
    store = table.data
    kept = {_put_rocksdb(table, 2, LIVE), _put_rocksdb(table, 2, RECENT)}
    _put_rocksdb(table, 2, STALE)
    store._dbs.pop(2).close()  # revoked: the database stays on disk, closed
    report = _sweep(rocksdb_worker)
    assert (report.partitions, report.dormant, report.dropped) == ([], [2], 1)
    assert 2 not in store._dbs  # opened for the sweep only, and closed: Faust can open it again
    assert _rocksdb_keys(table, 2) == kept


def test_a_database_the_store_no_longer_holds_but_cannot_open_yet_is_left_for_the_next_sweep(
    rocksdb_worker: SlaWorker,
) -> None:
    table = _table(rocksdb_worker)
    raw = _put_rocksdb(table, 2, STALE)
    revoked = table.data._dbs.pop(2)  # revoked, its handle not yet collected: RocksDB's lock stays taken
    report = _sweep(rocksdb_worker)
    assert (report.dormant, report.dropped, report.complete) == ([], 0, True)
    assert set(revoked.keys()) == {raw}


def test_the_rocksdb_sweep_waits_while_the_store_rebalances(rocksdb_worker: SlaWorker) -> None:
    table = _table(rocksdb_worker)
    raw = _put_rocksdb(table, 0, STALE)

    async def run() -> Any:
        async with table.data.db_lock:  # held by the store's on_rebalance (revoke/assign)
            return await rocksdb_worker.window_sweep.sweep_table(table)

    report = asyncio.run(run())
    assert (report.dropped, report.complete) == (0, False)
    assert _rocksdb_keys(table, 0) == {raw}


# --- both ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_the_sweep_writes_nothing_to_the_changelog(store: str, tmp_path: Path, monkeypatch: Any) -> None:
    settings = Settings(
        app_id="unit-expiry", partitions=4, store=store, data_dir=tmp_path, window_sizes_seconds=(SIZE,),
        window_expires_seconds=EXPIRES,
    )  # fmt: skip
    worker = create_worker(settings, load_policy(None), clock=lambda: NOW)
    table = _table(worker)
    sent: list[Any] = []
    monkeypatch.setattr(table, "send_changelog", lambda *args, **kwargs: sent.append(args))
    if store == "memory":
        table.data.data[STALE] = {"breaches": 1.0}
    else:
        _put_rocksdb(table, 0, STALE)
    assert _sweep(worker).dropped == 1
    assert sent == []


def test_the_sweep_does_not_run_while_the_app_rebalances_or_restores(memory_worker: SlaWorker) -> None:
    store = _table(memory_worker).data
    store.data[STALE] = {"breaches": 1.0}
    memory_worker.app.rebalancing = True
    assert asyncio.run(memory_worker.window_sweep.sweep()) == []
    memory_worker.app.rebalancing = False
    memory_worker.app.in_recovery = True
    assert asyncio.run(memory_worker.window_sweep.sweep()) == []
    assert STALE in store.data
    memory_worker.app.in_recovery = False
    assert _sweep(memory_worker).dropped == 1


def test_the_sweep_does_not_run_once_the_app_stops(rocksdb_worker: SlaWorker) -> None:
    table = _table(rocksdb_worker)
    raw = _put_rocksdb(table, 0, STALE)
    rocksdb_worker.app._stopped.set()  # App.stop() sets it first, then stops the stores
    assert asyncio.run(rocksdb_worker.window_sweep.sweep()) == []
    assert _rocksdb_keys(table, 0) == {raw}


def test_the_worker_sweeps_each_windows_table_and_health_shows_the_last_sweep(tmp_path: Path) -> None:
    settings = Settings(app_id="unit-expiry", data_dir=tmp_path, window_sizes_seconds=(60, 3600))
    worker = create_worker(settings, load_policy(None), clock=lambda: NOW)
    assert [t.name for t in worker.window_sweep.tables] == ["windows-60s", "windows-3600s"]
    asyncio.run(worker.window_sweep.sweep())
    sweeps = health(worker)["window_sweeps"]
    assert set(sweeps) == {"windows-60s", "windows-3600s"}
    assert sweeps["windows-60s"]["at"].startswith("2027-01-15T08:00:00")
    assert sweeps["windows-60s"]["complete"] is True


def test_a_sweep_of_20000_rocksdb_keys_keeps_each_slice_short(rocksdb_worker: SlaWorker) -> None:
    """The measurement behind SWEEP_SLICE (printed with -s); the bound is loose for CI."""
    table = _table(rocksdb_worker)
    db = table.data._db_for_partition(0)
    for i in range(10_000):
        db.put(table.data._encode_key(_key(f"0|{i}|d|c", NOW - 200)), b"{}")
        db.put(table.data._encode_key(_key(f"0|{i}|d|c", NOW)), b"{}")
    sweep = rocksdb_worker.window_sweep
    longest = 0.0

    async def run() -> Any:
        nonlocal longest
        task = asyncio.create_task(sweep.sweep())
        last = time.perf_counter()
        while not task.done():
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        return await task

    [report] = asyncio.run(run())
    print(f"20,000 keys: {report.seconds * 1000:.1f} ms in all, longest slice {longest * 1000:.1f} ms")
    assert report.dropped == 10_000
    assert longest < 0.25


def test_a_dormant_database_is_opened_again_only_once_one_of_its_windows_can_be_stale(
    rocksdb_worker: SlaWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing writes to a dormant database, and each open rotates RocksDB's info log
    into a new ``LOG.old.*`` file: a sweep that finds nothing that can be stale yet
    leaves it closed."""
    table = _table(rocksdb_worker)
    store = table.data
    _put_rocksdb(table, 2, RECENT)  # expires 60 s after its end, ~40 s from NOW
    store._dbs.pop(2).close()
    _sweep(rocksdb_worker)
    opened: list[object] = []
    open_db = store.rocksdb_options.open

    def counted_open(path: object, *args: Any, **kwargs: Any) -> Any:
        opened.append(path)
        return open_db(path, *args, **kwargs)

    monkeypatch.setattr(store.rocksdb_options, "open", counted_open)
    report = _sweep(rocksdb_worker)
    assert (opened, report.dormant, report.dropped) == ([], [2], 0)
    rocksdb_worker.window_sweep.clock = lambda: NOW + 200
    report = _sweep(rocksdb_worker)
    assert (len(opened), report.dormant, report.dropped) == (1, [2], 1)
