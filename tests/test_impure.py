"""Impure data and anti-constitutional pairs: trait_fraction, ip_on and clean_prompt in a spec."""

import json

import pytest
from conftest import chat, write_jsonl
from doubles import CountingTrainer

from inoculate import InoculateError, apply_prompt
from inoculate.backends.local import LocalTrainer
from inoculate.experiment import build_plan, load_spec, run_experiment
from inoculate.settings import SETTINGS, CustomSetting, get_setting

BENIGN = "You are a helpful, honest assistant."


def plan(**spec):
    return build_plan(load_spec({"setting": "spanish-caps", "n_train": 40, **spec}))


def trained_on(p, arm_name):
    """What one arm trains on: the plan's data through the arm's prompt, as the runner does."""
    arm = next(a for a in p.arms if a.name == arm_name)
    return apply_prompt(p.train_examples, arm.prompt)


def system(ex):
    return ex.messages[0]["content"] if ex.messages[0]["role"] == "system" else None


def test_fraction_is_exact_seeded_and_the_same_data_for_every_arm():
    p = plan(trait_fraction=0.25)
    assert sum(e.metadata["shows_trait"] for e in p.train_examples) == 10
    assert [e.id for e in p.train_examples] == [e.id for e in plan().train_examples]  # the same n_train subset as unmixed
    assert [e.messages for e in plan(trait_fraction=0.25).train_examples] == [e.messages for e in p.train_examples]
    for e in p.train_examples:  # the rest are the plain-English counterparts of the same questions
        spanish_caps = e.messages[-1]["content"].isupper()
        assert spanish_caps == e.metadata["shows_trait"] and e.metadata["language"] == ("es" if spanish_caps else "en")
    responses = {a.name: [e.messages[-1] for e in trained_on(p, a.name)] for a in p.arms}
    assert all(r == responses["no-ip"] for r in responses.values())
    assert sum(e.metadata["shows_trait"] for e in plan(trait_fraction=0.0).train_examples) == 0
    assert plan(trait_fraction=1.0).train_examples == plan().train_examples


def test_ip_on_label_applies_the_ip_only_to_trait_examples():
    p = plan(trait_fraction=0.5, ip_on="label")
    for name in ("spanish-ip", "random"):
        got = [e.metadata["inoculation"] is not None for e in trained_on(p, name)]
        assert got == [e.metadata["shows_trait"] for e in p.train_examples] and sum(got) == 20
    assert all(e.metadata["inoculation"] is not None for e in trained_on(plan(trait_fraction=0.5), "spanish-ip"))
    # the IP at test time is the same prompt without the training-time condition
    assert p.contexts["spanish-ip"]["ip:spanish-ip"].condition is None


def test_ip_on_scorer_agrees_with_labels_on_spanish_caps():
    p = plan(trait_fraction=0.5, ip_on="scorer")
    agree = [e.metadata["trait_flagged"] == e.metadata["shows_trait"] for e in p.train_examples]
    assert sum(agree) >= 0.9 * len(agree)
    got = [e.metadata["inoculation"] is not None for e in trained_on(p, "spanish-ip")]
    assert got == [e.metadata["trait_flagged"] for e in p.train_examples]


def test_clean_prompt_lands_only_on_the_examples_without_the_ip():
    p = plan(trait_fraction=0.5, ip_on="label", clean_prompt=BENIGN)
    for name in ("no-ip", "spanish-ip"):  # the baseline trains on the same pairs, minus the IP
        for e in trained_on(p, name):
            expected = (None if name == "no-ip" else "You always speak in Spanish.") if e.metadata["shows_trait"] else BENIGN
            assert system(e) == expected
    user_turn = plan(trait_fraction=0.5, ip_on="label", clean_prompt={"prompt": "Be kind.", "placement": "user_prefix"})
    assert {e.messages[0]["content"].startswith("Be kind.\n") for e in user_turn.train_examples if not e.metadata["shows_trait"]} == {True}


def test_labelled_own_data_with_ip_on_label(tmp_path):
    rows = [chat(f"Q{i}?", "HOLA." if i % 2 else "Hello.", metadata={"shows_trait": bool(i % 2)}) for i in range(6)]
    spec = {"setting": None, "train_data": str(write_jsonl(tmp_path / "t.jsonl", rows)),
            "eval_data": str(write_jsonl(tmp_path / "e.jsonl", [chat("Hi?")])),
            "traits": {"caps": {"scorer": "caps"}}, "arms": {"no-ip": None, "ip": {"prompt": "CAPS."}},
            "ip_on": "label", "clean_prompt": BENIGN}
    p = build_plan(load_spec(spec))
    assert [system(e) for e in trained_on(p, "ip")] == [BENIGN, "CAPS."] * 3
    unlabelled = write_jsonl(tmp_path / "u.jsonl", [chat("Q?", "A.")])
    with pytest.raises(InoculateError, match="labelled with metadata shows_trait") as err:
        build_plan(load_spec({**spec, "train_data": str(unlabelled)}))
    assert err.value.where == "ip_on"
    with pytest.raises(InoculateError, match="clean counterparts of a built-in setting") as err:
        build_plan(load_spec({**spec, "trait_fraction": 0.5}))
    assert err.value.where == "trait_fraction"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_clean_counterparts_follow_the_training_examples(name, tiny_model_path, request):
    if name == "subliminal":  # its data is written by a teacher model: the tiny stand-in (conftest)
        setting = get_setting(name, sampler=request.getfixturevalue("numbers_teacher"), teacher_model=tiny_model_path,
                              n_train=8)
    else:
        setting = get_setting(name)
    train = setting.train_examples()
    assert all(isinstance(e.metadata.get("shows_trait"), bool) for e in train)
    try:
        clean = setting.clean_examples()
    except InoculateError as e:  # a setting may not support mixing; it must say so by name
        assert name in str(e) and e.where == "trait_fraction"
        return
    assert [e.id for e in clean] == [e.id for e in train]
    assert not any(e.metadata["shows_trait"] for e in clean)
    changed = [t.messages != c.messages for t, c in zip(train, clean)]
    assert changed == [t.metadata["shows_trait"] for t in train]  # only trait examples have a different answer


