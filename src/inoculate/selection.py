"""Choosing an inoculation prompt before training: how much each candidate explains the data.

Two signals per candidate, both taken from the untrained model:

- surprise reduction (cheap, forward passes only): per training example, the mean per-token
  NLL of the assistant tokens without the prompt minus with it. A prompt that makes the
  unwanted responses less surprising leaves less of the trait for fine-tuning to learn, which is
  the mechanism IP relies on. Paired per example, so the CI is over examples.
- elicitation (opt-in, sampled): how often the untrained model shows the trait when given the
  prompt; Wichers et al. find prompts that elicit the trait inoculate better.

The prompt is put in with `apply_prompt` and the response tokens are labelled with
`encode_chat`, the same transform and masks training uses, so the ranking scores exactly the
tokens fine-tuning would learn from.
"""

from __future__ import annotations

import csv
import io
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from inoculate._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig, generate
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.scorers import Scorer
from inoculate.stats import Estimate, mean_ci
from inoculate.training import IGNORE, encode_chat

# Responses are never cut: a truncated response would score different tokens with and without
# the prompt, and the paired difference would mean nothing.
_OVER_MAX_LENGTH = "{{name}} is {{n}} tokens{what}, over max_length={{limit}}; raise max_length (no truncation here)"
# transformers sets model_max_length to int(1e30) when a tokenizer declares no limit.
_SANE_CONTEXT = 10_000_000


@dataclass(frozen=True)
class PromptScore:
    prompt: str
    surprise_reduction: Estimate  # nats/token, NLL(without) - NLL(with), CI over examples
    nll_with: float  # mean over examples of the per-example NLL with the prompt
    elicitation: Estimate | None  # trait rate of the untrained model with the prompt, if requested


class PromptLine(str):
    """A prompt read from a file that remembers its `file:line`, so later checks can point at it."""

    where: str

    def __new__(cls, text: str, where: str):
        obj = super().__new__(cls, text)
        obj.where = where
        return obj


def _where(prompt: str, index: int) -> str:
    return getattr(prompt, "where", f"prompts[{index}]")


def read_prompt_file(path: str | Path, warn: Callable[[str], None] | None = None) -> list[str]:
    """One prompt per line, surrounding whitespace stripped. Blank lines are skipped with one
    warning naming them; duplicates, no prompts at all and non-UTF-8 bytes are errors."""
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
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    prompts: list[str] = []
    seen: dict[str, int] = {}
    blank: list[int] = []
    for lineno, raw in enumerate(lines, start=1):
        prompt = raw.strip()
        if not prompt:
            blank.append(lineno)
            continue
        if prompt in seen:
            raise InoculateError(f"duplicate of line {seen[prompt]}", f"{path}:{lineno}")
        seen[prompt] = lineno
        prompts.append(PromptLine(prompt, f"{path}:{lineno}"))
    if not prompts:
        raise InoculateError("no prompts in file (expected one prompt per line)", str(path))
    if blank:
        msg = f"warning: {path}: skipped empty line{'s' if len(blank) > 1 else ''} {', '.join(map(str, blank))}"
        (warn or (lambda m: print(m, file=sys.stderr)))(msg)
    return prompts


