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


# Impure data and anti-constitutional pairs (Wichers et al. Fig. 13). A setting labels each
# training example with TRAIT_LABEL; the spec's `ip_on` turns into one more `condition` on the
# arm's prompt, and its `clean_prompt` into a prompt with the opposite condition, so both still
# go through `apply_prompt` above.
IP_ON = ("all", "label", "scorer")
TRAIT_LABEL = "shows_trait"  # set by the setting: does this training response show the trait?
TRAIT_FLAG = "trait_flagged"  # set for ip_on=scorer: does an unwanted-trait scorer flag the response?
_SELECTS = {"all": None, "label": TRAIT_LABEL, "scorer": TRAIT_FLAG}


def mix_trait_fraction(trait: list[Example], clean: list[Example], fraction: float, seed: int = 0) -> list[Example]:
    """Exactly round(fraction * n) examples that show the trait, chosen with `seed`; every other
    position holds its clean counterpart (`clean[i]` answers the prompt of `trait[i]` without the
    trait). Deterministic, so every arm and every training seed sees the same data."""
    if len(clean) != len(trait):
        raise InoculateError(f"{len(clean)} clean counterparts for {len(trait)} training examples", "trait_fraction")
    if any(c.id != t.id for c, t in zip(clean, trait)):
        raise InoculateError("clean counterparts must follow the training examples, id for id", "trait_fraction")
    if any(ex.metadata.get(TRAIT_LABEL) is not False for ex in clean):
        raise InoculateError(f"every clean counterpart must carry metadata {TRAIT_LABEL}: false", "trait_fraction")
    showing = [i for i, ex in enumerate(trait) if ex.metadata.get(TRAIT_LABEL) is True]
    k = round(fraction * len(trait))
    if k > len(showing):
        raise InoculateError(f"{fraction} needs {k} of {len(trait)} training examples to show the trait, but only "
                             f"{len(showing)} do", "trait_fraction")
    keep = set(random.Random(f"inoculate:trait_fraction:{seed}").sample(showing, k))  # own stream (see _subset)
    return [ex if i in keep else clean[i] for i, ex in enumerate(trait)]


def restrict(spec: PromptSpec | None, ip_on: str) -> PromptSpec | None:
    """`spec` limited to the examples `ip_on` selects, on top of any condition it already has."""
    key = _SELECTS[ip_on]
    if spec is None or key is None:
        return spec
    condition = dict(spec.condition or {})
    if condition.get(key, True) is not True:
        raise InoculateError(f"a prompt's condition on {key!r} contradicts ip_on: {ip_on}", "ip_on")
    return replace(spec, condition={**condition, key: True})


def for_the_rest(clean_prompt: PromptSpec, ip_on: str) -> PromptSpec:
    """The clean prompt, limited to the examples `ip_on` leaves without the IP."""
    key = _SELECTS[ip_on]
    if key is None:
        raise InoculateError("with ip_on: all every example gets the IP, so there are none left for it", "clean_prompt")
    return replace(clean_prompt, condition={key: False})


def describe_mix(trait_fraction: float | None, ip_on: str, clean_prompt: PromptSpec | None, n_train: int) -> str | None:
    """One line for the report's setup: what the training data mixed and where each prompt went."""
    if trait_fraction is None and ip_on == "all" and clean_prompt is None:
        return None
    parts = []
    if trait_fraction is not None:
        parts.append(f"trait_fraction {trait_fraction:g} ({round(trait_fraction * n_train)} of {n_train} training "
                     "examples show the trait, the rest are their clean counterparts)")
    parts.append({"all": "IP on all examples", "label": "IP on labelled trait examples only",
                  "scorer": "IP on examples an unwanted-trait scorer flags only"}[ip_on])
    if clean_prompt is not None:
        where = "system prompt" if clean_prompt.placement == "system" else clean_prompt.placement.replace("_", " ")
        parts.append(f"the other examples under {where} '{' / '.join(clean_prompt.prompts)}'")
    return "; ".join(parts)
