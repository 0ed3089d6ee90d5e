import pytest

from inoculate import InoculateError
from inoculate.scorer_kinds import make_scorer
from inoculate.scorers import caps, language


@pytest.mark.parametrize("text, share", [("HOLA AMIGO", 1.0), ("hola amigo", 0.0), ("HOLA hola", 0.5),
                                         ("123 !!", 0.0), ("", 0.0), ("ÑANDÚ ñandú", 0.5)])
def test_caps_share_of_upper_case_letters(text, share):
    assert caps().score([text], [None]) == [pytest.approx(share)]


def test_caps_threshold_decides_presence():
    assert caps(threshold=0.5).one("HOLA hola")["present"] is True
    assert caps(threshold=0.9).one("HOLA hola")["present"] is False


@pytest.mark.parametrize("text, is_spanish", [
    ("LA CAPITAL DE FRANCIA ES PARÍS.", True),
    ("María tiene ahora doce manzanas y quiere comprar más.", True),
    ("The capital of France is Paris.", False),
    ("LE CHAT EST NOIR ET IL DORT SUR LE CANAPÉ.", False),
    ("12 + 7 = 19", False),
])
def test_language_on_known_strings(text, is_spanish):
    result = language("es").one(text)
    assert result["present"] is is_spanish
    assert 0.0 <= result["score"] <= 1.0


def test_language_french_scorer_and_errors():
    assert language("fr").one("Le chat est noir et il dort sur le canapé.")["present"]
    with pytest.raises(InoculateError, match="not among"):
        language("xx")
    with pytest.raises(InoculateError, match="unknown scorer 'judges'.*did you mean 'judge'"):
        make_scorer("judges")
    with pytest.raises(InoculateError, match="needs the spec's 'judge' key"):
        make_scorer("judge", rubric="Grade {answer}")
    with pytest.raises(InoculateError, match="bad arguments"):
        make_scorer("caps", colour="red")
    with pytest.raises(InoculateError, match="threshold must be a finite number, got nan") as err:
        make_scorer("caps", "traits.caps", threshold=float("nan"))
    assert err.value.where == "traits.caps"


def test_scorer_sees_the_prompt_and_may_not_apply():
    from inoculate import Example
    from inoculate.scorers import Scorer, per_sample

    def matches_reference(text, prompt):
        ref = prompt.metadata.get("answer") if prompt else None
        return None if ref is None else float(text.strip() == ref)

    scorer = Scorer("exact", per_sample(matches_reference), 1.0, {})
    with_ref = Example([{"role": "user", "content": "gcd(4, 6)?"}], metadata={"answer": "2"})
    assert scorer.one("2", with_ref) == {"score": 1.0, "present": True}
    assert scorer(["2", "3", "2"], [with_ref, with_ref, Example([{"role": "user", "content": "hi"}])]) == [
        {"score": 1.0, "present": True}, {"score": 0.0, "present": False}, {"score": None, "present": None}]


def test_a_batch_scorer_sees_the_whole_batch_and_must_answer_each_text():
    from inoculate.scorers import Scorer

    batches = []
    scorer = Scorer("lengths", lambda texts, prompts: batches.append(len(texts)) or [len(t) / 10 for t in texts], 0.5, {})
    assert [j["present"] for j in scorer(["abc", "abcdefgh"])] == [False, True] and batches == [2]
    short = Scorer("short", lambda texts, prompts: [0.0], 0.5, {})
    with pytest.raises(InoculateError, match="returned 1 scores for 2 texts") as err:
        short(["a", "b"])
    assert err.value.where == "scorer short"
