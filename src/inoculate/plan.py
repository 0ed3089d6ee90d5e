"""The plan: a spec resolved into data, traits, arms, eval contexts and the list of run units.

Every content key is computed here, once, on the driver, from the full content of what it names:
a run folder from the model's content fingerprint, the trainer's key, all of the arm that changes
training, the seed and the training data's hash; a generation file from its run, eval context,
prompts, sampling settings and sampler; a score file from its generations and the trait measures.
A schema version, bumped when a stored format changes, stands in for the package version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any

from inoculate._io import SCHEMA_VERSION, content_hash
from inoculate.backends import Sampler, Trainer
from inoculate.backends.local import LocalSampler, LocalTrainer
from inoculate.backends.hosted import hosted_trainer
from inoculate.backends.served import ServedSampler, served_sampler
from inoculate.data import Example, dataset_hash, ensure_ids, load_jsonl
from inoculate.errors import InoculateError
from inoculate.grid import UNTRAINED
from inoculate.inoculation import TRAIT_FLAG, TRAIT_LABEL, PromptSpec, apply_prompt, mix_trait_fraction, restrict
from inoculate.models import model_fingerprint, resolve_model
from inoculate.recontext import Regeneration, check_keep
from inoculate.runs import EvalContext, Inputs, Run, Training, Untrained
from inoculate.settings import Arm, CustomSetting, Setting, Trait, TraitSource, check_setting, get_setting
from inoculate.settings.base import check_arms
from inoculate.spec import ExperimentSpec
from inoculate.steering import Steering, check_layer
from inoculate.training import schedule_notes

ARM_LABELS = ("name", "role", "targets", "paraphrases", "negation")  # arm fields that only name it or guide
#                                      evaluation; every other field (a new one too) is part of the train key,
#                                      but one left at a default of None (an arm kind not used) is left out, so
#                                      adding an arm kind renames no existing run folder
STEERED = "steer:"  # eval contexts "steer:<arm>": no prompt, the arm's steering on while generating


@dataclass
class Plan:
    """The resolved grid: data, traits, arms, the eval contexts each arm is scored under, and the
    run units that do the work."""

    spec: ExperimentSpec
    setting: Setting
    train_examples: list[Example]  # the grid's training data, the same for every arm
    eval_prompts: list[Example]
    traits: list[Trait]
    arms: list[Arm]
    contexts: dict[str, dict[str, PromptSpec | None]]  # arm name -> context name -> prompt
    untrained_contexts: dict[str, PromptSpec | None]
    inputs: Inputs
    runs: list[Run]
    model_id: str  # the model's content fingerprint (a hosted model: its provider and name)
    notes: list[str]  # facts the user should know before the grid starts (also in the report)
    remote_model: bool = False  # the base model lives at a provider: no local preflight or surprise stage


def fixed_subset(examples: list, n: int | None) -> list:
    if n is None or n >= len(examples):
        return examples
    # Fixed subset, the same for every arm and seed. Its own named stream: settings draw their
    # splits with random.Random(seed), and a shared seed 0 made this subset the first part of the
    # setting's own selection (language-mixture trained on 100% Spanish, backdoor on 100% triggered).
    return random.Random("inoculate:n_train/n_eval subset").sample(examples, n)


def build_plan(spec: ExperimentSpec, trainer: Trainer | None = None, sampler: Sampler | None = None) -> Plan:
    """Resolve `spec`; every input problem surfaces here. `trainer` and `sampler` default to this
    machine's (LoRA with our own loop, batched local generation) on the spec's device and dtype."""
    trainer, sampler = trainer or _trainer(spec), sampler or _sampler(spec)
    if spec.setting is not None:
        setting = get_setting(spec.setting, sampler=sampler, judge=spec.judge, **spec.setting_args)
    else:
        missing = [k for k in ("train_data", "eval_data", "traits", "arms") if getattr(spec, k) is None]
        if missing:
            raise InoculateError(f"without a built-in setting the spec needs {', '.join(missing)}", "spec")
        setting = CustomSetting([], [], [])
    source = TraitSource(spec.setting, spec.setting_args, spec.traits, spec.judge)
    traits = source.build() if spec.traits is not None else setting.traits()
    _check_sampler(traits, sampler)
    notes: list[str] = []
    train = _training_data(spec, setting, traits, notes)  # before the eval data: its errors come first
    evals = load_jsonl(spec.eval_data, require_assistant=False) if spec.eval_data else setting.eval_prompts()
    evals = fixed_subset(ensure_ids(evals, spec.eval_data or "eval prompts"), _capped(spec.n_eval, evals, "n_eval", notes))
    arms = _arms(spec, setting, traits)
    _check_arm_kinds(spec, arms, traits, trainer)
    setting = CustomSetting(train, evals, traits, arms, name=spec.setting or "custom", probe_sets=setting.probes())
    check_setting(setting)
    contexts = {arm.name: _arm_contexts(spec, arm, arms) for arm in arms}
    if any(spec.headline_context not in c for c in contexts.values()):
        raise InoculateError(f"{spec.headline_context!r} is not among the eval contexts of every arm", "headline_context")
    untrained_contexts = {name: p for ctxs in contexts.values() for name, p in ctxs.items()}
    notes += schedule_notes(spec.train, len(train))
    inputs = Inputs.of(train, evals, setting.probes())
    remote = spec.hosted_training is not None
    if remote:
        hosted = hosted_trainer(spec.hosted_training).endpoint
        model_id = f"hosted {hosted.base_url.rstrip('/')} {hosted.model}"
        notes.append(f"the base model is {hosted.model} at {hosted.base_url}: no local preflight, no surprise stage")
    else:
        model_id = model_fingerprint(spec.model)
    plan = Plan(spec, setting, train, evals, traits, arms, contexts, untrained_contexts, inputs, [], model_id, notes,
                remote)
    plan.runs = _runs(plan, trainer, sampler, source)
    plan.notes += request_notes(plan, sampler)
    return plan


def _trainer(spec: ExperimentSpec) -> Trainer:
    if spec.hosted_training is not None:
        return hosted_trainer(spec.hosted_training)
    return LocalTrainer(spec.train, spec.device, spec.dtype)


def _sampler(spec: ExperimentSpec) -> Sampler:
    """The spec's served sampler; else, for hosted training, the same provider; else this machine."""
    if spec.sampler is not None:
        return served_sampler(spec.sampler)
    if spec.hosted_training is not None:
        return ServedSampler(hosted_trainer(spec.hosted_training).endpoint)
    return LocalSampler(spec.device, spec.dtype)


