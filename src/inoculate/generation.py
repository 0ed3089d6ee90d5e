"""Batched sampling from a chat model, resumable between batches.

Prompts are laid out with their shared start encoded once per batch and padding before each
prompt's own tokens, never after (chat.generation_batch); tokens are drawn by inverse CDF among
the top k (token_picker), in our own decoding loop (decode) where it computes what transformers'
`generate` would, and through `generate` itself otherwise.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def _inverse_cdf(scores):
    """Index [B, 1] drawn from softmax(scores) with one uniform per row against the cumulative
    probabilities; the likeliest token where the uniform rounds up to the total (p ~ 2^-24)."""
    import torch

    cdf = torch.softmax(scores.float(), dim=-1).cumsum(dim=-1)
    u = torch.rand((scores.shape[0], 1), device=scores.device) * cdf[:, -1:]
    picked = torch.searchsorted(cdf, u, right=True)
    return torch.where(picked < scores.shape[-1], picked, scores.argmax(dim=-1, keepdim=True))


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

            return torch.full_like(scores, -math.inf).scatter_(-1, _inverse_cdf(scores), 0.0)

    warpers = [TemperatureLogitsWarper(config.temperature)] if config.temperature != 1 else []
    warpers += [TopKLogitsWarper(config.top_k)] if config.top_k else []
    warpers += [TopPLogitsWarper(config.top_p)] if config.top_p < 1 else []
    return LogitsProcessorList([*warpers, InverseCdfSample()])


def token_picker(config: GenerationConfig) -> Callable:
    """float32 next-token logits [B, V] -> the token ids [B] that `generate` with
    sampling_processors would choose, with the same random draws: argmax when greedy.

    With top-k and no top-p, the k likeliest are found with one torch.topk instead of the
    warper's mask over the whole vocabulary, and the cumulative sum and search run over those k
    only. The softmax still runs over the masked vocabulary, since its normaliser, summed in
    another order over k entries, would round differently and move a draw now and then; the
    cumulative sum over k entries in vocabulary order is bit for bit the one over all of them.
    A tie at the k-th place (the warper keeps every tied token) takes the warper's way.
    """
    import torch

    if config.temperature == 0:
        return lambda logits: logits.argmax(dim=-1)
    full = sampling_processors(config)

    def by_warpers(logits):
        return full(None, logits).argmax(dim=-1)

    def top_k(logits):
        if config.top_k >= logits.shape[-1]:
            return by_warpers(logits)
        # divided as TemperatureLogitsWarper divides, before top-k
        scaled = logits / config.temperature if config.temperature != 1 else logits
        values, index = torch.topk(scaled, config.top_k + 1)
        if bool((values[:, -1] == values[:, -2]).any()):
            return by_warpers(logits)
        index = index[:, :-1].sort(dim=-1).values
        masked = torch.full_like(scaled, -math.inf).scatter_(-1, index, scaled.gather(-1, index))
        cdf = torch.softmax(masked, dim=-1).gather(-1, index).cumsum(dim=-1)
        u = torch.rand((scaled.shape[0], 1), device=scaled.device) * cdf[:, -1:]
        at = torch.searchsorted(cdf, u, right=True).squeeze(-1)
        picked = index.gather(-1, at.clamp(max=config.top_k - 1)[:, None]).squeeze(-1)
        past_the_end = at == config.top_k
        return torch.where(past_the_end, masked.argmax(dim=-1), picked) if bool(past_the_end.any()) else picked

    return top_k if config.top_p == 1 and config.top_k else by_warpers


# generation_config fields that leave greedy decoding as it is: token ids, and the sampling knobs that
# greedy `generate` ignores (ours come from the spec). Anything else (a repetition penalty, a
# minimum length, beams, another cache type...) sends the batch through transformers' own loop.
_PLAIN_GENERATION_FIELDS = {"use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "_from_model_config",
                            "transformers_version", "do_sample", "temperature", "top_k", "top_p", "min_p",
                            "typical_p", "max_length", "max_new_tokens", "output_attentions",
                            "output_hidden_states", "return_dict_in_generate", "cache_implementation"}


def own_loop_fits(model) -> bool:
    """Whether `decode` computes what greedy `generate` would for this model: a decoder-only model
    whose forward takes positions and `logits_to_keep`, with no generation_config setting that
    changes greedy decoding (see _PLAIN_GENERATION_FIELDS)."""
    import inspect

    config = getattr(model, "generation_config", None)
    if config is None or getattr(model.config, "is_encoder_decoder", False):
        return False
    params = inspect.signature(model.forward).parameters
    if not {"position_ids", "logits_to_keep", cache_name()} <= set(params):
        return False
    diff = config.to_diff_dict()
    return (set(diff) <= _PLAIN_GENERATION_FIELDS and config.cache_implementation in (None, "dynamic")
            and not config.output_attentions and not config.output_hidden_states
            and not config.return_dict_in_generate)


def _with_room(cache, room: int):
    """`cache` with each plain full-attention layer moved into buffers with `room` more positions,
    so that a decoding step writes its keys and values in place where DynamicLayer would copy the
    whole cache into a new tensor (torch.cat); attention reads the same values. Other caches
    (linear attention, sliding windows) are left as they are."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    class RoomyLayer(DynamicLayer):
        def __init__(self, keys, values):
            super().__init__()
            shape = (*keys.shape[:-2], keys.shape[-2] + room, keys.shape[-1])
            self.buffers = keys.new_empty(shape), values.new_empty(shape)
            self.buffers[0][..., :keys.shape[-2], :], self.buffers[1][..., :keys.shape[-2], :] = keys, values
            self.is_initialized, self.device = True, keys.device
            self._fill(keys.shape[-2])

        def _fill(self, length: int):
            self.keys, self.values = (b[..., :length, :] for b in self.buffers)

        def update(self, key_states, value_states, *args, **kwargs):
            start, end = self.keys.shape[-2], self.keys.shape[-2] + key_states.shape[-2]
            self.buffers[0][..., start:end, :], self.buffers[1][..., start:end, :] = key_states, value_states
            self._fill(end)
            return self.keys, self.values

    if isinstance(cache, DynamicCache) and all(type(layer) is DynamicLayer and layer.is_initialized
                                               for layer in cache.layers):
        cache.layers = [RoomyLayer(layer.keys, layer.values) for layer in cache.layers]
    return cache