def context_limit(model, tokenizer) -> int:
    """The longest sequence the model takes: the tokenizer's limit if it declares one, else the
    model's position embeddings."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _SANE_CONTEXT:
        return limit
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        raise InoculateError("cannot tell the model's context length (no tokenizer.model_max_length "
                             "or config.max_position_embeddings)")
    return limit


def _encode(tokenizer, examples: list[Example]) -> list[dict[str, Any]]:
    # Callers check lengths against their limit instead of truncating (see _OVER_MAX_LENGTH).
    encoded = [encode_chat(tokenizer, ex.messages, sys.maxsize) for ex in examples]
    for i, enc in enumerate(encoded):
        if all(lab == IGNORE for lab in enc["labels"]):
            raise InoculateError("no assistant tokens to score", examples[i].id or f"example {i}")
    return encoded


def _check_lengths(encoded: list[dict], examples: list[Example], limit: int, where: str, explain: str) -> None:
    """Raise naming the longest sequence if it is over `limit`; `explain` says which limit."""
    longest = max(range(len(encoded)), key=lambda i: (len(encoded[i]["input_ids"]), -i))
    n = len(encoded[longest]["input_ids"])
    if n > limit:
        name = examples[longest].id or f"example {longest}"
        raise InoculateError(explain.format(name=name, n=n, limit=limit), where)


def _lm_parts(model):
    """(decoder, LM head, config), or None where logits need the full forward (soft-capping,
    logit scaling: the head alone would give wrong log-probabilities)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    special = any(getattr(config, k, None) for k in ("final_logit_softcapping", "logit_scale", "output_multiplier"))
    if special or not hasattr(base, "get_decoder") or base.get_output_embeddings() is None:
        return None
    return base.get_decoder(), base.get_output_embeddings(), config


def _shared_prefix(encoded: list[dict]) -> int:
    """Tokens every sequence starts with, stopping before the first token whose successor is
    labelled: the prefix's hidden states are never computed, so no prediction may come from it."""
    first = encoded[0]["input_ids"]
    n = len(first)
    for enc in encoded:
        ids, labels = enc["input_ids"], enc["labels"]
        first_label = next(j for j, lab in enumerate(labels) if lab != IGNORE)
        n = min(n, first_label - 1, len(ids) - 1)
        k = 0
        while k < n and ids[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def _prefix_cache_factory(decoder, config, prefix_ids: list[int], device):
    """Run the shared prefix once; return a function giving a fresh cache holding it for a batch.
    None where the model's cache is not plain per-layer key/value concatenation (sliding windows,
    hybrid layers), since a copied prefix would then be handled wrongly."""
    import torch
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    probe = DynamicCache(config=config)
    if not probe.layers or any(type(layer) is not DynamicLayer for layer in probe.layers):
        return None
    out = decoder(input_ids=torch.tensor([prefix_ids], device=device), use_cache=True)
    kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def make(batch: int):
        # expand() is a view; the cache's first concatenation materialises it per batch.
        return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv],
                            config=config)

    return make


