"""Chat encoding: conversations to token ids with labels on assistant turns, prompts to token ids
ready for generation, and the padded batches training, log-probabilities and generation run on.

Two batch layouts, because a plain forward pass and `generate` number positions differently:
- `collate` pads on the right. A forward pass numbers positions 0, 1, 2...; padding after the
  tokens changes nothing before it. Training and log-probabilities use it.
- `generation_batch` pads before each prompt's own tokens ([shared prefix][padding][rest]).
  Decoder-only models must not be right-padded for generation: new tokens would follow pad
  tokens and come out as garbage (a known trap in IP replications). `generate` numbers positions
  by the attention mask's running count, so masked padding in the middle is the same as on the left.
"""

from __future__ import annotations

import os
from typing import Any

from inoculate.data import Example
from inoculate.errors import InoculateError

IGNORE = -100  # label value that the loss skips
MIN_SHARED_PREFIX = 4  # tokens; below this a separate prefix pass is not worth its call


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    """Token ids of `messages` through the tokenizer's chat template."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False).input_ids


def encode_chat(tokenizer, messages: list[dict[str, str]], max_length: int) -> dict[str, Any]:
    """Token ids of the whole conversation, with labels only on assistant turns.

    Each assistant turn's tokens are found by rendering the conversation up to it (with the
    generation prompt) and through it; the difference is the turn, end-of-turn token included,
    so the model also learns where to stop.
    """
    input_ids = render(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE] * len(input_ids)
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix = render(tokenizer, messages[:i], add_generation_prompt=True)
        start, end = len(prefix), len(render(tokenizer, messages[: i + 1], add_generation_prompt=False))
        if input_ids[:start] != prefix:
            raise InoculateError("the chat template does not render conversations as prefixes of each other; "
                                 "cannot locate assistant tokens")
        labels[start:end] = input_ids[start:end]
    truncated = len(input_ids) > max_length
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length], "truncated": truncated}


def encode_examples(tokenizer, examples: list[Example], max_length: int) -> list[dict[str, Any]]:
    """encode_chat for each example; an example whose prompt leaves no room for its response is an error."""
    encoded = [encode_chat(tokenizer, ex.messages, max_length) for ex in examples]
    for i, e in enumerate(encoded):
        if all(lab == IGNORE for lab in e["labels"]):
            raise InoculateError(f"the prompt of training example {examples[i].id or i} fills max_length="
                                 f"{max_length} tokens, leaving no response to learn; shorten it or raise "
                                 "train.max_length", "train data")
    return encoded


def encode_prompts(tokenizer, prompts: list[Example], max_new_tokens: int, context: int | None) -> list[list[int]]:
    """Token ids of each prompt with the generation prompt; one that cannot fit its answer is an error."""
    encoded = []
    for p in prompts:
        ids = render(tokenizer, p.prompt_messages(), add_generation_prompt=True)
        if context and len(ids) + max_new_tokens > context:
            raise InoculateError(f"prompt {p.id} is {len(ids)} tokens; with max_new_tokens={max_new_tokens} "
                                 f"it exceeds the model's context of {context}", "evaluation prompts")
        encoded.append(ids)
    return encoded


def collate(encoded: list[dict[str, Any]], pad_id: int, skip: int = 0):
    """(ids, mask, labels) of encoded conversations, padded on the right.

    With `skip`, each row's first `skip` tokens (a prefix shared by every row and passed to the
    model as a cache) are left out of ids and labels but counted in the attention mask."""
    import torch

    width = max(len(e["input_ids"]) for e in encoded) - skip
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(encoded), skip + width), dtype=torch.long)
    mask[:, :skip] = 1
    for row, e in enumerate(encoded):
        n = len(e["input_ids"]) - skip
        ids[row, :n] = torch.tensor(e["input_ids"][skip:])
        labels[row, :n] = torch.tensor(e["labels"][skip:])
        mask[row, skip:skip + n] = 1
    return ids, mask, labels


def generation_batch(rows: list[list[int]], pad: int, share: bool = True):
    """Token ids and attention mask of prompts laid out as [shared prefix][padding][rest of prompt].

    Prompts of one evaluation context share their start (chat template, system prompt: 24 of 41
    tokens on average for the spanish-caps prompts), which is then encoded once for the whole batch
    (see logprobs.PrefixCache). With `share=False` (or a prefix too short to share) it is plain
    left padding. Returns (ids, mask, shared prefix length).
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
