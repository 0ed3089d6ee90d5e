"""The experiment spec: everything that defines a grid, from a YAML file, a dict or nothing (the
setting's defaults), with command-line overrides. Precedence: the defaults here < the setting's
defaults < the spec file < `--set KEY=VALUE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inoculate._config import from_dict, parse_key_value
from inoculate.backends.hosted import hosted_trainer
from inoculate.backends.served import served_sampler
from inoculate.client import Endpoint
from inoculate.errors import InoculateError
from inoculate.executors import executor_from
from inoculate.generation import GenerationConfig
from inoculate.inoculation import IP_ON, PromptSpec, for_the_rest
from inoculate.models import DTYPES, EMBEDDED_MODEL
from inoculate.settings import get_setting
from inoculate.training import TrainConfig


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that defines a grid. Unknown keys and wrong types are errors that name the key."""

    setting: str | None = "spanish-caps"  # built-in setting name; None = all data from the keys below
    setting_args: dict[str, Any] = field(default_factory=dict)  # arguments of that setting (e.g. hack_fraction)
    model: str = EMBEDDED_MODEL  # embedded name, HF hub id, or local checkpoint folder
    device: str = "auto"  # where training, evaluation and the surprise stage run: auto | cpu | cuda[:N]
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16 | float16
    seeds: tuple[int, ...] = (0,)  # one training run per arm per seed
    arms: dict[str, Any] | None = None  # replaces the setting's arms: name -> {prompt, role, targets, placement...}
    only_arms: tuple[str, ...] | None = None  # run a subset of the arms
    # none | own (arm's IP) | leakage (own IP, unseen paraphrases, negation, unrelated prompt) | all-arms |
    # an arm name | a `contexts` key
    eval_contexts: tuple[str, ...] = ("none", "own")
    unrelated_prompt: str = "Bananas are classified as berries in botanical terms."  # leakage: an unrelated prompt
    headline_context: str = "none"  # the eval context where suppression is measured (backdoor: the trigger)
    contexts: dict[str, Any] = field(default_factory=dict)  # extra named eval contexts: name -> prompt spec
    train_data: str | None = None  # chat JSONL replacing the setting's training data
    eval_data: str | None = None  # chat JSONL of evaluation prompts
    traits: dict[str, Any] | None = None  # name -> {scorer: caps|language, wanted: bool, ...scorer args}
    n_train: int | None = None  # use this many training examples (a fixed random subset)
    n_eval: int | None = None  # use this many evaluation prompts (a fixed random subset)
    # Impure data and anti-constitutional pairs: the same dataset for every arm, applied after n_train.
    trait_fraction: float | None = None  # share (0-1) of training examples that show the trait; the rest are
    #                                      the setting's clean counterparts (fixed seed); None = the data as is
    ip_on: str = "all"  # all | label (examples labelled shows_trait) | scorer (flagged by an unwanted-trait scorer)
    clean_prompt: str | dict[str, Any] | None = None  # prompt (system by default) for the examples ip_on skips
    evaluate_untrained: bool = True  # also evaluate the untrained model: the "before" reference
    probe_every: int = 4  # optimizer steps between learning-dynamics probes (setting's probe sets); 0 = off
    surprise_examples: int = 32  # training examples for each arm's pre-training surprise reduction; 0 = off
    train: TrainConfig = TrainConfig()
    generation: GenerationConfig = GenerationConfig()
    # where evaluations generate: omitted = this machine; or an OpenAI-compatible endpoint
    # {base_url, model (the served base), api_key_env, concurrency, max_retries, timeout, max_requests,
    # adapters: {run folder or adapter path: served name}} (backends/served.py)
    sampler: dict[str, Any] | None = None
    judge: Endpoint | None = None  # the endpoint judged traits ask (client.Endpoint: base_url, model, api_key_env...)
    # fine-tune through a hosted API instead of here: {base_url, model (the provider's base model),
    # api_key_env, n_epochs, batch_size, learning_rate_multiplier, poll_seconds} (backends/hosted.py);
    # evaluation then goes to the same provider unless `sampler` says otherwise
    hosted_training: dict[str, Any] | None = None
    confirm_cost: bool = False  # launch paid work (hosted jobs) without asking; the CLI's --yes
    # where the run units execute: omitted = one after another in this process; or
    # {kind: ray, address, num_cpus, num_gpus, shared_storage, max_retries} (executors.py); never part of a result
    executor: dict[str, Any] | None = None

    def __post_init__(self):
        if not self.seeds:
            raise InoculateError("at least one seed is needed", "seeds")
        if self.surprise_examples < 0:
            raise InoculateError(f"must be >= 0, got {self.surprise_examples}", "surprise_examples")
        if self.probe_every < 0:
            raise InoculateError(f"must be >= 0, got {self.probe_every}", "probe_every")
        for key in ("n_train", "n_eval"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise InoculateError(f"must be > 0, got {getattr(self, key)}", key)
        if self.trait_fraction is not None and not 0 <= self.trait_fraction <= 1:
            raise InoculateError(f"must be between 0 and 1, got {self.trait_fraction}", "trait_fraction")
        if self.dtype not in DTYPES:
            raise InoculateError(f"must be one of {', '.join(DTYPES)}, got {self.dtype!r}", "dtype")
        if self.ip_on not in IP_ON:
            raise InoculateError(f"must be one of {', '.join(IP_ON)}, got {self.ip_on!r}", "ip_on")
        if self.clean_prompt is not None:
            self.clean_prompt_spec()
        if self.sampler is not None:
            served_sampler(self.sampler)
        if self.hosted_training is not None:
            hosted_trainer(self.hosted_training)
        executor_from(self.executor)

    def clean_prompt_spec(self) -> PromptSpec | None:
        """`clean_prompt` as a prompt spec, limited to the examples the IP skips."""
        if self.clean_prompt is None:
            return None
        if isinstance(self.clean_prompt, dict) and "condition" in self.clean_prompt:
            raise InoculateError("takes no condition: it goes to the examples ip_on leaves without the IP",
                                 "clean_prompt")
        return for_the_rest(PromptSpec.from_dict(self.clean_prompt, "clean_prompt"), self.ip_on)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """`train.learning_rate=1e-3` -> {"train": {"learning_rate": 0.001}} (values parsed as YAML)."""
    key, value = parse_key_value(text, "--set")
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


RENAMED = {("evaluate_base",): "evaluate_untrained", ("train", "device"): "device", ("train", "dtype"): "dtype"}


def _check_renamed(raw: dict[str, Any], where: str) -> None:
    for path, new in RENAMED.items():
        node = raw
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise InoculateError(f"renamed: use the top-level key {new!r} (it decides where the whole grid runs)"
                                 if new in ("device", "dtype") else f"renamed: use {new!r}", f"{where}.{'.'.join(path)}")


def load_spec(source: str | Path | dict | None = None, overrides: list[str] = ()) -> ExperimentSpec:
    """Spec from a YAML file, a dict, or nothing (the default spanish-caps grid), plus overrides."""
    where = "spec"
    if source is None:
        raw = {}
    elif isinstance(source, dict):
        raw = dict(source)
    else:
        where = str(source)
        path = Path(source)
        if not path.is_file():
            raise InoculateError("spec file not found", where)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InoculateError(f"not valid YAML ({str(e).splitlines()[0]})", where) from e
        if not isinstance(raw, dict):
            raise InoculateError("a spec must be a mapping of keys to values", where)
    for text in overrides:
        raw = _deep_merge(raw, parse_override(text))
    _check_renamed(raw, where)
    setting = raw.get("setting", ExperimentSpec.setting)
    args = raw.get("setting_args") or {}
    defaults = get_setting(setting, **args).defaults() if isinstance(setting, str) and isinstance(args, dict) else {}
    return from_dict(ExperimentSpec, _deep_merge(defaults, raw), where)