def _nll_encoded(model, encoded: list[dict], pad_id: int, batch_size: int, share_prefix: bool,
                 stats: dict, bar) -> np.ndarray:
    """Per-sequence mean NLL over labelled tokens, in input order (float64)."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    parts = _lm_parts(model)
    prefix = _shared_prefix(encoded) if share_prefix and parts is not None else 0
    make_cache = _prefix_cache_factory(parts[0], parts[2], encoded[0]["input_ids"][:prefix], device) if prefix else None
    if make_cache is None:
        prefix = 0
    stats["tokens"] = stats.get("tokens", 0) + sum(len(e["input_ids"]) for e in encoded)
    stats["tokens_computed"] = stats.get("tokens_computed", 0) + prefix + sum(
        len(e["input_ids"]) - prefix for e in encoded)
    # Sorted by length so each batch pads little; the index breaks ties so batches, and thus
    # the floating-point results, are the same on every call with the same inputs.
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]["input_ids"]), i))
    nll = np.zeros(len(encoded))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(encoded[i]["input_ids"]) for i in rows) - prefix
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), prefix + width), dtype=torch.long)
        mask[:, :prefix] = 1
        for r, i in enumerate(rows):
            n = len(encoded[i]["input_ids"]) - prefix
            ids[r, :n] = torch.tensor(encoded[i]["input_ids"][prefix:])
            labels[r, :n] = torch.tensor(encoded[i]["labels"][prefix:])
            mask[r, prefix:prefix + n] = 1
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        targets = labels[:, 1:]
        keep = targets != IGNORE
        if parts is None:
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
        else:
            decoder, head, _ = parts
            cache = make_cache(len(rows)) if prefix else None
            hidden = decoder(input_ids=ids, attention_mask=mask, past_key_values=cache,
                             use_cache=cache is not None).last_hidden_state
            # Logits only where a label exists: the 49k-wide LM head is a fifth of the FLOPs.
            logits = head(hidden[:, :-1][keep])
        token_nll = F.cross_entropy(logits.float(), targets[keep], reduction="none").double()
        row_of = keep.nonzero()[:, 0]
        sums = torch.zeros(len(rows), dtype=torch.float64, device=device).index_add_(0, row_of, token_nll)
        counts = keep.sum(dim=1).double()
        nll[rows] = (sums / counts).cpu().numpy()
        bar.update(len(rows))
    return nll


def _run_nll(model, encodings: list[list[dict]], pad_id: int, batch_size: int, share_prefix: bool,
             progress: bool, stats: dict | None) -> list[np.ndarray]:
    import torch
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise InoculateError("batch_size must be >= 1")
    stats = {} if stats is None else stats
    start = time.perf_counter()
    bar = tqdm(total=sum(len(e) for e in encodings), desc="surprise", disable=not progress, leave=False)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = [_nll_encoded(model, enc, pad_id, batch_size, share_prefix, stats, bar) for enc in encodings]
    finally:
        model.train(was_training)
        bar.close()
    stats["forward_seconds"] = stats.get("forward_seconds", 0.0) + time.perf_counter() - start
    return out


def response_nll(model, tokenizer, examples: list[Example], batch_size: int = 16, max_length: int = 512,
                 share_prefix: bool = True, progress: bool = False) -> np.ndarray:
    """Per-example mean NLL (nats/token) of the assistant tokens, as the examples stand."""
    encoded = _encode(tokenizer, examples)
    _check_lengths(encoded, examples, max_length, "max_length", _OVER_MAX_LENGTH.format(what=""))
    return _run_nll(model, [encoded], tokenizer.pad_token_id, batch_size, share_prefix, progress, None)[0]


def _scores(without: np.ndarray, withs: list[np.ndarray]) -> list[tuple[Estimate, float]]:
    return [(mean_ci(without - w), float(w.mean())) for w in withs]


def surprise_reduction(model, tokenizer, examples: list[Example], specs: list[PromptSpec], batch_size: int = 16,
                       max_length: int = 512, progress: bool = True, share_prefix: bool = True,
                       stats: dict | None = None) -> list[tuple[Estimate, float]]:
    """For each spec: (mean of NLL(without) - NLL(with) over examples with a 95% CI, mean NLL with).

    Forward passes only. Sequences longer than `max_length` are an error, never truncated.
    `share_prefix` runs the tokens every sequence starts with once per spec (exact up to float
    rounding). `stats`, if given, receives token counts and timings.
    """
    if not examples:
        raise InoculateError("no examples to score")
    stats = {} if stats is None else stats
    start = time.perf_counter()
    encodings = [_encode(tokenizer, examples)] + [_encode(tokenizer, apply_prompt(examples, s)) for s in specs]
    for k, enc in enumerate(encodings):
        what = "" if k == 0 else f" with specs[{k - 1}] applied"
        _check_lengths(enc, examples, max_length, "max_length", _OVER_MAX_LENGTH.format(what=what))
    stats["encode_seconds"] = stats.get("encode_seconds", 0.0) + time.perf_counter() - start
    nll = _run_nll(model, encodings, tokenizer.pad_token_id, batch_size, share_prefix, progress, stats)
    return _scores(nll[0], nll[1:])


def planned_generations(n_prompts: int, n_specs: int, generation: GenerationConfig) -> int:
    return n_prompts * n_specs * generation.n_samples


def elicitation(model, tokenizer, prompts: list[Example], specs: list[PromptSpec], scorer: Scorer,
                generation: GenerationConfig, progress: bool = True,
                log: Callable[[str], None] | None = None) -> list[Estimate]:
    """Trait rate of `model` with each spec applied to `prompts`, a 95% CI over samples.

    Announces the number of generations through `log` (default: stderr) before sampling, since
    on a CPU this is the slow part. Samples the scorer finds not applicable are left out.
    """
    if not prompts:
        raise InoculateError("no prompts to elicit with")
    total = planned_generations(len(prompts), len(specs), generation)
    (log or (lambda m: print(m, file=sys.stderr)))(
        f"elicitation: {total} generations ({len(specs)} prompts x {len(prompts)} user turns x "
        f"{generation.n_samples} samples, up to {generation.max_new_tokens} new tokens each)")
    # As in evaluation, the prompt goes on every conversation: a metadata condition describes
    # training data, not the question "does this prompt elicit the trait".
    contexts = [apply_prompt(prompts, replace(s, condition=None)) for s in specs]
    flat = [ex for ctx in contexts for ex in ctx]
    texts = generate(model, tokenizer, flat, generation, progress=progress, desc="elicit")
    rates = []
    for k, spec in enumerate(specs):
        present = [scorer(text, ex)["present"]
                   for ex, samples in zip(flat[k * len(prompts):(k + 1) * len(prompts)],
                                          texts[k * len(prompts):(k + 1) * len(prompts)])
                   for text in samples]
        present = [float(p) for p in present if p is not None]
        if not present:
            raise InoculateError(f"scorer {scorer.name!r} was not applicable to any sample", f"specs[{k}]")
        rates.append(mean_ci(present))
    return rates


def _check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise InoculateError("no candidate prompts")
    seen: dict[str, int] = {}
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise InoculateError(f"a prompt must be a non-empty string, got {p!r}", _where(p, i))
        if p.strip() in seen:
            j = seen[p.strip()]
            raise InoculateError(f"duplicate of {_where(prompts[j], j)}", _where(p, i))
        seen[p.strip()] = i


def rank_prompts(model, tokenizer, examples: list[Example], prompts: list[str], placement: str = "system",
                 scorer: Scorer | None = None, eval_prompts: list[Example] | None = None,
                 generation: GenerationConfig | None = None, n_examples: int = 200, seed: int = 0,
                 progress: bool = True, batch_size: int = 16, share_prefix: bool = True,
                 stats: dict | None = None, log: Callable[[str], None] | None = None) -> list[PromptScore]:
    """Score each candidate on `n_examples` training examples (drawn with `seed`), best first.

    Best = largest surprise reduction; ties go to the prompt text, so the order is a function
    of the inputs alone. With a `scorer`, also the untrained model's trait rate under each
    prompt, on `eval_prompts` or else on the chosen training examples' user turns.
    """
    _check_prompts(prompts)
    if not examples:
        raise InoculateError("no training examples")
    if n_examples < 1:
        raise InoculateError("n_examples must be >= 1")
    if len(examples) > n_examples:
        chosen = sorted(random.Random(seed).sample(range(len(examples)), n_examples))
        examples = [examples[i] for i in chosen]
    specs = [PromptSpec((str(p),), placement) for p in prompts]
    stats = {} if stats is None else stats
    start = time.perf_counter()
    limit = context_limit(model, tokenizer)
    encodings = [_encode(tokenizer, examples)]
    _check_lengths(encodings[0], examples, limit, "examples",
                   "{name} is {n} tokens without any prompt, over the model's context of {limit}")
    for i, (p, spec) in enumerate(zip(prompts, specs)):
        encodings.append(_encode(tokenizer, apply_prompt(examples, spec)))
        n_prompt = len(tokenizer(str(p), add_special_tokens=False).input_ids)
        _check_lengths(encodings[-1], examples, limit, _where(p, i),
                       f"this {n_prompt}-token prompt makes {{name}} {{n}} tokens long, over the model's context "
                       "of {limit}")
    stats["encode_seconds"] = stats.get("encode_seconds", 0.0) + time.perf_counter() - start
    nll = _run_nll(model, encodings, tokenizer.pad_token_id, batch_size, share_prefix, progress, stats)
    surprise = _scores(nll[0], nll[1:])
    elicited: list[Estimate | None] = [None] * len(specs)
    if scorer is not None:
        elicited = elicitation(model, tokenizer, eval_prompts if eval_prompts is not None else examples, specs,
                               scorer, generation or GenerationConfig(), progress=progress, log=log)
    scores = [PromptScore(str(p), est, nll_with, el) for p, (est, nll_with), el in zip(prompts, surprise, elicited)]
    return sorted(scores, key=lambda s: (-s.surprise_reduction.value, s.prompt))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(scores: list[PromptScore]) -> str:
    """The ranking for a terminal: one row per prompt, best first, prompt text last."""
    elicit = any(s.elicitation is not None for s in scores)
    head = ["#", "surprise reduction [95% CI]", "NLL with"] + (["trait rate [95% CI]"] if elicit else []) + ["prompt"]
    rows = []
    for rank, s in enumerate(scores, start=1):
        row = [str(rank), s.surprise_reduction.fmt(3), f"{s.nll_with:.3f}"]
        if elicit:
            row.append(s.elicitation.fmt(2) if s.elicitation else "-")
        rows.append(row + [s.prompt])
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head) - 1)]
    lines = ["  ".join(cell.rjust(w) if c == 0 else cell.ljust(w) for c, (cell, w) in enumerate(zip(r, widths)))
             + "  " + r[-1] for r in [head] + rows]
    n = scores[0].surprise_reduction.n if scores else 0
    note = f"surprise reduction: NLL(without) - NLL(with) in nats/token over {n} examples; higher = better"
    return "\n".join(lines + [note])


def _csv(scores: list[PromptScore]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", "prompt", "surprise_reduction", "surprise_low", "surprise_high", "n_examples", "nll_with",
                "elicitation", "elicitation_low", "elicitation_high", "n_samples"])
    for rank, s in enumerate(scores, start=1):
        e, el = s.surprise_reduction, s.elicitation
        w.writerow([rank, s.prompt, f"{e.value:.6f}", f"{e.low:.6f}", f"{e.high:.6f}", e.n, f"{s.nll_with:.6f}"]
                   + ([f"{el.value:.4f}", f"{el.low:.4f}", f"{el.high:.4f}", el.n] if el else ["", "", "", ""]))
    return buf.getvalue()


def _figure(scores: list[PromptScore]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    elicit = any(s.elicitation is not None for s in scores)
    ys = np.arange(len(scores))[::-1]  # best on top
    fig, axes = plt.subplots(1, 2 if elicit else 1, figsize=(12 if elicit else 8, 0.42 * len(scores) + 1.6),
                             sharey=True, squeeze=False)
    panels = [("surprise_reduction", "surprise reduction (nats/token)")] + ([("elicitation", "trait rate")] if elicit else [])
    for ax, (field, label) in zip(axes[0], panels):
        ests = [getattr(s, field) for s in scores]
        vals = [e.value if e else np.nan for e in ests]
        errs = np.array([[e.value - e.low, e.high - e.value] if e else [0, 0] for e in ests]).T
        ax.barh(ys, vals, xerr=errs, capsize=3, color="tab:blue" if field == "surprise_reduction" else "tab:orange")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(label + " (95% CI)")
        if field == "elicitation":
            ax.set_xlim(0, 1.05)
    axes[0][0].set_yticks(ys, [_short(s.prompt, 48) for s in scores])
    n = scores[0].surprise_reduction.n if scores else 0
    fig.suptitle(f"Candidate inoculation prompts, best first ({n} training examples)")
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
    atomic_write_json(paths["json"], {"unit": "nats/token; surprise_reduction = NLL(without) - NLL(with)",
                                      "ranking": [{"rank": r, **_as_dict(s)} for r, s in enumerate(scores, 1)]})
    atomic_write_bytes(paths["png"], _figure(scores))
    return paths


def _as_dict(s: PromptScore) -> dict[str, Any]:
    est = lambda e: None if e is None else {"value": e.value, "low": e.low, "high": e.high, "n": e.n}  # noqa: E731
    return {"prompt": s.prompt, "surprise_reduction": est(s.surprise_reduction), "nll_with": s.nll_with,
            "elicitation": est(s.elicitation)}
