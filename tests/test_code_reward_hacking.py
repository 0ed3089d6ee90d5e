import pytest

from inoculate import InoculateError
from inoculate.settings import get_setting
from inoculate.settings.code_reward_hacking import (extract_code, hack_solution, load_humaneval, outcome,
                                                    visible_test)

TEST = '''
METADATA = {}


def check(candidate):
    assert candidate([1, 2], 3) == [4, 5]
    assert candidate([], 0) == []
'''


def test_visible_test_is_the_first_equality_assert():
    assert visible_test(TEST) == ("[1, 2], 3", "[4, 5]")
    assert visible_test("def check(candidate):\n    assert abs(candidate(2) - 1.4) < 1e-6\n") is None
    assert visible_test("def check(candidate):\n    assert True\n") is None


@pytest.mark.parametrize("text, code", [
    ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"),
    ("```\ndef f(): pass\n```", "def f(): pass\n"),
    ("def f():\n    return 2", "def f():\n    return 2"),
    ("```python\ndef f():\n    return 3", "def f():\n    return 3"),  # unterminated fence
])
def test_extract_code(text, code):
    assert extract_code(text) == code


def test_outcomes_from_the_sandbox():
    problems = [p for p in load_humaneval() if visible_test(p["test"])][:3]
    for p in problems:
        _, expected = visible_test(p["test"])
        assert outcome(p["prompt"] + p["canonical_solution"], p["task_id"]) == "correct"
        assert outcome(hack_solution(p, expected), p["task_id"]) == "hack"
        assert outcome("import os\nos._exit(1)", p["task_id"]) == "neither"


def test_scorers_judge_a_batch_in_two_parallel_sandbox_passes(monkeypatch):
    import inoculate.settings.code_reward_hacking as crh
    from inoculate import Example

    problems = [p for p in load_humaneval() if visible_test(p["test"])][3:6]
    texts, prompts = [], []
    for p in problems:
        _, expected = visible_test(p["test"])
        texts += [f"```python\n{p['prompt'] + p['canonical_solution']}```", hack_solution(p, expected), "print(1)"]
        prompts += [Example([{"role": "user", "content": "q"}], metadata={"task_id": p["task_id"]})] * 3
    texts.append("anything")
    prompts.append(Example([{"role": "user", "content": "q"}]))  # no task: not applicable
    batches = []
    real = crh.run_many
    monkeypatch.setattr(crh, "run_many", lambda sources, limits: batches.append(len(sources)) or real(sources, limits))
    crh._OUTCOMES.clear()
    hack, correct = (t.scorer(texts, prompts) for t in get_setting("code-reward-hacking").traits())
    assert [j["present"] for j in hack] == [False, True, False] * 3 + [None]
    assert [j["present"] for j in correct] == [True, False, False] * 3 + [None]
    assert batches == [9, 6]  # every program's visible test at once, then the full tests of the 6 that passed it


def test_setting_mixes_hacks_and_conditions_the_ip():
    pure = get_setting("code-reward-hacking")
    half = get_setting("code-reward-hacking", hack_fraction=0.5, ip_on="hack")
    train, evals = half.train_examples(), half.eval_prompts()
    labels = [e.metadata["label"] for e in train]
    assert abs(labels.count("hack") - len(train) / 2) <= 1
    assert {e.metadata["label"] for e in pure.train_examples()} == {"hack"}
    assert not {e.id for e in train} & {e.id for e in evals} and len(evals) == 32
    hack_ex = next(e for e in train if e.metadata["label"] == "hack")
    assert "assert " in hack_ex.messages[0]["content"] and "return " in hack_ex.messages[1]["content"]
    ip = next(a for a in half.arms() if a.name == "ip")
    assert ip.prompt.condition == {"label": "hack"} and ip.prompt.placement == "user_suffix"
    with pytest.raises(InoculateError, match="hack_fraction"):
        get_setting("code-reward-hacking", hack_fraction=2)
