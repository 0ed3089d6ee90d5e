import json

import pytest
from conftest import chat, write_jsonl

from doubles import CountingSampler, CountingTrainer

from inoculate import InoculateError
from inoculate.backends.local import LocalTrainer
from inoculate.experiment import build_plan, load_spec, run_experiment


def tiny_spec(tmp_path, tiny_model_path, **over):
    train = write_jsonl(tmp_path / "train.jsonl", [chat(f"Question {i}?", "HOLA AMIGO.") for i in range(6)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [chat(f"Describe thing {i}.", id=f"e{i}") for i in range(3)])
    spec = {
        "setting": None, "model": tiny_model_path, "train_data": str(train), "eval_data": str(evals),
        "traits": {"caps": {"scorer": "caps", "wanted": True},
                   "spanish": {"scorer": "language", "lang": "es", "wanted": False}},
        "arms": {"no-ip": None,
                 "spanish-ip": {"prompt": "You always speak in Spanish.", "targets": ["spanish"]},
                 "random": {"prompt": "qZ7 vLr3", "role": "random-control"}},
        "train": {"lora_r": 2, "lora_alpha": 4, "batch_size": 3, "target_modules": ["q_proj"], "warmup_steps": 0},
        "generation": {"max_new_tokens": 4, "n_samples": 2, "batch_size": 4},
    }
    spec.update(over)
    return load_spec(spec)


def test_grid_runs_writes_report_and_resumes_without_redoing_work(tmp_path, tiny_model_path):
    spec = tiny_spec(tmp_path, tiny_model_path)
    trainer, sampler = CountingTrainer(LocalTrainer(spec.train)), CountingSampler()
    report = run_experiment(spec, tmp_path / "out", progress=False, trainer=trainer, sampler=sampler)
    text = report.read_text()
    assert "`spanish-ip` on spanish" in text and "semantic part" in text
    assert (report.parent / "spanish.png").stat().st_size > 1000
    grid = json.loads((tmp_path / "out" / "grid.json").read_text())
    # base: none + 2 IP contexts; no-ip: none; each IP arm: none + own
    assert len(grid["entries"]) == 3 + 1 + 2 + 2
    rows = [json.loads(line) for line in (tmp_path / "out" / grid["entries"][0]["run_dir"] /
                                           grid["entries"][0]["generations"]).open()]
    assert len(rows) == 3 * 2 and {"prompt_id", "sample", "messages", "text"} <= set(rows[0])
    assert len(trainer.trained_runs) == 3 and len(sampler.calls) == len(grid["entries"])
    # each arm trained on its own prompt applied to every example, and was evaluated under its own IP
    spanish = next(msgs for _, _, msgs in trainer.trained_runs if msgs[0][0]["content"] == "You always speak in Spanish.")
    assert all(m[0] == {"role": "system", "content": "You always speak in Spanish."} for m in spanish)
    assert sum(msgs[0][0]["content"] == "You always speak in Spanish." for _, msgs in sampler.calls) == 2  # untrained, arm

    run_experiment(spec, tmp_path / "out", progress=False, trainer=CountingTrainer(LocalTrainer(spec.train), refuse=True),
                   sampler=CountingSampler(refuse=True))


def test_changed_hyperparameter_trains_again_but_only_that(tmp_path, tiny_model_path):
    run_experiment(tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip", "random"]), tmp_path / "out",
                   progress=False)
    spec = tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip", "random", "spanish-ip"])
    trainer = CountingTrainer(LocalTrainer(spec.train))
    run_experiment(spec, tmp_path / "out", progress=False, trainer=trainer)
    assert len(trainer.trained_runs) == 1  # only the new arm
    spec = tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip", "random", "spanish-ip"],
                     train={"lora_r": 2, "lora_alpha": 4, "batch_size": 3, "target_modules": ["q_proj"],
                            "warmup_steps": 0, "checkpoint_every": 3})
    run_experiment(spec, tmp_path / "out", progress=False, trainer=CountingTrainer(LocalTrainer(spec.train), refuse=True))
    spec = tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip"], train={"lora_r": 4, "batch_size": 3,
                                                                             "target_modules": ["q_proj"]})
    trainer = CountingTrainer(LocalTrainer(spec.train))
    run_experiment(spec, tmp_path / "out", progress=False, trainer=trainer)
    assert len(trainer.trained_runs) == 1  # a hyperparameter that changes training retrains


