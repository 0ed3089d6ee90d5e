"""Sandbox throughput: N trivial HumanEval-style programs (a function plus asserts) through run_many.

For each worker count: programs per second over the whole batch (wall clock, including thread start-up), and the
median and 95th percentile of the per-program wall time (spawn to cleanup, as SandboxResult.wall_s reports it).
Also records the isolation tier in use, the machine, and how much CPU other processes took meanwhile
("others_cores": 0 means the machine was ours; on 2 cores 1.0 means half of it was busy elsewhere).
Then the system-call filter's cost: the same program run --n times with the filter and --n times without,
interleaved on one worker so that load from elsewhere falls on both alike; the medians and their difference.

    python bench/sandbox_throughput.py [--n 200] [--workers 1 2 4] [--out bench/results/sandbox_throughput.json]

Prints a table and writes the JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMonitor, load_snapshot, log, machine, now, table  # noqa: E402

from inoculate import sandbox  # noqa: E402
from inoculate.sandbox import SandboxLimits, isolation, run_many  # noqa: E402

PROGRAM = '''\
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
    assert candidate(10**6, 1) == 1000001


check(add)
'''


def measure(n: int, workers: int) -> dict:
    with CpuMonitor() as mon:
        start = time.perf_counter()
        results = run_many([PROGRAM] * n, SandboxLimits(), workers=workers)
        wall = time.perf_counter() - start
    per_program = [r.wall_s for r in results]
    reasons = sorted({r.reason for r in results})
    return {"workers": workers, "n": n, "wall_s": round(wall, 3), "programs_per_s": round(n / wall, 1),
            "median_ms": round(1000 * statistics.median(per_program), 1),
            "p95_ms": round(1000 * statistics.quantiles(per_program, n=20, method="inclusive")[18], 1),
            "reasons": reasons, "others_cores": mon.result["others_cores"]}


def filter_cost(n: int, tier: dict) -> dict:
    """Per-program wall time with and without the seccomp filter (the private _execute, as run_program calls it)."""
    walls = {True: [], False: []}
    for i in range(2 * n):
        filtered = i % 2 == 0
        result = sandbox._execute(PROGRAM, SandboxLimits(), tier["tier"], tier["uid_drop"], filtered)
        assert result.reason == "ok", result.stderr
        walls[filtered].append(result.wall_s)
    with_ms, without_ms = (1000 * statistics.median(walls[f]) for f in (True, False))
    paired = [1000 * (a - b) for a, b in zip(walls[True], walls[False])]  # neighbours in time share the load
    return {"n": n, "with_filter_median_ms": round(with_ms, 2), "without_filter_median_ms": round(without_ms, 2),
            "cost_ms": round(statistics.median(paired), 2)}


def main() -> None:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="programs per worker setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, cpus, 2 * cpus],
                        help="worker counts to measure (run_many's default is 2 per CPU)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "sandbox_throughput.json")
    args = parser.parse_args()

    log("probing the isolation tier ...")
    tier = isolation()
    run_many([PROGRAM] * 4)  # warm-up: page cache, the compiled bootstrap
    rows = []
    for workers in args.workers:
        log(f"{args.n} programs, {workers} workers ...")
        rows.append(measure(args.n, workers))

    cost = None
    if tier["syscall_filter"] == "seccomp":
        log(f"filter cost: {args.n} programs with the filter, {args.n} without, interleaved ...")
        cost = filter_cost(args.n, tier)

    print(f"isolation: tier={tier['tier']} network={tier['network']} uid_drop={tier['uid_drop']} "
          f"syscall_filter={tier['syscall_filter']}"
          + (f" unavailable={tier['unavailable']}" if tier["unavailable"] else ""))
    print(f"cpus: {cpus}\n")
    print(table(["workers", "programs/s", "median ms", "p95 ms", "reasons", "others_cores"],
                [[r["workers"], r["programs_per_s"], r["median_ms"], r["p95_ms"], ",".join(r["reasons"]),
                  r["others_cores"]] for r in rows]))
    if cost:
        print(f"\nseccomp filter: median {cost['with_filter_median_ms']} ms with, "
              f"{cost['without_filter_median_ms']} ms without; median paired difference {cost['cost_ms']} ms")
    data = {"benchmark": "sandbox_throughput", "when": now(), "command": " ".join(["python", *sys.argv]),
            "program": PROGRAM, "isolation": tier, "cpus": cpus, "rows": rows, "filter_cost": cost,
            "load_after": load_snapshot(),
            "machine": machine()}  # last: it imports torch, which should not sit in the measured process
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
