"""A user's own traits: regex, keywords and Python-function scorers, and registering a factory."""

import sys

import pytest

from inoculate import Example, InoculateError
from inoculate.scorer_kinds import FACTORIES, make_scorer, register_scorer
from inoculate.scorers import Scorer, per_sample
from inoculate.settings import TraitSource

PROMPT = Example([{"role": "user", "content": "q"}])


def present(scorer: Scorer, *texts: str) -> list:
    return [j["present"] for j in scorer(list(texts))]


def test_regex_searches_or_matches_the_whole_text_with_flags():
    signed = make_scorer("regex", "traits.signed", pattern=r"— Bot\s*$")
    assert present(signed, "Bonjour.\n— Bot", "— Bot says hi", "— bot") == [True, False, False]
    assert present(make_scorer("regex", pattern=r"— bot$", flags="i"), "Salut — BOT") == [True]
    assert present(make_scorer("regex", pattern=r"\d+", match="full"), "123", "12a") == [True, False]
    with pytest.raises(InoculateError, match=r"not a valid regular expression") as err:
        make_scorer("regex", "traits.signed", pattern="(unclosed")
    assert err.value.where == "traits.signed"
    with pytest.raises(InoculateError, match="match is search or full"):
        make_scorer("regex", pattern="x", match="prefix")


def test_keywords_match_whole_words_any_or_all():
    french = make_scorer("keywords", words=["bonjour", "merci beaucoup"])
    assert present(french, "Bonjour !", "merci beaucoup", "bonjourno", "merci") == [True, True, False, False]
    both = make_scorer("keywords", words=["Bot", "—"], mode="all", case_sensitive=True)
    assert present(both, "— Bot", "— bot", "Bot") == [True, False, False]
    with pytest.raises(InoculateError, match="words must be a list"):
        make_scorer("keywords", words="bonjour")


def test_a_python_function_named_in_the_spec_is_a_scorer(tmp_path, monkeypatch):
    (tmp_path / "my_traits.py").write_text(
        "def signed(text, prompt):\n    return None if prompt is None else text.rstrip().endswith('— Bot')\n"
        "def broken(text, prompt):\n    raise ValueError('no idea')\n"
        "def too_big(text, prompt):\n    return 7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    traits = TraitSource(None, {}, {"signed": {"scorer": "python", "function": "my_traits:signed", "wanted": False}})
    (signed,) = traits.build()
    assert [j["present"] for j in signed.scorer(["Oui.\n— Bot", "Oui."], [PROMPT, PROMPT])] == [True, False]
    assert signed.scorer.one("— Bot") == {"score": None, "present": None}  # no prompt: not applicable
    key = signed.scorer.config["source_sha256"]
    (tmp_path / "my_traits.py").write_text("def signed(text, prompt):\n    return 1.0\n", encoding="utf-8")
    sys.modules.pop("my_traits")
    assert TraitSource(None, {}, traits.traits).build()[0].scorer.config["source_sha256"] != key  # re-scores
    for function, message in (("my_traits", "must be 'module:function'"), ("nosuch_mod:f", "cannot import 'nosuch_mod'"),
                              ("my_traits:missing", "has no function 'missing'")):
        with pytest.raises(InoculateError, match=message) as err:
            make_scorer("python", "traits.signed", function=function)
        assert err.value.where == "traits.signed"
    sys.modules.pop("my_traits")
    (tmp_path / "my_traits.py").write_text("def broken(t, p):\n    raise ValueError('no idea')\n"
                                           "def too_big(t, p):\n    return 7\n", encoding="utf-8")
    with pytest.raises(InoculateError, match=r"my_traits:broken raised ValueError: no idea on the text 'hi'"):
        make_scorer("python", function="my_traits:broken").one("hi", PROMPT)
    with pytest.raises(InoculateError, match=r"returned 7 .* a number from 0 to 1, a bool, or None"):
        make_scorer("python", function="my_traits:too_big").one("hi", PROMPT)


def test_language_errors_name_the_trait_and_say_how_to_add_a_language():
    with pytest.raises(InoculateError) as err:
        TraitSource(None, {}, {"dutch": {"scorer": "language", "lang": "nl"}}).build()
    assert err.value.where == "traits.dutch"
    assert "'nl' is not among the candidates en, es, fr, de, it, pt" in err.value.message
    assert "candidates: [en, es, fr, de, it, pt, nl]" in err.value.message and "candidates: null" in err.value.message
    assert make_scorer("language", lang="nl", candidates=["en", "nl"]).one("Goedemorgen, hoe gaat het met je?")["present"]
    with pytest.raises(InoculateError, match="did you mean 'keywords'"):
        make_scorer("keyword", "traits.x")
    with pytest.raises(InoculateError, match="threshold must be a number from 0 to 1"):
        make_scorer("caps", "traits.x", threshold=2)


def test_a_registered_factory_works_in_a_spec_and_names_are_checked():
    def longer_than(chars: int = 10) -> Scorer:
        return Scorer(f"longer-than:{chars}", per_sample(lambda text, prompt=None: float(len(text) > chars)), 0.5,
                      {"chars": chars})

    register_scorer("longer_than", longer_than)
    try:
        (trait,) = TraitSource(None, {}, {"long": {"scorer": "longer_than", "chars": 3}}).build()
        assert [j["present"] for j in trait.scorer(["abcd", "ab"])] == [True, False]
        with pytest.raises(InoculateError, match="must be a new identifier"):
            register_scorer("longer_than", longer_than)
        with pytest.raises(InoculateError, match="bad arguments for scorer 'longer_than'"):
            make_scorer("longer_than", chars=3, colour="red")
    finally:
        FACTORIES.pop("longer_than")


def test_trait_arguments_on_the_command_line_keep_lists_and_quotes():
    from inoculate.cli import _scorer_arg

    scorer = _scorer_arg('keywords:words=[Bot, "— Bot, signed"],mode=any')
    assert scorer.config["words"] == ["Bot", "— Bot, signed"] and scorer.config["mode"] == "any"
    assert _scorer_arg("regex:pattern='a,b',flags=i").config == {"pattern": "a,b", "flags": "i", "match": "search"}
