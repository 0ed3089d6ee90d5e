"""The model side of `inoculate serve`: which models are in memory, how a request becomes a prompt
and a choice's tokens become OpenAI's choice. The batched decoding loop is decoding.py; which
requests decode together is batching.py.

Decoding is our own step loop rather than `model.generate`, because the log-probabilities must be
the model's raw next-token distribution (log_softmax of the logits, before temperature and top-p):
`generate` applies the model's own generation_config processors (repetition penalty, ...) before a
custom processor sees the logits, and its `output_logits` keeps a full vocabulary row per token
(16 choices x 2,000 tokens x 49k vocabulary = 6 GB). The loop keeps the top alternatives only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inoculate.chat import render
from inoculate.errors import InoculateError
from inoculate.models import context_limit, load_adapter, load_model


class ContextLengthExceeded(InoculateError):
    """The prompt and max_tokens do not fit in the model's context."""


@dataclass(frozen=True)
class Choice:
    text: str  # decoded without special tokens; never stripped, so it is the tokens joined
    finish_reason: str  # "stop": the model ended its turn; "length": max tokens reached
    tokens: int  # generated tokens, the end-of-turn token included when there is one
    logprobs: list[dict[str, Any]] | None  # OpenAI `logprobs.content`, end-of-turn token left out


class ModelPool:
    """Served name -> (model, tokenizer): the base model and each LoRA adapter merged into its own copy.

    `load_adapter` merges the adapter into the weights in place, so an adapter cannot share the base
    model's copy; merged weights are also what `inoculate evaluate` samples from (same numbers) and
    cost nothing extra per token. At most `max_loaded` models stay in memory, the least recently
    used leaving first: 2 keeps the usual base-vs-adapter comparison free of reloads while memory
    stays at two models. Only the model-work thread calls `get`.

    A load draws from torch's global RNG (PEFT initialises the LoRA weights before it reads the
    trained ones), so it holds `load_lock`, which a starting fine-tuning job holds while it draws
    its own initial weights (worker.py); a model already loaded never takes it.
    """

    def __init__(self, base: str, adapters: dict[str, str], served_name: str, device: str = "auto",
                 dtype: str = "auto", max_loaded: int = 2, load_lock: threading.Lock | None = None):
        if max_loaded < 1:
            raise InoculateError(f"max_loaded must be >= 1, got {max_loaded}", "serve")
        for name, path in adapters.items():
            if name == served_name:
                raise InoculateError(f"adapter name {name!r} is also the base model's served name", "--adapter")
            if not (Path(path) / "adapter_config.json").is_file():
                raise InoculateError("not a PEFT adapter folder (no adapter_config.json)", f"--adapter {name}={path}")
        self.base, self.served_name, self.device, self.dtype = base, served_name, device, dtype
        self.adapters = {name: str(path) for name, path in adapters.items()}
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()  # `get` runs on one worker thread; the lock keeps it safe if that changes
        self._adding = threading.Lock()
        self._load_lock = load_lock or nullcontext()

    @property
    def names(self) -> list[str]:
        return [self.served_name, *self.adapters]

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Serve one more adapter from now on (a fine-tuning job that just finished). Any thread may
        call this: the mapping is replaced, never changed in place, so a request reading `names`
        meanwhile sees the old one or the new one."""
        if name in self.names:
            raise InoculateError(f"model name {name!r} is already served", "serve")
        if not (Path(path) / "adapter_config.json").is_file():
            raise InoculateError("not a PEFT adapter folder (no adapter_config.json)", str(path))
        with self._adding:  # not self._lock, which a model load holds for seconds
            self.adapters = {**self.adapters, name: str(path)}

    def get(self, name: str):
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            while len(self._loaded) >= self.max_loaded:
                self._loaded.popitem(last=False)  # freed before the next load, so memory never holds max_loaded + 1
            with self._load_lock:
                model, tokenizer = load_model(self.base, self.device, self.dtype)
                if name != self.served_name:
                    model = load_adapter(model, self.adapters[name])
            model.eval()
            self._loaded[name] = (model, tokenizer)
            return model, tokenizer


def prompt_for(model, tokenizer, messages: list[dict[str, str]], max_tokens: int | None) -> tuple[list[int], int]:
    """(prompt token ids, new tokens allowed) for one conversation: `max_tokens`, or up to the end of
    the context when it is None; ContextLengthExceeded when they do not fit."""
    from jinja2 import TemplateError

    try:
        prompt = render(tokenizer, messages, add_generation_prompt=True)
    except TemplateError as e:  # e.g. a template without a system role raises on one
        raise InoculateError(f"the model's chat template refused the messages: {e}", "messages") from None
    context = context_limit(model, tokenizer)
    room = context - len(prompt)
    if room < 1 or (max_tokens is not None and max_tokens > room):
        raise ContextLengthExceeded(f"the prompt is {len(prompt)} tokens; with max_tokens={max_tokens or 1} it "
                                    f"exceeds the model's context of {context} tokens", "messages")
    return prompt, max_tokens or room


def end_of_turn_ids(model, tokenizer) -> set[int]:
    """The tokenizer's end-of-sequence token and the model's generation_config eos ids (an int or a list)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, (list, tuple)) else [configured])
    ids.add(tokenizer.eos_token_id)
    ids.discard(None)
    if not ids:
        raise InoculateError("the model declares no end-of-sequence token; cannot tell where a reply ends")
    return ids


def to_choice(tokenizer, ids: list[int], chosen: list[float], alternatives: list[list[tuple[int, float]]],
              ended: bool, top_logprobs: int | None, memo: dict[int, str]) -> Choice:
    """OpenAI's choice from one row's generated tokens (the end-of-turn token last when `ended`), their
    raw log-probabilities and likeliest alternatives; logprobs only when `top_logprobs` is not None."""
    kept = ids[:-1] if ended else ids
    logprobs = None
    if top_logprobs is not None:
        logprobs = [dict(_token(tokenizer, t, chosen[i], memo),
                         top_logprobs=[_token(tokenizer, a, lp, memo) for a, lp in alternatives[i]])
                    for i, t in enumerate(kept)]
    return Choice(text=tokenizer.decode(kept, skip_special_tokens=True), finish_reason="stop" if ended else "length",
                  tokens=len(ids), logprobs=logprobs)


def _token(tokenizer, token_id: int, logprob: float, memo: dict[int, str]) -> dict[str, Any]:
    """OpenAI's token entry: the token decoded alone, its UTF-8 bytes and its log-probability. A byte-level
    token holding part of a character decodes to U+FFFD, whose bytes are then reported, not the raw ones."""
    if token_id not in memo:
        memo[token_id] = tokenizer.decode([token_id])
    text = memo[token_id]
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}
