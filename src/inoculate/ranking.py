"""Choosing an inoculation prompt before training, from two signals of the untrained model.

- Surprise reduction (forward passes only): per training example, the mean per-token NLL of
  the assistant tokens without the prompt minus with it. A prompt that makes the unwanted
  responses less surprising leaves less of the trait for fine-tuning to learn, the mechanism IP
  relies on. Paired per example, so the CI is over examples.
- Elicitation (opt-in, sampled): how often the model shows the trait given the prompt; Wichers
  et al. find that prompts which elicit a trait inoculate it better.

Prompts go in through `apply_prompt` and labels come from `encode_chat`, as in training, so the
ranking scores exactly the tokens fine-tuning would learn from; the forward passes are
logprobs.nll_pass, and elicitation is evaluation.evaluate, as in a grid.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from inoculate._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from inoculate.backends.local import LocalSampler
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.evaluation import evaluate, trait_rate
from inoculate.generation import GenerationConfig
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.logprobs import encode_whole, nll_pass
from inoculate.models import context_limit
from inoculate.scorers import Scorer
from inoculate.settings import Trait
from inoculate.stats import Estimate, mean_ci


# Sized for about 2 minutes with 10 candidates and the embedded model on the 2-core CPU
# (bench/README.md); the exact question, 200 examples, takes about 6.
DEFAULT_EXAMPLES = 56


@dataclass(frozen=True)
class PromptScore:
    prompt: str
    surprise_reduction: Estimate  # nats/token, NLL(without) - NLL(with), CI over examples
    nll_with: float  # mean over examples of the per-example NLL with the prompt
    elicitation: Estimate | None  # trait rate of the untrained model with the prompt, if requested


class PromptLine(str):
    """A prompt from a file that keeps its `file:line`, so checks made later can point at it."""

    def __new__(cls, text: str, where: str):
        obj = super().__new__(cls, text)
        obj.where = where
        return obj


def _where(prompt: str, index: int) -> str:
    return getattr(prompt, "where", f"prompts[{index}]")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def read_prompt_file(path: str | Path, warn: Callable[[str], None] = _stderr) -> list[str]:
    """One prompt per line, surrounding whitespace stripped; a line starting with # is a comment.
    Blank lines are skipped with one warning naming them; duplicates, no prompts at all and
    non-UTF-8 bytes are errors."""
    path = Path(path)
    if not path.is_file():
        raise InoculateError("file not found" if not path.exists() else "not a file", str(path))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InoculateError(f"not valid UTF-8 (byte {e.start})", f"{path}:{line}") from e
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    prompts: list[str] = []
    seen: dict[str, int] = {}
    blank = [n for n, raw in enumerate(lines, start=1) if not raw.strip()]
    for lineno, raw in enumerate(lines, start=1):
        prompt = raw.strip()
        if prompt.startswith("#"):
            continue
        if prompt in seen:
            raise InoculateError(f"duplicate of line {seen[prompt]}", f"{path}:{lineno}")
        if prompt:
            seen[prompt] = lineno
            prompts.append(PromptLine(prompt, f"{path}:{lineno}"))
    if not prompts:
        raise InoculateError("no prompts in file (expected one prompt per line)", str(path))
    if blank:
        warn(f"warning: {path}: skipped empty line{'s' * (len(blank) > 1)} {', '.join(map(str, blank))}")
    return prompts


def _encode_all(tokenizer, examples: list[Example], specs: list[PromptSpec], limit: int,
                too_long: Callable[[int | None, str, int], InoculateError] | None = None) -> list[list[dict]]:
    """Encodings without a prompt, then with each spec. Never truncated: a cut response would be
    scored on different tokens with and without the prompt, and the pair would mean nothing, so
    a pass over `limit` raises too_long(spec index or None, example name, length), by default
    an error about max_length."""
    out = []
    for k, spec in enumerate([None, *specs]):
        enc = encode_whole(tokenizer, apply_prompt(examples, spec) if spec else examples)
        i = max(range(len(enc)), key=lambda i: (len(enc[i]["input_ids"]), -i))
        name, n, which = examples[i].id or f"example {i}", len(enc[i]["input_ids"]), None if spec is None else k - 1
        if n > limit and too_long:
            raise too_long(which, name, n)
        if n > limit:
            applied = "" if which is None else f" with specs[{which}] applied"
            raise InoculateError(f"{name} is {n} tokens{applied}, over max_length={limit}; raise max_length "
                                 "(responses are never truncated here)", "max_length")
        out.append(enc)
    return out


def _nll_of_specs(model, tokenizer, examples: list[Example], specs: list[PromptSpec], limit: int, too_long,
                  batch_size: int, share_prefix: bool, progress: bool, stats: dict | None) -> list[np.ndarray]:
    """Per-example NLL without a prompt, then with each spec; timings and token counts to `stats`."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise InoculateError("batch_size must be >= 1")
    stats = {} if stats is None else stats
    start = time.perf_counter()
    encodings = _encode_all(tokenizer, examples, specs, limit, too_long)
    stats["encode_seconds"] = stats.get("encode_seconds", 0.0) + time.perf_counter() - start
    start, was_training = time.perf_counter(), model.training
    bar = tqdm(total=sum(len(e) for e in encodings), desc="surprise", disable=not progress, leave=False)
    model.eval()
    try:
        out = [nll_pass(model, enc, tokenizer.pad_token_id, batch_size, share_prefix, stats, bar).mean
               for enc in encodings]
    finally:
        model.train(was_training)
        bar.close()
    stats["forward_seconds"] = stats.get("forward_seconds", 0.0) + time.perf_counter() - start
    return out


