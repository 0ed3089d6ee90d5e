"""Batched sampling from a chat model: padding before each prompt's own tokens, never after.

Decoder-only models must not be right-padded for batched generation: the new tokens would follow
pad tokens and come out as garbage (a known trap in IP replications). Here the padding sits after
the batch's shared prefix and before the rest of each prompt (left padding when nothing is shared).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from inoculate._config import positive
from inoculate._faults import crash_point
from inoculate.data import Example
from inoculate.errors import InoculateError


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 48  # tokens generated per sample at most
    temperature: float = 1.0  # 0 means greedy decoding
    top_p: float = 1.0  # nucleus sampling mass
    # sample among the k likeliest tokens; 0 = the whole vocabulary (as vLLM and the OpenAI API do by
    # default). 50 is transformers' default, which inoculate applied implicitly before it was a key
    # (or the model's own top_k where its generation_config set one). The model's value is not used now.
    top_k: int = 50
    n_samples: int = 1  # samples per prompt
    batch_size: int = 32  # sequences generated together
    seed: int = 0  # sampling seed (the run seed is added to it)

    def __post_init__(self):
        positive("generation", max_new_tokens=self.max_new_tokens, n_samples=self.n_samples,
                 batch_size=self.batch_size, top_p=self.top_p)
        if self.temperature < 0:
            raise InoculateError("temperature must be >= 0", "generation")
        if self.top_p > 1:
            raise InoculateError("top_p must be <= 1", "generation")
        if self.top_k < 0:
            raise InoculateError("top_k must be >= 0 (0 = no limit)", "generation")


def _finished_batches(partial: Path | None) -> dict[int, list[list]]:
    """Batches a killed run completed: one JSON line each; a torn last line is ignored."""
    done: dict[int, list[list]] = {}
    if partial is None or not partial.is_file():
        return done
    with partial.open(encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
                done[row["batch"]] = row["outputs"]
            except (json.JSONDecodeError, KeyError, TypeError):
                break
    return done


def _append_line(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def encode_prompts(tokenizer, prompts: list[Example], max_new_tokens: int, context: int | None) -> list[list[int]]:
    """Token ids of each prompt with the generation prompt; one that cannot fit its answer is an error."""
    encoded = []
    for p in prompts:
        text = tokenizer.apply_chat_template(p.prompt_messages(), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if context and len(ids) + max_new_tokens > context:
            raise InoculateError(f"prompt {p.id} is {len(ids)} tokens; with max_new_tokens={max_new_tokens} "
                                 f"it exceeds the model's context of {context}", "evaluation prompts")
        encoded.append(ids)
    return encoded


def _sampling_processors(config: GenerationConfig):
    """Logits processors that sample a token and leave only it selectable, for greedy `generate`.

    transformers samples with `torch.multinomial`, which on CPU draws one exponential per vocabulary
    entry: 49k per sequence per step. With the embedded model at batch 64 the sampling step takes
    95 ms that way and 27 ms by inverse CDF (one uniform per sequence against the cumulative
    probabilities), from the same distribution (bench/generation_ablation.py). Temperature,
    top-k and top-p stay transformers' own warpers, applied first in transformers' order. They
    come from the spec, which the run records; a hub model's own sampling defaults (its
    generation_config's top_k, min_p, ...) are not applied.
    """
    from transformers import (LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper,
                              TopPLogitsWarper)

    class InverseCdfSample(LogitsProcessor):
        def __call__(self, input_ids, scores):
            import torch

            probs = torch.softmax(scores.float(), dim=-1)
            cdf = probs.cumsum(dim=-1)
            u = torch.rand((scores.shape[0], 1), device=scores.device) * cdf[:, -1:]
            picked = torch.searchsorted(cdf, u, right=True)
            # u rounding up to the total (p ~ 2^-24) would fall past the end: take the likeliest token
            picked = torch.where(picked < scores.shape[-1], picked, scores.argmax(dim=-1, keepdim=True))
            return torch.full_like(scores, -math.inf).scatter_(-1, picked, 0.0)

    warpers = [TemperatureLogitsWarper(config.temperature)] if config.temperature != 1 else []
    warpers += [TopKLogitsWarper(config.top_k)] if config.top_k else []
    warpers += [TopPLogitsWarper(config.top_p)] if config.top_p < 1 else []
    return LogitsProcessorList([*warpers, InverseCdfSample()])


MIN_SHARED_PREFIX = 4  # tokens; below this a separate prefix pass is not worth its call


def _batch_inputs(rows: list[list[int]], pad: int, share: bool = True):
    """Token ids and attention mask of a batch laid out as [shared prefix][padding][rest of prompt].

    Prompts of one evaluation context share their start (chat template, system prompt: 24 of 41
    tokens on average for the spanish-caps prompts), which is then encoded once for the whole batch
    (`_prefix_cache`). To an attention-only model, padding in the middle is the same as on the left:
    masked positions are skipped and transformers numbers positions by the mask's running count.
    With `share=False` (or a prefix too short to share) it is plain left padding.
    Returns (ids, mask, shared prefix length).
    """
    import torch

    shared = len(os.path.commonprefix(rows)) if share else 0
    shared = min(shared, min(len(r) for r in rows) - 1)  # each prompt keeps a token to start from
    shared = shared if shared >= MIN_SHARED_PREFIX else 0
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, r in enumerate(rows):
        rest = len(r) - shared
        ids[row, :shared], mask[row, :shared] = torch.tensor(r[:shared]), 1
        ids[row, width - rest:], mask[row, width - rest:] = torch.tensor(r[shared:]), 1
    return ids, mask, shared


def _prefix_cache(model, prefix, batch_size: int):
    """The key/value cache of `prefix` (shape [1, n]), repeated for each row of the batch.

    None unless every layer keeps a plain full-attention cache: recurrent or convolutional layers
    (Mamba, linear-attention hybrids) carry padding into their state, so a gap after the prefix
    would change their output; sliding-window layers would see less of it; a model that asks for
    its own cache type (static, hybrid) gets it. Those generate from whole, left-padded prompts."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # another cache API: do not guess
        return None
    if getattr(getattr(model, "generation_config", None), "cache_implementation", None) not in (None, "dynamic"):
        return None
    cache = getattr(model(input_ids=prefix, use_cache=True), "past_key_values", None)
    if not isinstance(cache, DynamicCache) or not all(type(layer) is DynamicLayer for layer in cache.layers):
        return None
    cache.batch_repeat_interleave(batch_size)
    return cache


