"""An experiment grid, read top to bottom: spec -> plan -> preflight -> lock the output folder ->
the grid's inputs -> the surprise stage -> the run units, through an Executor -> grid.json -> report.

Every file is named by the hash of its full content, so a re-run skips finished work and an
interrupted grid resumes where it stopped:

    out/inputs/            the training data, eval prompts and probe sets every run unit reads
    out/surprise-<hash>.json   each arm's surprise reduction before training
    out/runs/<hash>/       one run unit's model and per-sample results (see runs.py)
    out/grid.json          the record the report is made from (see grid.py)
    out/report/            report.md, one PNG per trait, results.csv

Where things go: the spec's keys in spec.py, resolving them in plan.py, one run unit in runs.py,
where a run trains or generates in backends/, where run units execute in executors.py.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from inoculate._io import SCHEMA_VERSION, atomic_write_json, content_hash, read_json
from inoculate._log import log
from inoculate.backends import Sampler, Trainer
from inoculate.chat import encode_examples, encode_prompts
from inoculate.data import dataset_hash
from inoculate.errors import InoculateError
from inoculate.executors import Executor, executor_from
from inoculate.grid import UNTRAINED, grid_record, write_grid
from inoculate.inoculation import apply_prompt
from inoculate.models import context_limit, load_model, load_tokenizer, pick_device, resolve_model
from inoculate.plan import Plan, fixed_subset, build_plan
from inoculate.ranking import surprise_reduction
from inoculate.report import write_report
from inoculate.spec import ExperimentSpec, load_spec

__all__ = ["ExperimentSpec", "Plan", "build_plan", "load_spec", "preflight", "run_experiment"]


def run_experiment(spec: ExperimentSpec, out_dir: str | Path, progress: bool = True, trainer: Trainer | None = None,
                   sampler: Sampler | None = None, executor: Executor | None = None, train_only: bool = False,
                   dry_run: bool = False) -> Path | None:
    """Run (or resume) the whole grid and write its report; return the report's path. `trainer`
    and `sampler` default to this machine's (see plan.build_plan), `executor` to the spec's.
    `train_only` trains every arm and evaluates nothing (to serve the adapters, then evaluate
    through a server); it returns the folder of the run folders. `dry_run` states the plan (runs,
    paid jobs, requests) and returns None, writing and spending nothing."""
    out_dir = Path(out_dir)
    plan = build_plan(spec, trainer, sampler)  # every input problem surfaces here or in preflight,
    preflight(plan)  # before anything is written
    executor = executor or executor_from(spec.executor)
    executor.check()
    for note in plan.notes:
        log(note)
    spend = spending(plan, out_dir)
    spend += [f"{len(spend)} paid jobs in all"] * bool(spend)
    if dry_run:
        for line in describe(plan, out_dir) + spend:
            log(line)
        log("dry run: nothing was written, trained, requested or spent")
        return None
    if spend:
        for line in spend:
            log(line)
        if not spec.confirm_cost:
            raise InoculateError(f"{len(spend) - 1} paid fine-tuning jobs would be launched (above); launch them with --yes "
                                 "(or confirm_cost: true)", "confirm_cost")
    log(f"output folder: {out_dir} (run the same command again to resume)")
    with _exclusive(out_dir):
        plan.inputs.write(out_dir, plan.train_examples, plan.eval_prompts, plan.setting.probes())
        surprise = _surprise(plan, out_dir, progress)
        runs = [replace(r, contexts=()) for r in plan.runs if r.name != UNTRAINED] if train_only else plan.runs
        finished = {run.label: entries for run, entries in executor.map(runs, out_dir, progress)}
        failed = {label: e for label, e in finished.items() if isinstance(e, InoculateError)}
        if failed:
            label, first = next(iter(failed.items()))
            raise InoculateError(f"{len(failed)} of {len(runs)} runs failed ({label}: {first}); the others are finished "
                                 "and kept: fix the cause and run again to redo only the failed ones")
        if train_only:
            log(f"trained {len(runs)} runs; `inoculate adapters {out_dir}` lists their adapters for a server")
            return out_dir / "runs"
        write_grid(out_dir, grid_record(plan, [e for run in plan.runs for e in finished[run.label]], surprise))
        return write_report(out_dir)


def spending(plan: Plan, out_dir: Path) -> list[str]:
    """One line per run whose training would spend money (a hosted job not launched yet)."""
    lines = [f"{run.label}: {cost}" for run in plan.runs
             if (cost := run.source.cost(plan.train_examples, out_dir / run.run_dir))]
    return lines


def describe(plan: Plan, out_dir: Path) -> list[str]:
    """The plan in words, run by run: what is finished, what would be trained, where it is evaluated."""
    lines = [f"{len(plan.runs)} runs, output folder {out_dir}:"]
    for run in plan.runs:
        folder = out_dir / run.run_dir
        done = sum((folder / c.scores).is_file() for c in run.contexts)
        state = run.source.state(folder)
        lines.append(f"  {run.label}: {state}; {done} of {len(run.contexts)} eval contexts finished "
                     f"({', '.join(c.name for c in run.contexts)})")
    return lines


def preflight(plan: Plan) -> None:
    """Check with the tokenizer alone that the model loads and every prompt fits, so a bad grid
    fails in a second instead of after hours of training. A model at a provider is checked there."""
    from transformers import AutoConfig

    spec = plan.spec
    if plan.remote_model:
        return
    try:
        pick_device(spec.device)
    except InoculateError as e:
        raise InoculateError(e.message, "device") from e
    tokenizer = load_tokenizer(spec.model)
    context = getattr(AutoConfig.from_pretrained(resolve_model(spec.model)), "max_position_embeddings", None)
    for arm in plan.arms:
        encode_examples(tokenizer, apply_prompt(plan.train_examples, arm.prompt), spec.train.max_length)
    prompts = {content_hash(p): p for p in [None, *plan.untrained_contexts.values()]}
    for prompt in prompts.values():
        encode_prompts(tokenizer, apply_prompt(plan.eval_prompts, prompt), spec.generation.max_new_tokens, context)


@contextmanager
def _exclusive(out_dir: Path):
    """Hold an advisory lock on the output folder: a second grid on the same folder is refused,
    not interleaved. The kernel drops the lock when the process dies, so a crash never leaves
    a stale lock behind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise InoculateError(f"in use by {holder}; wait for it to finish or choose another --out",
                                 str(out_dir)) from None
        f.seek(0)
        f.truncate()
        f.write(f"inoculate run (pid {os.getpid()})")
        f.flush()
        yield