def _scores(without: np.ndarray, withs: list[np.ndarray]) -> list[tuple[Estimate, float]]:
    return [(mean_ci(without - w), float(w.mean())) for w in withs]


def surprise_reduction(model, tokenizer, examples: list[Example], specs: list[PromptSpec], batch_size: int = 8,
                       max_length: int = 512, progress: bool = True, share_prefix: bool = True,
                       stats: dict | None = None) -> list[tuple[Estimate, float]]:
    """For each spec: (mean of NLL(without) - NLL(with) over examples with a 95% CI, mean NLL with).

    Forward passes only; the no-prompt pass runs once for all specs. A sequence over
    `max_length` is an error. `share_prefix` runs the tokens all sequences of a pass start with
    once (exact up to float rounding). `stats`, if given, receives token counts and timings.
    """
    if not examples:
        raise InoculateError("no examples to score")
    nll = _nll_of_specs(model, tokenizer, examples, specs, max_length, None, batch_size, share_prefix, progress, stats)
    return _scores(nll[0], nll[1:])


def elicitation(model, tokenizer, prompts: list[Example], specs: list[PromptSpec], scorer: Scorer,
                generation: GenerationConfig, progress: bool = True,
                log: Callable[[str], None] = _stderr) -> list[Estimate]:
    """Trait rate of `model` with each spec applied to `prompts`, a 95% CI over prompts (samples the
    scorer finds not applicable left out). The number of generations goes to `log` before any
    sampling: on a CPU this is the slow part, and the user should be able to stop it in time."""
    if not prompts:
        raise InoculateError("no prompts to elicit with")
    n = len(prompts)
    log(f"elicitation: {n * len(specs) * generation.n_samples} generations ({len(specs)} prompts x {n} user "
        f"turns x {generation.n_samples} samples, up to {generation.max_new_tokens} new tokens each)")
    sampler = LocalSampler()
    held = sampler.hold(model, tokenizer)
    trait = Trait(scorer.name, scorer, wanted=False)
    prompts = [replace(p, id=str(i)) for i, p in enumerate(prompts)]  # training examples may share ids
    rates = []
    for k, spec in enumerate(specs):
        # As in evaluation, every conversation gets the prompt: a metadata condition describes which
        # training examples carry it, not whether the prompt elicits the trait.
        _, rows = evaluate(sampler, held, prompts, replace(spec, condition=None), [trait], generation,
                           progress=progress, desc="elicit")
        est = trait_rate(rows, trait.name)
        if est is None:
            raise InoculateError(f"scorer {scorer.name!r} was not applicable to any sample", f"specs[{k}]")
        rates.append(est)
    return rates


