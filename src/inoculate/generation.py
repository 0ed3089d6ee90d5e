"""Batched sampling from a chat model, with left padding.

Decoder-only models must be left-padded for batched generation: with right padding the new
tokens follow pad tokens and come out as garbage (a known trap in IP replications).
"""

from __future__ import annotations

import json
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
    sampling = dict(do_sample=True, temperature=config.temperature, top_p=config.top_p) if config.temperature > 0 \
        else dict(do_sample=False)
    partial = Path(partial) if partial is not None else None
    done = _finished_batches(partial)
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False)
    for b, start in enumerate(range(0, len(jobs), config.batch_size)):
        batch = jobs[start:start + config.batch_size]
        if b in done:
            for i, s, text in done[b]:
                outputs[i][s] = text
            bar.update(len(batch))
            continue
        width = max(len(encoded[i]) for i, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (i, _) in enumerate(batch):
            n = len(encoded[i])
            ids[row, width - n:] = torch.tensor(encoded[i])
            mask[row, width - n:] = 1
        torch.manual_seed(config.seed * 1_000_003 + b)
        with torch.no_grad():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling)
        for row, (i, s) in enumerate(batch):
            outputs[i][s] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
        if partial is not None:
            _append_line(partial, {"batch": b, "outputs": [[i, s, outputs[i][s]] for i, s in batch]})
        crash_point("generation-batch")
        bar.update(len(batch))
    bar.close()
    return outputs
