"""Recontextualization (Azarbal et al.): the training responses are written anew by the untrained
model under one prompt (`generate_with`, e.g. one that discourages the trait), optionally only those
a trait's scorer accepts are kept, and the arm trains on them under another prompt (`train_with`,
the arm's training-time prompt, applied by the same `apply_prompt` as every IP).

The regenerated responses are made once per grid and kept under the output folder, named by all
that changes them (model, training data, prompt, filter, sampling settings, sampler):

    out/recontext/<hash>.json   {"total", "kept", "keep", "examples": [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from inoculate._config import from_dict
from inoculate._io import atomic_write_json, read_json
from inoculate._log import log
from inoculate.backends import ModelRef, Sampler
from inoculate.data import Example, parse_example
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig
from inoculate.inoculation import PromptSpec, apply_prompt

KEYS = ("generate_with", "train_with", "keep", "max_new_tokens")


@dataclass(frozen=True)
class Keep:
    """Keep a regenerated response only where `trait`'s scorer finds it `present` (or absent)."""

    trait: str
    present: bool = True


@dataclass(frozen=True)
class Recontext:
    """An arm's `recontextualize` key, less `train_with` (which becomes the arm's prompt)."""

    generate_with: PromptSpec | None  # the prompt the untrained model answers the training prompts under
    keep: Keep | None = None
    max_new_tokens: int | None = None  # response length; None = the grid's generation.max_new_tokens

    @classmethod
    def from_dict(cls, d: Any, where: str) -> tuple["Recontext", PromptSpec | None]:
        """(the recontextualization, the `train_with` prompt) from {generate_with, train_with, keep,
        max_new_tokens}; a prompt is a string or a prompt mapping, null for none."""
        if not isinstance(d, dict):
            raise InoculateError(f"expected a mapping with {', '.join(KEYS)}", where)
        unknown = sorted(set(d) - set(KEYS))
        if unknown:
            raise InoculateError(f"unknown key {unknown[0]!r} (allowed: {', '.join(KEYS)})", where)
        if "generate_with" not in d or "train_with" not in d:
            raise InoculateError("needs 'generate_with' and 'train_with' (a prompt, or null for none)", where)

        def prompt(key: str) -> PromptSpec | None:
            return None if d[key] is None else PromptSpec.from_dict(d[key], f"{where}.{key}")

        keep = None if d.get("keep") is None else from_dict(Keep, d["keep"], f"{where}.keep")
        n = d.get("max_new_tokens")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n <= 0):
            raise InoculateError(f"must be a positive integer, got {n!r}", f"{where}.max_new_tokens")
        if prompt("generate_with") == prompt("train_with"):
            raise InoculateError("'generate_with' and 'train_with' are the same prompt: that is on-policy "
                                 "training, not recontextualization", where)
        return cls(prompt("generate_with"), keep, n), prompt("train_with")


@dataclass(frozen=True)
class Regeneration:
    """How a recontextualized arm's training responses come to be, as a value a run unit carries."""

    recontext: Recontext
    base: str  # the untrained model that writes them
    generation: GenerationConfig  # the grid's sampling settings (one sample, max_new_tokens as asked)
    file: str  # recontext/<hash>.json under the output folder

    def responses(self, train: list[Example], sampler: Sampler, traits: list, out_dir: Path,
                  label: str = "") -> tuple[list[Example], dict[str, Any]]:
        """(the training examples with regenerated responses, the kept ones only; {total, kept}).
        Read from the file when an earlier run of the grid made them."""
        path = Path(out_dir) / self.file
        if not path.is_file():
            log(f"{label}: regenerating {len(train)} training responses with the untrained model")
            prompts = apply_prompt([replace(ex, messages=ex.prompt_messages()) for ex in train],
                                   self.recontext.generate_with)
            texts = sampler.generate(ModelRef(self.base), prompts, self.generation, progress=False,
                                     desc="recontextualize")
            written = [replace(ex, messages=[*ex.prompt_messages(), {"role": "assistant", "content": t[0]}])
                       for ex, t in zip(train, texts)]
            kept = _kept(written, self.recontext.keep, traits)
            atomic_write_json(path, {"total": len(written), "kept": len(kept), "keep": self.recontext.keep,
                                     "examples": [ex.to_json() for ex in kept]})
        record = read_json(path)
        if not record["examples"]:
            raise InoculateError(f"none of the {record['total']} regenerated responses passed the keep filter "
                                 f"{record['keep']}; loosen it or drop it", "recontextualize.keep")
        examples = [parse_example(row, f"{self.file}: {i}", True) for i, row in enumerate(record["examples"])]
        return examples, {"total": record["total"], "kept": record["kept"], "file": self.file}


def _kept(examples: list[Example], keep: Keep | None, traits: list) -> list[Example]:
    if keep is None:
        return examples
    trait = next(t for t in traits if t.name == keep.trait)
    judged = trait.scorer([ex.messages[-1]["content"] for ex in examples], examples)
    return [ex for ex, j in zip(examples, judged) if j["present"] is keep.present]


def check_keep(recontext: Recontext, traits: list, where: str) -> None:
    """The keep filter names a trait of the grid that judges sampled text."""
    if recontext.keep is None:
        return
    found = {t.name: t for t in traits}
    if recontext.keep.trait not in found:
        raise InoculateError(f"unknown trait {recontext.keep.trait!r} (traits: {', '.join(found)})",
                             f"{where}.recontextualize.keep.trait")
    if found[recontext.keep.trait].choices is not None:
        raise InoculateError("this trait is measured over fixed answers and cannot judge a written response",
                             f"{where}.recontextualize.keep.trait")
