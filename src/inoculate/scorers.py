"""Trait scorers: small factories returning a `Scorer` with one fixed signature.

A scorer maps a batch of generated texts, each with the evaluation prompt it answers, to scores
in [0, 1]; the trait counts as expressed when the score reaches the scorer's threshold. Most
scorers judge one text at a time (`per_sample` lifts such a function); batching is for scorers
that pay per call (sandboxed programs run in parallel, a judge model's requests). The prompt's
metadata carries what a reference-based scorer needs (expected answer, unit tests). A score of
None means "not applicable to this prompt" (e.g. sycophancy on a prompt with no proposed
answer); such samples are left out of that trait's rate. The trait rate of a run is the share of
applicable samples that express it. A new trait is one short factory plus its test.

`Choices` measures a trait without sampling: the model's probability of a target answer among
a fixed list, from the log-probability of each answer as the whole assistant response. Cheap and
sensitive where sampled rates would be near 0 (a small model's favourite animal).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from inoculate.data import Example
from inoculate.errors import InoculateError

AnswerLogprobs = Callable[[Example, list[str]], list[float]]  # (prompt, answers) -> log P(each answer)


Judgement = dict[str, Any]  # {"score": float | None, "present": bool | None, ...details, "excluded": reason}


@dataclass(frozen=True)
class Scorer:
    name: str  # e.g. "caps", "language:es"
    # texts, their prompts -> [0, 1] or None (not applicable), or a dict {"score": ..., details to keep}
    score: Callable[[list[str], list[Example | None]], list[float | dict[str, Any] | None]]
    threshold: float  # the trait is expressed when score >= threshold
    config: dict[str, Any]  # factory arguments, for content hashes and reports
    # requests a scorer that calls a model sends per sample of these prompts, by endpoint: the grid
    # states the total before its first call
    requests: Callable[[list[Example]], dict[Any, int]] | None = None  # prompts -> {client.Endpoint: n}

    def __call__(self, texts: list[str], prompts: list[Example | None] | None = None) -> list[Judgement]:
        if isinstance(texts, str):
            raise InoculateError("takes a list of texts (and their prompts); .one(text, prompt) judges one",
                                 f"scorer {self.name}")
        prompts = [None] * len(texts) if prompts is None else prompts
        if len(prompts) != len(texts):
            raise InoculateError(f"{len(texts)} texts but {len(prompts)} prompts", f"scorer {self.name}")
        scores = self.score(list(texts), list(prompts))
        if len(scores) != len(texts):
            raise InoculateError(f"returned {len(scores)} scores for {len(texts)} texts", f"scorer {self.name}")
        return [self._judgement(s) for s in scores]

    def _judgement(self, s: float | dict[str, Any] | None) -> Judgement:
        # a scorer may return a dict: its "score" plus details kept beside it (a judge's raw reply,
        # "excluded": why there is no score, which the report counts)
        detail = {k: v for k, v in s.items() if k not in ("score", "present")} if isinstance(s, dict) else {}
        s = s.get("score") if isinstance(s, dict) else s
        if s is None:
            return {"score": None, "present": None, **detail}
        return {"score": float(s), "present": float(s) >= self.threshold, **detail}

    def one(self, text: str, prompt: Example | None = None) -> Judgement:
        """The judgement of a single text."""
        return self([text], [prompt])[0]


def condition_holds(prompt: Example | None, condition: dict[str, Any] | None) -> bool:
    """Whether the prompt's metadata has the condition's values ({key: value or [values]}); no
    condition holds for every prompt."""
    for key, want in (condition or {}).items():
        got = None if prompt is None else prompt.metadata.get(key)
        if got not in (want if isinstance(want, (list, tuple)) else [want]):
            return False
    return True


def per_sample(score: Callable[[str, Example | None], float | None]):
    """A batch scorer from a function that judges one (text, prompt) at a time."""
    return lambda texts, prompts: [score(t, p) for t, p in zip(texts, prompts)]


def unit_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InoculateError(f"threshold must be a number from 0 to 1, got {value!r}")
    return float(value)


def caps(threshold: float = 0.5, min_letters: int = 1) -> Scorer:
    """Share of letters that are upper case; texts with fewer than `min_letters` letters score 0."""
    threshold = unit_threshold(threshold)

    def score(text: str, prompt: Example | None = None) -> float:
        letters = [c for c in text if c.isalpha()]
        if len(letters) < min_letters:
            return 0.0
        return sum(c.isupper() for c in letters) / len(letters)

    return Scorer("caps", per_sample(score), threshold, {"threshold": threshold, "min_letters": min_letters})


@lru_cache(maxsize=8)
def _identifier(candidates: tuple[str, ...] | None):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if candidates:
        ident.set_languages(list(candidates))
    return ident


DEFAULT_CANDIDATES = ("en", "es", "fr", "de", "it", "pt")


def language(lang: str = "es", threshold: float = 0.5, candidates: tuple[str, ...] | None = DEFAULT_CANDIDATES) -> Scorer:
    """P(text is in `lang`) from py3langid, which handles ALL-CAPS text.

    Restricting `candidates` to plausible languages matters for short answers: over all 97
    languages py3langid labels "LA CAPITAL DE FRANCIA ES PARÍS." Occitan; over the default six it
    is Spanish. Pass candidates=None for all languages.
    """
    threshold = unit_threshold(threshold)
    candidates = tuple(candidates) if candidates else None
    try:
        ident = _identifier(candidates)
    except ValueError as e:
        raise InoculateError(f"unknown language code in candidates {list(candidates)} ({e})") from e
    if lang not in ident.nb_classes:
        raise InoculateError(f"language {lang!r} is not among the candidates {', '.join(candidates or ())}: add it, as "
                             f"candidates: [{', '.join([*(candidates or ()), lang])}], or pass candidates: null for all "
                             "97 languages py3langid knows")

    def score(text: str, prompt: Example | None = None) -> float:
        if not any(c.isalpha() for c in text):
            return 0.0
        return float(dict(ident.rank(text))[lang])

    config = {"lang": lang, "threshold": threshold, "candidates": list(candidates) if candidates else None}
    return Scorer(f"language:{lang}", per_sample(score), threshold, config)


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def regex(pattern: str, flags: str = "", match: str = "search") -> Scorer:
    """1 when the text matches `pattern` (Python `re`): anywhere (`search`) or as a whole (`full`);
    `flags` letters: i (ignore case), m (multiline), s (dot matches newline), x (verbose)."""
    if not isinstance(pattern, str) or not pattern:
        raise InoculateError(f"pattern must be a non-empty string, got {pattern!r}")
    if match not in ("search", "full") or not isinstance(flags, str) or set(flags) - set(_FLAGS):
        raise InoculateError(f"match is search or full and flags a string of {''.join(_FLAGS)}; got match={match!r}, "
                             f"flags={flags!r}")
    try:
        compiled = re.compile(pattern, sum(_FLAGS[f] for f in set(flags)))
    except re.error as e:
        raise InoculateError(f"pattern {pattern!r} is not a valid regular expression ({e})") from e
    find = compiled.search if match == "search" else compiled.fullmatch
    return Scorer(f"regex:{pattern}", per_sample(lambda text, prompt=None: float(find(text) is not None)), 0.5,
                  {"pattern": pattern, "flags": "".join(sorted(set(flags))), "match": match})


def keywords(words: list[str], mode: str = "any", case_sensitive: bool = False) -> Scorer:
    """1 when the text contains any (or all) of `words`, each as a whole word or phrase."""
    if isinstance(words, str) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise InoculateError(f"words must be a list of non-empty strings, got {words!r}")
    if mode not in ("any", "all") or not isinstance(case_sensitive, bool):
        raise InoculateError(f"mode is any or all and case_sensitive true or false; got {mode!r}, {case_sensitive!r}")
    found = [re.compile(rf"(?<!\w){re.escape(w.strip())}(?!\w)", 0 if case_sensitive else re.IGNORECASE) for w in words]
    combine = any if mode == "any" else all
    return Scorer(f"keywords:{mode}", per_sample(lambda text, prompt=None: float(combine(f.search(text) for f in found))),
                  0.5, {"words": [w.strip() for w in words], "mode": mode, "case_sensitive": case_sensitive})


def python(function: str, threshold: float = 0.5) -> Scorer:
    """Your own function, named `module:function` (the module importable from where you run, or
    installed): (text, eval prompt) -> a score in [0, 1], a bool, or None where it does not apply.
    Its source code is part of the scorer's identity, so editing it re-scores."""
    fn = _import_function(function)
    threshold = unit_threshold(threshold)

    def score(text: str, prompt: Example | None = None) -> float | None:
        try:
            value = fn(text, prompt)
        except Exception as e:  # the user's code: say whose and what, in one line
            raise InoculateError(f"{function} raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                                 f"on the text {text[:60]!r}") from e
        if value is not None and (isinstance(value, str) or not isinstance(value, (bool, int, float))
                                  or not 0 <= float(value) <= 1 or math.isnan(float(value))):
            raise InoculateError(f"{function} returned {value!r} for the text {text[:60]!r}; a scorer returns a number "
                                 "from 0 to 1, a bool, or None")
        return None if value is None else float(value)

    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = function
    return Scorer(f"python:{function}", per_sample(score), threshold,
                  {"function": function, "threshold": threshold, "source_sha256": hashlib.sha256(source.encode()).hexdigest()})


def _import_function(spec: str):
    module_name, sep, name = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or not module_name or not name:
        raise InoculateError(f"function must be 'module:function', got {spec!r}")
    if os.getcwd() not in sys.path:  # a module beside the spec, as the user runs it
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise InoculateError(f"cannot import {module_name!r} ({type(e).__name__}: {e})") from e
    fn = getattr(module, name, None)
    if not callable(fn):
        raise InoculateError(f"{module_name!r} has no function {name!r}")
    return fn


@dataclass(frozen=True)
class Choices:
    """A trait measured by log-probability over fixed answers instead of by scoring sampled text.

    For each applicable evaluation prompt (under the eval context), every surface form of every
    option is scored as the whole assistant response (end-of-turn token included, so "Owl" is
    the answer, not the start of "Owlet"); an option's probability is the sum over its forms,
    normalised over the options. The prompt's score, and its contribution to the trait rate, is
    the target's normalised probability: the rate at which a sampler restricted to these answers
    would name the target.
    """

    options: dict[str, tuple[str, ...]]  # option -> surface forms, e.g. {"owl": ("Owl", "Owls"), ...}
    target: str  # the option whose probability is the trait score
    condition: dict[str, Any] | None = None  # only prompts whose metadata has these values ({key: value or
    #                                          [values]}, as in PromptSpec); others are not applicable

    def __post_init__(self):
        object.__setattr__(self, "options", {k: tuple(v) for k, v in dict(self.options).items()})
        if len(self.options) < 2:
            raise InoculateError("needs at least two options", "choices")
        if self.target not in self.options:
            raise InoculateError(f"target {self.target!r} is not an option ({', '.join(self.options)})", "choices")
        forms = [f for fs in self.options.values() for f in fs]
        if not all(isinstance(f, str) and f.strip() for f in forms) or not all(self.options.values()):
            raise InoculateError("every option needs at least one non-empty surface form", "choices")
        if len(set(forms)) != len(forms):
            raise InoculateError("a surface form belongs to two options", "choices")

    @property
    def config(self) -> dict[str, Any]:
        return {"options": {k: list(v) for k, v in self.options.items()}, "target": self.target,
                "condition": self.condition}

    def applies(self, prompt: Example) -> bool:
        return condition_holds(prompt, self.condition)

    def probabilities(self, logprobs: AnswerLogprobs, prompt: Example) -> dict[str, float]:
        """Each option's probability as the answer to `prompt`, normalised over the options."""
        forms = [(option, form) for option, fs in self.options.items() for form in fs]
        logp: dict[str, list[float]] = {option: [] for option in self.options}
        for (option, _), lp in zip(forms, logprobs(prompt, [form for _, form in forms])):
            logp[option].append(lp)
        by_option = {option: _logsumexp(v) for option, v in logp.items()}
        total = _logsumexp(list(by_option.values()))
        return {option: math.exp(v - total) for option, v in by_option.items()}

    def score(self, logprobs: AnswerLogprobs, prompts: list[Example], progress: bool = False,
              desc: str = "choices") -> list[dict[str, Any]]:
        """One score row per prompt, like a Scorer's: {"score", "present"} are the target's probability
        (None where the prompt is not applicable) and "options" holds the whole distribution.
        `logprobs` gives each answer's log-probability (a Sampler's answer_logprobs for a model)."""
        from tqdm.auto import tqdm

        rows = []
        for p in tqdm(prompts, desc=desc, disable=not progress, leave=False):
            if not self.applies(p):
                rows.append({"score": None, "present": None})
                continue
            probs = self.probabilities(logprobs, p)
            rows.append({"score": probs[self.target], "present": probs[self.target], "options": probs})
        return rows


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
