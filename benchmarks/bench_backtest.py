"""Backtest throughput and memory on a generated stream (run on demand, not in CI).

    .venv/bin/python benchmarks/bench_backtest.py --events 1000000

Generates a seeded stream with the simulator into a temporary JSON Lines file (not
timed), then times, each in a fresh subprocess so peak memory is the run's own:

* ``decode``  — a plain loop that only ``orjson.loads`` every line (the floor);
* ``skeleton`` — the least a Python backtest does per event with no validation and no
  SLA rules (decode, timestamp, state lookup, duplicate set, one deadline queued);
* ``backtest`` — ``slawatch backtest`` on the same file (validation, engine, alerts out);
* ``backtest-half`` — the same on the first half of the file, to show that memory is
  bounded by open tickets, not by the number of events.

Prints events/s, the ratio to the decode floor, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

DECODE = """
import sys, orjson
n = 0
with open(sys.argv[1], 'rb') as f:
    for line in f:
        orjson.loads(line); n += 1
"""

# The least a Python backtest does per event, with no validation and no SLA rules: decode,
# turn occurred_at into epoch seconds (one datetime per date and offset), find the
# ticket's state, test and record the event id, queue one deadline and pop the due ones.
# What the real backtest costs beyond this is the contract and sla.md.
SKELETON = """
import heapq, sys, orjson
from datetime import datetime
states, due, days = {}, [], {}
with open(sys.argv[1], 'rb') as f:
    for line in f:
        d = orjson.loads(line)
        ts = d['occurred_at']
        key = ts[:10] + ts[19:]
        base = days.get(key)
        if base is None:
            base = days[key] = datetime.fromisoformat(ts[:10] + 'T00:00:00' + ts[19:]).timestamp()
        at = base + int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + int(ts[17:19])
        state = states.get(d['ticket_id'])
        if state is None:
            state = states[d['ticket_id']] = set()
        if d['event_id'] in state:
            continue
        state.add(d['event_id'])
        heapq.heappush(due, (at + 3600.0, d['ticket_id']))
        while due and due[0][0] < at:
            heapq.heappop(due)
"""


def generate(path: Path, events: int, seed: int, rate: float) -> int:
    from slawatch.simulate import generate_events

    start = datetime(2026, 1, 5, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
    n = 0
    with path.open("wb") as f:
        for ev in generate_events(seed=seed, start=start, rate=rate):
            f.write(json.dumps(ev, ensure_ascii=False).encode() + b"\n")
            n += 1
            if n >= events:
                break
    return n


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process (its own, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return elapsed, usage.ru_maxrss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--rate",
        type=float,
        default=0.05,
        help="peak new tickets per simulated second (0.05 ~ 1,700 tickets a working day)",
    )
    ap.add_argument("--keep", type=Path, help="keep the generated file here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="slawatch-bench-"))
    full = args.keep or tmp / "events.jsonl"
    t0 = time.perf_counter()
    n = generate(full, args.events, args.seed, args.rate)
    print(f"generated {n:,} events in {time.perf_counter() - t0:.1f} s -> {full}", flush=True)
    half = tmp / "half.jsonl"
    with full.open("rb") as src, half.open("wb") as dst:
        for i, line in enumerate(src):
            if i >= n // 2:
                break
            dst.write(line)

    py = sys.executable
    slawatch = [py, "-m", "slawatch.cli"]
    rows = []
    for name, cmd, count in [
        ("decode", [py, "-c", DECODE, str(full)], n),
        ("skeleton", [py, "-c", SKELETON, str(full)], n),
        ("backtest-half", [*slawatch, "backtest", str(half), "-o", os.devnull, "--quiet"], n // 2),
        ("backtest", [*slawatch, "backtest", str(full), "-o", os.devnull, "--quiet"], n),
    ]:
        secs, rss = timed(cmd)
        rows.append((name, count, secs, count / secs, rss))
        print(
            f"{name:14s} {count:>10,} events  {secs:7.2f} s  {count / secs:>10,.0f} events/s  "
            f"peak RSS {rss / 1024:7.1f} MiB",
            flush=True,
        )

    decode_rate = rows[0][3]
    skeleton_rate = rows[1][3]
    bt = rows[3]
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"backtest events/s: {bt[3]:,.0f}  ({bt[3] / decode_rate:.3f} x the plain decode loop, "
        f"{bt[3] / skeleton_rate:.3f} x the skeleton loop)"
    )
    print(f"peak RSS: half stream {rows[2][4] / 1024:.1f} MiB, full stream {bt[4] / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
