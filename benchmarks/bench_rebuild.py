"""The restart's own work: rebuilding the deadline index from the tickets table.

    .venv/bin/python benchmarks/bench_rebuild.py --tickets 300000

After Faust restores a table, each worker re-reads every owned ticket to index its next
due instant and keep its summary (``TicketProcessor.rebuild``). This times that step
alone, without Kafka, on one table in the stored formats side by side:

* ``recompute``: values whose head names another engine (another policy file,
  holiday library or version), or older values without a head: each state is parsed
  and its next due instant recomputed, before the streams resume;
* ``index``: values written by this engine: the index is built from their heads, the
  summaries left to the background (what the worker waits for before resuming);
* ``summaries``: those background summaries (``fill_summaries``), which the state
  gauges wait for.

The table is built from simulated tickets cut mid-life (open, warned, breached,
paused, resolved), copied under new ids up to ``--tickets``. Rounds alternate; prints
microseconds per ticket and the ratio of what a restart waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from slawatch.agents.index import DeadlineIndex
from slawatch.agents.processor import TicketProcessor
from slawatch.agents.stored_state import pack_state, unpack_state
from slawatch.metrics import LabelBounds, build_metrics
from slawatch.settings import Settings
from slawatch.simulate import generate_events
from slawatch.sla.engine import SlaEngine, TicketState
from slawatch.sla.policy import load_policy
from slawatch.streams.codecs import Tick, encode_tick

PARTITIONS = 8


class _Sinks:
    async def alerts(self, batch: Any) -> None:
        pass

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        pass

    def add(self, incs: Any) -> None:
        pass


def processor(engine: SlaEngine, tickets: dict[str, bytes], now: float) -> TicketProcessor:
    sinks = _Sinks()
    bounds = LabelBounds.from_settings(Settings())
    return TicketProcessor(
        engine=engine, tickets=tickets, index=DeadlineIndex(), windows=sinks,
        metrics=build_metrics(CollectorRegistry(), bounds), bounds=bounds,
        publish_alerts=sinks.alerts, dead_letter=sinks.dead_letter, clock=lambda: now,
    )  # fmt: skip


def seed_states(engine: SlaEngine) -> tuple[list[dict[str, Any]], float]:
    """Simulated tickets after three days of traffic, ticked to the cut: state dicts."""
    start = datetime(2026, 11, 16, 1, tzinfo=UTC)
    until = datetime(2026, 11, 19, 6, tzinfo=UTC)
    now = until.timestamp()
    tickets: dict[str, bytes] = {}
    proc = processor(engine, tickets, now)

    async def run() -> None:
        for offset, event in enumerate(generate_events(5, start, rate=0.2, until=until)):
            partition = zlib.crc32(event["ticket_id"].encode()) % PARTITIONS
            await proc.on_event(orjson.dumps(event), key=None, topic="in", partition=partition, offset=offset)
        by_partition: dict[int, list[str]] = {}
        for ticket_id, raw in tickets.items():
            by_partition.setdefault(unpack_state(raw).partition or 0, []).append(ticket_id)
        for partition, ids in by_partition.items():
            for i in range(0, len(ids), 1000):
                await proc.on_tick(encode_tick(Tick(tuple(ids[i : i + 1000]), now)), partition=partition)

    asyncio.run(run())
    return [unpack_state(raw).to_dict() for raw in tickets.values()], now


def build_table(engine: SlaEngine, seeds: list[dict[str, Any]], n: int, fingerprint: bytes) -> dict[str, bytes]:
    table: dict[str, bytes] = {}
    for i in range(n):
        d = dict(seeds[i % len(seeds)])
        d["t"] = ticket_id = f"bench-{i:08d}"
        d["part"] = i % PARTITIONS
        state = TicketState.from_dict(d)
        table[ticket_id] = pack_state(state, next_due=engine.next_due(state), fingerprint=fingerprint)
    return table


def time_rebuild(engine: SlaEngine, table: dict[str, bytes], now: float) -> tuple[float, float]:
    """Seconds until the index is ready, then seconds until every summary is read."""
    proc = processor(engine, table, now)
    gc.collect()
    t0 = time.perf_counter()
    n = proc.rebuild(range(PARTITIONS), defer_summaries=True)
    t1 = time.perf_counter()
    proc.fill_summaries(None)
    t2 = time.perf_counter()
    assert n == len(table) == len(list(proc.owned_states())), (n, len(table))
    return t1 - t0, t2 - t1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=300_000, help="tickets in the table (default 300000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per format (default 3)")
    args = parser.parse_args(argv)

    engine = SlaEngine(load_policy(None))
    seeds, now = seed_states(engine)
    open_tickets = sum(1 for d in seeds if d["s"] not in ("resolved", "closed"))
    print(f"python {platform.python_version()} on {platform.machine()}; {len(seeds)} seed tickets "
          f"({open_tickets} open), copied to {args.tickets:,}", flush=True)  # fmt: skip
    tables = {
        "recompute": build_table(engine, seeds, args.tickets, b"elsewise"),
        "stored": build_table(engine, seeds, args.tickets, engine.fingerprint),
    }
    times: dict[str, list[float]] = {"recompute": [], "index": [], "summaries": []}
    for _ in range(args.rounds):
        ready, rest = time_rebuild(engine, tables["recompute"], now)
        times["recompute"].append(ready + rest)
        ready, rest = time_rebuild(engine, tables["stored"], now)
        times["index"].append(ready)
        times["summaries"].append(rest)
    best = {name: min(ts) for name, ts in times.items()}
    for name, ts in times.items():
        per = best[name] / args.tickets * 1e6
        print(f"{name:>10}: best {best[name]:.2f} s ({per:.1f} us/ticket), median {statistics.median(ts):.2f} s")
    print(f"     ratio: a restart waits {best['recompute'] / best['index']:.1f}x less with stored heads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