def _check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise InoculateError("no candidate prompts")
    seen: dict[str, int] = {}
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise InoculateError(f"a prompt must be a non-empty string, got {p!r}", _where(p, i))
        j = seen.setdefault(p.strip(), i)
        if j != i:
            raise InoculateError(f"duplicate of {_where(prompts[j], j)}", _where(p, i))


def rank_prompts(model, tokenizer, examples: list[Example], prompts: list[str], placement: str = "system",
                 scorer: Scorer | None = None, eval_prompts: list[Example] | None = None,
                 generation: GenerationConfig | None = None, n_examples: int = DEFAULT_EXAMPLES, seed: int = 0,
                 progress: bool = True, batch_size: int = 8, share_prefix: bool = True,
                 stats: dict | None = None, log: Callable[[str], None] = _stderr) -> list[PromptScore]:
    """Score each candidate on `n_examples` training examples (drawn with `seed`), best first.

    Best = largest surprise reduction, ties broken by prompt text, so the order depends on the
    inputs alone. With a `scorer`, also the untrained model's trait rate under each prompt, on
    `eval_prompts` or else on the chosen training examples' user turns.
    """
    _check_prompts(prompts)
    if not examples or n_examples < 1:
        raise InoculateError("no training examples" if not examples else "n_examples must be >= 1")
    if len(examples) > n_examples:
        examples = [examples[i] for i in sorted(random.Random(seed).sample(range(len(examples)), n_examples))]
    specs = [PromptSpec((str(p),), placement) for p in prompts]
    limit = context_limit(model, tokenizer)

    def too_long(k: int | None, name: str, n: int) -> InoculateError:
        if k is None:
            return InoculateError(f"{name} is {n} tokens without any prompt, over the model's context of {limit}",
                                  "examples")
        size = len(tokenizer(str(prompts[k]), add_special_tokens=False).input_ids)
        return InoculateError(f"this {size}-token prompt makes {name} {n} tokens long, over the model's context "
                              f"of {limit}", _where(prompts[k], k))

    nll = _nll_of_specs(model, tokenizer, examples, specs, limit, too_long, batch_size, share_prefix, progress, stats)
    elicited: list[Estimate | None] = [None] * len(specs)
    if scorer is not None:
        elicited = elicitation(model, tokenizer, eval_prompts if eval_prompts is not None else examples, specs,
                               scorer, generation or GenerationConfig(), progress=progress, log=log)
    scores = [PromptScore(str(p), est, nll_with, el)
              for p, (est, nll_with), el in zip(prompts, _scores(nll[0], nll[1:]), elicited)]
    return sorted(scores, key=lambda s: (-s.surprise_reduction.value, s.prompt))


def elicitation_ranks(scores: list[PromptScore]) -> dict[str, int]:
    """Each prompt's rank by the trait rate it elicits (ties by prompt text); empty without elicitation."""
    elicited = sorted((s for s in scores if s.elicitation is not None), key=lambda s: (-s.elicitation.value, s.prompt))
    return {s.prompt: rank for rank, s in enumerate(elicited, start=1)}


