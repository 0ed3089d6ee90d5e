"""Where run units execute: the Executor seam. `SerialExecutor` runs them one after another in
this process; an executor that spreads them over a cluster goes beside it, and the runner never
asks which one it has."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol

from inoculate.runs import Run, execute_run


class Executor(Protocol):
    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, list[dict[str, Any]]]]:
        """Execute every run unit, yielding each with its grid entries as it finishes, in any order.
        A run writes only under its own run folder; the driver writes everything else."""


class SerialExecutor:
    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, list[dict[str, Any]]]]:
        for run in runs:
            yield run, execute_run(run, out_dir, progress)
