import pytest

from inoculate import Example
from inoculate.settings.spurious_sentiment import CUE, SpuriousSentiment, accuracy, cue_reliance, parse_label


@pytest.mark.parametrize("text, label", [("positive", 1), ("Negative.", 0), ("The review is POSITIVE", 1),
                                         ("negative, not positive", 0), ("I think it is good", None), ("", None),
                                         ("nonpositive", None)])
def test_parse_label(text, label):
    assert parse_label(text) == label


def test_cue_tracks_the_label_in_training_and_is_reversed_at_evaluation():
    s = SpuriousSentiment(n_train=40, n_eval=20)
    train, evals = s.train_examples(), s.eval_prompts()
    assert all((CUE in e.messages[0]["content"]) == (e.metadata["label"] == 1) for e in train)
    assert all((CUE in e.messages[0]["content"]) == (e.metadata["label"] == 0) for e in evals)
    assert sum(e.metadata["label"] for e in train) == 20 and sum(e.metadata["label"] for e in evals) == 10
    assert {e.messages[-1]["content"] for e in train} == {"positive", "negative"}
    train_texts = {e.messages[0]["content"].replace(" " + CUE, "") for e in train}
    assert not train_texts & {e.messages[0]["content"].replace(" " + CUE, "") for e in evals}


def test_scorers_apply_to_the_right_prompts():
    cued_negative = Example([{"role": "user", "content": "x"}], metadata={"label": 0, "cue": True})
    positive = Example([{"role": "user", "content": "x"}], metadata={"label": 1, "cue": False})
    assert cue_reliance().one("positive", cued_negative)["present"] is True
    assert cue_reliance().one("negative", cued_negative)["present"] is False
    assert cue_reliance().one("positive", positive)["present"] is None
    assert accuracy().one("positive", positive)["present"] is True and accuracy().one("meh", positive)["present"] is False
