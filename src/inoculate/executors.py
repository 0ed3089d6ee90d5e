"""Where run units execute: the Executor seam. `SerialExecutor` runs them one after another in
this process; an executor that spreads them over a cluster goes beside it, and the runner never
asks which one it has."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol

from inoculate._log import log
from inoculate.errors import InoculateError
from inoculate.runs import Run, execute_run


Outcome = list[dict[str, Any]] | InoculateError  # a run's grid entries, or why it failed


class Executor(Protocol):
    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Outcome]]:
        """Execute every run unit, yielding each with its grid entries as it finishes, in any order.
        A run that fails with an InoculateError (a hosted job the provider failed, a server that went
        away) yields the error and the others go on. A run writes only under its own run folder; the
        driver writes everything else."""


class SerialExecutor:
    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Outcome]]:
        for run in runs:
            try:
                yield run, execute_run(run, out_dir, progress)
            except InoculateError as e:
                log(f"{run.label}: failed: {e}")
                yield run, e
