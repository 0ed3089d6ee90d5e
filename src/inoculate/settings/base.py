"""The settings interface: what every built-in or user setting provides, and its check.

A setting bundles training data, held-out evaluation prompts, the traits it measures and the
arms (training-time prompts, controls included) that make up its default grid.
"""

from __future__ import annotations

import difflib
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate._config import from_dict
from inoculate.inoculation import PromptSpec
from inoculate.recontext import Recontext
from inoculate.scorers import Choices, Scorer
from inoculate.steering import Steer

ROLES = ("baseline", "inoculation", "random-control", "control")
ARM_KEYS = ("prompt", "prompts", "placement", "condition", "separator", "seed", "role", "targets", "paraphrases",
            "negation", "steer", "recontextualize")


@dataclass(frozen=True)
class Trait:
    name: str  # short name used in tables, e.g. "spanish"
    scorer: Scorer  # judges one generated text (with `choices`, what a sampled answer would be judged by)
    wanted: bool  # True: a capability to keep; False: the behaviour to suppress
    description: str = ""
    choices: Choices | None = None  # measure by log-probability over fixed answers instead of sampling


@dataclass(frozen=True)
class Arm:
    """One training condition of a grid.

    role: baseline (no training-time prompt), inoculation (a real IP), random-control (a random
    string: separates the semantic effect from a mere context shift), control (negated,
    irrelevant, neutral...). targets: the traits the prompt names; suppression is reported
    for these.

    Besides a prompt, an arm may train in one of two other ways (one kind per arm): `steer`
    (preventative steering, steering.py; with `random`, the random-direction control) or
    `recontextualize` (responses regenerated under one prompt, trained under `prompt`, recontext.py).
    """

    name: str
    prompt: PromptSpec | None
    role: str
    targets: tuple[str, ...] = ()
    paraphrases: tuple[str, ...] = ()  # held-out rewordings of the IP, never trained on: leakage tests
    negation: str | None = None  # the IP negated, for the leakage table
    steer: Steer | None = None
    recontextualize: Recontext | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise InoculateError(f"role {self.role!r} is not one of {', '.join(ROLES)}", f"arm {self.name}")
        trains = self.prompt is not None or self.steer is not None or self.recontextualize is not None
        if trains == (self.role == "baseline"):
            raise InoculateError("the baseline arm has no prompt; every other arm needs one (or steer, or "
                                 "recontextualize)", f"arm {self.name}")
        if self.steer is not None and (self.prompt is not None or self.recontextualize is not None):
            raise InoculateError("a steering arm trains without a prompt and without recontextualize: make "
                                 "them separate arms", f"arms.{self.name}.steer")

    @property
    def kind(self) -> str:
        """prompt | steer | recontext: how the arm differs from the baseline in training."""
        return "steer" if self.steer else "recontext" if self.recontextualize else "prompt"

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any] | None) -> "Arm":
        where = f"arms.{name}"
        if d is None:
            return cls(name, None, "baseline")
        if not isinstance(d, dict):
            raise InoculateError("expected a mapping with 'prompt', 'role' and optional 'targets'", where)
        d = dict(d)
        unknown = sorted(set(d) - set(ARM_KEYS))
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), ARM_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InoculateError(f"unknown key {unknown[0]!r} (allowed: {', '.join(ARM_KEYS)}){hint}", where)
        steer = from_dict(Steer, d.pop("steer"), f"{where}.steer") if "steer" in d else None
        # a random direction is the steering arms' random control unless the spec says otherwise
        role = d.pop("role", "random-control" if steer and steer.random is not None else "inoculation")
        targets, paraphrases, negation = d.pop("targets", []), d.pop("paraphrases", []), d.pop("negation", None)
        for key, value in (("targets", targets), ("paraphrases", paraphrases)):
            if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
                raise InoculateError(f"'{key}' must be a list of non-empty strings", where)
        if negation is not None and not (isinstance(negation, str) and negation.strip()):
            raise InoculateError("'negation' must be a non-empty string", where)
        recontext, rest = None, {k: v for k, v in d.items() if k != "recontextualize"}
        prompt = PromptSpec.from_dict(rest, where) if rest else None
        if "recontextualize" in d:
            if prompt is not None:
                raise InoculateError("give the training prompt as recontextualize.train_with, not beside it", where)
            recontext, prompt = Recontext.from_dict(d["recontextualize"], f"{where}.recontextualize")
        return cls(name, prompt, role, tuple(targets), tuple(paraphrases), negation, steer, recontext)