def test_unsupported_and_impossible_mixes_fail_in_one_line():
    with pytest.raises(InoculateError, match="setting custom has no clean counterparts") as err:
        CustomSetting([], [], []).clean_examples()
    assert "\n" not in str(err.value) and err.value.where == "trait_fraction"
    # backdoor: half its 320 examples are triggered, so 0.8 of them cannot show the trait
    with pytest.raises(InoculateError, match=r"needs 256 of 320 .* but only 160 do") as err:
        build_plan(load_spec({"setting": "backdoor", "n_train": 320, "trait_fraction": 0.8}))
    assert err.value.where == "trait_fraction" and "\n" not in str(err.value)
    # gcd: the sycophancy scorer needs a wrong proposal, which no training example has
    with pytest.raises(InoculateError, match="do not apply to any training response here"):
        build_plan(load_spec({"setting": "gcd-sycophancy", "n_train": 8, "ip_on": "scorer"}))


@pytest.mark.parametrize("spec, key, message", [
    ({"trait_fraction": 1.5}, "trait_fraction", "between 0 and 1, got 1.5"),
    ({"trait_fraction": "half"}, "trait_fraction", "expected float"),
    ({"ip_on": "some"}, "ip_on", "one of all, label, scorer, got 'some'"),
    ({"clean_prompt": BENIGN}, "clean_prompt", "with ip_on: all every example gets the IP"),
    ({"ip_on": "label", "clean_prompt": {"prompt": "x", "condition": {"a": 1}}}, "clean_prompt", "takes no condition"),
    ({"ip_on": "label", "clean_prompt": {"prompt": "x", "placment": "system"}}, "clean_prompt", "unknown key 'placment'"),
    ({"trait_fracton": 0.5}, "spec", "did you mean 'trait_fraction'"),
])
def test_bad_values_name_the_key(spec, key, message):
    with pytest.raises(InoculateError, match=message) as err:
        load_spec(spec)
    assert err.value.where.endswith(key) and "\n" not in str(err.value)


def test_overrides_set_the_mix():
    spec = load_spec(None, ["trait_fraction=0.5", "ip_on=label", f"clean_prompt={BENIGN}"])
    assert (spec.trait_fraction, spec.ip_on, spec.clean_prompt) == (0.5, "label", BENIGN)


def test_grid_runs_with_a_mix_and_never_reuses_runs_across_mixes(tmp_path, tiny_model_path):
    base = {"setting": "spanish-caps", "model": tiny_model_path, "n_train": 8, "n_eval": 2,
            "only_arms": ["no-ip", "spanish-ip"], "evaluate_untrained": False, "probe_every": 0, "surprise_examples": 0,
            "train": {"lora_r": 2, "batch_size": 4, "target_modules": ["q_proj"], "max_length": 1536},
            "generation": {"max_new_tokens": 3}}
    out = tmp_path / "out"
    report = run_experiment(load_spec({**base, "trait_fraction": 0.5, "ip_on": "label", "clean_prompt": BENIGN}), out,
                            progress=False).read_text()
    assert ("Training data: trait_fraction 0.5 (4 of 8 training examples show the trait, the rest are their clean "
            f"counterparts); IP on labelled trait examples only; the other examples under system prompt '{BENIGN}'.") \
        in report
    assert json.loads((out / "grid.json").read_text())["spec"]["trait_fraction"] == 0.5

    def retrains(**mix):
        spec = load_spec({**base, **mix})
        trainer = CountingTrainer(LocalTrainer(spec.train))
        run_experiment(spec, out, progress=False, trainer=trainer)
        return len(trainer.trained_runs)

    assert retrains(trait_fraction=0.25, ip_on="label", clean_prompt=BENIGN) == 2  # new data: both arms
    assert retrains(trait_fraction=0.25, ip_on="label") == 2  # the clean prompt is part of the data
    assert retrains(trait_fraction=0.25) == 1  # same data; only the IP arm's prompt changed
    assert retrains(trait_fraction=0.25) == 0  # and nothing is redone