def _check_sampler(traits: list[Trait], sampler: Sampler) -> None:
    choice = [t.name for t in traits if t.choices is not None]
    if choice and not sampler.answers_logprobs:
        raise InoculateError(f"trait {choice[0]} is measured by log-probabilities over fixed answers, which this sampler "
                             "cannot give; evaluate it with the local sampler", "sampler")


def request_notes(plan: Plan, sampler: Sampler) -> list[str]:
    """What the grid asks of model endpoints, stated before the first call: requests at most, by
    endpoint, against the endpoint's cap. Answers already cached are not sent again."""
    per_context: dict[Any, int] = {}
    if any(t.choices is None for t in plan.traits):
        per_context.update(sampler.planned_requests(len(plan.eval_prompts), plan.spec.generation))
    for t in plan.traits:
        for endpoint, n in (t.scorer.requests(plan.eval_prompts) if t.scorer.requests and t.choices is None else {}).items():
            per_context[endpoint] = per_context.get(endpoint, 0) + n * plan.spec.generation.n_samples
    contexts = sum(len(run.contexts) for run in plan.runs)
    notes = []
    for endpoint, n in per_context.items():
        total = n * contexts
        notes.append(f"{endpoint.where}: at most {total:,} requests for this grid ({contexts} model x context pairs; "
                     f"answers cached before are not sent again); cap {endpoint.max_requests:,}"
                     + (" -- the cap stops the grid before it ends: raise max_requests" if total > endpoint.max_requests
                        else ""))
    return notes


def _capped(n: int | None, examples: list, key: str, notes: list[str]) -> int | None:
    if n is not None and n > len(examples):
        notes.append(f"{key}: {n} asked for, but there are only {len(examples)}; all {len(examples)} are used")
    return n


def _arms(spec: ExperimentSpec, setting: Setting, traits: list[Trait]) -> list[Arm]:
    arms = [Arm.from_dict(n, d) for n, d in spec.arms.items()] if spec.arms is not None else setting.arms()
    check_arms(arms, [t.name for t in traits], "arms")
    if UNTRAINED in {a.name for a in arms}:
        raise InoculateError(f"{UNTRAINED!r} names the untrained model in the report; give the arm another name",
                             f"arms.{UNTRAINED}")
    if spec.only_arms:
        unknown = sorted(set(spec.only_arms) - {a.name for a in arms})
        if unknown:
            raise InoculateError(f"unknown arm {unknown[0]!r} (arms: {', '.join(a.name for a in arms)})", "only_arms")
        arms = [a for a in arms if a.name in spec.only_arms]
    return [replace(a, prompt=restrict(a.prompt, spec.ip_on)) for a in arms]


