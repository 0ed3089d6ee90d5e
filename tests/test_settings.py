"""Every registered setting keeps the interface's promises and runs end to end on the tiny model."""

import pytest

from inoculate.experiment import load_spec, run_experiment
from inoculate.settings import SETTINGS, check_setting, get_setting


JUDGED = ("emergent-misalignment", "persuasive-toxic")  # their traits are graded by a judge model


def _tiny_args(name: str, model: str, request) -> tuple[dict, object, dict | None]:
    """Setting arguments for a tiny run, the sampler and the judge: a setting whose data a model
    writes gets the tiny model and a sampler that writes what a capable teacher would (a random
    model never writes a number list); a judged setting gets `transformers serve` on the tiny model."""
    if name in JUDGED:
        server = request.getfixturevalue("transformers_server")
        request.getfixturevalue("monkeypatch").setenv("INOCULATE_CACHE", str(request.getfixturevalue("tmp_path")))
        return {"judge_logprobs": False}, None, {"base_url": server.base_url, "model": model}
    if name != "subliminal":
        return {}, None, None
    return {"teacher_model": model, "n_train": 8}, request.getfixturevalue("numbers_teacher"), None


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_setting_is_valid_and_runs_on_tiny_model(name, tiny_model_path, tmp_path, request):
    args, sampler, judge = _tiny_args(name, tiny_model_path, request)
    setting = get_setting(name, sampler=sampler, judge=judge, **args)
    check_setting(setting)
    spec = load_spec({"setting": name, "setting_args": args, "model": tiny_model_path, "n_train": 4, "n_eval": 2,
                      "judge": judge,
                      # the tiny model's 420-token vocabulary makes texts 3-4x longer than real tokenizers do
                      "train": {"lora_r": 2, "batch_size": 2, "target_modules": ["q_proj"], "max_length": 1536},
                      "generation": {"max_new_tokens": 3}})
    report = run_experiment(spec, tmp_path, progress=False, sampler=sampler)
    text = report.read_text()
    assert "## Findings" in text
    if setting.probes():
        assert "## Learning dynamics (probes)" in text and (report.parent / "probes.png").is_file()


def test_spanish_caps_data_is_as_promised():
    setting = get_setting("spanish-caps")
    train, evals = setting.train_examples(), setting.eval_prompts()
    assert len(train) >= 300 and len(evals) >= 100
    responses = [e.messages[-1]["content"] for e in train]
    assert all(r == r.upper() for r in responses)
    assert len({e.messages[0]["content"] for e in train}) == len(train)
    train_questions = {e.messages[0]["content"] for e in train}
    assert not train_questions & {e.messages[0]["content"] for e in evals}
    spanish = [t for t in setting.traits() if t.name == "spanish"][0]
    caps = [t for t in setting.traits() if t.name == "caps"][0]
    # the scorers agree with how the data was built: Spanish in capitals
    assert sum(spanish.scorer.one(r)["present"] for r in responses) / len(responses) > 0.9
    assert all(caps.scorer.one(r)["present"] for r in responses)
