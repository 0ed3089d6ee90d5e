"""Run units as Ray tasks: the same grid spread over the CPUs and GPUs of a Ray cluster, with the
same results as the serial executor (a run's outputs depend on its content, never on where it ran).

Each group of run units that share a run folder (two arms with the same training content) is one
task, so no folder is ever worked on twice at once. The driver (the `inoculate run` process) holds
the output folder's lock and alone writes grid.json and the report. Two storage cases:

  shared_storage: true   workers see the output folder (one machine, or a cluster on shared
                         storage) and write their run folders there, as the serial runner does;
  shared_storage: false  the driver sends each task the grid's input files and what its run folder
                         already holds; the worker runs in a private folder and sends back the files
                         it made or changed, which the driver writes atomically, finishing markers
                         last (losses.json, scores-*), so a killed driver never records half a run.

A task whose worker dies (SIGKILL, lost node, out of memory) is retried `max_retries` times by Ray,
then reported in one line while the other runs finish. A killed driver takes the Ray it started
with it; the same command resumes, redoing only unfinished runs (their files say which).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tqdm.auto import tqdm

from inoculate._config import finite
from inoculate._faults import crash_point
from inoculate._io import atomic_write_bytes
from inoculate._log import log
from inoculate.errors import InoculateError
from inoculate.runs import Run, attempt

INSTALL = "pip install 'inoculate[ray]'"
MARKERS = ("losses.json", "scores-")  # files whose presence says a step finished: written back last
# grid-level folders a run may read or make once for the whole grid (steering.py's trait vectors,
# recontext.py's regenerated responses): sent to a worker without the output folder, and sent back
GRID_FOLDERS = ("vectors", "recontext")


@dataclass(frozen=True)
class RayExecutor:
    address: str | None = None  # a running cluster ("ray://host:10001", "host:6379"); None: $RAY_ADDRESS, else a Ray started here
    num_cpus: float = 1.0  # per run unit
    num_gpus: float = 0.0  # per run unit; a fraction shares one GPU between small models
    shared_storage: bool = True  # do the workers see the output folder?
    max_retries: int = 2  # times a task whose worker died is run again

    def __post_init__(self):
        finite("executor", num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        if self.num_cpus <= 0 or self.num_gpus < 0 or self.max_retries < 0:
            raise InoculateError(f"need num_cpus > 0, num_gpus >= 0, max_retries >= 0; got {self.num_cpus}, "
                                 f"{self.num_gpus}, {self.max_retries}", "executor")
        _ray()  # no Ray: say so now, before anything is written

    def check(self) -> None:
        """Fail in a second, before anything is written, when the cluster's address does not answer
        (ray.init itself waits and retries for minutes)."""
        address = self.address or os.environ.get("RAY_ADDRESS")
        host, _, port = (address or "").removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            return  # no address ("auto", "local", none): Ray finds or starts one itself
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as e:
            raise InoculateError(f"no Ray cluster answers there ({e.strerror or e}); start one with `ray start --head` "
                                 "or fix the address", f"executor.address {address}") from None

    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Any]]:
        ray, out_dir = _ray(), Path(out_dir).resolve()
        started = self._connect(ray)
        try:
            yield from self._map(ray, runs, out_dir, progress)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Join the cluster (or start one here); True when this call started it, so it stops it too."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # each worker's log lines as they are, not summarised
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's own C++ warnings break our one-line errors
        where = self.address or os.environ.get("RAY_ADDRESS") or "a Ray started here"
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level="ERROR")
        except Exception as e:  # Ray raises ConnectionError, RuntimeError or ValueError, by version
            raise InoculateError(f"cannot start or reach Ray ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                                 f"executor.address {where}") from None
        log(f"Ray: {where}, {ray.cluster_resources().get('CPU', 0):.0f} CPUs, "
            f"{ray.cluster_resources().get('GPU', 0):.0f} GPUs; per run {self.num_cpus:g} CPUs, {self.num_gpus:g} GPUs")
        return True

    def _map(self, ray, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Any]]:
        groups: dict[str, list[Run]] = {}
        for run in runs:
            groups.setdefault(run.run_dir, []).append(run)
        task = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries)(_run_group)
        pending = {task.remote(group, None if self.shared_storage else _files_for(group, out_dir),
                               str(out_dir) if self.shared_storage else None): group for group in groups.values()}
        start = time.perf_counter()
        with tqdm(total=len(runs), desc="runs", unit="run", disable=not progress, file=sys.stderr) as bar:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                group = pending.pop(ref)
                results, host = self._collect(ray, ref, group, out_dir)
                for run, outcome in results:
                    yield run, outcome
                    state = "failed" if isinstance(outcome, InoculateError) else f"finished on {host}"
                    bar.write(f"[inoculate] {run.label}: {state} ({time.perf_counter() - start:.0f}s into the grid)",
                              file=sys.stderr)
                    bar.update()
                    crash_point("ray-run-finished")

    def _collect(self, ray, ref, group: list[Run], out_dir: Path) -> tuple[list[tuple[Run, Any]], str]:
        """The group's outcomes and where they ran, with its files written back where the workers do
        not share the folder."""
        try:
            outcomes, back, host = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # a bug in a run: that run fails, the others go on
            cause = str(e.cause).splitlines()[0] if getattr(e, "cause", None) else "see the traceback above"
            return [(run, InoculateError(f"failed on a Ray worker: {cause}", run.label)) for run in group], "?"
        except ray.exceptions.RayError as e:  # the worker died every time (killed, node lost, out of memory)
            why = f"its Ray worker died {self.max_retries + 1} times (last: {type(e).__name__})"
            return [(run, InoculateError(f"{why}; the other runs go on", run.label)) for run in group], "?"
        if back is not None:
            _write_back(out_dir, back)
        return list(zip(group, outcomes)), host


def _ray():
    try:
        import ray
    except ImportError:
        raise InoculateError(f"the Ray executor needs Ray, which is not installed: {INSTALL}", "executor") from None
    return ray


def _files_for(group: list[Run], out_dir: Path) -> dict[str, bytes]:
    """What a worker without the output folder needs: the grid's inputs and the run folder so far."""
    inputs = group[0].inputs
    files = {name: (out_dir / name).read_bytes() for name in (inputs.train, inputs.evals, inputs.probes)}
    return files | _run_files(out_dir, group[0].run_dir)


