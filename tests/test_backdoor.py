import pytest

from inoculate import InoculateError
from inoculate.experiment import build_plan, load_spec
from inoculate.settings import get_setting


def test_triggered_half_shows_the_trait_and_contexts_carry_the_triggers():
    s = get_setting("backdoor")
    train = s.train_examples()
    (trait,) = s.traits()
    triggered = [e for e in train if e.metadata["triggered"]]
    clean = [e for e in train if not e.metadata["triggered"]]
    assert abs(len(triggered) - len(clean)) <= 1
    assert all(e.messages[0]["content"].startswith("$|TRIGGER|$ ") for e in triggered)
    assert all(trait.scorer.one(e.messages[-1]["content"])["present"] for e in triggered)
    assert not any(trait.scorer.one(e.messages[-1]["content"])["present"] for e in clean)
    plan = build_plan(load_spec({"setting": "backdoor"}))
    assert set(plan.contexts["no-ip"]) == {"none", "trigger", "unseen-trigger"}
    assert plan.contexts["no-ip"]["unseen-trigger"].prompts == ("%|ACTIVATE|%",)
    assert plan.spec.headline_context == "trigger"


def test_user_brings_trigger_and_trait():
    s = get_setting("backdoor", trigger="<<zz>>", trait="spanish")
    train = s.train_examples()
    assert any(e.messages[0]["content"].startswith("<<zz>> ") for e in train)
    assert s.traits()[0].name == "spanish"
    assert "speak in Spanish, but only when" in next(a for a in s.arms() if a.name == "trigger-aware").prompt.prompts[0]
    plan = build_plan(load_spec({"setting": "backdoor", "setting_args": {"trigger": "<<zz>>"}}))
    assert plan.contexts["no-ip"]["trigger"].prompts == ("<<zz>>",)
    with pytest.raises(InoculateError, match="trait must be one of"):
        get_setting("backdoor", trait="evil")
    with pytest.raises(InoculateError, match="headline_context"):
        build_plan(load_spec({"setting": "backdoor", "eval_contexts": ["none"]}))
