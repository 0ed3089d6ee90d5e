"""Ray's overhead against the serial executor on a tiny 4-run grid (issue #16).

The grid: spanish-caps on the embedded SmolLM2-135M, the untrained model and 3 arms (no IP, the
Spanish IP, the random string), 16 training examples, 8 eval prompts, 24 new tokens, 1 sample, no
surprise stage; each as `inoculate run ... --quiet` in a child process with a fresh output folder,
so every variant pays its own start-up:

  serial          the default executor
  ray 2 CPU/run   --executor ray, each run a task holding both CPUs: one run at a time, as serial
                  (the difference is Ray's cost: starting Ray, worker processes, moving results)
  ray 1 CPU/run   --executor ray, two runs at once with one CPU each (what a user gets by default)

Variants alternate, `--reps` times each; the medians count. Run it alone on the machine.
`--model tiny` uses the tests' 2-layer Llama (tests/conftest.py) instead, so that the grid's own
work is small beside Ray's fixed costs (and a busy machine distorts less).

    python bench/ray_overhead.py [--reps 2] [--model tiny|NAME]

Writes bench/results/ray_overhead.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_snapshot, log, machine, median, now, table, write_result  # noqa: E402
from demo_end_to_end import inoculate_command  # noqa: E402

GRID = ["--setting", "spanish-caps", "--set", "only_arms=[no-ip,spanish-ip,random]", "--set", "n_train=16",
        "--set", "n_eval=8", "--set", "generation.max_new_tokens=24", "--set", "generation.n_samples=1",
        "--set", "surprise_examples=0", "--set", "probe_every=0", "--set", "eval_contexts=[none]"]
VARIANTS = {
    "serial": [],
    "ray 2 CPU/run": ["--executor", "ray", "--set", "executor.num_cpus=2"],
    "ray 1 CPU/run": ["--executor", "ray", "--set", "executor.num_cpus=1"],
}


def time_grid(extra: list[str], model: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="inoculate-ray-bench-") as tmp:
        cmd = [*inoculate_command(), "run", *GRID, *model, "--out", str(Path(tmp) / "out"), "--quiet", *extra]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--model", default=None, help="tiny: the tests' 2-layer Llama; default: the embedded model")
    opts = ap.parse_args()
    model = []
    if opts.model == "tiny":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from conftest import build_tiny_model

        model = ["--model", str(build_tiny_model(Path(tempfile.mkdtemp(prefix="inoculate-tiny-"))))]
    elif opts.model:
        model = ["--model", opts.model]
    before = load_snapshot()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for rep in range(opts.reps):
        for name, extra in VARIANTS.items():
            times[name].append(time_grid(extra, model))
            log(f"rep {rep}: {name}: {times[name][-1]:.1f} s")
    serial = median(times["serial"])
    rows = [[name, f"{median(t):.1f}", f"{median(t) - serial:+.1f}", f"{median(t) / serial:.2f}x",
             " ".join(f"{x:.1f}" for x in t)] for name, t in times.items()]
    print(table(["executor", "median s", "vs serial s", "vs serial", "each rep s"], rows))
    path = write_result("ray_overhead", {
        "date": now(), "command": "python bench/ray_overhead.py " + " ".join(sys.argv[1:]), "grid": GRID + model,
        "runs": 4, "seconds": times, "median_seconds": {k: median(v) for k, v in times.items()},
        "machine": machine(), "load_before": before, "load_after": load_snapshot()})
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
