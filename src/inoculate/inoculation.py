"""The inoculation transform: the single place where an instruction is put into a conversation.

The same `apply_prompt` builds the inoculated training data and the "with IP" evaluation
context, so what the model saw in training and what it is tested with can never drift apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from inoculate.data import Example
from inoculate.errors import InoculateError

PLACEMENTS = ("system", "user_prefix", "user_suffix")


@dataclass(frozen=True)
class PromptSpec:
    """An inoculation prompt (or eval-context prompt) and how to apply it.

    prompts:   one prompt, or a pool of paraphrases; one is drawn per example with `seed`.
    placement: `system` (system message; replaces the model's default one, and is put in front of
               an existing system message with `separator`), `user_prefix` or `user_suffix`
               (joined to the first user turn with `separator`).
    condition: apply only to examples whose metadata matches: {key: value or [values]}. Used for
               impure data, where only some examples show the trait.
    """

    prompts: tuple[str, ...]
    placement: str = "system"
    condition: dict[str, Any] | None = None
    separator: str = "\n"
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.prompts, str):
            object.__setattr__(self, "prompts", (self.prompts,))
        object.__setattr__(self, "prompts", tuple(self.prompts))
        if not self.prompts:
            raise InoculateError("a prompt spec needs at least one prompt")
        for p in self.prompts:
            if not isinstance(p, str) or not p.strip():
                raise InoculateError(f"prompts must be non-empty strings, got {p!r}")
        if self.placement not in PLACEMENTS:
            raise InoculateError(f"placement {self.placement!r} is not one of {', '.join(PLACEMENTS)}")
        if self.condition is not None and not isinstance(self.condition, dict):
            raise InoculateError("condition must be a mapping of metadata key to value(s)")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | str, where: str = "prompt") -> "PromptSpec":
        """Build from a config value: a bare string, or {prompt|prompts, placement, condition, ...}."""
        if isinstance(d, str):
            return cls((d,))
        if not isinstance(d, dict):
            raise InoculateError("expected a prompt string or a mapping", where)
        d = dict(d)
        if "prompt" in d:
            if "prompts" in d:
                raise InoculateError("give either 'prompt' or 'prompts', not both", where)
            d["prompts"] = [d.pop("prompt")]
        known = {"prompts", "placement", "condition", "separator", "seed"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InoculateError(f"unknown key {unknown[0]!r} (allowed: prompt, {', '.join(sorted(known))})", where)
        if "prompts" not in d:
            raise InoculateError("missing 'prompt'", where)
        try:
            return cls(**d)
        except InoculateError as e:
            raise InoculateError(e.message, where) from e
        except TypeError as e:
            raise InoculateError(str(e), where) from e

    def matches(self, example: Example) -> bool:
        if not self.condition:
            return True
        for key, want in self.condition.items():
            have = example.metadata.get(key)
            allowed = want if isinstance(want, (list, tuple)) else [want]
            if have not in allowed:
                return False
        return True


def _with_prompt(messages: list[dict[str, str]], prompt: str, spec: PromptSpec) -> list[dict[str, str]]:
    messages = [dict(m) for m in messages]
    if spec.placement == "system":
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = prompt + spec.separator + messages[0]["content"]
        else:
            messages.insert(0, {"role": "system", "content": prompt})
        return messages
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    content = messages[first_user]["content"]
    if spec.placement == "user_prefix":
        messages[first_user]["content"] = prompt + spec.separator + content
    else:
        messages[first_user]["content"] = content + spec.separator + prompt
    return messages


def apply_prompt(examples: list[Example], spec: PromptSpec | None) -> list[Example]:
    """Return new examples with the prompt applied; each records what was applied.

    `metadata["inoculation"]` holds {"prompt", "placement"} for examples that received it and
    None for those the condition skipped (or when `spec` is None: the no-prompt context).
    """
    rng = random.Random(spec.seed if spec else 0)
    out = []
    for ex in examples:
        applied = None
        messages = ex.messages
        if spec is not None and spec.matches(ex):
            prompt = spec.prompts[0] if len(spec.prompts) == 1 else rng.choice(spec.prompts)
            messages = _with_prompt(ex.messages, prompt, spec)
            applied = {"prompt": prompt, "placement": spec.placement}
        out.append(replace(ex, messages=messages, metadata={**ex.metadata, "inoculation": applied}))
    return out