class Setting(ABC):
    """What a setting must provide. Subclasses live in one folder each under settings/."""

    name: str = ""
    description: str = ""

    @abstractmethod
    def train_examples(self) -> list[Example]: ...

    @abstractmethod
    def eval_prompts(self) -> list[Example]: ...

    @abstractmethod
    def traits(self) -> list[Trait]: ...

    @abstractmethod
    def arms(self) -> list[Arm]: ...

    def clean_examples(self) -> list[Example]:
        """The clean counterpart of each training example, in the same order and with the same id: the
        same prompt answered without the trait, labelled metadata shows_trait: false (training examples
        carry shows_trait: true or false). A spec's trait_fraction mixes the two; settings where no
        natural clean answer exists leave this out."""
        raise InoculateError(f"setting {self.name} has no clean counterparts of its training examples, so it "
                             "cannot be mixed", "trait_fraction")

    def probes(self) -> dict[str, list[Example]]:
        """Reference conversations whose response expresses one trait only (Tan et al. §4.2), by name.
        Their log-probability under the no-IP context is tracked during training."""
        return {}

    def candidate_prompts(self) -> dict[str, Path]:
        """Candidate IP files shipped with the setting (candidate_prompts_<name>.txt), for `inoculate rank`."""
        folder = Path(inspect.getfile(type(self))).parent
        return {p.stem.removeprefix("candidate_prompts_"): p for p in sorted(folder.glob("candidate_prompts_*.txt"))}

    def defaults(self) -> dict[str, Any]:
        """Spec values this setting needs to run well (e.g. sizes that fit a CPU); the spec file wins."""
        return {}


@dataclass
class CustomSetting(Setting):
    """A setting assembled from the user's own files and declarations (spec keys train_data etc.)."""

    train: list[Example]
    evals: list[Example]
    trait_list: list[Trait]
    arm_list: list[Arm] = field(default_factory=list)
    name: str = "custom"
    description: str = "user data"
    probe_sets: dict[str, list[Example]] = field(default_factory=dict)

    def train_examples(self):
        return self.train

    def eval_prompts(self):
        return self.evals

    def traits(self):
        return self.trait_list

    def arms(self):
        return self.arm_list

    def probes(self):
        return self.probe_sets


def check_setting(setting: Setting) -> None:
    """Raise if a setting breaks the interface's promises (run on every registered setting in tests)."""
    where = f"setting {setting.name}"
    traits = setting.traits()
    arms = setting.arms()
    if not setting.train_examples():
        raise InoculateError("no training examples", where)
    if not setting.eval_prompts():
        raise InoculateError("no evaluation prompts", where)
    if not traits:
        raise InoculateError("declares no traits", where)
    check_arms(arms, [t.name for t in traits], where)
    for ex in setting.train_examples():
        if ex.messages[-1]["role"] != "assistant":
            raise InoculateError(f"training example {ex.id} has no response", where)
    for ex in setting.eval_prompts():
        if ex.prompt_messages()[-1]["role"] != "user":
            raise InoculateError(f"evaluation prompt {ex.id} does not end with a user turn", where)


def check_arms(arms: list[Arm], trait_names: list[str], where: str) -> None:
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise InoculateError("arm names must be unique", where)
    if sum(a.role == "baseline" for a in arms) != 1:
        raise InoculateError("a grid needs exactly one baseline arm (no training-time prompt)", where)
    for kind in ("prompt", "steer"):  # a recontextualized arm trains under a prompt: the prompts' control
        randoms = [a.name for a in arms if a.role == "random-control" and (a.kind == "steer") == (kind == "steer")]
        if len(randoms) > 1:
            raise InoculateError(f"at most one random-control arm {'of steering ' * (kind == 'steer')}"
                                 f"(there are {', '.join(randoms)})", where)
    for arm in arms:
        for t in arm.targets:
            if t not in trait_names:
                raise InoculateError(f"arm {arm.name!r} targets unknown trait {t!r} (traits: {', '.join(trait_names)})", where)
