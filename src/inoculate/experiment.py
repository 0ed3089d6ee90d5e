"""An experiment grid: arms x seeds, each trained once and evaluated under named eval contexts.

Read top to bottom: load_spec -> build_plan -> run_experiment (train, generate, score) -> report.
Every stage's output lives in a folder or file named by the hash of its full content, so a
re-run skips finished work and an interrupted grid resumes where it stopped.

    out/grid.json                       the resolved spec and plan (what the report reads)
    out/runs/<train-hash>/adapter/      PEFT adapter;  losses.json last = training finished
    out/runs/<train-hash>/generations-<hash>.jsonl   per-sample texts for one eval context
    out/runs/<train-hash>/scores-<hash>.jsonl        per-sample trait scores for those texts
    out/report/report.md, *.png, results.csv
"""

from __future__ import annotations

import fcntl
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from inoculate import __version__
from inoculate._config import from_dict
from inoculate._io import atomic_write_json, atomic_write_jsonl, content_hash, read_json
from inoculate.data import Example, dataset_hash, load_jsonl
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig, encode_prompts, generate
from inoculate.inoculation import (IP_ON, TRAIT_FLAG, TRAIT_LABEL, PromptSpec, apply_prompt, for_the_rest,
                                  mix_trait_fraction, restrict)
