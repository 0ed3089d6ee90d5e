"""Shared helpers for the benchmark scripts: machine description, load snapshot, JSON output."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def machine() -> dict:
    """What the figures were measured on."""
    cpu = _lscpu()
    flags = set(cpu.get("Flags", "").split())
    versions = {}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "datasets"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # not installed: the script that needs it says so itself
            versions[name] = None
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            mem_gib = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu_model": cpu.get("Model name"),
        "cpus": os.cpu_count(),
        "avx2": "avx2" in flags, "fma": "fma" in flags, "avx512f": "avx512f" in flags,
        "memory_gib": mem_gib,
        "torch_threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def load_snapshot() -> dict:
    """Load average and the busiest processes right now (other jobs distort timings on 2 cores)."""
    snap = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        top = subprocess.run(["top", "-bn1", "-w", "200"], capture_output=True, text=True, timeout=15).stdout
        lines = top.splitlines()
        header = next((i for i, line in enumerate(lines) if line.lstrip().startswith("PID")), None)
        snap["cpu_line"] = next((line for line in lines if line.startswith("%Cpu")), None)
        if header is not None:
            busy = []
            for line in lines[header + 1:]:
                parts = line.split(None, 11)
                if len(parts) >= 12 and float(parts[8].replace(",", ".")) >= 5.0 and int(parts[0]) != os.getpid():
                    busy.append(f"{parts[0]} {parts[8]}% {parts[11][:80]}")
            snap["busy_processes"] = busy[:8]
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return snap


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def median(values):
    return statistics.median(values) if values else None


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    fmt = lambda row: "  ".join(c.rjust(w) for c, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def matmul_peak(sizes=(2048, 3072, 4096), reps: int = 5) -> dict:
    """Best fp32 FLOP/s of large square torch.mm calls with torch's default thread count.

    Each size gets one untimed call, then `reps` timed calls; the best single call counts.
    2*n^3 FLOPs per call (n^3 multiply-adds).
    """
    import time

    import torch

    per_size = {}
    gen = torch.Generator().manual_seed(0)
    mon = CpuMonitor().__enter__()
    for n in sizes:
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
        per_size[str(n)] = 2 * n**3 / best
        del a, b, c
    mon.__exit__(None, None, None)
    return {"flops_per_s": max(per_size.values()), "per_size_flops_per_s": per_size,
            "threads": torch.get_num_threads(), "reps": reps, "dtype": "float32",
            "others_cores": mon.result["others_cores"]}


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


class CpuMonitor:
    """How much CPU *other* processes used while a measurement ran, in cores (0 = machine was ours).

    busy CPU time of the whole machine (/proc/stat) minus this process's own (and its waited-for
    children's) CPU time, divided by the wall time. On 2 cores, 0.3 means others took ~15%.
    """

    def __enter__(self):
        self._t = time.perf_counter()
        self._busy, _ = _cpu_jiffies()
        self._own = self._own_seconds()
        return self

    @staticmethod
    def _own_seconds() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t
        busy, _ = _cpu_jiffies()
        hz = os.sysconf("SC_CLK_TCK")
        own = self._own_seconds() - self._own
        machine_busy = (busy - self._busy) / hz
        self.result = {"wall_s": round(wall, 3), "own_cpu_s": round(own, 2),
                       "machine_busy_cpu_s": round(machine_busy, 2),
                       "others_cores": round(max(0.0, machine_busy - own) / wall, 3) if wall > 0 else None}
        return False


def wait_for_quiet(max_others_cores: float = 0.15, window_s: float = 5.0, consecutive: int = 3,
                   timeout_s: float = 0.0) -> dict:
    """Wait (up to timeout_s) until other processes use < max_others_cores for `consecutive` windows."""
    waited, calm = 0.0, 0
    last = None
    while timeout_s > 0 and waited < timeout_s:
        with CpuMonitor() as mon:
            time.sleep(window_s)
        last = mon.result["others_cores"]
        waited += window_s
        calm = calm + 1 if last < max_others_cores else 0
        if calm >= consecutive:
            break
    return {"waited_s": waited, "quiet": calm >= consecutive if timeout_s > 0 else None, "last_others_cores": last}


def cpu_snapshot() -> tuple[float, int, float]:
    """(perf_counter, machine busy jiffies, own CPU seconds): cheap enough to take at every step."""
    t = os.times()
    return time.perf_counter(), _cpu_jiffies()[0], t.user + t.system + t.children_user + t.children_system


def others_cores_between(a: tuple[float, int, float], b: tuple[float, int, float]) -> float:
    """Cores used by other processes between two cpu_snapshot()s."""
    wall = b[0] - a[0]
    busy = (b[1] - a[1]) / os.sysconf("SC_CLK_TCK")
    return round(max(0.0, busy - (b[2] - a[2])) / wall, 3) if wall > 0 else 0.0


def add_load_options(ap, name: str, pair_help: str = "each pair") -> None:
    """The options every A/B benchmark shares: waiting for a quiet machine, rejecting loaded pairs, output name."""
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help=f"before {pair_help}, wait up to this long for other processes to leave the CPUs idle")
    ap.add_argument("--max-others", type=float, default=None, metavar="CORES",
                    help="reject (and redo) a pair during which other processes used more than this many cores")
    ap.add_argument("--retries", type=int, default=4, help="extra pairs allowed to replace rejected ones")
    ap.add_argument("--name", default=name, help="results file name (bench/results/NAME.json)")


class ABRun:
    """What the A/B benchmarks share around their pairs: quiet start-up (tokenizer threads and
    transformers logging off), optional waits for a quiet machine, load snapshots, rejection of
    pairs that ran under load, and the common head of the results file."""

    def __init__(self, opts, benchmark: str):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import transformers

        transformers.logging.set_verbosity_error()
        self.opts, self.benchmark, self.waits = opts, benchmark, []
        self.started, self.load_before = now(), load_snapshot()
        log(f"load before: {self.load_before['loadavg']}")

    def settle(self, label: str) -> None:
        """Wait (up to --wait-quiet s) for a quiet machine before a measurement; log and keep the wait."""
        if self.opts.wait_quiet:
            w = wait_for_quiet(timeout_s=self.opts.wait_quiet)
            self.waits.append({"before": label, **w})
            log(f"waited {w['waited_s']:.0f} s for a quiet machine before {label}: quiet={w['quiet']}")

    def accepts(self, pair: list[dict]) -> bool:
        """False (and says so) when other processes used more than --max-others cores during the pair."""
        worst = max(r["others_cores"] for r in pair)
        if self.opts.max_others is not None and worst > self.opts.max_others:
            log(f"  pair rejected: other processes used {worst:.2f} cores (> --max-others {self.opts.max_others})")
            return False
        return True

    def timed(self, label: str, fn, *args, **fields) -> dict:
        """fn(*args) -> {"seconds", "tokens", ...} under a CpuMonitor, plus `fields`, the cores other
        processes used and tokens/s; logged under `label`."""
        with CpuMonitor() as mon:
            r = fn(*args)
        r.update(fields, others_cores=mon.result["others_cores"], tokens_per_s=r["tokens"] / r["seconds"])
        log(f"  {label}: {r['tokens']} tokens in {r['seconds']:.1f} s = {r['tokens_per_s']:.1f} tokens/s "
            f"(others used {r['others_cores']:.2f} cores)")
        return r

    def keep(self, group: list[dict], runs: list[dict], rejected: list[dict]) -> bool:
        """File one measured pair or round under `runs`, or under `rejected` when it ran under load."""
        ok = self.accepts(group)
        (runs if ok else rejected).extend(group)
        return ok

    def header(self, rejected: list[dict], load_after: dict, drop: str) -> dict:
        """The results file's common fields; `drop` is a bulky per-run key left out of rejected runs."""
        return {"benchmark": self.benchmark, "started": self.started, "finished": now(),
                "command": "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
                "machine": machine(), "waits_for_quiet": self.waits, "max_others": self.opts.max_others,
                "rejected_runs": [{k: v for k, v in r.items() if k != drop} for r in rejected],
                "load_before": self.load_before, "load_after": load_after}
