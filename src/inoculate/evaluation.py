"""Evaluating a model under one eval context: apply the context's prompt, generate, score every
trait. The grid's run units, `inoculate evaluate` and prompt ranking's elicitation all go through
`evaluate`, so a trait rate means the same wherever it is measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from inoculate._io import atomic_write_jsonl, read_jsonl
from inoculate.backends import ModelRef, Sampler
from inoculate.data import Example
from inoculate.generation import GenerationConfig
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.settings.base import Trait
from inoculate.stats import Estimate, rate_ci


def evaluate(sampler: Sampler, model: ModelRef, prompts: list[Example], context: PromptSpec | None,
             traits: list[Trait], config: GenerationConfig, generations: Path | None = None,
             scores: Path | None = None, progress: bool = True, desc: str = "generate",
             log: Callable[[str], None] = lambda message: None) -> tuple[list[dict] | None, list[dict]]:
    """(sample rows, score rows) of `model` on `prompts` under `context`.

    Sample rows are {prompt_id, sample, messages, text}; score rows {prompt_id, sample, <trait>:
    {score, present, ...}}, one per sample (per prompt when no trait needs samples: then there are
    no sample rows). Prompt ids must be unique. With file paths, a finished file is read instead of
    redone, a new one is written atomically, and generation resumes between batches from
    `<generations>.partial`.
    """
    applied = apply_prompt(prompts, context)
    samples = None
    if any(t.choices is None for t in traits):  # choice traits alone need no generation
        if generations is not None and generations.is_file():
            samples = read_jsonl(generations)
        else:
            log(f"generating {len(prompts)} x {config.n_samples} samples")
            partial = generations.with_suffix(".partial") if generations is not None else None
            texts = sampler.generate(model, applied, config, progress=progress, desc=desc, partial=partial)
            samples = [{"prompt_id": p.id, "sample": s, "messages": p.prompt_messages(), "text": t}
                       for p, ts in zip(applied, texts) for s, t in enumerate(ts)]
            if generations is not None:
                atomic_write_jsonl(generations, samples)
                partial.unlink(missing_ok=True)
    if scores is not None and scores.is_file():
        return samples, read_jsonl(scores)
    choice_rows = {}
    if any(t.choices is not None for t in traits):
        log("answer log-probabilities")
        choice_rows = {t.name: t.choices.score(lambda p, answers: sampler.answer_logprobs(model, p, answers), applied,
                                               progress, desc) for t in traits if t.choices is not None}
    rows = score_rows(traits, prompts, samples, choice_rows)
    if scores is not None:
        atomic_write_jsonl(scores, rows)
    return samples, rows


def score_rows(traits: list[Trait], prompts: list[Example], samples: list[dict] | None,
               choice_rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per sample (per prompt when nothing was sampled), each trait's judgement in it.

    Scorers see the evaluation prompt as written, without the context's prompt. A choice trait has
    one score per prompt: it goes on the prompt's first sample, and the other samples count as not
    applicable, so every prompt weighs the same in the trait rate."""
    by_id = {p.id: p for p in prompts}
    at = {p.id: i for i, p in enumerate(prompts)}
    samples = samples if samples is not None else [{"prompt_id": p.id, "sample": 0} for p in prompts]
    rows = [{"prompt_id": r["prompt_id"], "sample": r["sample"]} for r in samples]
    for t in traits:
        if t.choices is None:
            judged = t.scorer([r["text"] for r in samples], [by_id[r["prompt_id"]] for r in samples])
        else:
            judged = [choice_rows[t.name][at[r["prompt_id"]]] if r["sample"] == 0 else {"score": None, "present": None}
                      for r in samples]
        for row, judgement in zip(rows, judged):
            row[t.name] = judgement
    return rows


def prompt_cells(rows: list[dict], trait: str) -> dict[str, list[float]]:
    """prompt id -> the trait's outcomes on that prompt's samples where it applies (1/0, or a
    probability for choice traits); a prompt it never applies to is left out."""
    cells: dict[str, list[float]] = {}
    for r in rows:
        if r[trait]["present"] is not None:
            cells.setdefault(r["prompt_id"], []).append(float(r[trait]["present"]))
    return cells


def trait_rate(rows: list[dict], trait: str) -> Estimate | None:
    """The trait's rate over the score rows where it applies with its interval, the prompt as the
    unit (stats.rate_ci); None where it never applies."""
    cells = prompt_cells(rows, trait)
    if not cells:
        return None
    return rate_ci([[sum(v) / len(v) for v in cells.values()]], sum(len(v) for v in cells.values()))