def format_table(scores: list[PromptScore]) -> str:
    """The ranking for a terminal: one row per prompt, by surprise reduction, prompt text last; with
    elicitation, each prompt's rank by it too, as the two can disagree."""
    by_trait = elicitation_ranks(scores)
    elicit = bool(by_trait)
    head = ["#", "surprise reduction [95% CI]", "NLL with"] + ["trait rate [95% CI]", "# by trait"] * elicit + ["prompt"]
    rows = [[str(rank), s.surprise_reduction.fmt(3), f"{s.nll_with:.3f}"]
            + ([s.elicitation.fmt(2) if s.elicitation else "-", str(by_trait.get(s.prompt, "-"))] if elicit else [])
            + [s.prompt] for rank, s in enumerate(scores, start=1)]
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head) - 1)]
    lines = ["  ".join([r[0].rjust(widths[0])] + [cell.ljust(w) for cell, w in zip(r[1:-1], widths[1:])] + [r[-1]])
             for r in [head, *rows]]
    n = scores[0].surprise_reduction.n if scores else 0
    width = float(np.median([s.surprise_reduction.high - s.surprise_reduction.low for s in scores])) if scores else 0.0
    notes = [f"surprise reduction: NLL(without) - NLL(with) in nats/token, mean over {n} training examples; higher = "
             "the prompt explains more of the responses, all of them (language, style, a signature...), not one "
             "trait: a prompt can explain the responses well and still not elicit the trait you target",
             f"[95% CI]: over those examples, typically {width:.3f} wide; read prompts closer than that as tied (4x the "
             "examples halve the width)"]
    if elicit:
        notes.append("trait rate: how often the untrained model shows the target trait under the prompt (CI over "
                     "prompts); '# by trait' ranks by it, the trait-specific signal (Wichers et al.: prompts that "
                     "elicit a trait inoculate it better)")
    return "\n".join(lines + notes)


def _csv(scores: list[PromptScore]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    by_trait = elicitation_ranks(scores)
    w.writerow(["rank", "prompt", "surprise_reduction", "surprise_low", "surprise_high", "n_examples", "nll_with",
                "elicitation", "elicitation_low", "elicitation_high", "elicitation_prompts", "rank_by_elicitation"])
    for rank, s in enumerate(scores, start=1):
        e, el = s.surprise_reduction, s.elicitation
        w.writerow([rank, s.prompt, f"{e.value:.6f}", f"{e.low:.6f}", f"{e.high:.6f}", e.n, f"{s.nll_with:.6f}"]
                   + ([f"{el.value:.4f}", f"{el.low:.4f}", f"{el.high:.4f}", el.n, by_trait[s.prompt]] if el
                      else [""] * 5))
    return buf.getvalue()


def _figure(scores: list[PromptScore]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("surprise_reduction", "surprise reduction, nats/token", "tab:blue")]
    if any(s.elicitation is not None for s in scores):
        panels.append(("elicitation", "trait rate of the untrained model", "tab:orange"))
    ys = np.arange(len(scores))[::-1]  # best on top
    fig, axes = plt.subplots(1, len(panels), figsize=(4 + 4 * len(panels), 0.42 * len(scores) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (field, label, color) in zip(axes[0], panels):
        ests = [getattr(s, field) for s in scores]
        errs = np.array([[e.value - e.low, e.high - e.value] if e else [0, 0] for e in ests]).T
        ax.barh(ys, [e.value if e else np.nan for e in ests], xerr=errs, capsize=3, color=color)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{label} (95% CI)")
        if field == "elicitation":
            ax.set_xlim(0, 1.05)  # a fixed scale, so rates read the same across rankings
    axes[0][0].set_yticks(ys, [s.prompt if len(s.prompt) <= 48 else s.prompt[:47] + "…" for s in scores])
    fig.suptitle(f"Candidate inoculation prompts, best first ({scores[0].surprise_reduction.n} training examples)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_ranking(scores: list[PromptScore], out_dir: str | Path) -> dict[str, Path]:
    """ranking.csv, ranking.json and ranking.png under `out_dir`, each written atomically."""
    if not scores:
        raise InoculateError("no scores to write")
    out = Path(out_dir)
    paths = {"csv": out / "ranking.csv", "json": out / "ranking.json", "png": out / "ranking.png"}
    atomic_write_text(paths["csv"], _csv(scores))
    ranks = elicitation_ranks(scores)
    atomic_write_json(paths["json"], {"unit": "nats/token; surprise_reduction = NLL(without) - NLL(with)",
                                      "ranking": [{"rank": r, "rank_by_elicitation": ranks.get(s.prompt),
                                                   **dataclasses.asdict(s)} for r, s in enumerate(scores, 1)]})
    atomic_write_bytes(paths["png"], _figure(scores))
    return paths
