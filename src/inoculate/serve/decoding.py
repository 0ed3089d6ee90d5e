"""The batched decoding loop of `inoculate serve`: the rows decoding together on one model (one row
per choice of each request), their key/value cache, and how each row draws its tokens.

Layout. Rows are left-padded to one width: `mask` marks the cache columns each row really has and
`position` is the position id of each row's next token, so padding changes neither what a row
attends to nor its rotary positions. Requests join at any step: their prompts are encoded together
(left-padded, each prompt once however many choices it has, its rows then copied from it), and the
new cache and the running one are left-padded to one width and stacked. A row leaves the batch as
soon as it ends (end-of-turn token or its max_tokens), and the columns no remaining row uses are cut
from the left, so a finished request costs the others nothing.

Joining and leaving edit the cache's tensors, which is right only where every layer keeps a plain
full-attention cache (logprobs.prefix_cache's test, for its reasons: a recurrent state would carry
the padding, a sliding window would lose columns). Any other model decodes one request at a time,
its rows side by side until all have ended, as the server did before batching.

Sampling. Each row draws from a torch.Generator of its own, seeded from the request's seed and the
choice's index (choice_seed): one uniform per token, by inverse CDF, after transformers' temperature
and top-p warpers (generation.sampling_processors' warpers and draw). So the draws depend neither on
the other rows nor on torch's global RNG, which training uses (worker.py). The logits do, in their
last bits: a padded row's attention runs with a mask over more columns and rounds differently
from the row alone (on the embedded model, the logits of a batch's longest prompt came out
bitwise the same, the padded ones' moved by up to 5e-5). Greedy replies keep their tokens (16 of
16 replies of 32 tokens on the embedded model) and their logprobs move by < 3e-5. A sampled reply
changes where its draw falls on a token narrower than the shift of the cumulative probabilities
the draw is read from: summed over a 49k vocabulary, they move by ~1e-7, more than the width of
45k of its 49k tokens. On the embedded model at temperature 1, 7 of 64 replies of 48 tokens (1
token in 400) came out different batched than alone, each from a token of probability 1e-5 to
1e-7 swapped for one as unlikely, the reply differing from there on; on the tests' tiny model
(420 tokens) none of 4,096 replies (187k tokens) did. `--max-batch 1` decodes each request
alone, so its texts never depend on what else the server is doing.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from inoculate.chat import generation_batch
from inoculate.generation import GenerationConfig, sampling_processors
from inoculate.logprobs import cache_name, prefix_cache

_JOINABLE: WeakKeyDictionary = WeakKeyDictionary()  # model -> whether its rows can join and leave a batch


def choice_seed(seed: int, index: int) -> int:
    """The seed of choice `index`'s generator: the request's seed for choice 0, so a request with n=1
    draws what `torch.manual_seed(seed)` gave before batching; a hash of both for the others, so no
    two (seed, choice) pairs share a stream in practice (seed + index would give choice 1 of seed 7
    the draws of choice 0 of seed 8; and torch keeps only a seed's low 32 bits)."""
    if index == 0:
        return seed % 2**64
    return int.from_bytes(hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest(), "little")


@dataclass(eq=False)
class Row:
    """One choice of one request: how it samples, and what it has generated so far."""

    request: Any  # the request it answers; read by the scheduler (batching.py), never here
    limit: int  # new tokens at most
    temperature: float  # 0 = greedy
    top_p: float  # nucleus mass, 1 = the whole vocabulary
    top: int  # likeliest alternatives kept per token, 0 = none
    generator: Any  # torch.Generator, this row's alone
    tokens: list[int] = field(default_factory=list)
    chosen: list[float] = field(default_factory=list)  # raw log-probability of each token
    alternatives: list[list[tuple[int, float]]] = field(default_factory=list)  # per token, likeliest first
    ended: bool = False  # the last token is an end-of-turn token

    @property
    def done(self) -> bool:
        return self.ended or len(self.tokens) >= self.limit


def new_rows(request, n: int, seed: int, limit: int, temperature: float, top_p: float, top: int) -> list[Row]:
    """A request's `n` rows, choice i drawing from a generator seeded with choice_seed(seed, i)."""
    import torch

    return [Row(request, limit, temperature, top_p, top, torch.Generator().manual_seed(choice_seed(seed, i)))
            for i in range(n)]


def joinable(model) -> bool:
    """Whether rows can join and leave a running batch on `model` (see the module doc); asked once a model."""
    import torch

    if model not in _JOINABLE:
        with torch.inference_mode():
            _JOINABLE[model] = prefix_cache(model, [0]) is not None
    return _JOINABLE[model]


class Batch:
    """The rows decoding together on one model, with their cache, `mask` ([rows, cache columns]: 1
    where a row has a token), `position` (each row's next position id) and `last` (each row's last
    token, the next step's input). Rows that have ended are never in it, except on a model that is
    not joinable, whose one request keeps its rows until all have ended."""

    def __init__(self, model, eos: set[int]):
        import torch

        self.model, self.eos, self.joinable = model, eos, joinable(model)
        self.device = next(model.parameters()).device
        self.rows: list[Row] = []
        self.cache = self.mask = self.position = self.last = None
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters \
            else {}
        self._no_grad = torch.inference_mode

    def add(self, prompts: list[tuple[list[int], list[Row]]]) -> None:
        """Encode each prompt once, draw the first token of each of its rows, and add the rows that go
        on. On a model that is not joinable: one prompt, into an empty batch."""
        import torch

        rows = [row for _, group in prompts for row in group]
        if self.joinable:
            encoded, owner = [p for p, _ in prompts], [i for i, (_, group) in enumerate(prompts) for _ in group]
        else:  # the prompt once per row: the same length, so no padding, as the unbatched server ran it
            assert not self.rows and len(prompts) == 1, "a model that is not joinable decodes one request at a time"
            encoded, owner = [prompts[0][0]] * len(rows), list(range(len(rows)))
        ids, mask, _ = generation_batch(encoded, 0, share=False)  # the pad id is masked out; any id will do
        ids, mask = ids.to(self.device), mask.to(self.device)
        with self._no_grad():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                             use_cache=True, **self._last_only)
        index = torch.tensor(owner, device=self.device)
        first = self._draw(rows, out.logits[:, -1].float()[index])
        position = torch.tensor([len(encoded[i]) for i in owner], device=self.device)
        self._join(rows, getattr(out, cache_name()), mask[index], position, first, index)

    def step(self) -> None:
        """One token for every row; the rows that end leave."""
        import torch

        mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
        with self._no_grad():
            out = self.model(input_ids=self.last[:, None], attention_mask=mask, position_ids=self.position[:, None],
                             use_cache=True, **{cache_name(): self.cache})
        self.cache, self.mask, self.position = getattr(out, cache_name()), mask, self.position + 1
        self.last = self._draw(self.rows, out.logits[:, -1].float())
        self._leave()

    def _join(self, rows: list[Row], cache, mask, position, last, index) -> None:
        """Stack the new rows that go on (row i's cache is the encoded prompt index[i]'s) under the running ones."""
        import torch

        keep = [i for i, row in enumerate(rows) if not row.done]
        if not keep:
            return
        if not self.joinable:  # the model's own cache, untouched; rows leave all together
            self.rows, self.cache, self.mask, self.position, self.last = rows, cache, mask, position, last
            return
        picked = torch.tensor(keep, device=self.device)
        kv = [(k[index[picked]], v[index[picked]]) for k, v in _layers(cache)]
        mask, position, last = mask[picked], position[picked], last[picked]
        if self.rows:
            width = max(self.mask.shape[1], mask.shape[1])
            kv = [(torch.cat([_left_pad(k0, width), _left_pad(k1, width)]),
                   torch.cat([_left_pad(v0, width), _left_pad(v1, width)]))
                  for (k0, v0), (k1, v1) in zip(_layers(self.cache), kv)]
            mask = torch.cat([_left_pad(self.mask, width), _left_pad(mask, width)])
            position, last = torch.cat([self.position, position]), torch.cat([self.last, last])
        self.rows = self.rows + [rows[i] for i in keep]
        self.cache, self.mask, self.position, self.last = _dynamic_cache(self.model, kv), mask, position, last

    def _leave(self) -> None:
        """Drop the rows that have ended, and the cache columns left to none of the others."""
        import torch

        keep = [i for i, row in enumerate(self.rows) if not row.done]
        if len(keep) == len(self.rows) or (keep and not self.joinable):
            return
        if not keep:
            self.rows, self.cache, self.mask, self.position, self.last = [], None, None, None, None
            return
        picked = torch.tensor(keep, device=self.device)
        mask = self.mask[picked]
        start = int(mask.any(dim=0).int().argmax())  # the first column a remaining row uses
        kv = [(k[picked, :, start:], v[picked, :, start:]) for k, v in _layers(self.cache)]
        self.rows = [self.rows[i] for i in keep]
        self.cache, self.mask = _dynamic_cache(self.model, kv), mask[:, start:]
        self.position, self.last = self.position[picked], self.last[picked]

    def _draw(self, rows: list[Row], logits):
        """Each row's next token from its float32 logits (greedy, or drawn with its own generator),
        recorded with its raw log-probability and alternatives on the rows not yet done; returns all tokens."""
        import torch

        raw = torch.log_softmax(logits, dim=-1)
        token = logits.argmax(dim=-1)  # greedy rows keep it; sampled rows draw below
        by_setting: dict[tuple[float, float], list[int]] = {}
        for i, row in enumerate(rows):
            if row.temperature > 0 and not row.done:
                by_setting.setdefault((row.temperature, row.top_p), []).append(i)
        for (temperature, top_p), members in by_setting.items():
            token[members] = _inverse_cdf(logits[members], temperature, top_p, [rows[i].generator for i in members])
        ids, chosen = token.tolist(), raw.gather(-1, token[:, None])[:, 0].tolist()
        top = min(max(row.top for row in rows), raw.shape[-1])
        alternatives = raw.topk(top, dim=-1) if top else None  # sorted, likeliest first
        values, indices = (alternatives.values.tolist(), alternatives.indices.tolist()) if top else ([], [])
        for i, row in enumerate(rows):
            if row.done:
                continue
            row.tokens.append(ids[i])
            row.chosen.append(chosen[i])
            row.alternatives.append(list(zip(indices[i][:row.top], values[i][:row.top])) if row.top else [])
            row.ended = ids[i] in self.eos
        return token