def decode(model, ids, mask, cache, max_new_tokens: int, pick: Callable, pad: int):
    """New token ids [B, <= max_new_tokens] after each prompt of `ids` (with its `mask`, whose
    first cache.get_seq_length() tokens `cache` holds already), laid out as greedy `generate`
    lays them out: `pick` chooses each step's tokens from float32 logits, a row that has ended
    gets padding, and decoding stops when every row has ended.

    Each forward pass gets what `generate` passes (positions counted over the mask, the mask
    dropped where nothing is padded, logits at the last position only), so the logits and the
    greedy tokens are the same; what goes is transformers' per-step machinery, and with it the
    masked copy of the vocabulary that sampling_processors hands back to be argmax-ed.
    """
    import torch

    eos = model.generation_config.eos_token_id
    eos = torch.tensor([] if eos is None else eos if isinstance(eos, (list, tuple)) else [eos], device=ids.device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    past = cache.get_seq_length() if cache is not None else 0
    attention = None if bool((mask == 1).all()) else mask
    step_ids, step_positions = ids[:, past:], positions[:, past:]
    running = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
    new = []
    for _ in range(max_new_tokens):
        out = model(input_ids=step_ids, attention_mask=attention, position_ids=step_positions, use_cache=True,
                    logits_to_keep=1, return_dict=True, **{cache_name(): cache})
        cache = getattr(out, cache_name()) if new else _with_room(getattr(out, cache_name()), max_new_tokens)
        token = torch.where(running, pick(out.logits[:, -1].float()), pad)
        new.append(token)
        running &= ~torch.isin(token, eos)
        if not bool(running.any()):
            break
        step_ids, step_positions = token[:, None], step_positions[:, -1:] + 1
        if attention is not None:
            attention = torch.cat([attention, attention.new_ones((attention.shape[0], 1))], dim=-1)
    return torch.stack(new, dim=1)


def _batch_tokens(model, rows: list[list[int]], pad: int, config: GenerationConfig, seed: int, can_share: bool,
                  own_loop: bool, sampling: dict, pick: Callable):
    """(new token ids [B, <= max_new_tokens], can_share) of one batch of encoded prompts; can_share
    turns False for good once the model turns out unable to share a prefix."""
    import torch

    device = next(model.parameters()).device
    ids, mask, shared = generation_batch(rows, pad, share=can_share)
    with torch.no_grad():
        make_cache = prefix_cache(model, rows[0][:shared]) if shared else None
    if shared and make_cache is None:  # this model cannot share a prefix: whole prompts from now on
        can_share = False
        ids, mask, shared = generation_batch(rows, pad, share=False)
    cache = make_cache(len(rows)) if shared else None
    torch.manual_seed(seed)
    with torch.no_grad():
        if own_loop:
            return decode(model, ids.to(device), mask.to(device), cache, config.max_new_tokens, pick, pad), can_share
        # use_cache: a checkpoint may switch it off, and then generate would ignore the prefix cache
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **{cache_name(): cache},
                             use_cache=True, max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling)
    return out[:, ids.shape[1]:], can_share


def generate(model, tokenizer, prompts: list[Example], config: GenerationConfig, progress: bool = True,
             desc: str = "generate", partial: str | Path | None = None) -> list[list[str]]:
    """Return `n_samples` completions for each prompt (a list per prompt, in input order).

    Prompts are sorted by length so each batch wastes little padding; every batch reseeds from
    `config.seed` and its position, so results do not depend on what ran before. With `partial`,
    each finished batch is appended to that file and skipped when the call is repeated, so a
    killed evaluation resumes between batches with identical results. Batches go through `decode`
    where own_loop_fits the model, through transformers' `generate` otherwise: the same tokens.
    """
    import torch
    from tqdm.auto import tqdm

    encoded = encode_prompts(tokenizer, prompts, config.max_new_tokens,
                             getattr(model.config, "max_position_embeddings", None))
    jobs = sorted(((i, s) for i in range(len(prompts)) for s in range(config.n_samples)),
                  key=lambda job: (len(encoded[job[0]]), job))
    outputs: list[list[str]] = [[""] * config.n_samples for _ in prompts]
    own_loop, pick = own_loop_fits(model), token_picker(config)
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
        new, can_share = _batch_tokens(model, [encoded[i] for i, _ in batch], tokenizer.pad_token_id, config,
                                       config.seed * 1_000_003 + b, can_share, own_loop, sampling, pick)
        for row, (i, s) in enumerate(batch):
            outputs[i][s] = tokenizer.decode(new[row], skip_special_tokens=True).strip()
        if partial is not None:
            _append_line(partial, {"batch": b, "outputs": [[i, s, outputs[i][s]] for i, s in batch]})
        crash_point("generation-batch")
        bar.update(len(batch))
    bar.close()
    return outputs
