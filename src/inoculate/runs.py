"""The run unit: one model (an arm trained with one seed, or the untrained model) evaluated under
its eval contexts. A `Run` is a plain value built by the plan, keys and file names included;
`execute_run` needs nothing but it and the output folder, so it can run in this process, in
another one, or on another machine that sees (or is sent) the folder.

    out/inputs/{train,evals,probes}-<hash>.json[l]   the grid's data, written once by the driver
    out/runs/<train-hash>/run.json                   what was trained here, with provenance
    out/runs/<train-hash>/adapter/, losses.json      the trainer's result (losses.json last = finished)
    out/runs/<train-hash>/generations-<hash>.jsonl   per-sample texts under one eval context
    out/runs/<train-hash>/scores-<hash>.jsonl        per-sample trait judgements of those texts
    out/vectors/<hash>.pt, out/recontext/<hash>.json   a steering vector, regenerated responses: made
                                                     by the first run that needs them, shared by the rest
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inoculate._io import atomic_write_json, atomic_write_jsonl, content_hash, read_json
from inoculate._log import log
from inoculate._provenance import provenance
from inoculate.backends import ModelRef, Sampler, Trainer
from inoculate.data import Example, load_jsonl, parse_example
from inoculate.errors import InoculateError
from inoculate.evaluation import evaluate
from inoculate.generation import GenerationConfig
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.recontext import Regeneration
from inoculate.settings import Arm, TraitSource
from inoculate.steering import Steering


@dataclass(frozen=True)
class Inputs:
    """Files under the output folder holding the grid's data, named by content."""

    train: str
    evals: str
    probes: str

    @classmethod
    def of(cls, train: list[Example], evals: list[Example], probes: dict[str, list[Example]]) -> "Inputs":
        def name(kind: str, rows: Any, ext: str) -> str:
            return f"inputs/{kind}-{content_hash(rows)}.{ext}"

        return cls(name("train", _rows(train), "jsonl"), name("evals", _rows(evals), "jsonl"),
                   name("probes", {k: _rows(v) for k, v in probes.items()}, "json"))

    def write(self, out_dir: Path, train: list[Example], evals: list[Example],
              probes: dict[str, list[Example]]) -> None:
        """Write each file that is not there yet (its name is its content, so one there is right)."""
        for name, write in ((self.train, lambda p: atomic_write_jsonl(p, _rows(train))),
                            (self.evals, lambda p: atomic_write_jsonl(p, _rows(evals))),
                            (self.probes, lambda p: atomic_write_json(p, {k: _rows(v) for k, v in probes.items()}))):
            if not (out_dir / name).is_file():
                write(out_dir / name)

    def load_train(self, out_dir: Path) -> list[Example]:
        return load_jsonl(out_dir / self.train)

    def load_evals(self, out_dir: Path) -> list[Example]:
        return load_jsonl(out_dir / self.evals, require_assistant=False)

    def load_probes(self, out_dir: Path) -> dict[str, list[Example]]:
        sets = read_json(out_dir / self.probes)
        return {name: [parse_example(row, f"{self.probes}: {name}", True) for row in rows] for name, rows in sets.items()}


def _rows(examples: list[Example]) -> list[dict[str, Any]]:
    return [ex.to_json() for ex in examples]


@dataclass(frozen=True)
class EvalContext:
    name: str  # e.g. "none", "ip:spanish-ip", "negated:spanish-ip"
    prompt: PromptSpec | None  # applied to every evaluation prompt (no metadata condition)
    generations: str | None  # file under the run folder; None when no trait needs samples
    scores: str
    steering: Steering | None = None  # on while generating ("steer:<arm>" contexts): the steering at test time


@dataclass(frozen=True)
class Untrained:
    """The model as given: the reference every trained arm is compared with."""

    base: str

    def model(self, run: Run, out_dir: Path, progress: bool) -> ModelRef:
        return ModelRef(self.base)

    def cost(self, train: list[Example], run_dir: Path) -> str | None:
        return None

    def state(self, run_dir: Path) -> str:
        return "the model as given"


