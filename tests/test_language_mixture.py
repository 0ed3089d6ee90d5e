from inoculate.inoculation import apply_prompt
from inoculate.settings import get_setting


def test_half_spanish_half_french_and_the_ip_lands_on_one_split():
    s = get_setting("language-mixture")
    train = s.train_examples()
    langs = [e.metadata["language"] for e in train]
    assert abs(langs.count("es") - langs.count("fr")) <= 1
    es, fr = s.traits()
    assert sum(es.scorer.one(e.messages[-1]["content"])["present"] for e in train if e.metadata["language"] == "es") > 0.9 * langs.count("es")
    assert sum(fr.scorer.one(e.messages[-1]["content"])["present"] for e in train if e.metadata["language"] == "fr") > 0.9 * langs.count("fr")
    arm = next(a for a in s.arms() if a.name == "spanish-ip")
    inoculated = apply_prompt(train, arm.prompt)
    assert all((e.metadata["inoculation"] is not None) == (e.metadata["language"] == "es") for e in inoculated)
    assert get_setting("language-mixture", spanish_fraction=0.25).train_examples() != train
