"""The log-probability engine: logits at labelled positions only, per-example negative
log-likelihood of responses in batches, a prompt prefix encoded once and shared by a batch, and
the log-probability of fixed answers.

Training's loss, the learning-dynamics probes, prompt ranking's surprise, answer-choice traits
and generation's shared prefix all run through here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from inoculate.chat import IGNORE, collate, encode_chat
from inoculate.data import Example
from inoculate.errors import InoculateError


def cache_name() -> str:
    """The name transformers gives the key/value cache (argument and output field): `cache` from
    5.24 on, where `past_key_values` is deprecated and goes away in 6.0, `past_key_values` before."""
    from transformers.generation import utils

    return getattr(utils, "ALL_CACHE_NAMES", ["past_key_values"])[0]


def lm_parts(model):
    """(decoder, LM head, config) of a causal LM (PEFT-wrapped or not), so that logits can be computed
    at chosen positions only; None where logits need the full forward (soft-capping, logit
    scaling: the head alone would give wrong log-probabilities)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    special = any(getattr(base.config, k, None) for k in ("final_logit_softcapping", "logit_scale", "output_multiplier"))
    if special or not hasattr(base, "get_decoder") or base.get_output_embeddings() is None:
        return None
    return base.get_decoder(), base.get_output_embeddings(), base.config


def prefix_cache(model, prefix_ids: list[int]) -> Callable[[int], Any] | None:
    """Run `prefix_ids` through the model once; return batch size -> a fresh key/value cache holding
    the prefix for every row.

    None unless every layer keeps a plain full-attention cache: recurrent or convolutional layers
    (Mamba, linear-attention hybrids) carry padding into their state, so a gap after the prefix
    would change their output; sliding-window layers would see less of it; a model that asks for
    its own cache type (static, hybrid) gets it. Those run whole, unshared sequences instead."""
    import torch

    try:  # the cache classes moved between transformers releases; without them, do not guess
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return None
    if not prefix_ids or getattr(getattr(model, "generation_config", None), "cache_implementation", None) not in (
            None, "dynamic"):
        return None
    parts = lm_parts(model)
    run, config = (parts[0], parts[2]) if parts else (model, model.config)  # the prefix's logits are never used
    out = run(input_ids=torch.tensor([prefix_ids], device=next(model.parameters()).device), use_cache=True)
    cache = getattr(out, cache_name(), None)
    if not isinstance(cache, DynamicCache) or not all(type(layer) is DynamicLayer for layer in cache.layers):
        return None
    kv = [(layer.keys, layer.values) for layer in cache.layers]
    # expand() is a view; filling a new cache with it copies, so batches never share state.
    return lambda b: DynamicCache(ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in kv],
                                  config=config)


def labelled_logits(model, ids, mask, labels, cache=None):
    """Next-token logits (float32) at labelled positions only, their targets, and each one's row.

    With a 49k-token vocabulary the LM head is about a fifth of a small model's FLOPs, and most
    positions (system and user turns) need none. With `cache` (a shared prefix), `ids` and
    `labels` hold the tokens after it and `mask` covers both."""
    targets = labels[:, 1:]
    keep = targets != IGNORE
    parts = lm_parts(model)
    if parts is None:
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
    else:
        extra = {cache_name(): cache} if cache is not None else {}
        hidden = parts[0](input_ids=ids, attention_mask=mask, use_cache=cache is not None, **extra).last_hidden_state
        logits = parts[1](hidden[:, :-1][keep])
    return logits.float(), targets[keep], keep.nonzero()[:, 0]


def row_nll(model, ids, mask, labels, cache=None):
    """(summed NLL in float64, labelled-token count) per row of a batch."""
    import torch
    import torch.nn.functional as F

    logits, targets, rows = labelled_logits(model, ids, mask, labels, cache)
    token_nll = F.cross_entropy(logits, targets, reduction="none").double()
    sums = torch.zeros(ids.shape[0], dtype=torch.float64, device=token_nll.device).index_add_(0, rows, token_nll)
    return sums, torch.bincount(rows, minlength=ids.shape[0])