@dataclass(frozen=True)
class Training:
    """An arm trained with the run's seed on the grid's training data, launch or load."""

    base: str
    arm: Arm
    trainer: Trainer
    key: dict[str, Any]  # the run's content key, recorded in run.json
    probe_every: int
    steering: Steering | None = None  # a steering arm's: on during training only
    regeneration: Regeneration | None = None  # a recontextualized arm's: its training responses

    def state(self, run_dir: Path) -> str:
        return "trained" if self.trainer.trained(ModelRef(self.base), run_dir) is not None else "to train"

    def cost(self, train: list[Example], run_dir: Path) -> str | None:
        """What training this run would spend (None: nothing, or it is trained or launched already)."""
        if self.trainer.trained(ModelRef(self.base), run_dir) is not None:
            return None
        return self.trainer.cost(apply_prompt(train, self.arm.prompt), run_dir)

    def model(self, run: Run, out_dir: Path, progress: bool) -> ModelRef:
        run_dir, base = out_dir / run.run_dir, ModelRef(self.base)
        done = self.trainer.trained(base, run_dir)
        if done is not None:
            return done
        examples, record = run.inputs.load_train(out_dir), {}
        if self.regeneration is not None:
            examples, record["recontext"] = self.regeneration.responses(examples, run.sampler, run.traits.build(),
                                                                        out_dir, run.label)
            run.sampler.release()  # the untrained model wrote them; training loads its own
        examples = apply_prompt(examples, self.arm.prompt)
        log(f"{run.label}: training on {len(examples)} examples")
        atomic_write_json(run_dir / "run.json", {"arm": self.arm.name, "seed": run.seed, "key": self.key,
                                                 "provenance": provenance(self.base), **record})
        steered = {"steering": self.steering.under(out_dir)} if self.steering is not None else {}
        trained = self.trainer.train(base, examples, run.seed, run_dir, run.inputs.load_probes(out_dir),
                                     self.probe_every, progress, name=f"{self.arm.name}-s{run.seed}", **steered)
        log(f"{run.label}: {trained.summary}")
        return trained.model


@dataclass(frozen=True)
class Run:
    name: str  # the grid's name for this model: its arm, or "untrained"
    seed: int
    label: str  # "[2/4] spanish-ip seed 0", for the log
    source: Untrained | Training  # how the model to evaluate comes to be
    run_dir: str  # "runs/<content hash>", under the output folder
    inputs: Inputs
    traits: TraitSource
    contexts: tuple[EvalContext, ...]
    sampler: Sampler
    generation: GenerationConfig  # the spec's, seeded for this run


def execute_run(run: Run, out_dir: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Obtain the run's model (train, or find it trained), then generate and score under each eval
    context, skipping every file already finished; return the run's grid entries."""
    out_dir, start = Path(out_dir), time.perf_counter()
    model = run.source.model(run, out_dir, progress)
    evals, traits, run_dir = run.inputs.load_evals(out_dir), run.traits.build(), out_dir / run.run_dir
    entries = []
    try:
        for ctx in run.contexts:
            sampler = run.sampler.steered(ctx.steering.under(out_dir)) if ctx.steering else run.sampler
            evaluate(sampler, model, evals, ctx.prompt, traits, run.generation,
                     generations=run_dir / ctx.generations if ctx.generations else None, scores=run_dir / ctx.scores,
                     progress=progress, desc=f"{run.name}/{ctx.name}",
                     log=lambda message, at=ctx.name: log(f"{run.label}: {message} under {at}"))
            entries.append({"arm": run.name, "seed": run.seed, "context": ctx.name, "run_dir": run.run_dir,
                            "generations": ctx.generations, "scores": ctx.scores})
    finally:
        run.sampler.release()  # the next run may train: its model must not sit beside this one
    log(f"{run.label}: evaluated under {', '.join(c.name for c in run.contexts)} ({time.perf_counter() - start:.0f}s)")
    return entries


def attempt(run: Run, out_dir: Path, progress: bool) -> list[dict[str, Any]] | InoculateError:
    """Execute one run unit; its InoculateError is its outcome (logged), so the other runs go on."""
    try:
        return execute_run(run, out_dir, progress)
    except InoculateError as e:
        log(f"{run.label}: failed: {e}")
        return e