def generate(model, tokenizer, prompts: list[Example], config: GenerationConfig, progress: bool = True,
             desc: str = "generate", partial: str | Path | None = None) -> list[list[str]]:
    """Return `n_samples` completions for each prompt (a list per prompt, in input order).

    Prompts are sorted by length so each batch wastes little padding; every batch reseeds from
    `config.seed` and its position, so results do not depend on what ran before. With `partial`,
    each finished batch is appended to that file and skipped when the call is repeated, so a
    killed evaluation resumes between batches with identical results.
    """
    import torch
    from tqdm.auto import tqdm

    encoded = encode_prompts(tokenizer, prompts, config.max_new_tokens,
                             getattr(model.config, "max_position_embeddings", None))
    jobs = sorted(((i, s) for i in range(len(prompts)) for s in range(config.n_samples)),
                  key=lambda job: (len(encoded[job[0]]), job))
    outputs: list[list[str]] = [[""] * config.n_samples for _ in prompts]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    # sampling is greedy decoding over a sampled-token mask (see _sampling_processors)
    sampling = dict(do_sample=False, logits_processor=_sampling_processors(config)) if config.temperature > 0 \
        else dict(do_sample=False)
    partial = Path(partial) if partial is not None else None
    done = _finished_batches(partial)
    can_share = True
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False)
    for b, start in enumerate(range(0, len(jobs), config.batch_size)):
        batch = jobs[start:start + config.batch_size]
        if b in done:
            for i, s, text in done[b]:
                outputs[i][s] = text
            bar.update(len(batch))
            continue
        rows = [encoded[i] for i, _ in batch]
        ids, mask, shared = _batch_inputs(rows, pad, share=can_share)
        with torch.no_grad():
            cache = _prefix_cache(model, ids[:1, :shared].to(device), len(batch)) if shared else None
        if shared and cache is None:  # this model cannot share a prefix: whole prompts from now on
            can_share = False
            ids, mask, shared = _batch_inputs(rows, pad, share=False)
        width = ids.shape[1]
        torch.manual_seed(config.seed * 1_000_003 + b)
        with torch.no_grad():
            # use_cache: a checkpoint may switch it off, and then generate would ignore the prefix cache
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache,
                                 use_cache=True, max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling)
        for row, (i, s) in enumerate(batch):
            outputs[i][s] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
        if partial is not None:
            _append_line(partial, {"batch": b, "outputs": [[i, s, outputs[i][s]] for i, s in batch]})
        crash_point("generation-batch")
        bar.update(len(batch))
    bar.close()
    return outputs