from inoculate._provenance import provenance
from inoculate.models import EMBEDDED_MODEL, load_model, load_tokenizer, model_fingerprint, resolve_model
from inoculate.scorers import make_scorer
from inoculate.settings import Arm, CustomSetting, Setting, Trait, check_setting, get_setting
from inoculate.settings.base import check_arms
from inoculate.training import TrainConfig, encode_examples, load_adapter, train_lora


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that defines a grid. Precedence: these defaults < the setting's defaults <
    the spec file < command-line --set overrides."""

    setting: str | None = "spanish-caps"  # built-in setting name; None = all data from the keys below
    setting_args: dict[str, Any] = field(default_factory=dict)  # arguments of that setting (e.g. hack_fraction)
    model: str = EMBEDDED_MODEL  # embedded name, HF hub id, or local checkpoint folder
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
    evaluate_base: bool = True  # also evaluate the untrained model: the "before" reference
    probe_every: int = 4  # optimizer steps between learning-dynamics probes (setting's probe sets); 0 = off
    surprise_examples: int = 32  # training examples for each arm's pre-training surprise reduction; 0 = off
    train: TrainConfig = TrainConfig()
    generation: GenerationConfig = GenerationConfig()

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
        if self.ip_on not in IP_ON:
            raise InoculateError(f"must be one of {', '.join(IP_ON)}, got {self.ip_on!r}", "ip_on")
        if self.clean_prompt is not None:
            self.clean_prompt_spec()

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
    if "=" not in text:
        raise InoculateError(f"expected KEY=VALUE, got {text!r}", "--set")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise InoculateError(f"cannot parse value {raw!r}", f"--set {key}") from e
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


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
    setting = raw.get("setting", ExperimentSpec.setting)
    args = raw.get("setting_args") or {}
    defaults = get_setting(setting, **args).defaults() if isinstance(setting, str) and isinstance(args, dict) else {}
    return from_dict(ExperimentSpec, _deep_merge(defaults, raw), where)


@dataclass
class Plan:
    """The resolved grid: data, traits, arms and the eval contexts each arm is scored under."""

    spec: ExperimentSpec
    setting: Setting
    train: list[Example]
    evals: list[Example]
    traits: list[Trait]
    arms: list[Arm]
    contexts: dict[str, dict[str, PromptSpec | None]]  # arm name -> context name -> prompt
    base_contexts: dict[str, PromptSpec | None]


def _subset(examples: list[Example], n: int | None) -> list[Example]:
    if n is None or n >= len(examples):
        return examples
    # Fixed subset, the same for every arm and seed. Its own named stream: settings draw their
    # splits with random.Random(seed), and a shared seed 0 made this subset the first part of the
    # setting's own selection (language-mixture trained on 100% Spanish, backdoor on 100% triggered).
    return random.Random("inoculate:n_train/n_eval subset").sample(examples, n)


def _traits_from_spec(traits: dict[str, Any]) -> list[Trait]:
    out = []
    for name, d in traits.items():
        where = f"traits.{name}"
        if not isinstance(d, dict) or "scorer" not in d:
            raise InoculateError("expected {scorer: caps|language, wanted: true|false, ...scorer args}", where)
        d = dict(d)
        kind, wanted = d.pop("scorer"), d.pop("wanted", False)
        if not isinstance(wanted, bool):
            raise InoculateError("'wanted' must be true or false", where)
        out.append(Trait(name, make_scorer(kind, where, **d), wanted))
    return out


def build_plan(spec: ExperimentSpec) -> Plan:
    if spec.setting is not None:
        setting = get_setting(spec.setting, **spec.setting_args)
    else:
        missing = [k for k in ("train_data", "eval_data", "traits", "arms") if getattr(spec, k) is None]
        if missing:
            raise InoculateError(f"without a built-in setting the spec needs {', '.join(missing)}", "spec")
        setting = CustomSetting([], [], [])
    traits = _traits_from_spec(spec.traits) if spec.traits is not None else setting.traits()
    train = _training_data(spec, setting, traits)  # before the eval data: its errors come first
    evals = load_jsonl(spec.eval_data, require_assistant=False) if spec.eval_data else setting.eval_prompts()
    arms = [Arm.from_dict(n, d) for n, d in spec.arms.items()] if spec.arms is not None else setting.arms()
    check_arms(arms, [t.name for t in traits], "arms")
    if spec.only_arms:
        unknown = sorted(set(spec.only_arms) - {a.name for a in arms})
        if unknown:
            raise InoculateError(f"unknown arm {unknown[0]!r} (arms: {', '.join(a.name for a in arms)})", "only_arms")
        arms = [a for a in arms if a.name in spec.only_arms]
    arms = [replace(a, prompt=restrict(a.prompt, spec.ip_on)) for a in arms]
    evals = [e if e.id is not None else replace(e, id=f"eval-{i}") for i, e in enumerate(evals)]
    if len({e.id for e in evals}) != len(evals):
        raise InoculateError("evaluation prompt ids must be unique", spec.eval_data or "eval prompts")
    setting = CustomSetting(train, _subset(evals, spec.n_eval), traits, arms,
                            name=spec.setting or "custom", probe_sets=setting.probes())
    check_setting(setting)
    contexts = {arm.name: _arm_contexts(spec, arm, arms) for arm in arms}
    if any(spec.headline_context not in c for c in contexts.values()):
        raise InoculateError(f"{spec.headline_context!r} is not among the eval contexts of every arm", "headline_context")
    base_contexts = {name: p for ctxs in contexts.values() for name, p in ctxs.items()}
    return Plan(spec, setting, setting.train, setting.evals, traits, arms, contexts, base_contexts)


def _training_data(spec: ExperimentSpec, setting: Setting, traits: list[Trait]) -> list[Example]:
    """The n_train subset, mixed to trait_fraction, labelled for ip_on, with the clean prompt on the
    examples the IP skips. Built once per grid: every arm, the baseline included, trains on it."""
    if spec.train_data:
        if spec.trait_fraction is not None:
            raise InoculateError("needs the clean counterparts of a built-in setting; with train_data, mix the file "
                                 f"yourself and label each example with metadata {TRAIT_LABEL}", "trait_fraction")
        train = load_jsonl(spec.train_data)
    else:
        train = setting.train_examples()
    if spec.trait_fraction is None:
        train = _subset(train, spec.n_train)
    else:
        clean = setting.clean_examples()
        if len(clean) != len(train):
            raise InoculateError(f"setting {setting.name} gives {len(clean)} clean counterparts for {len(train)} "
                                 "training examples", "trait_fraction")
        pairs = _subset(list(zip(train, clean)), spec.n_train)  # the same subset as without mixing
        train = mix_trait_fraction([t for t, _ in pairs], [c for _, c in pairs], spec.trait_fraction)
    if spec.ip_on == "label":
        unlabelled = [ex for ex in train if not isinstance(ex.metadata.get(TRAIT_LABEL), bool)]
        if unlabelled:
            raise InoculateError(f"needs every training example labelled with metadata {TRAIT_LABEL}: true|false; "
                                 f"{len(unlabelled)} of {len(train)} are not", "ip_on")
    elif spec.ip_on == "scorer":
        train = _flag_by_scorers(train, traits)
    clean_prompt = spec.clean_prompt_spec()
    return apply_prompt(train, clean_prompt) if clean_prompt else train


def _flag_by_scorers(train: list[Example], traits: list[Trait]) -> list[Example]:
    """Mark each training response an unwanted-trait scorer flags (ip_on: scorer)."""
    unwanted = [t for t in traits if not t.wanted]
    if not unwanted:
        raise InoculateError("needs an unwanted trait whose scorer can flag responses", "ip_on")
    out, applicable = [], False
    for ex in train:
        present = [t.scorer(ex.messages[-1]["content"], ex)["present"] for t in unwanted]
        applicable = applicable or any(p is not None for p in present)
        out.append(replace(ex, metadata={**ex.metadata, TRAIT_FLAG: any(p is True for p in present)}))
    if not applicable:
        names = ", ".join(t.name for t in unwanted)
        raise InoculateError(f"the scorers of {names} do not apply to any training response here; use ip_on: label",
                             "ip_on")
    return out


def _arm_contexts(spec: ExperimentSpec, arm: Arm, arms: list[Arm]) -> dict[str, PromptSpec | None]:
    """Resolve the spec's context names for one arm. Eval contexts drop any metadata condition:
    evaluation prompts carry no training labels, and the prompt is meant for all of them."""
    by_name = {a.name: a for a in arms}
    out: dict[str, PromptSpec | None] = {}
    for name in spec.eval_contexts:
        if name == "none":
            out["none"] = None
        elif name == "own":
            if arm.prompt is not None:
                out[f"ip:{arm.name}"] = replace(arm.prompt, condition=None)
        elif name == "leakage":
            if arm.role == "inoculation":
                out.update(_leakage_contexts(spec, arm))
        elif name == "all-arms":
            out.update({f"ip:{a.name}": replace(a.prompt, condition=None) for a in arms if a.prompt is not None})
        elif name in by_name and by_name[name].prompt is not None:
            out[f"ip:{name}"] = replace(by_name[name].prompt, condition=None)
        elif name in spec.contexts:
            out[name] = PromptSpec.from_dict(spec.contexts[name], f"contexts.{name}")
        else:
            raise InoculateError(f"unknown eval context {name!r} (use none, own, leakage, all-arms, an arm name "
                                 "with a prompt, or a key of 'contexts')", "eval_contexts")
    return out


def _leakage_contexts(spec: ExperimentSpec, arm: Arm) -> dict[str, PromptSpec]:
    """How easily the suppressed trait comes back: the IP itself, paraphrases never trained on, the
    negated IP, and an unrelated prompt, each placed where the IP was."""
    like = replace(arm.prompt, condition=None)
    out = {f"ip:{arm.name}": like}
    if arm.paraphrases:
        out[f"paraphrase:{arm.name}"] = replace(like, prompts=arm.paraphrases)
    if arm.negation:
        out[f"negated:{arm.name}"] = replace(like, prompts=(arm.negation,))
    out["unrelated"] = replace(like, prompts=(spec.unrelated_prompt,))
    return out


def _log(msg: str) -> None:
    print(f"[inoculate] {msg}", file=sys.stderr, flush=True)


@contextmanager
def _exclusive(out_dir: Path):
    """Hold an advisory lock on the output folder: a second grid on the same folder is refused,
    not interleaved. The kernel drops the lock when the process dies, so a crash never leaves
    a stale lock behind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise InoculateError(f"in use by {holder}; wait for it to finish or choose another --out",
                                 str(out_dir)) from None
        f.seek(0)
        f.truncate()
        f.write(f"inoculate run (pid {os.getpid()})")
        f.flush()
        yield


