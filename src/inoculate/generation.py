"""Batched sampling from a chat model, resumable between batches.

Prompts are laid out with their shared start encoded once per batch and padding before each
prompt's own tokens, never after (chat.generation_batch); tokens are drawn by inverse CDF.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from inoculate._config import finite, positive
from inoculate._faults import crash_point
from inoculate.chat import encode_prompts, generation_batch
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.logprobs import cache_name, prefix_cache


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
        finite("generation", temperature=self.temperature)
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


def sampling_processors(config: GenerationConfig):
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
    # sampling is greedy decoding over a sampled-token mask (see sampling_processors)
    sampling = dict(do_sample=False, logits_processor=sampling_processors(config)) if config.temperature > 0 \
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
        ids, mask, shared = generation_batch(rows, pad, share=can_share)
        with torch.no_grad():
            make_cache = prefix_cache(model, rows[0][:shared]) if shared else None
        if shared and make_cache is None:  # this model cannot share a prefix: whole prompts from now on
            can_share = False
            ids, mask, shared = generation_batch(rows, pad, share=False)
        width = ids.shape[1]
        torch.manual_seed(config.seed * 1_000_003 + b)
        with torch.no_grad():
            # use_cache: a checkpoint may switch it off, and then generate would ignore the prefix cache
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 **{cache_name(): make_cache(len(batch)) if shared else None},
                                 use_cache=True, max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling)
        for row, (i, s) in enumerate(batch):
            outputs[i][s] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
        if partial is not None:
            _append_line(partial, {"batch": b, "outputs": [[i, s, outputs[i][s]] for i, s in batch]})
        crash_point("generation-batch")
        bar.update(len(batch))
    bar.close()
    return outputs