def _surprise(plan: Plan, out_dir: Path, progress: bool) -> dict[str, Any]:
    """Each prompted arm's surprise reduction on the training data, before any training (cached).

    Forward passes only: the cheap signal the report later sets against measured suppression."""
    spec = plan.spec
    arms = [a for a in plan.arms if a.prompt is not None]
    if not spec.surprise_examples or len(arms) < 2 or plan.remote_model:
        return {}
    examples = fixed_subset(plan.train_examples, spec.surprise_examples)
    key = {"kind": "surprise", "schema": SCHEMA_VERSION, "model": plan.model_id, "data": dataset_hash(plan.train_examples),
           "n": len(examples), "prompts": [a.prompt for a in arms]}
    path = out_dir / f"surprise-{content_hash(key)}.json"
    if not path.is_file():
        log(f"surprise reduction of {len(arms)} prompts on {len(examples)} training examples (forward passes only)")
        model, tokenizer = load_model(spec.model, spec.device, spec.dtype)
        # the model's context, not train.max_length: training truncates long examples (and counts
        # them), while surprise is measured on whole responses and refuses to cut them
        results = surprise_reduction(model, tokenizer, examples, [a.prompt for a in arms],
                                     max_length=context_limit(model, tokenizer), progress=progress)
        atomic_write_json(path, {a.name: {"value": est.value, "low": est.low, "high": est.high, "n": est.n}
                                 for a, (est, _) in zip(arms, results)})
    return read_json(path)