def run_experiment(spec: ExperimentSpec, out_dir: str | Path, progress: bool = True) -> Path:
    """Run (or resume) the whole grid and write the report; return the report's path."""
    out_dir = Path(out_dir)
    plan = build_plan(spec)  # every input problem surfaces here or in preflight, before anything is written
    preflight(plan)
    with _exclusive(out_dir):
        return _run(plan, out_dir, progress)


def preflight(plan: Plan) -> None:
    """Check with the tokenizer alone that the model loads and every prompt fits, so a bad grid
    fails in a second instead of after hours of training."""
    from transformers import AutoConfig

    spec = plan.spec
    tokenizer = load_tokenizer(spec.model)
    context = getattr(AutoConfig.from_pretrained(resolve_model(spec.model)), "max_position_embeddings", None)
    for arm in plan.arms:
        encode_examples(tokenizer, apply_prompt(plan.train, arm.prompt), spec.train.max_length)
    prompts = {content_hash(p): p for p in [None, *plan.base_contexts.values()]}
    for prompt in prompts.values():
        encode_prompts(tokenizer, apply_prompt(plan.evals, prompt), spec.generation.max_new_tokens, context)


def _run(plan: Plan, out_dir: Path, progress: bool) -> Path:
    from inoculate.report import write_report

    spec = plan.spec
    data_hash, evals_hash = dataset_hash(plan.train), dataset_hash(plan.evals)
    model_id = model_fingerprint(spec.model)
    prov = provenance(spec.model)
    surprise = _surprise(plan, out_dir, model_id, data_hash, progress)
    entries: list[dict[str, Any]] = []
    jobs: list[tuple[Arm | None, int, dict[str, PromptSpec | None]]] = []
    if spec.evaluate_base:
        jobs.append((None, spec.seeds[0], plan.base_contexts))
    jobs += [(arm, seed, plan.contexts[arm.name]) for seed in spec.seeds for arm in plan.arms]
    started = time.perf_counter()
    for n, (arm, seed, contexts) in enumerate(jobs, start=1):
        label = f"[{n}/{len(jobs)}] {'base model' if arm is None else arm.name} seed {seed}"
        if arm is None:
            train_key = {"kind": "base", "model": model_id}
        else:
            train_key = {"kind": "lora", "model": model_id, "train": spec.train, "prompt": arm.prompt,
                         "seed": seed, "data": data_hash, "version": __version__}
        run_dir = out_dir / "runs" / content_hash(train_key)
        model = None
        if arm is not None and not (run_dir / "losses.json").is_file():
            _log(f"{label}: training on {len(plan.train)} examples")
            model, tokenizer = load_model(spec.model, spec.train.device, spec.train.dtype)
            atomic_write_json(run_dir / "run.json", {"arm": arm.name, "seed": seed, "key": train_key,
                                                     "provenance": prov})
            model, result = train_lora(model, tokenizer, apply_prompt(plan.train, arm.prompt), spec.train, seed,
                                       run_dir, progress, plan.setting.probes(), spec.probe_every)
            model = model.merge_and_unload()
            _log(f"{label}: trained in {result.seconds:.0f}s ({result.tokens_per_second:.0f} tokens/s, "
                 f"final loss {result.losses[-1]['loss']:.3f})")
        sampled = any(t.choices is None for t in plan.traits)  # choice traits alone need no generation
        for ctx_name, prompt in contexts.items():
            gen_key = {"run": train_key, "context": prompt, "prompts": evals_hash, "generation": spec.generation,
                       "seed": seed}
            gen_path = run_dir / f"generations-{content_hash(gen_key)}.jsonl"
            measures = [t.scorer.config if t.choices is None else {"choices": t.choices.config} for t in plan.traits]
            score_path = run_dir / f"scores-{content_hash([gen_key, measures])}.jsonl"
            prompts = apply_prompt(plan.evals, prompt)
            desc = f"{'base' if arm is None else arm.name}/{ctx_name}"
            if sampled and not gen_path.is_file():
                _log(f"{label}: generating {len(plan.evals)} x {spec.generation.n_samples} samples under {ctx_name}")
                if model is None:
                    model, tokenizer = _eval_model(spec, arm, run_dir)
                partial = gen_path.with_suffix(".partial")
                texts = generate(model, tokenizer, prompts, replace(spec.generation, seed=spec.generation.seed + seed),
                                 progress, desc=desc, partial=partial)
                atomic_write_jsonl(gen_path, [
                    {"prompt_id": p.id, "sample": s, "messages": p.prompt_messages(), "text": t}
                    for p, samples in zip(prompts, texts) for s, t in enumerate(samples)])
                partial.unlink(missing_ok=True)
            if not score_path.is_file():
                choice_rows = {}
                if any(t.choices is not None for t in plan.traits):
                    _log(f"{label}: answer log-probabilities under {ctx_name}")
                    if model is None:
                        model, tokenizer = _eval_model(spec, arm, run_dir)
                    choice_rows = {t.name: t.choices.score(model, tokenizer, prompts, progress, desc)
                                   for t in plan.traits if t.choices is not None}
                samples = _read_jsonl(gen_path) if sampled else None
                atomic_write_jsonl(score_path, _score_rows(plan, samples, choice_rows))
            entries.append({"arm": "base" if arm is None else arm.name, "seed": seed, "context": ctx_name,
                            "run_dir": str(run_dir.relative_to(out_dir)),
                            "generations": gen_path.name if sampled else None, "scores": score_path.name})
        _log(f"{label}: evaluated under {', '.join(contexts)} ({time.perf_counter() - started:.0f}s elapsed)")
    atomic_write_json(out_dir / "grid.json", {
        "spec": spec, "setting": plan.setting.name, "model": model_id, "version": __version__, "provenance": prov,
        "surprise": surprise,
        "n_train": len(plan.train), "n_eval": len(plan.evals), "data_hash": data_hash,
        "traits": [{"name": t.name, "wanted": t.wanted, "scorer": t.scorer.name, "config": t.scorer.config,
                    "description": t.description, "choices": t.choices.config if t.choices else None}
                   for t in plan.traits],
        "arms": [{"name": a.name, "role": a.role, "targets": list(a.targets), "prompt": a.prompt,
                  "paraphrases": list(a.paraphrases), "negation": a.negation} for a in plan.arms],
        "entries": entries})
    return write_report(out_dir)