def _check_arm_kinds(spec: ExperimentSpec, arms: list[Arm], traits: list[Trait], trainer: Trainer) -> None:
    """Steering trains with a hook in this process, on a layer the model has; a recontextualized
    arm's keep filter names a trait that judges text."""
    steered = [a for a in arms if a.steer is not None]
    if steered and not getattr(trainer, "steers", False):
        raise InoculateError("steering trains with a forward hook in this process: it needs the local trainer "
                             "(not hosted_training)", f"arms.{steered[0].name}.steer")
    if steered:
        from transformers import AutoConfig

        n_layers = AutoConfig.from_pretrained(resolve_model(spec.model)).num_hidden_layers
        for arm in steered:
            check_layer(arm.steer, n_layers, f"arms.{arm.name}")
    for arm in arms:
        if arm.recontextualize is not None:
            check_keep(arm.recontextualize, traits, f"arms.{arm.name}")


def _training_data(spec: ExperimentSpec, setting: Setting, traits: list[Trait], notes: list[str]) -> list[Example]:
    """The n_train subset, mixed to trait_fraction, labelled for ip_on, with the clean prompt on the
    examples the IP skips. Built once per grid: every arm, the baseline included, trains on it."""
    if spec.train_data:
        if spec.trait_fraction is not None:
            raise InoculateError("needs the clean counterparts of a built-in setting; with train_data, mix the file "
                                 f"yourself and label each example with metadata {TRAIT_LABEL}", "trait_fraction")
        train = load_jsonl(spec.train_data)
    else:
        train = setting.train_examples()
    n_train = _capped(spec.n_train, train, "n_train", notes)
    if spec.trait_fraction is None:
        train = fixed_subset(train, n_train)
    else:
        clean = setting.clean_examples()
        if len(clean) != len(train):
            raise InoculateError(f"setting {setting.name} gives {len(clean)} clean counterparts for {len(train)} "
                                 "training examples", "trait_fraction")
        pairs = fixed_subset(list(zip(train, clean)), n_train)  # the same subset as without mixing
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
    judged = [t.scorer([ex.messages[-1]["content"] for ex in train], train) for t in unwanted]
    present = [[j[i]["present"] for j in judged] for i in range(len(train))]
    if all(p is None for ps in present for p in ps):
        names = ", ".join(t.name for t in unwanted)
        raise InoculateError(f"the scorers of {names} do not apply to any training response here; use ip_on: label",
                             "ip_on")
    return [replace(ex, metadata={**ex.metadata, TRAIT_FLAG: any(p is True for p in ps)})
            for ex, ps in zip(train, present)]


def _arm_contexts(spec: ExperimentSpec, arm: Arm, arms: list[Arm]) -> dict[str, PromptSpec | None]:
    """Resolve the spec's context names for one arm. Eval contexts drop any metadata condition:
    evaluation prompts carry no training labels, and the prompt is meant for all of them."""
    by_name = {a.name: a for a in arms}
    out: dict[str, PromptSpec | None] = {}
    for name in spec.eval_contexts:
        if name == "none":
            out["none"] = None
        elif name == "own" or (name in by_name and by_name[name].steer is not None):
            own = arm if name == "own" else by_name[name]
            if own.steer is not None:
                out[STEERED + own.name] = None
            elif own.prompt is not None:
                out[f"ip:{own.name}"] = replace(own.prompt, condition=None)
        elif name == "leakage":
            if arm.role == "inoculation" and arm.steer is not None:
                out[STEERED + arm.name] = None  # the steering given back at test time
            elif arm.role == "inoculation" and arm.prompt is not None:
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