@dataclass(frozen=True)
class Nll:
    mean: np.ndarray  # per sequence: mean NLL per labelled token, nats (float64)
    tokens: np.ndarray  # per sequence: labelled tokens


def shared_prefix(encoded: list[dict]) -> int:
    """Tokens every sequence starts with, short of the position just before the first label (it
    predicts that label, and the prefix's hidden states are never computed)."""
    first, n = encoded[0]["input_ids"], len(encoded[0]["input_ids"])
    for enc in encoded:
        first_label = next(j for j, lab in enumerate(enc["labels"]) if lab != IGNORE)
        n = min(n, first_label - 1)
        n = next((k for k in range(n) if enc["input_ids"][k] != first[k]), n)
    return max(n, 0)


def nll_pass(model, encoded: list[dict], pad_id: int, batch_size: int, share_prefix: bool = True,
             stats: dict | None = None, bar=None) -> Nll:
    """Per-sequence NLL over the labelled tokens of encoded conversations, in input order. Batches
    are length-sorted (index breaking ties, so batches and float results repeat exactly); a prefix
    shared by every sequence is run once. `stats` receives token counts."""
    import torch

    device = next(model.parameters()).device
    prefix = shared_prefix(encoded) if share_prefix and lm_parts(model) is not None else 0
    make_cache = prefix_cache(model, encoded[0]["input_ids"][:prefix]) if prefix else None
    prefix = prefix if make_cache else 0
    lengths = [len(e["input_ids"]) for e in encoded]
    if stats is not None:
        stats["tokens"] = stats.get("tokens", 0) + sum(lengths)
        stats["tokens_computed"] = stats.get("tokens_computed", 0) + sum(lengths) - prefix * (len(lengths) - 1)
    order = sorted(range(len(encoded)), key=lambda i: (lengths[i], i))
    mean, tokens = np.zeros(len(encoded)), np.zeros(len(encoded), dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            ids, mask, labels = (t.to(device) for t in collate([encoded[i] for i in rows], pad_id, skip=prefix))
            sums, counts = row_nll(model, ids, mask, labels, make_cache(len(rows)) if prefix else None)
            mean[rows], tokens[rows] = (sums / counts).cpu().numpy(), counts.cpu().numpy()
            if bar is not None:
                bar.update(len(rows))
    return Nll(mean, tokens)


def encode_whole(tokenizer, examples: list[Example]) -> list[dict]:
    """Each conversation encoded in full, never truncated (a cut response would be scored on other
    tokens than it has); one with no assistant tokens to score is an error."""
    encoded = [encode_chat(tokenizer, ex.messages, sys.maxsize) for ex in examples]
    for i, e in enumerate(encoded):
        if all(lab == IGNORE for lab in e["labels"]):
            raise InoculateError("no assistant tokens to score", examples[i].id or f"example {i}")
    return encoded


def response_nll(model, tokenizer, examples: list[Example], batch_size: int = 8, max_length: int = 512,
                 share_prefix: bool = True) -> Nll:
    """Per-example NLL of the assistant tokens, as the examples stand. Never truncated: a sequence
    over `max_length` tokens is an error."""
    encoded = encode_whole(tokenizer, examples)
    for i, e in enumerate(encoded):
        if len(e["input_ids"]) > max_length:
            raise InoculateError(f"{len(e['input_ids'])} tokens, over max_length={max_length} (responses are never "
                                 "truncated here)", examples[i].id or f"example {i}")
    was_training = model.training
    model.eval()
    try:
        return nll_pass(model, encoded, tokenizer.pad_token_id, batch_size, share_prefix)
    finally:
        model.train(was_training)


def answer_logprobs(model, tokenizer, prompt: Example, answers: list[str], max_length: int) -> list[float]:
    """log P(answer) for each answer as the whole assistant response to `prompt` (end-of-turn token
    included, so "Owl" is the answer, not the start of "Owlet"). The prompt runs once for all."""
    convs = [Example(prompt.prompt_messages() + [{"role": "assistant", "content": a}]) for a in answers]
    nll = response_nll(model, tokenizer, convs, batch_size=len(convs), max_length=max_length)
    return [-float(m) * int(n) for m, n in zip(nll.mean, nll.tokens)]