def test_spec_errors_name_the_key(tmp_path, tiny_model_path):
    with pytest.raises(InoculateError, match="did you mean 'learning_rate'") as err:
        load_spec({"train": {"learning_rte": 1e-3}})
    assert err.value.where == "spec.train"
    with pytest.raises(InoculateError, match="expected int") as err:
        load_spec({"train": {"batch_size": "eight"}})
    assert err.value.where == "spec.train.batch_size"
    with pytest.raises(InoculateError, match="unknown setting"):
        load_spec({"setting": "nope"})
    with pytest.raises(InoculateError, match="unknown eval context 'sideways'"):
        build_plan(tiny_spec(tmp_path, tiny_model_path, eval_contexts=["none", "sideways"]))
    with pytest.raises(InoculateError, match="exactly one baseline"):
        build_plan(tiny_spec(tmp_path, tiny_model_path, arms={"a": {"prompt": "x"}}))
    with pytest.raises(InoculateError, match="unknown trait 'french'"):
        build_plan(tiny_spec(tmp_path, tiny_model_path, arms={"b": None, "a": {"prompt": "x", "targets": ["french"]}}))
    with pytest.raises(InoculateError, match="names the untrained model") as err:
        build_plan(tiny_spec(tmp_path, tiny_model_path, arms={"no-ip": None, "untrained": {"prompt": "x"}}))
    assert err.value.where == "arms.untrained"
    with pytest.raises(InoculateError, match=r"unknown key 'target' \(allowed: .*role, targets, paraphrases, "
                       r"negation, steer, recontextualize\); did you mean 'targets'\?") as err:
        build_plan(tiny_spec(tmp_path, tiny_model_path, arms={"b": None, "ip": {"prompt": "x", "target": ["caps"]}}))
    assert err.value.where == "arms.ip"
    with pytest.raises(InoculateError, match="spec file not found"):
        load_spec(tmp_path / "missing.yaml")


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("seeds: [0, 1]\ntrain:\n  learning_rate: 1e-3  # YAML 1.1 reads this as a string\n")
    spec = load_spec(path, ["train.epochs=3", "seeds=[4]"])
    assert spec.train.learning_rate == 1e-3 and spec.train.epochs == 3 and spec.seeds == (4,)


def test_own_context_uses_the_same_transform_without_condition(tmp_path, tiny_model_path):
    spec = tiny_spec(tmp_path, tiny_model_path, arms={
        "no-ip": None, "cond": {"prompt": "IP", "placement": "user_suffix", "condition": {"label": "x"}}})
    plan = build_plan(spec)
    ctx = plan.contexts["cond"]["ip:cond"]
    assert ctx.condition is None and ctx.placement == "user_suffix" and ctx.prompts == ("IP",)