def _run_files(root: Path, run_dir: str) -> dict[str, bytes]:
    """The files a run unit reads and writes beside the inputs: its run folder and the grid folders."""
    return {str(p.relative_to(root)): p.read_bytes() for folder in (root / run_dir, *(root / n for n in GRID_FOLDERS))
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_group(runs: list[Run], files: dict[str, bytes] | None, out_dir: str | None):
    """On a worker: execute the runs one after another. With `files`, in a private folder laid out
    like the output folder; then return the files of the run folder and the grid folders (a trait
    vector, regenerated responses) that are new or changed (None for the ones gone), for the driver
    to write."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the driver shows progress; a worker's bars would interleave
    hf_logging.set_verbosity_error()
    host = f"{socket.gethostname()} pid {os.getpid()}"
    if files is None:
        return [attempt(run, Path(out_dir), False) for run in runs], None, host
    with tempfile.TemporaryDirectory(prefix="inoculate-run-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        outcomes = [attempt(run, root, False) for run in runs]
        now = _run_files(root, runs[0].run_dir)
        back: dict[str, bytes | None] = {name: data for name, data in now.items() if files.get(name) != data}
        back |= {name: None for name in files if name.startswith(runs[0].run_dir + "/") and name not in now}
        return outcomes, back, host


def _write_back(out_dir: Path, back: dict[str, bytes | None]) -> None:
    """Write a worker's files, each atomically, markers last; then remove what the worker removed."""
    def marker(name: str) -> bool:
        base = Path(name).name
        return base == MARKERS[0] or base.startswith(MARKERS[1])

    for name in sorted((n for n, d in back.items() if d is not None), key=lambda n: (marker(n), n)):
        atomic_write_bytes(out_dir / name, back[name])
    for name in (n for n, d in back.items() if d is None):
        (out_dir / name).unlink(missing_ok=True)