def _inverse_cdf(logits, temperature: float, top_p: float, generators: list):
    """A token per row of `logits`, all under one setting: the warpers, then one uniform from each row's
    generator against its cumulative probabilities (generation.sampling_processors' draw)."""
    import torch

    scores = logits
    for warp in _warpers(temperature, top_p):
        scores = warp(None, scores)
    cdf = torch.softmax(scores, dim=-1).cumsum(dim=-1)
    u = torch.cat([torch.rand(1, generator=g) for g in generators]).to(cdf.device)[:, None] * cdf[:, -1:]
    picked = torch.searchsorted(cdf, u, right=True)[:, 0]
    # u rounding up to the total (p ~ 2^-24) would fall past the end: take the likeliest token
    return torch.where(picked < scores.shape[-1], picked, scores.argmax(dim=-1))


@lru_cache(maxsize=256)
def _warpers(temperature: float, top_p: float) -> tuple:
    """generation.sampling_processors' temperature and top-p warpers for one setting, without its draw,
    which uses the global RNG."""
    return tuple(sampling_processors(GenerationConfig(temperature=temperature, top_p=top_p, top_k=0))[:-1])


def _layers(cache) -> list[tuple[Any, Any]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _dynamic_cache(model, kv):
    from transformers.cache_utils import DynamicCache

    return DynamicCache(ddp_cache_data=kv, config=model.config)


def _left_pad(t, width: int):
    """A cache tensor ([rows, heads, columns, dim]) or a mask ([rows, columns]) padded with zeros on
    the left to `width` columns."""
    import torch.nn.functional as F

    missing = width - (t.shape[1] if t.dim() == 2 else t.shape[-2])
    if not missing:
        return t
    return F.pad(t, (missing, 0) if t.dim() == 2 else (0, 0, missing, 0))
