"""Where run units execute: the Executor seam. `SerialExecutor` runs them one after another in
this process; `RayExecutor` (ray_executor.py) spreads them over a Ray cluster. The runner never
asks which one it has, and no result depends on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol

from inoculate._config import from_dict
from inoculate.errors import InoculateError
from inoculate.runs import Run, attempt


Outcome = list[dict[str, Any]] | InoculateError  # a run's grid entries, or why it failed


class Executor(Protocol):
    def check(self) -> None:
        """Raise an InoculateError now if runs cannot execute there (e.g. a cluster that does not
        answer): called in preflight, before anything is written."""

    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Outcome]]:
        """Execute every run unit, yielding each with its grid entries as it finishes, in any order.
        A run that fails with an InoculateError (a hosted job the provider failed, a server that went
        away) yields the error and the others go on. A run writes only under its own run folder; the
        driver writes everything else."""


class SerialExecutor:
    def check(self) -> None:
        pass  # this process is here

    def map(self, runs: list[Run], out_dir: Path, progress: bool) -> Iterator[tuple[Run, Outcome]]:
        for run in runs:
            yield run, attempt(run, out_dir, progress)


def executor_from(config: dict[str, Any] | None, where: str = "executor") -> Executor:
    """The spec's `executor` key: omitted or {kind: serial}, or {kind: ray, ...RayExecutor's keys}."""
    if config is None:
        return SerialExecutor()
    if not isinstance(config, dict):
        raise InoculateError(f"expected a mapping such as {{kind: ray}}, got {type(config).__name__}", where)
    config = dict(config)
    kind = config.pop("kind", None)
    if kind == "serial" and not config:
        return SerialExecutor()
    if kind == "ray":
        from inoculate.ray_executor import RayExecutor

        return from_dict(RayExecutor, config, where)
    if kind == "serial":
        raise InoculateError(f"the serial executor takes no keys, got {', '.join(map(str, config))}", where)
    raise InoculateError(f"kind must be serial or ray, got {kind!r}", f"{where}.kind")
