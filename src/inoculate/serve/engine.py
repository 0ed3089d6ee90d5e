"""The model side of `inoculate serve`: which models are in memory, and the decoding loop that gives
each choice's text, finish reason, token count and raw log-probabilities from one pass.

Decoding is our own step loop rather than `model.generate`, because the log-probabilities must be
the model's raw next-token distribution (log_softmax of the logits, before temperature and top-p):
`generate` applies the model's own generation_config processors (repetition penalty, ...) before a
custom processor sees the logits, and its `output_logits` keeps a full vocabulary row per token
(16 choices x 2,000 tokens x 49k vocabulary = 6 GB). The loop keeps the top alternatives only.
Sampling itself is the project's (generation.sampling_processors: transformers' temperature and
top-p warpers, then an inverse-CDF draw), seeded per request, so the same request gives the same text.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inoculate.chat import render
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig, sampling_processors
from inoculate.logprobs import cache_name, prefix_cache
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
    """

    def __init__(self, base: str, adapters: dict[str, str], served_name: str, device: str = "auto",
                 dtype: str = "auto", max_loaded: int = 2):
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
            model, tokenizer = load_model(self.base, self.device, self.dtype)
            if name != self.served_name:
                model = load_adapter(model, self.adapters[name])
            model.eval()
            self._loaded[name] = (model, tokenizer)
            return model, tokenizer


def complete(model, tokenizer, messages: list[dict[str, str]], n: int = 1, temperature: float = 1.0,
             top_p: float = 1.0, seed: int = 0, max_tokens: int | None = None,
             top_logprobs: int | None = None) -> tuple[int, list[Choice]]:
    """(prompt tokens, `n` choices) for one conversation, with OpenAI's sampling semantics: no top-k,
    temperature 0 is greedy, `max_tokens` None runs up to the end of the context. With `top_logprobs`
    not None, each choice carries its tokens' raw log-probabilities and that many likeliest
    alternatives per token (0: none)."""
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
    config = GenerationConfig(max_new_tokens=max_tokens or room, temperature=temperature, top_p=top_p, top_k=0,
                              n_samples=n, batch_size=n, seed=seed)
    eos = _end_of_turn_ids(model, tokenizer)
    tokens, chosen, top = _decode(model, prompt, config, eos, top_logprobs or 0)
    memo: dict[int, str] = {}
    choices = []
    for row, ids in enumerate(tokens):
        end = next((i for i, t in enumerate(ids) if t in eos), None)
        kept = ids if end is None else ids[:end]
        logprobs = None
        if top_logprobs is not None:
            logprobs = [dict(_token(tokenizer, t, chosen[row][i], memo),
                             top_logprobs=[_token(tokenizer, a, lp, memo) for a, lp in top[row][i]])
                        for i, t in enumerate(kept)]
        choices.append(Choice(text=tokenizer.decode(kept, skip_special_tokens=True),
                              finish_reason="length" if end is None else "stop",
                              tokens=len(ids) if end is None else end + 1, logprobs=logprobs))
    return len(prompt), choices


def _end_of_turn_ids(model, tokenizer) -> set[int]:
    """The tokenizer's end-of-sequence token and the model's generation_config eos ids (an int or a list)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, (list, tuple)) else [configured])
    ids.add(tokenizer.eos_token_id)
    ids.discard(None)
    if not ids:
        raise InoculateError("the model declares no end-of-sequence token; cannot tell where a reply ends")
    return ids


def _token(tokenizer, token_id: int, logprob: float, memo: dict[int, str]) -> dict[str, Any]:
    """OpenAI's token entry: the token decoded alone, its UTF-8 bytes and its log-probability. A byte-level
    token holding part of a character decodes to U+FFFD, whose bytes are then reported, not the raw ones."""
    if token_id not in memo:
        memo[token_id] = tokenizer.decode([token_id])
    text = memo[token_id]
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


def _decode(model, prompt: list[int], config: GenerationConfig, eos: set[int], top: int):
    """Generate `config.n_samples` rows from one prompt: (token ids per row, raw log-probability of each
    chosen token per row, [(id, logprob)] of the `top` likeliest per token per row), up to
    `config.max_new_tokens` or until every row has ended its turn.

    All rows share the prompt, so it runs once (logprobs.prefix_cache) where the model allows and
    no padding is ever needed; a row that has ended keeps decoding with the others and is cut after.
    """
    import torch

    device = next(model.parameters()).device
    n = config.n_samples
    make_cache = prefix_cache(model, prompt[:-1]) if len(prompt) > 1 else None
    ids = torch.tensor([prompt[-1:] if make_cache else prompt] * n, device=device)
    cache = make_cache(n) if make_cache else None
    # the project's sampler (temperature, top-p, inverse-CDF draw) leaves only the drawn token finite
    pick = sampling_processors(config) if config.temperature > 0 else None
    last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    eos_ids = torch.tensor(sorted(eos), device=device)
    ended = torch.zeros(n, dtype=torch.bool, device=device)
    steps, chosen, alternatives = [], [], []
    torch.manual_seed(config.seed)  # the global generator, as generation.generate does; only this thread samples
    with torch.inference_mode():
        for _ in range(config.max_new_tokens):
            out = model(input_ids=ids, use_cache=True, **{cache_name(): cache}, **last_only)
            cache = getattr(out, cache_name())
            logits = out.logits[:, -1].float()
            raw = torch.log_softmax(logits, dim=-1)
            token = (pick(ids, logits) if pick else logits).argmax(dim=-1)
            steps.append(token)
            chosen.append(raw.gather(-1, token[:, None])[:, 0])
            if top:
                alternatives.append(raw.topk(min(top, raw.shape[-1]), dim=-1))  # sorted, likeliest first
            ended |= torch.isin(token, eos_ids)
            if bool(ended.all()):
                break
            ids = token[:, None]
    tokens = torch.stack(steps, dim=1).tolist()
    logprobs = torch.stack(chosen, dim=1).tolist()
    if not top:
        return tokens, logprobs, [[[] for _ in steps] for _ in range(n)]
    values = torch.stack([a.values for a in alternatives], dim=1).tolist()
    indices = torch.stack([a.indices for a in alternatives], dim=1).tolist()
    return tokens, logprobs, [[list(zip(i, v)) for i, v in zip(ri, rv)] for ri, rv in zip(indices, values)]
