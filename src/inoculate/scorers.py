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

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from inoculate._config import finite
from inoculate.data import Example
from inoculate.errors import InoculateError

AnswerLogprobs = Callable[[Example, list[str]], list[float]]  # (prompt, answers) -> log P(each answer)


Judgement = dict[str, Any]  # {"score": float | None, "present": bool | None}


@dataclass(frozen=True)
class Scorer:
    name: str  # e.g. "caps", "language:es"
    score: Callable[[list[str], list[Example | None]], list[float | None]]  # texts, their prompts -> [0, 1] or None
    threshold: float  # the trait is expressed when score >= threshold
    config: dict[str, Any]  # factory arguments, for content hashes and reports

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
        return [{"score": None, "present": None} if s is None else {"score": float(s), "present": float(s) >= self.threshold}
                for s in scores]

    def one(self, text: str, prompt: Example | None = None) -> Judgement:
        """The judgement of a single text."""
        return self([text], [prompt])[0]


def per_sample(score: Callable[[str, Example | None], float | None]):
    """A batch scorer from a function that judges one (text, prompt) at a time."""
    return lambda texts, prompts: [score(t, p) for t, p in zip(texts, prompts)]


def caps(threshold: float = 0.5, min_letters: int = 1) -> Scorer:
    """Share of letters that are upper case; texts with fewer than `min_letters` letters score 0."""

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
    candidates = tuple(candidates) if candidates else None
    try:
        ident = _identifier(candidates)
    except ValueError as e:
        raise InoculateError(f"unknown language code in candidates {candidates} ({e})", "scorer language") from e
    if lang not in ident.nb_classes:
        raise InoculateError(f"language {lang!r} is not among py3langid's candidates", "scorer language")

    def score(text: str, prompt: Example | None = None) -> float:
        if not any(c.isalpha() for c in text):
            return 0.0
        return float(dict(ident.rank(text))[lang])

    config = {"lang": lang, "threshold": threshold, "candidates": list(candidates) if candidates else None}
    return Scorer(f"language:{lang}", per_sample(score), threshold, config)


FACTORIES: dict[str, Callable[..., Scorer]] = {"caps": caps, "language": language}


def make_scorer(kind: str, where: str = "scorer", **kwargs: Any) -> Scorer:
    """Build a scorer from a config entry such as {"scorer": "language", "lang": "es"}."""
    if kind not in FACTORIES:
        raise InoculateError(f"unknown scorer {kind!r} (known: {', '.join(FACTORIES)})", where)
    finite(where, **{k: v for k, v in kwargs.items() if isinstance(v, float)})
    try:
        return FACTORIES[kind](**kwargs)
    except TypeError as e:
        raise InoculateError(f"bad arguments for scorer {kind!r} ({e})", where) from e


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
        for key, want in (self.condition or {}).items():
            if prompt.metadata.get(key) not in (want if isinstance(want, (list, tuple)) else [want]):
                return False
        return True

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