def _runs(plan: Plan, trainer: Trainer, sampler: Sampler, traits: TraitSource) -> list[Run]:
    """The untrained model's run (when asked for), then every arm for every seed, keys computed."""
    spec = plan.spec
    todo: list[tuple[str, int, Arm | None, dict[str, PromptSpec | None]]] = []
    if spec.evaluate_untrained:
        todo.append((UNTRAINED, spec.seeds[0], None, plan.untrained_contexts))
    todo += [(arm.name, seed, arm, plan.contexts[arm.name]) for seed in spec.seeds for arm in plan.arms]
    data_hash, prompts_hash = dataset_hash(plan.train_examples), dataset_hash(plan.eval_prompts)
    steering = {a.name: _steering(plan, a) for a in plan.arms if a.steer is not None}
    runs = []
    for n, (name, seed, arm, contexts) in enumerate(todo, start=1):
        label = f"[{n}/{len(todo)}] {'untrained model' if arm is None else arm.name} seed {seed}"
        if arm is None:
            key = {"schema": SCHEMA_VERSION, "kind": UNTRAINED, "model": plan.model_id}
            source = Untrained(spec.model)
        else:
            key = {"schema": SCHEMA_VERSION, "model": plan.model_id, "trainer": trainer.key(),
                   "arm": {f.name: getattr(arm, f.name) for f in fields(arm)
                           if f.name not in ARM_LABELS and not (f.default is None and getattr(arm, f.name) is None)},
                   "seed": seed, "data": data_hash}
            regeneration = _regeneration(plan, arm, sampler) if arm.recontextualize is not None else None
            if regeneration is not None:
                key["responses"] = regeneration.file  # named by all that changes the regenerated responses
            source = Training(spec.model, arm, trainer, key, spec.probe_every, steering.get(arm.name), regeneration)
        runs.append(Run(name, seed, label, source, f"runs/{content_hash(key)}", plan.inputs, traits,
                        tuple(_eval_files(plan, key, seed, ctx, prompt, sampler, prompts_hash, steering)
                              for ctx, prompt in contexts.items()),
                        sampler, replace(spec.generation, seed=spec.generation.seed + seed)))
    return runs


def _steering(plan: Plan, arm: Arm) -> Steering:
    """The arm's steering; its vector file is named by all that changes the vector, so the arms and
    seeds of a grid (the random control included) share one vector, computed once."""
    spec, steer = plan.spec, arm.steer
    key = {"kind": "steering-vector", "schema": SCHEMA_VERSION, "model": plan.model_id, "train": plan.inputs.train,
           "positive": steer.positive, "negative": steer.negative, "layer": steer.layer, "examples": steer.examples,
           "max_length": spec.train.max_length, "dtype": spec.dtype}
    return Steering(steer, spec.model, plan.inputs.train, spec.train.max_length, f"vectors/{content_hash(key)}.pt")


def _regeneration(plan: Plan, arm: Arm, sampler: Sampler) -> Regeneration:
    """How the arm's responses are regenerated: once per grid, by the grid's sampler and settings."""
    recontext, gen = arm.recontextualize, plan.spec.generation
    gen = replace(gen, n_samples=1, max_new_tokens=recontext.max_new_tokens or gen.max_new_tokens)
    keep = recontext.keep and next(t.scorer.config for t in plan.traits if t.name == recontext.keep.trait)
    key = {"kind": "recontext", "schema": SCHEMA_VERSION, "model": plan.model_id, "train": plan.inputs.train,
           "recontext": recontext, "keep_scorer": keep, "generation": gen, "sampler": sampler.key()}
    return Regeneration(recontext, plan.spec.model, gen, f"recontext/{content_hash(key)}.json")


def _eval_files(plan: Plan, run_key: dict[str, Any], seed: int, name: str, prompt: PromptSpec | None,
                sampler: Sampler, prompts_hash: str, steering: dict[str, Steering]) -> EvalContext:
    sampled = any(t.choices is None for t in plan.traits)  # choice traits alone need no generation
    steer = steering[name.removeprefix(STEERED)] if name.startswith(STEERED) else None
    if steer is not None:
        if not hasattr(sampler, "steered"):
            raise InoculateError(f"eval context {name} steers the model while it generates, which only the local "
                                 "sampler can; leave 'own' and 'leakage' out for steering arms", "eval_contexts")
        sampler = sampler.steered(steer)  # its key names the steering: the context's files are its own
    gen_key = {"run": run_key, "context": prompt, "prompts": prompts_hash,
               "generation": plan.spec.generation, "seed": seed, "sampler": sampler.key()}
    measures = [t.scorer.config if t.choices is None else {"choices": t.choices.config} for t in plan.traits]
    return EvalContext(name, prompt, f"generations-{content_hash(gen_key)}.jsonl" if sampled else None,
                       f"scores-{content_hash([gen_key, measures])}.jsonl", steer)
