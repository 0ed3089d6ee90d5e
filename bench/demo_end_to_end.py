"""End-to-end demo: wall time and peak memory of `inoculate run examples/demo.yaml --out <tmpdir> --quiet`.

The `make demo` grid (spanish-caps: 3 arms + the untrained model, 1 seed) as a child process, with
the venv and the converted embedded model already in place. `--spec` times another grid (`none`:
the setting's full 5-arm grid). Peak memory is the child's maximum
resident set size: from `/usr/bin/time -v` when it exists, and from getrusage(RUSAGE_CHILDREN)
(the largest of the waited-for descendants) either way. Takes about 7 minutes on 2 cores; run it
alone (nothing else heavy on the machine).

    python bench/demo_end_to_end.py [--spec FILE|none] [--keep DIR] [--wait-quiet SECONDS]

Prints the figures and writes bench/results/demo_end_to_end.json.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMonitor, load_snapshot, log, machine, now, wait_for_quiet, write_result  # noqa: E402

DEMO_SPEC = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"
TARGET_SECONDS = 8 * 60
TARGET_PEAK_BYTES = 4 * 2**30


def inoculate_command() -> list[str]:
    exe = Path(sys.executable).with_name("inoculate")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "inoculate.cli"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", metavar="DIR", help="write the run to DIR and keep it (default: a temp dir, deleted)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to this long for other processes to leave the CPUs idle")
    ap.add_argument("--spec", default=str(DEMO_SPEC), help="spec file to run (default: the demo's); none: no file")
    ap.add_argument("--name", default="demo_end_to_end", help="results file name (bench/results/NAME.json)")
    ap.add_argument("extra", nargs="*", help="extra arguments for `inoculate run` (after --)")
    opts = ap.parse_args()

    quiet = wait_for_quiet(timeout_s=opts.wait_quiet) if opts.wait_quiet else None
    if quiet:
        log(f"waited {quiet['waited_s']:.0f} s for a quiet machine: quiet={quiet['quiet']}")
    out_dir = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="inoculate-demo-bench-")) / "run"
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SystemExit(f"{out_dir} is not empty: a finished run would only be resumed, not timed")
    spec = [] if opts.spec == "none" else [opts.spec]
    cmd = [*inoculate_command(), "run", *spec, "--out", str(out_dir), "--quiet", *opts.extra]
    gnu_time = Path("/usr/bin/time").is_file()
    full = ["/usr/bin/time", "-v", *cmd] if gnu_time else cmd

    started = now()
    load_before = load_snapshot()
    log(f"load before: {load_before['loadavg']}; running: {' '.join(cmd)}")
    with CpuMonitor() as mon:
        t0 = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    load_after = load_snapshot()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_peak = usage.ru_maxrss * 1024  # KiB on Linux
    time_peak = None
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if match:
        time_peak = int(match.group(1)) * 1024
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
    report = out_dir / "report" / "report.md"
    ok = proc.returncode == 0 and report.is_file()
    peak = time_peak or rusage_peak

    print(f"\nDemo end to end: {' '.join(cmd)}")
    print(f"  exit code {proc.returncode}, report written: {report.is_file()}")
    print(f"  wall time {wall:.1f} s ({wall / 60:.2f} min)  target < 8 min: {'met' if wall < TARGET_SECONDS else 'NOT met'}")
    print(f"  peak memory (max RSS) {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB)  target < 4 GiB: "
          f"{'met' if peak < TARGET_PEAK_BYTES else 'NOT met'}")
    print(f"  other processes used {mon.result['others_cores']:.2f} cores on average during the run")
    print(f"  load average before {load_before['loadavg']}, after {load_after['loadavg']}")
    if not ok:
        print("--- stderr tail ---\n" + "\n".join(proc.stderr.splitlines()[-30:]))

    path = write_result(opts.name, {
        "benchmark": "demo_end_to_end", "started": started, "finished": now(),
        "command": " ".join(full), "machine": machine(), "wait_quiet": quiet,
        "load_before": load_before, "load_after": load_after, "cpu_during": mon.result,
        "exit_code": proc.returncode, "report_written": report.is_file(),
        "wall_seconds": wall, "gnu_time_elapsed": elapsed.group(1) if elapsed else None,
        "peak_rss_bytes": peak, "peak_rss_bytes_gnu_time": time_peak, "peak_rss_bytes_getrusage": rusage_peak,
        "targets": {"wall_seconds": TARGET_SECONDS, "peak_rss_bytes": TARGET_PEAK_BYTES},
        "met": {"wall": wall < TARGET_SECONDS, "memory": peak < TARGET_PEAK_BYTES},
        "stdout_tail": proc.stdout.splitlines()[-20:], "stderr_tail": proc.stderr.splitlines()[-40:],
    })
    print(f"\nwrote {path}")
    if not opts.keep:
        shutil.rmtree(out_dir.parent, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