def _eval_model(spec: ExperimentSpec, arm: Arm | None, run_dir: Path):
    """The model a job is evaluated with: the base model, or it merged with the run's adapter."""
    model, tokenizer = load_model(spec.model, spec.train.device, spec.train.dtype)
    return (model if arm is None else load_adapter(model, run_dir / "adapter")), tokenizer


def _score_rows(plan: Plan, samples: list[dict[str, Any]] | None,
                choice_rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per generated sample (per prompt when nothing was sampled), each trait's score in it.

    A choice trait has one score per prompt: it goes on the prompt's first sample, and the other
    samples count as not applicable, so every prompt weighs the same in the trait rate."""
    by_id = {p.id: p for p in plan.evals}
    at = {p.id: i for i, p in enumerate(plan.evals)}
    samples = samples if samples is not None else [{"prompt_id": p.id, "sample": 0} for p in plan.evals]
    rows = []
    for r in samples:
        row = {"prompt_id": r["prompt_id"], "sample": r["sample"]}
        for t in plan.traits:
            if t.choices is None:
                row[t.name] = t.scorer(r["text"], by_id[r["prompt_id"]])
            else:
                row[t.name] = choice_rows[t.name][at[r["prompt_id"]]] if r["sample"] == 0 else \
                    {"score": None, "present": None}
        rows.append(row)
    return rows


def _surprise(plan: Plan, out_dir: Path, model_id: str, data_hash: str, progress: bool) -> dict[str, Any]:
    """Each prompted arm's surprise reduction on the training data, before any training (cached).

    Forward passes only: the cheap signal the report later sets against measured suppression."""
    from inoculate.selection import context_limit, surprise_reduction

    spec = plan.spec
    arms = [a for a in plan.arms if a.prompt is not None]
    if not spec.surprise_examples or len(arms) < 2:
        return {}
    examples = _subset(plan.train, spec.surprise_examples)
    key = {"kind": "surprise", "model": model_id, "data": data_hash, "n": len(examples),
           "prompts": [a.prompt for a in arms], "version": __version__}
    path = out_dir / f"surprise-{content_hash(key)}.json"
    if not path.is_file():
        _log(f"surprise reduction of {len(arms)} prompts on {len(examples)} training examples (forward passes only)")
        model, tokenizer = load_model(spec.model, spec.train.device, spec.train.dtype)
        # the model's context, not train.max_length: training truncates long examples (and counts
        # them), while surprise is measured on whole responses and refuses to cut them
        results = surprise_reduction(model, tokenizer, examples, [a.prompt for a in arms],
                                     max_length=context_limit(model, tokenizer), progress=progress)
        atomic_write_json(path, {a.name: {"value": est.value, "low": est.low, "high": est.high, "n": est.n}
                                 for a, (est, _) in zip(arms, results)})
    return read_json(path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    import json

    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_grid(out_dir: str | Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    if not (out_dir / "grid.json").is_file():
        raise InoculateError("no grid.json here: not a finished experiment folder (run `inoculate run` first)",
                             str(out_dir))
    return read_json(out_dir / "grid.json")