def test_shipped_example_specs_are_valid(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")  # the paper-scale preset's judge reads it
    for path in sorted((root / "examples").glob("*.yaml")):
        # the paper-scale preset's 7B model is not here offline: the rest of the spec is checked on ours
        plan = build_plan(load_spec(path, ["model=smollm2-135m"]))
        assert plan.arms and plan.train_examples and plan.eval_prompts, path
    own = build_plan(load_spec(root / "examples" / "own_data.yaml"))
    tagged = own.setting.arms()[2].prompt
    assert tagged.condition == {"label": "caps"} and own.contexts["caps-ip-tagged-only"]["ip:caps-ip-tagged-only"].condition is None


def test_leakage_contexts_and_transfer_table(tmp_path, tiny_model_path):
    spec = tiny_spec(tmp_path, tiny_model_path, eval_contexts=["none", "leakage"], arms={
        "no-ip": None,
        "spanish-ip": {"prompt": "You always speak in Spanish.", "placement": "user_prefix", "targets": ["spanish"],
                       "paraphrases": ["Always answer in Spanish."], "negation": "You never speak in Spanish."},
        "random": {"prompt": "qZ7 vLr3", "role": "random-control"}})
    plan = build_plan(spec)
    ctx = plan.contexts["spanish-ip"]
    assert list(ctx) == ["none", "ip:spanish-ip", "paraphrase:spanish-ip", "negated:spanish-ip", "unrelated"]
    assert ctx["paraphrase:spanish-ip"].prompts == ("Always answer in Spanish.",)
    assert {p.placement for p in list(ctx.values())[1:]} == {"user_prefix"}
    assert list(plan.contexts["random"]) == ["none"]  # leakage is for inoculation arms
    report = run_experiment(spec, tmp_path / "out", progress=False).read_text()
    assert "## Leakage" in report and "unseen paraphrases" in report
    report = run_experiment(tiny_spec(tmp_path, tiny_model_path), tmp_path / "out2", progress=False).read_text()
    assert "## Capability transfer" in report and "| `spanish-ip` (inoculation) | caps |" in report


@pytest.mark.parametrize("setting, key", [("language-mixture", "language"), ("backdoor", "triggered")])
def test_default_subset_keeps_the_settings_mix(setting, key):
    """The n_train subset must not be correlated with the setting's own split of its data."""
    from inoculate.experiment import build_plan, load_spec

    plan = build_plan(load_spec({"setting": setting}))
    values = [ex.metadata[key] for ex in plan.train_examples]
    share = sum(v in ("es", True) for v in values) / len(values)
    assert 0.35 < share < 0.65, share


@pytest.mark.parametrize("override, key", [
    ("generation.temperature=.nan", "spec.generation.temperature"),
    ("generation.top_p=nan", "spec.generation.top_p"),
    ("train.learning_rate=.inf", "spec.train.learning_rate"),
    ("train.max_grad_norm=-.inf", "spec.train.max_grad_norm"),
    ("trait_fraction=.nan", "spec.trait_fraction"),
])
def test_nan_and_infinity_are_refused_by_key(override, key):
    with pytest.raises(InoculateError, match="must be a finite number") as err:
        load_spec(None, [override])
    assert err.value.where == key


@pytest.mark.parametrize("spec, key, new", [
    ({"evaluate_base": False}, "spec.evaluate_base", "evaluate_untrained"),
    ({"train": {"device": "cpu"}}, "spec.train.device", "'device'"),
    ({"train": {"dtype": "float32"}}, "spec.train.dtype", "'dtype'"),
])
def test_renamed_keys_say_their_new_name(spec, key, new):
    with pytest.raises(InoculateError, match=f"renamed: use (the top-level key )?'?{new}") as err:
        load_spec(spec)
    assert err.value.where == key
    assert load_spec({"device": "cpu", "dtype": "float32", "evaluate_untrained": False}).device == "cpu"
    with pytest.raises(InoculateError, match="one of auto, float32") as err:
        load_spec({"dtype": "fp8"})
    assert err.value.where == "dtype"


def test_an_unusable_device_fails_before_anything_is_written(tmp_path, tiny_model_path):
    import torch

    cases = [("gpu", "'gpu' is not a device")] + ([("cuda", "no CUDA GPU")] if not torch.cuda.is_available() else [])
    for device, message in cases:
        with pytest.raises(InoculateError, match=message) as err:
            run_experiment(tiny_spec(tmp_path, tiny_model_path, device=device), tmp_path / "out", progress=False)
        assert err.value.where == "device" and not (tmp_path / "out").exists()
